/**
 * The one answer comparison: `answersMatch(predicted, gold, { task })`. Evaluation
 * (src/eval/), every task generator's `checkAnswer` (src/data/tasks/) and rewards call it,
 * so a reward and the evaluation report can never disagree on whether an answer is right.
 *
 * How a task's answers compare (`AnswerTask`):
 *   number, gsm8k  exact rationals after `parseNumber` ("1 1/2" = 1.5 = 3/2, "−3" = -3,
 *                  "+5" = 5, "\frac{1}{2}" = 0.5, "12 apples each" = 12, "$1,200" = 1200,
 *                  "50%" = 50). A gold answer that is not a number compares as text. The
 *                  two names differ only in extraction (eval/extract.ts), not here.
 *   math           MATH-style LaTeX: `normalizeLatex` on both sides, so numbers compare
 *                  exactly (no unit words: "5x" is not 5) and anything else as cleaned-up
 *                  LaTeX; symbolic equivalence ("\sqrt{2}/2" vs "\frac{\sqrt2}{2}") is out of scope.
 *   mc             one letter, case-insensitive: "(c)", "C." and " c " are all "C".
 *   text           trimmed, a final period dropped, runs of spaces collapsed, lower case
 *                  ("Alice." = "alice", "True" = "true").
 * The default task is "number", which is what every task generator needs: its answers are
 * numbers, or words (names, True/False) that then compare as text.
 *
 * Verdicts that changed when the two former functions became this one (tasks/types.ts
 * answersMatch(gold, answer), eval/normalize.ts answersMatch(pred, gold, task)):
 *   - the task checkers now accept what evaluation already accepted, because they parsed
 *     numbers with a narrower parser: "1 1/2" for 1.5, "−3" (U+2212) for -3, "+5" for 5,
 *     "\frac{1}{2}" / "\dfrac12" for 0.5, "12 apples each" / "3 km per hour" (two or three
 *     trailing words; one was dropped before), a unit glued to the number ("12km"; it
 *     needed a space), ".5" / "-.5", "2.5/5", "€5", "$ 5", "USD 5",
 *     "\$5", "50 per cent" for 50, "- 5" for -5; and a word answer "Alice ." for "alice" (the
 *     text rule now trims after dropping the final period);
 *   - evaluation: a non-numeric gold under "number"/"gsm8k" compared lower-cased trimmed text;
 *     it now uses the text rule ("Alice." = "alice", "Alice  Smith" = "alice smith"). Records
 *     get "gsm8k" only when their gold parses as a number (eval/score.ts answerTaskOf), so
 *     this reaches only records whose meta.answer_task says so;
 *   - evaluation: "12 red apple pies dollars" (four trailing words, the last a currency word)
 *     is no longer 12: currency words had a second rule of their own; now every trailing word
 *     counts against the one three-word tail (the task checkers already said false).
 * Checked by running the two former functions beside this one over 17 golds × 43 answers ×
 * 13 tails: the changes above are all there were, and the four-word tail is the only
 * verdict that went from right to wrong.
 */
import { stripLatexPresentation } from "./latex.ts";
import { parseNumber } from "./parse.ts";

/** How a task's answers are extracted (eval/extract.ts) and compared (this file). */
export type AnswerTask = "gsm8k" | "math" | "mc" | "number" | "text";
export const ANSWER_TASKS: readonly AnswerTask[] = ["gsm8k", "math", "mc", "number", "text"];

export interface AnswersMatchOptions {
  /** How the answers compare (see the file header). Default "number". */
  task?: AnswerTask;
}

/** Free text: trimmed, a final period dropped, runs of whitespace collapsed, lower case. */
export function normalizeText(text: string): string {
  return text.trim().replace(/\.$/, "").trim().replace(/\s+/g, " ").toLowerCase();
}

/** Canonical multiple-choice letter: "(c)", "C.", " c " → "C"; null when it is not a single letter A–Z. */
export function normalizeChoice(text: string): string | null {
  const m = /^\s*\(?\s*([A-Za-z])\s*\)?\s*\.?\s*$/.exec(text);
  return m ? m[1]!.toUpperCase() : null;
}

/**
 * Canonical text of a MATH-style answer: a trailing unit written as "\text{ cm}" / "\mbox{ inches}" (letters
 * and spaces only, after something else) removed, presentation LaTeX removed, whitespace removed, a trailing
 * period removed; a number (incl. \frac{a}{b}) becomes its canonical number string. Bare letters are NOT
 * treated as units here ("5x" and "6i" are not 5 and 6).
 */
export function normalizeLatex(text: string): string {
  const withoutUnit = text.trim().replace(/(\S)\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z ]*\}\s*\.?$/, "$1");
  const s = stripLatexPresentation(withoutUnit.replace(/\u2212/g, "-"))
    .replace(/\s+/g, "")
    .replace(/\.$/, "");
  return parseNumber(s, { units: false })?.toString() ?? s;
}

/**
 * The canonical form used for equality and for majority voting: a number's canonical text
 * (falling back to the text rule), MATH → `normalizeLatex`, multiple choice → upper-case letter.
 */
export function canonicalAnswer(text: string, task: AnswerTask = "number"): string {
  switch (task) {
    case "gsm8k":
    case "number":
      return parseNumber(text)?.toString() ?? normalizeText(text);
    case "math":
      return normalizeLatex(text);
    case "mc":
      return normalizeChoice(text) ?? text.trim().toUpperCase();
    case "text":
      return normalizeText(text);
  }
}

/**
 * Is the predicted answer the gold one? `predicted` is what a model said (after extraction;
 * null when nothing was extracted, which is never right), `gold` the reference answer. The
 * comparison is `canonicalAnswer` on both sides for `opts.task` (default "number"), and it is
 * symmetric. This is the function a reward calls:
 *
 *   answersMatch("1 1/2", "1.5")                     // true
 *   answersMatch("\\frac{1}{2}", "0.5", { task: "math" })  // true
 *   answersMatch(null, "5")                          // false
 */
export function answersMatch(predicted: string | null, gold: string, opts: AnswersMatchOptions = {}): boolean {
  if (predicted === null) return false;
  const task = opts.task ?? "number";
  return canonicalAnswer(predicted, task) === canonicalAnswer(gold, task);
}
