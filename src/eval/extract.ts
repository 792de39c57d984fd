/**
 * Final-answer extraction from model outputs, in two modes reported side by side as
 * lm-evaluation-harness does for GSM8K ("strict-match" and "flexible-extract"):
 *
 *   strict   — only the task's declared answer format counts; anything else is null.
 *     gsm8k:  "#### N" or "The answer is N" (the original and the chain-of-thought few-shot formats)
 *     number: as gsm8k, plus "\boxed{N}"
 *     math:   the last "\boxed{…}" / "\fbox{…}" with balanced braces (escaped "\{" "\}" do not count)
 *     mc:     "answer is C", "answer: (C)", "Answer: C" (letters A–E)
 *     text:   the rest of the line after the last "####" (a name, True/False, …)
 *   flexible — strict first; if it finds nothing, looser fall-backs:
 *     gsm8k/number: the last \boxed{} whose content is a number, then the last number anywhere in the text
 *     math:   "answer is X" up to the end of its sentence, then the last number
 *     text:   "answer is X" up to the end of its sentence, then the last non-empty line
 *     mc:     looser phrases ("Answer D", "ANS:D", "correct option is C"), then "D is the correct …", then a last line
 *             that is only the letter, then the last "(C)" not glued to a word, then "option c" in lower case
 *
 * When a declared pattern occurs several times (recited few-shot exemplars, self-corrections), the LAST
 * occurrence wins: models restate the final answer at the end.
 *
 * Case and whitespace: pattern words ("The answer is", "Answer:", "option") match in any case and with any
 * run of spaces or line breaks between them; markdown emphasis ("**42**") and a "$" / "\$" before the
 * number are allowed; multiple-choice letters must be upper case in strict mode (a lower-case "a" is usually
 * the article) and are returned upper case.
 *
 * Returned strings: for numeric tasks the number as written with currency symbols, percent signs and
 * thousands separators removed ("$1,234.50" → "1234.50"); `answersMatch` does the rest of the
 * normalisation (trailing zeros, fractions). For math the raw boxed content, trimmed. For mc one letter.
 * Number words ("forty-two") are NOT extracted in either mode: flexible returns null for them (or the last
 * digit-number if there is one).
 */

import { type AnswerTask, findBoxed } from "../data/answer/index.ts";

export type ExtractMode = "strict" | "flexible";

export interface ExtractOptions {
  task: AnswerTask;
  mode: ExtractMode;
}

/**
 * One number token: optional sign, optional currency, digits with thousands groups or plain, optional
 * decimals, optional "/denominator", optional percent. Thousands groups need exactly three digits, so a
 * list "1,2,3" or "1, 2, 3" yields separate numbers.
 */
const NUMBER_SOURCE =
  "[-\u2212+]?(?:\\\\?\\$|€|£|¥)?\\s?[-\u2212]?(?:\\d{1,3}(?:,\\d{3})+(?!\\d)|\\d+|(?=\\.\\d))(?:\\.\\d+)?(?:\\s?\\/\\s?\\d+(?:\\.\\d+)?)?(?:\\s?(?:\\\\?%))?";
const NUMBER_RE = new RegExp(NUMBER_SOURCE, "g");

/** Strip currency, percent, thousands commas, spaces; unicode minus → "-"; drop a leading "+". */
export function cleanNumberToken(token: string): string {
  let s = token.replace(/\u2212/g, "-").replace(/\\?\$|€|£|¥|\\?%|\s/g, "");
  s = s.replace(/,/g, "").replace(/^\+/, "");
  if (s.startsWith("--")) s = s.slice(2);
  return s;
}

/** Every number token in `text`, cleaned, in order. */
export function findNumbers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(NUMBER_RE)) {
    // A hyphen between two words/numbers ("3-4", "x-5") is not a minus sign.
    let tok = m[0];
    const before = text[m.index - 1];
    if (/^[-\u2212]/.test(tok) && before !== undefined && /[A-Za-z0-9]/.test(before)) tok = tok.slice(1);
    out.push(cleanNumberToken(tok));
  }
  return out;
}

function lastMatch(text: string, re: RegExp): RegExpExecArray | null {
  let last: RegExpExecArray | null = null;
  const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
  for (let m = g.exec(text); m !== null; m = g.exec(text)) {
    last = m;
    if (m[0] === "") g.lastIndex++;
  }
  return last;
}

// Markdown / LaTeX decoration allowed between the phrase and the number.
const DECOR = "[\\s*_:$]*(?:\\\\\\(|\\\\\\[)?[\\s*_$]*(?:\\\\boxed\\{)?";
const ANSWER_IS_NUMBER = new RegExp(`answer\\s+is${DECOR}(${NUMBER_SOURCE})`, "gi");
const HASHES_NUMBER = new RegExp(`####${DECOR}(${NUMBER_SOURCE})`, "g");

/** The number following the last declared phrase, in text order across all phrases. */
function lastDeclaredNumber(text: string, patterns: RegExp[]): string | null {
  let best: { at: number; value: string } | null = null;
  for (const re of patterns) {
    const m = lastMatch(text, re);
    if (m && (best === null || m.index > best.at)) best = { at: m.index, value: m[1]! };
  }
  return best ? cleanNumberToken(best.value) : null;
}

/** A boxed answer reduced to its number, for numeric tasks ("\$18", "18 \text{ dollars}" → "18"). */
function boxedNumber(content: string): string | null {
  const nums = findNumbers(content.replace(/\\[dt]?frac\{(\d+)\}\{(\d+)\}/g, "$1/$2"));
  return nums.length === 1 ? nums[0]! : null;
}

function lastBoxedNumber(text: string): string | null {
  const boxed = findBoxed(text);
  for (let i = boxed.length - 1; i >= 0; i--) {
    const n = boxedNumber(boxed[i]!);
    if (n !== null) return n;
  }
  return null;
}

const MC_STRICT = /answer(?:\s+is|\s*:)[\s*_:]*(?:option\s+|choice\s+)?\(?([A-E])\)?(?![A-Za-z0-9])/gi;

function strictMc(text: string): string | null {
  // Case-insensitive phrase, upper-case letter: filter matches whose letter is lower case.
  let found: string | null = null;
  for (const m of text.matchAll(MC_STRICT)) if (/[A-E]/.test(m[1]!)) found = m[1]!;
  return found;
}

function flexibleMc(text: string): string | null {
  // 1. looser answer phrases: "Answer D", "correct answer - A", "correct option is C", "choice (B)"
  // (phrase in any case, letter upper case: the last such match wins)
  let phrase: string | null = null;
  for (const m of text.matchAll(/\b(?:answer|ans|option|choice)(?:\s+is)?[\s*_:=.-]*\(?([A-E])\)?(?![A-Za-z0-9])/gi)) {
    if (/[A-E]/.test(m[1]!)) phrase = m[1]!;
  }
  if (phrase !== null) return phrase;
  // 2. "D is the correct choice", "(B) is correct", "D is the answer"
  const isCorrect = lastMatch(text, /(?:^|[^A-Za-z])\(?([A-E])\)?\s+is\s+(?:the\s+)?(?:correct|right|answer)\b/);
  if (isCorrect) return isCorrect[1]!;
  // 3. the last non-empty line is only a letter: "C", "C.", "(C)", "**C**"
  const lastLine = text.trimEnd().split("\n").pop() ?? "";
  const alone = /^[\s*_]*\(?([A-E])\)?[\s*_]*[.:]?[\s*_]*$/.exec(lastLine);
  if (alone) return alone[1]!;
  // 4. the last "(C)" not glued to a word (so "P(B)" is not an answer)
  const paren = lastMatch(text, /(?:^|[^A-Za-z0-9])\(([A-E])\)/);
  if (paren) return paren[1]!;
  // 5. "option b" / "choice c" in lower case
  const option = lastMatch(text, /\b(?:option|choice)\s+\(?([a-e])\b/i);
  return option ? option[1]!.toUpperCase() : null;
}

/** "The answer is \frac{3}{4}." → "\frac{3}{4}" for MATH flexible mode. */
function answerIsExpression(text: string): string | null {
  const m = lastMatch(text, /answer\s+is[\s*:]*\$?([^\n$]+?)\$?\s*(?:\.\s|\.?$|\n)/i);
  return m ? m[1]!.trim() : null;
}

/** Strict extraction: the task's declared format only. */
function extractStrict(text: string, task: AnswerTask): string | null {
  switch (task) {
    case "gsm8k":
      return lastDeclaredNumber(text, [HASHES_NUMBER, ANSWER_IS_NUMBER]);
    case "number": {
      const declared = lastDeclaredNumber(text, [HASHES_NUMBER, ANSWER_IS_NUMBER]);
      const boxAt = text.lastIndexOf("\\boxed");
      const phraseAt = Math.max(text.lastIndexOf("####"), text.toLowerCase().lastIndexOf("answer is"));
      if (boxAt > phraseAt) return lastBoxedNumber(text) ?? declared;
      return declared;
    }
    case "math": {
      const boxed = findBoxed(text);
      return boxed.length > 0 ? boxed[boxed.length - 1]! : null;
    }
    case "mc":
      return strictMc(text);
    case "text": {
      // The last line holding "####" with something after its last "####".
      let found: string | null = null;
      for (const line of text.split("\n")) {
        const at = line.lastIndexOf("####");
        const rest = at < 0 ? "" : line.slice(at + 4).trim();
        if (rest !== "") found = rest;
      }
      return found;
    }
  }
}

/** Flexible extraction: strict first, then the task's fall-backs (see the file header). */
function extractFlexible(text: string, task: AnswerTask): string | null {
  const strict = extractStrict(text, task);
  if (strict !== null) return strict;
  switch (task) {
    case "gsm8k":
    case "number": {
      const boxed = lastBoxedNumber(text);
      if (boxed !== null) return boxed;
      const nums = findNumbers(text);
      return nums.length > 0 ? nums[nums.length - 1]! : null;
    }
    case "math": {
      const expr = answerIsExpression(text);
      if (expr !== null) return expr;
      const nums = findNumbers(text);
      return nums.length > 0 ? nums[nums.length - 1]! : null;
    }
    case "mc":
      return flexibleMc(text);
    case "text": {
      const expr = answerIsExpression(text);
      if (expr !== null) return expr;
      const last = text.trimEnd().split("\n").pop()?.trim() ?? "";
      return last === "" ? null : last;
    }
  }
}

/**
 * Extract the final answer from a model output, or null when the mode finds none.
 *
 *   extractAnswer("... so 5 + 7 = 12.\n#### 12", { task: "gsm8k", mode: "strict" })  // "12"
 *   extractAnswer("She pays $1,200 in total.", { task: "gsm8k", mode: "strict" })    // null
 *   extractAnswer("She pays $1,200 in total.", { task: "gsm8k", mode: "flexible" })  // "1200"
 */
export function extractAnswer(text: string, options: ExtractOptions): string | null {
  return options.mode === "strict" ? extractStrict(text, options.task) : extractFlexible(text, options.task);
}

/** Both modes at once, for reports that show strict and flexible side by side. */
export function extractBoth(text: string, task: AnswerTask): { strict: string | null; flexible: string | null } {
  return { strict: extractStrict(text, task), flexible: extractFlexible(text, task) };
}
