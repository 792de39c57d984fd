/**
 * Evaluate a model on CoT records: prompt (prompting.ts), generate in batches, extract
 * the final answer in strict and flexible mode (extract.ts), score it (normalize.ts),
 * and check the generated chain step by step (steps.ts).
 *
 *   evaluate({model, tokenizer, records, ...})  → {report, samples}
 *   writeEvalOutputs(dir, result)               → summary.json, samples.jsonl
 *
 * Report fields: `n`, `accuracy_strict`, `accuracy_flexible` (fractions), per task the
 * same, and step checking of the generated chains:
 *   chains_with_claims  fraction of outputs with at least one checked arithmetic claim
 *   step_validity       among those, the fraction with no invalid step (null when none)
 * A chain with no claims is neither valid nor invalid: a random model writes none, and
 * counting it valid would make noise look like reasoning.
 *
 * Generation is greedy (temperature 0); prompts are sorted by length before batching so a
 * batch pads little, and results are put back in record order.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CoTRecord } from "../data/records.ts";
import { TASKS } from "../data/tasks/index.ts";
import { ANSWER_PREFIX, type Problem } from "../data/tasks/types.ts";
import { type GeneratedSequence, generate } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { chatStopIds } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { extractBoth } from "./extract.ts";
import { type AnswerTask, answersMatch, parseNumber } from "./normalize.ts";
import { type PromptingKind, promptBuilder } from "./prompting.ts";
import { type CheckChainOptions, checkChain, taskCheckers } from "./steps.ts";

export interface EvaluateOptions {
  model: Model;
  tokenizer: Tokenizer;
  records: readonly CoTRecord[];
  /** Default "zero-cot". */
  prompting?: PromptingKind;
  /** Exemplars for few-cot (default 4). */
  shots?: number;
  /** Exemplar pool for few-cot (default: the records themselves; the test item is always excluded). */
  pool?: readonly CoTRecord[];
  /** Seed of the exemplar draw (default 0). */
  seed?: number;
  /** Use the tokenizer's chat template. */
  chat?: boolean;
  /** Default 128. */
  maxNewTokens?: number;
  /** Prompts per generate call (default 16). */
  batchSize?: number;
  /** The generated problems behind the records (same order), so task checkers can judge their chains. */
  problems?: readonly (Problem | undefined)[];
  /** Step-checker options (constants; checkers default to every registered task's checkSteps). */
  steps?: CheckChainOptions;
  /** Called after each batch with the number of records done. */
  onProgress?: (done: number, total: number) => void;
}

export interface StepSummary {
  valid: boolean;
  firstInvalid: number | null;
  reason: string | null;
  checker: string;
  checkedClaims: number;
}

/** One line of samples.jsonl. */
export interface EvalSample {
  index: number;
  task: string;
  question: string;
  gold: string;
  prompt: string;
  output: string;
  pred_strict: string | null;
  pred_flexible: string | null;
  correct_strict: boolean;
  correct_flexible: boolean;
  /** How generation ended; "external" for outputs produced elsewhere (--predictions). */
  finish_reason: GeneratedSequence["finishReason"] | "external";
  new_tokens: number;
  steps: StepSummary;
}

export interface AccuracyBlock {
  n: number;
  accuracy_strict: number;
  accuracy_flexible: number;
  chains_with_claims: number;
  step_validity: number | null;
}

export interface EvalReport extends AccuracyBlock {
  by_task: Record<string, AccuracyBlock>;
  prompting: PromptingKind;
  shots: number;
  seed: number;
  chat: boolean;
  max_new_tokens: number;
  batch_size: number;
  new_tokens: number;
  seconds: number;
  tokens_per_s: number;
}

export interface EvalResult {
  report: EvalReport;
  samples: EvalSample[];
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

/** How to extract and compare a record's answer: meta.answer_task if given, else numbers → gsm8k, A–E → mc, else math. */
export function answerTaskOf(r: CoTRecord): AnswerTask {
  const given = r.meta?.["answer_task"];
  if (given === "gsm8k" || given === "math" || given === "mc" || given === "number") return given;
  if (parseNumber(r.answer) !== null) return "gsm8k";
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

function block(samples: readonly EvalSample[]): AccuracyBlock {
  const n = samples.length;
  const frac = (k: number, of: number) => (of === 0 ? 0 : k / of);
  const withClaims = samples.filter((s) => s.steps.checkedClaims > 0);
  return {
    n,
    accuracy_strict: frac(samples.filter((s) => s.correct_strict).length, n),
    accuracy_flexible: frac(samples.filter((s) => s.correct_flexible).length, n),
    chains_with_claims: frac(withClaims.length, n),
    step_validity: withClaims.length === 0 ? null : withClaims.filter((s) => s.steps.valid).length / withClaims.length,
  };
}

/** Run the evaluation (see the file header). Does not consume the model's parameters. */
export async function evaluate(opts: EvaluateOptions): Promise<EvalResult> {
  const { model, tokenizer, records } = opts;
  const prompting = opts.prompting ?? "zero-cot";
  const shots = prompting === "few-cot" ? (opts.shots ?? 4) : 0;
  const seed = opts.seed ?? 0;
  const maxNewTokens = opts.maxNewTokens ?? 128;
  const batchSize = opts.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new EvalError(`evaluate: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (records.length === 0) throw new EvalError("evaluate: no records to evaluate");
  const build = promptBuilder({
    kind: prompting,
    shots,
    seed,
    pool: opts.pool ?? records,
    ...(opts.chat ? { chat: tokenizer } : {}),
  });
  const built = records.map((r) => build(r.question));
  const promptIds = built.map((b, i) => {
    const ids = tokenizer.encode(b.prompt, { addSpecialTokens: !opts.chat });
    const bad = ids.find((id) => id >= model.config.vocabSize);
    if (bad !== undefined) {
      throw new EvalError(
        `evaluate: record ${i}: the tokenizer gives id ${bad}, outside the model's vocabulary (${model.config.vocabSize})`,
      );
    }
    if (ids.length + maxNewTokens > model.config.maxPositionEmbeddings) {
      throw new EvalError(
        `evaluate: record ${i}: prompt (${ids.length} tokens) + maxNewTokens (${maxNewTokens}) exceeds the model's ` +
          `max_position_embeddings (${model.config.maxPositionEmbeddings}); use fewer shots or a smaller --max-new-tokens`,
      );
    }
    return ids;
  });
  const eos = new Set(model.config.eosTokenIds);
  if (tokenizer.eosId !== null) eos.add(tokenizer.eosId);
  if (opts.chat) for (const id of chatStopIds(tokenizer)) eos.add(id);
  const stop = built[0]!.stop;

  // Sort by prompt length so each batch pads little; results go back to record order.
  const order = records.map((_, i) => i).sort((a, b) => promptIds[a]!.length - promptIds[b]!.length || a - b);
  const outputs = new Array<GeneratedSequence>(records.length);
  const t0 = performance.now();
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const gen = await generate(
      model,
      idx.map((i) => promptIds[i]!),
      { maxNewTokens, eosTokenIds: [...eos], tokenizer, ...(stop.length > 0 ? { stop } : {}) },
    );
    idx.forEach((i, k) => {
      outputs[i] = gen[k]!;
    });
    opts.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }
  const seconds = (performance.now() - t0) / 1000;

  const samples = records.map((r, i) => {
    const out = outputs[i]!;
    const text = cutAtStop(out.text ?? tokenizer.decode(out.tokenIds, { skipSpecialTokens: true }), stop);
    const problem = opts.problems?.[i];
    return scoreOutput(r, text, {
      index: i,
      prompt: built[i]!.prompt,
      finishReason: out.finishReason,
      newTokens: out.tokenIds.length,
      ...(problem ? { problem } : {}),
      ...(opts.steps ? { steps: opts.steps } : {}),
    });
  });
  const newTokens = samples.reduce((n, s) => n + s.new_tokens, 0);
  return {
    report: {
      ...summarize(samples),
      prompting,
      shots,
      seed,
      chat: opts.chat ?? false,
      max_new_tokens: maxNewTokens,
      batch_size: batchSize,
      new_tokens: newTokens,
      seconds,
      tokens_per_s: seconds > 0 ? newTokens / seconds : 0,
    },
    samples,
  };
}

/** The text before the first stop string. */
export function cutAtStop(text: string, stop: readonly string[]): string {
  let end = text.length;
  for (const s of stop) {
    const at = text.indexOf(s);
    if (at >= 0) end = Math.min(end, at);
  }
  return text.slice(0, end);
}

export interface ScoreContext {
  index: number;
  prompt?: string;
  finishReason?: EvalSample["finish_reason"];
  newTokens?: number;
  problem?: Problem;
  steps?: CheckChainOptions;
}

/**
 * Score one output against its record: strict and flexible extraction, answer match,
 * step check of the chain (the answer line removed). Pure; `evaluate` and the
 * evaluation of predictions made elsewhere (`stepwise eval --predictions`) share it.
 */
export function scoreOutput(r: CoTRecord, output: string, ctx: ScoreContext): EvalSample {
  const task = answerTaskOf(r);
  const pred = extractBoth(output, task);
  const v = checkChain(
    { question: r.question, chain: chainOf(output), task: taskOf(r), ...(ctx.problem ? { problem: ctx.problem } : {}) },
    { checkers: DEFAULT_CHECKERS, ...ctx.steps },
  );
  return {
    index: ctx.index,
    task: taskOf(r),
    question: r.question,
    gold: r.answer,
    prompt: ctx.prompt ?? "",
    output,
    pred_strict: pred.strict,
    pred_flexible: pred.flexible,
    correct_strict: answersMatch(pred.strict, r.answer, task),
    correct_flexible: answersMatch(pred.flexible, r.answer, task),
    finish_reason: ctx.finishReason ?? "external",
    new_tokens: ctx.newTokens ?? 0,
    steps: {
      valid: v.valid,
      firstInvalid: v.firstInvalid,
      reason: v.reason,
      checker: v.checker,
      checkedClaims: v.checkedClaims,
    },
  };
}

/** Accuracy and step validity overall and per task (keys sorted). */
export function summarize(samples: readonly EvalSample[]): AccuracyBlock & { by_task: Record<string, AccuracyBlock> } {
  const byTask: Record<string, AccuracyBlock> = {};
  for (const task of [...new Set(samples.map((s) => s.task))].sort()) {
    byTask[task] = block(samples.filter((s) => s.task === task));
  }
  return { ...block(samples), by_task: byTask };
}

const pct = (x: number | null) => (x === null ? "-" : `${(100 * x).toFixed(1)}%`);

/** A summary as a Markdown table: one row per task, then all. */
export function reportTable(summary: AccuracyBlock & { by_task: Record<string, AccuracyBlock> }): string {
  const line = (name: string, b: AccuracyBlock) =>
    `| ${name} | ${b.n} | ${pct(b.accuracy_strict)} | ${pct(b.accuracy_flexible)} | ${pct(b.chains_with_claims)} | ${pct(b.step_validity)} |`;
  return [
    "| task | n | accuracy (strict) | accuracy (flexible) | chains with claims | step validity |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...Object.entries(summary.by_task).map(([task, b]) => line(task, b)),
    line("**all**", summary),
  ].join("\n");
}

/** File names written by writeEvalOutputs. */
export const SUMMARY_FILE = "summary.json";
export const SAMPLES_FILE = "samples.jsonl";
export const TABLE_FILE = "summary.md";

/** Write summary.json (the report), samples.jsonl (one EvalSample per line) and summary.md (the table) into `dir`. */
export async function writeEvalOutputs(
  dir: string,
  result: { report: AccuracyBlock & { by_task: Record<string, AccuracyBlock> }; samples: readonly EvalSample[] },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const summary = join(dir, SUMMARY_FILE);
  const samples = join(dir, SAMPLES_FILE);
  await writeFile(summary, `${JSON.stringify(result.report, null, 2)}\n`);
  await writeFile(
    samples,
    result.samples.map((s) => JSON.stringify(s)).join("\n") + (result.samples.length ? "\n" : ""),
  );
  const table = join(dir, TABLE_FILE);
  await writeFile(table, `${reportTable(result.report)}\n`);
  return [summary, samples, table];
}
