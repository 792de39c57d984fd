/**
 * Score one model output against its record: extract the final answer in strict and
 * flexible mode (extract.ts), compare it with the gold answer through the answer module's
 * one `answersMatch` (data/answer/), check the generated chain step by step (steps.ts, the
 * task's own checker when the problem is known) and score the chain against the reference
 * chain with BLEU and ROUGE (bleu.ts, rouge.ts). With k sampled outputs, also the majority
 * vote. `evaluate` (run.ts) and the scoring of predictions made elsewhere
 * (`stepwise eval --predictions`) share `scoreOutput`.
 */
import { type AnswerTask, answersMatch, parseNumber } from "../data/answer/index.ts";
import type { CoTRecord } from "../data/records.ts";
import { isTaskName, problemFromRecord, TASKS } from "../data/tasks/index.ts";
import { ANSWER_PREFIX, type Problem } from "../data/tasks/types.ts";
import type { GeneratedSequence } from "../model/generate.ts";
import { sentenceBleu } from "./bleu.ts";
import { extractBoth } from "./extract.ts";
import { majorityVote } from "./metrics.ts";
import { rouge } from "./rouge.ts";
import { type CheckChainOptions, checkChain, taskCheckers } from "./steps.ts";

export interface StepSummary {
  valid: boolean;
  firstInvalid: number | null;
  reason: string | null;
  checker: string;
  checkedClaims: number;
}

/** BLEU (sentence, 0–100) and ROUGE F-measures of one generated chain against its reference chain. */
export interface ChainScores {
  bleu: number;
  rouge1: number;
  rouge2: number;
  rougeL: number;
}

/** The k sampled answers of one problem (only when samples > 1). */
export interface SampledAnswers {
  k: number;
  extracted_strict: (string | null)[];
  extracted_flexible: (string | null)[];
  correct_strict: boolean[];
  correct_flexible: boolean[];
  /** Majority-vote winners (null when every sample abstained) and whether they match gold. */
  majority_strict: string | null;
  majority_flexible: string | null;
  maj_correct_strict: boolean;
  maj_correct_flexible: boolean;
}

/** One line of examples.jsonl. With samples > 1, `output` and the fields after it are the first sample's. */
export interface EvalExample {
  index: number;
  /** meta.id of the record when it has one (used by `eval compare` to match examples), else null. */
  id: string | null;
  task: string;
  question: string;
  gold: string;
  /** The record's reference chain ("" when none). */
  reference: string;
  prompt: string;
  output: string;
  /** All k sampled outputs (only when samples > 1). */
  outputs?: string[];
  extracted_strict: string | null;
  extracted_flexible: string | null;
  correct_strict: boolean;
  correct_flexible: boolean;
  /** How generation ended; "external" for outputs produced elsewhere (--predictions). */
  finish_reason: GeneratedSequence["finishReason"] | "external";
  new_tokens: number;
  steps: StepSummary;
  /** Generated chain vs reference chain; null when the record has no reference chain. */
  chain_scores: ChainScores | null;
  sampled?: SampledAnswers;
}

/** Every registered task's own step checker (used when the problem behind a record is known). */
const DEFAULT_CHECKERS = taskCheckers(Object.values(TASKS));

export class EvalError extends Error {
  override name = "EvalError";
}

/** The task name of a record (meta.task), "default" when it has none. */
export function taskOf(r: CoTRecord): string {
  const t = r.meta?.["task"];
  return typeof t === "string" && t !== "" ? t : "default";
}

/**
 * How to extract and compare a record's answer: meta.answer_task if given, else numbers → gsm8k,
 * a generated problem's non-numeric answer (meta.task names a generator: logic's names and
 * True/False) → text, A–E → mc, else math.
 */
export function answerTaskOf(r: CoTRecord): AnswerTask {
  const given = r.meta?.["answer_task"];
  if (given === "gsm8k" || given === "math" || given === "mc" || given === "number" || given === "text") return given;
  if (parseNumber(r.answer) !== null) return "gsm8k";
  if (isTaskName(taskOf(r))) return "text";
  if (/^\(?[A-E]\)?$/.test(r.answer.trim())) return "mc";
  return "math";
}

/** The generated chain without its answer line(s) ("#### N"), for step checking. */
export function chainOf(output: string): string {
  return output
    .split("\n")
    .filter((l) => !l.trim().startsWith(ANSWER_PREFIX.trim()))
    .join("\n");
}

/** meta.id of a record as a string, or null. */
export function idOf(r: CoTRecord): string | null {
  const id = r.meta?.["id"];
  return typeof id === "string" || typeof id === "number" ? String(id) : null;
}

export interface ScoreContext {
  index: number;
  prompt?: string;
  finishReason?: EvalExample["finish_reason"];
  newTokens?: number;
  /** The generated problem behind the record, for its task's step checker (default: rebuilt from meta.structured). */
  problem?: Problem;
  steps?: CheckChainOptions;
}

/** The generated chain scored against a reference chain: sentence BLEU and ROUGE-1/2/L F (no stemming). */
export function chainScores(generatedChain: string, reference: string): ChainScores {
  const r = rouge(generatedChain, reference);
  return {
    bleu: sentenceBleu(generatedChain, [reference]).score,
    rouge1: r.rouge1.fmeasure,
    rouge2: r.rouge2.fmeasure,
    rougeL: r.rougeL.fmeasure,
  };
}

/**
 * Score one output (or k sampled outputs, the first one standing for the example) against its
 * record: strict and flexible extraction, answer match, step check of the chain (the answer
 * line removed), chain scores against the reference chain, and with k outputs the majority
 * vote. Pure; `evaluate` and the evaluation of predictions made elsewhere
 * (`stepwise eval --predictions`) share it.
 */
export function scoreOutput(r: CoTRecord, output: string | readonly string[], ctx: ScoreContext): EvalExample {
  const task = answerTaskOf(r);
  const outs = typeof output === "string" ? [output] : [...output];
  if (outs.length === 0) throw new EvalError(`scoreOutput: example ${ctx.index}: no outputs`);
  const first = outs[0]!;
  const preds = outs.map((o) => extractBoth(o, task));
  const pred = preds[0]!;
  // A generated record carries its problem (meta.structured), so `eval --data` on the demo's files
  // grades chains with the task checker, as the demo does, not only the generic one.
  const problem = ctx.problem ?? problemFromRecord(r);
  const v = checkChain(
    { question: r.question, chain: chainOf(first), task: taskOf(r), ...(problem ? { problem } : {}) },
    { checkers: DEFAULT_CHECKERS, ...ctx.steps },
  );
  const reference = r.chain_of_thought.trim();
  const ex: EvalExample = {
    index: ctx.index,
    id: idOf(r),
    task: taskOf(r),
    question: r.question,
    gold: r.answer,
    reference,
    prompt: ctx.prompt ?? "",
    output: first,
    ...(outs.length > 1 ? { outputs: outs } : {}),
    extracted_strict: pred.strict,
    extracted_flexible: pred.flexible,
    correct_strict: answersMatch(pred.strict, r.answer, { task }),
    correct_flexible: answersMatch(pred.flexible, r.answer, { task }),
    finish_reason: ctx.finishReason ?? "external",
    new_tokens: ctx.newTokens ?? 0,
    steps: {
      valid: v.valid,
      firstInvalid: v.firstInvalid,
      reason: v.reason,
      checker: v.checker,
      checkedClaims: v.checkedClaims,
    },
    chain_scores: reference === "" ? null : chainScores(chainOf(first).trim(), reference),
  };
  if (outs.length > 1) {
    const strict = preds.map((p) => p.strict);
    const flexible = preds.map((p) => p.flexible);
    const ms = majorityVote(strict, task).answer;
    const mf = majorityVote(flexible, task).answer;
    ex.sampled = {
      k: outs.length,
      extracted_strict: strict,
      extracted_flexible: flexible,
      correct_strict: strict.map((a) => answersMatch(a, r.answer, { task })),
      correct_flexible: flexible.map((a) => answersMatch(a, r.answer, { task })),
      majority_strict: ms,
      majority_flexible: mf,
      maj_correct_strict: answersMatch(ms, r.answer, { task }),
      maj_correct_flexible: answersMatch(mf, r.answer, { task }),
    };
  }
  return ex;
}
