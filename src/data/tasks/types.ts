/**
 * The interface every verifiable task generator implements.
 *
 * A generator draws a `Problem` from a seeded `Rng`: the question, the gold chain as
 * one step per line, the final answer, and a canonical structured form (the numbers
 * and template that make the problem what it is, without surface names) that the
 * held-out split hashes. Two checkers come with it:
 *
 *  - `checkAnswer(problem, answer)`: is a final answer right? Every generator uses
 *    `checkFinalAnswer`, i.e. the answer module's one `answersMatch` (src/data/answer/):
 *    numbers compare as exact rationals ("12", "12.0", "$12", "1,200", "24/2", "1 1/2"),
 *    anything else as normalised text.
 *  - `checkSteps(problem, steps)`: is every step right AND does it follow from the question
 *    or earlier steps? Each task recomputes each step's claim exactly (bigint rationals)
 *    and names the first bad step. `firstInvalid === steps.length` means every step given
 *    is fine but the chain stops before reaching the answer.
 *
 * Rendering: a record's `chain_of_thought` is the steps joined by "\n" (no answer line);
 * a training target appends the one fixed answer line `ANSWER_LINE` ("#### 42", as in
 * GSM8K, so the same extractor reads generated and public data).
 */
import type { Rng } from "../../engine/rng.ts";
import { answersMatch } from "../answer/index.ts";
import type { CoTRecord } from "../records.ts";
import type { Wordings, WordingTag } from "./wordings.ts";

/** The fixed answer line appended to a chain when rendering a target: `#### <answer>`. */
export const ANSWER_LINE = "#### {answer}";
/** The prefix of `ANSWER_LINE`, for extraction. */
export const ANSWER_PREFIX = "#### ";

/** `#### 42` for answer "42". */
export function answerLine(answer: string): string {
  return ANSWER_LINE.replace("{answer}", answer);
}

/** One generated problem. `S` is the task's structured form (JSON-serialisable). */
export interface Problem<S = unknown> {
  task: string;
  question: string;
  /** The gold chain, one natural-language step per entry. */
  steps: string[];
  answer: string;
  structured: S;
  /** Canonical key of the problem (task + numbers + template, no surface names); equal keys = same problem. */
  canonical: string;
  /** Set only when the question was drawn from the wording pool (wordings.ts). */
  wording?: WordingTag;
}

/** The verdict on a chain: valid iff every step checks out and the chain reaches the answer. */
export interface StepVerdict {
  valid: boolean;
  /** Index of the first bad step; `steps.length` when the chain stops short of the answer. */
  firstInvalid?: number;
  /** One line per problem found, naming the step and what was expected. */
  reasons: string[];
}

// Method shorthand on purpose: registries hold `TaskGenerator<unknown>` (bivariant methods).
export interface TaskGenerator<S = unknown, O extends object = object> {
  name: string;
  description: string;
  /** Difficulty options (number ranges, step counts) and their defaults. */
  defaults: O;
  generate(rng: Rng, opts?: Partial<O>): Problem<S>;
  /** The question's surface forms per problem kind (wordings.ts); template 0 is what `generate` writes. */
  wordings: Wordings<S>;
  checkAnswer(problem: Problem<S>, answer: string): boolean;
  checkSteps(problem: Problem<S>, steps: string[]): StepVerdict;
}

/** A verdict from a list of per-step errors (first error wins). */
export function verdict(errors: { step: number; reason: string }[]): StepVerdict {
  if (errors.length === 0) return { valid: true, reasons: [] };
  const first = errors.reduce((m, e) => Math.min(m, e.step), Number.POSITIVE_INFINITY);
  return { valid: false, firstInvalid: first, reasons: errors.map((e) => `step ${e.step + 1}: ${e.reason}`) };
}

/**
 * The shared `checkAnswer` of the generators: the answer module's `answersMatch(answer,
 * problem.answer)` with its default task, so numbers compare as exact rationals ("12.0",
 * "$12", "12 km", "24/2", "1 1/2") and words (names, True/False) as normalised text. The
 * evaluation report and rewards use the same function.
 */
export function checkFinalAnswer(problem: Pick<Problem, "answer">, answer: string): boolean {
  return answersMatch(answer, problem.answer);
}

/** Render a problem as a CoTRecord (meta carries the task; the dataset adds split and id). */
export function toRecord(problem: Problem): CoTRecord {
  return {
    question: problem.question,
    chain_of_thought: problem.steps.join("\n"),
    answer: problem.answer,
    meta: { task: problem.task },
  };
}

/** The training target for a record: its chain, then the answer line. */
export function renderTarget(record: Pick<CoTRecord, "chain_of_thought" | "answer">): string {
  const line = answerLine(record.answer);
  return record.chain_of_thought === "" ? line : `${record.chain_of_thought}\n${line}`;
}

export interface SplitStepsOptions {
  /**
   * When the chain is a single line, split it into sentences (". " before a capital, a
   * digit, "$" or "(") — free-form rationales such as GSM8K's are often written on one
   * line. Default false: generated chains are one step per line by construction.
   */
  sentences?: boolean;
}

/**
 * Split a chain into steps: one per non-empty trimmed line ("\n" or "\r\n"), answer lines
 * ("#### 42") dropped; with `sentences`, a chain of one line is split into its sentences.
 * The one rule set for task checkers and the generic step checker (eval/steps.ts).
 */
export function splitSteps(chain: string, opts: SplitStepsOptions = {}): string[] {
  const lines = chain
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== "" && !s.startsWith(ANSWER_PREFIX.trim()));
  if (!opts.sentences || lines.length !== 1) return lines;
  return lines[0]!
    .split(/(?<=[.!?])\s+(?=[A-Z0-9$(])/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
