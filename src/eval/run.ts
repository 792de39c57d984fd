/**
 * Evaluate a model on CoT records: prompt (prompting.ts), generate in batches, extract
 * the final answer in strict and flexible mode (extract.ts), score it (normalize.ts),
 * check the generated chain step by step (steps.ts), and score the generated chain
 * against the reference chain with BLEU and ROUGE (bleu.ts, rouge.ts).
 *
 *   evaluate({model, tokenizer, records, ...})  → {report, examples}
 *   writeEvalOutputs(dir, result)               → examples.jsonl, summary.json, summary.md
 *
 * Report fields: `n`, `accuracy_strict`, `accuracy_flexible` (fractions), per task the
 * same, and step checking of the generated chains:
 *   chains_with_claims  fraction of outputs with at least one checked arithmetic claim
 *   step_validity       among those, the fraction with no invalid step (null when none)
 * A chain with no claims is neither valid nor invalid: a random model writes none, and
 * counting it valid would make noise look like reasoning.
 *
 * Chain metrics (over the examples whose record has a non-empty chain_of_thought; the
 * generated chain is the output without its "#### N" answer line, see chainOf):
 *   chain_n             examples with a reference chain
 *   bleu                corpus BLEU (sacrebleu defaults, 0–100), null when chain_n = 0
 *   rouge1/rouge2/rougeL  mean ROUGE F-measure (rouge-score tokenisation, no stemming)
 *
 * Sampling (`samples: k > 1`): k chains per problem at `temperature` (default 0.7), seeded
 * (the sampling seed of sample j, batch b is a fixed mix of seed, j and b). Then
 *   accuracy_* / step checks / chain metrics  are those of the FIRST sample,
 *   maj_at_k_strict/_flexible   self-consistency: majority vote (majorityVote) over the k
 *                               extracted answers, correct when the winner matches gold,
 *   pass_at_1_*, pass_at_k_*    the unbiased pass@k estimator (Chen et al.) with n = k samples.
 * With k = 1 generation is greedy (temperature 0) unless a temperature is given.
 *
 * Prompts are sorted by length before batching so a batch pads little, and results are
 * put back in record order.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CoTRecord } from "../data/records.ts";
import { isTaskName, TASKS } from "../data/tasks/index.ts";
import { ANSWER_PREFIX, type Problem } from "../data/tasks/types.ts";
import { type GeneratedSequence, generate } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { chatStopIds } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { corpusBleu, sentenceBleu } from "./bleu.ts";
import { extractBoth } from "./extract.ts";
import { majorityVote, meanPassAtK } from "./metrics.ts";
import { type AnswerTask, answersMatch, parseNumber } from "./normalize.ts";
import { type PromptingKind, promptBuilder } from "./prompting.ts";
import { rouge } from "./rouge.ts";
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
  /** Seed of the exemplar draw and of sampling (default 0). */
  seed?: number;
  /** Use the tokenizer's chat template. */
  chat?: boolean;
  /** Default 128. */
  maxNewTokens?: number;
  /** Prompts per generate call (default 16). */
  batchSize?: number;
  /** Sampled chains per problem (default 1 = greedy); k > 1 adds maj@k and pass@k. */
  samples?: number;
  /** Sampling temperature (default 0.7 when samples > 1, else 0 = greedy). */
  temperature?: number;
  /** Nucleus mass for sampling (default 1 = off). */
  topP?: number;
  /** The generated problems behind the records (same order), so task checkers can judge their chains. */
  problems?: readonly (Problem | undefined)[];
  /** Step-checker options (constants; checkers default to every registered task's checkSteps). */
  steps?: CheckChainOptions;
  /** Called after each batch with the number of generations done. */
  onProgress?: (done: number, total: number) => void;
}

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
/** @deprecated old name of EvalExample. */
export type EvalSample = EvalExample;

export interface AccuracyBlock {
  n: number;
  accuracy_strict: number;
  accuracy_flexible: number;
  chains_with_claims: number;
  step_validity: number | null;
}

export interface ChainMetrics {
  chain_n: number;
  bleu: number | null;
  rouge1: number | null;
  rouge2: number | null;
  rougeL: number | null;
}

export interface SamplingMetrics {
  samples: number;
  maj_at_k_strict: number;
  maj_at_k_flexible: number;
  pass_at_1_strict: number;
  pass_at_1_flexible: number;
  pass_at_k_strict: number;
  pass_at_k_flexible: number;
}

export type EvalSummary = AccuracyBlock &
  ChainMetrics &
  Partial<SamplingMetrics> & { by_task: Record<string, AccuracyBlock> };

export interface EvalReport extends EvalSummary {
  prompting: PromptingKind;
  shots: number;
  seed: number;
  chat: boolean;
  temperature: number;
  top_p: number;
  max_new_tokens: number;
  batch_size: number;
  new_tokens: number;
  seconds: number;
  tokens_per_s: number;
}

export interface EvalResult {
  report: EvalReport;
  examples: EvalExample[];
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

function block(examples: readonly EvalExample[]): AccuracyBlock {
  const n = examples.length;
  const frac = (k: number, of: number) => (of === 0 ? 0 : k / of);
  const withClaims = examples.filter((s) => s.steps.checkedClaims > 0);
  return {
    n,
    accuracy_strict: frac(examples.filter((s) => s.correct_strict).length, n),
    accuracy_flexible: frac(examples.filter((s) => s.correct_flexible).length, n),
    chains_with_claims: frac(withClaims.length, n),
    step_validity: withClaims.length === 0 ? null : withClaims.filter((s) => s.steps.valid).length / withClaims.length,
  };
}

/** Mix a base seed with small integers into a 32-bit seed (deterministic). */
function mixSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h;
}

/** Run the evaluation (see the file header). Does not consume the model's parameters. */
export async function evaluate(opts: EvaluateOptions): Promise<EvalResult> {
  const { model, tokenizer, records } = opts;
  const prompting = opts.prompting ?? "zero-cot";
  const shots = prompting === "few-cot" ? (opts.shots ?? 4) : 0;
  const seed = opts.seed ?? 0;
  const maxNewTokens = opts.maxNewTokens ?? 128;
  const batchSize = opts.batchSize ?? 16;
  const k = opts.samples ?? 1;
  const temperature = opts.temperature ?? (k > 1 ? 0.7 : 0);
  const topP = opts.topP ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new EvalError(`evaluate: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(k) || k < 1) throw new EvalError(`evaluate: samples must be a positive integer, got ${k}`);
  if (k > 1 && !(temperature > 0)) {
    throw new EvalError(
      `evaluate: samples > 1 needs a temperature > 0 (k greedy chains are identical), got ${temperature}`,
    );
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
  const outputs: GeneratedSequence[][] = records.map(() => []);
  const total = order.length * k;
  const t0 = performance.now();
  for (let j = 0; j < k; j++) {
    for (let start = 0; start < order.length; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      const gen = await generate(
        model,
        idx.map((i) => promptIds[i]!),
        {
          maxNewTokens,
          eosTokenIds: [...eos],
          tokenizer,
          ...(stop.length > 0 ? { stop } : {}),
          ...(temperature > 0 ? { temperature, topP, seed: mixSeed(seed, j, start) } : {}),
        },
      );
      idx.forEach((i, r) => {
        outputs[i]![j] = gen[r]!;
      });
      opts.onProgress?.(j * order.length + Math.min(start + batchSize, order.length), total);
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  let newTokens = 0;
  const examples = records.map((r, i) => {
    const texts = outputs[i]!.map((out) => {
      newTokens += out.tokenIds.length;
      return cutAtStop(out.text ?? tokenizer.decode(out.tokenIds, { skipSpecialTokens: true }), stop);
    });
    const first = outputs[i]![0]!;
    const problem = opts.problems?.[i];
    return scoreOutput(r, k > 1 ? texts : texts[0]!, {
      index: i,
      prompt: built[i]!.prompt,
      finishReason: first.finishReason,
      newTokens: first.tokenIds.length,
      ...(problem ? { problem } : {}),
      ...(opts.steps ? { steps: opts.steps } : {}),
    });
  });
  return {
    report: {
      ...summarize(examples),
      prompting,
      shots,
      seed,
      chat: opts.chat ?? false,
      temperature,
      top_p: topP,
      max_new_tokens: maxNewTokens,
      batch_size: batchSize,
      new_tokens: newTokens,
      seconds,
      tokens_per_s: seconds > 0 ? newTokens / seconds : 0,
    },
    examples,
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
  finishReason?: EvalExample["finish_reason"];
  newTokens?: number;
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
  const v = checkChain(
    { question: r.question, chain: chainOf(first), task: taskOf(r), ...(ctx.problem ? { problem: ctx.problem } : {}) },
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
      correct_strict: strict.map((a) => answersMatch(a, r.answer, task)),
      correct_flexible: flexible.map((a) => answersMatch(a, r.answer, task)),
      majority_strict: ms,
      majority_flexible: mf,
      maj_correct_strict: answersMatch(ms, r.answer, task),
      maj_correct_flexible: answersMatch(mf, r.answer, task),
    };
  }
  return ex;
}

/** Corpus BLEU and mean ROUGE F of the generated chains over the examples with a reference chain. */
export function chainMetrics(examples: readonly EvalExample[]): ChainMetrics {
  const withRef = examples.filter((e) => e.reference !== "" && e.chain_scores !== null);
  if (withRef.length === 0) return { chain_n: 0, bleu: null, rouge1: null, rouge2: null, rougeL: null };
  const mean = (f: (c: ChainScores) => number) => withRef.reduce((s, e) => s + f(e.chain_scores!), 0) / withRef.length;
  return {
    chain_n: withRef.length,
    bleu: corpusBleu(
      withRef.map((e) => chainOf(e.output).trim()),
      withRef.map((e) => [e.reference]),
    ).score,
    rouge1: mean((c) => c.rouge1),
    rouge2: mean((c) => c.rouge2),
    rougeL: mean((c) => c.rougeL),
  };
}

/** maj@k and pass@1/pass@k over the examples (all must carry k sampled answers); undefined when none do. */
export function samplingMetrics(examples: readonly EvalExample[]): SamplingMetrics | undefined {
  const sampled = examples.map((e) => e.sampled).filter((s) => s !== undefined);
  if (sampled.length === 0) return undefined;
  if (sampled.length !== examples.length) {
    throw new EvalError("samplingMetrics: some examples have sampled answers and some do not");
  }
  const k = sampled[0]!.k;
  if (sampled.some((s) => s.k !== k))
    throw new EvalError("samplingMetrics: examples have different numbers of samples");
  const n = sampled.length;
  const count = (xs: boolean[]) => xs.filter(Boolean).length;
  const strict = sampled.map((s) => ({ n: k, c: count(s.correct_strict) }));
  const flexible = sampled.map((s) => ({ n: k, c: count(s.correct_flexible) }));
  return {
    samples: k,
    maj_at_k_strict: sampled.filter((s) => s.maj_correct_strict).length / n,
    maj_at_k_flexible: sampled.filter((s) => s.maj_correct_flexible).length / n,
    pass_at_1_strict: meanPassAtK(strict, 1),
    pass_at_1_flexible: meanPassAtK(flexible, 1),
    pass_at_k_strict: meanPassAtK(strict, k),
    pass_at_k_flexible: meanPassAtK(flexible, k),
  };
}

/** Accuracy and step validity overall and per task (keys sorted), chain metrics, and sampling metrics when k > 1. */
export function summarize(examples: readonly EvalExample[]): EvalSummary {
  const byTask: Record<string, AccuracyBlock> = {};
  for (const task of [...new Set(examples.map((s) => s.task))].sort()) {
    byTask[task] = block(examples.filter((s) => s.task === task));
  }
  return { ...block(examples), ...chainMetrics(examples), ...(samplingMetrics(examples) ?? {}), by_task: byTask };
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
const num = (x: number | null | undefined, d: number) => (x === null || x === undefined ? "-" : x.toFixed(d));

/** A summary as Markdown: one row per task, then all; then chain metrics and, with k > 1, maj@k / pass@k. */
export function reportTable(summary: EvalSummary): string {
  const line = (name: string, b: AccuracyBlock) =>
    `| ${name} | ${b.n} | ${pct(b.accuracy_strict)} | ${pct(b.accuracy_flexible)} | ${pct(b.chains_with_claims)} | ${pct(b.step_validity)} |`;
  const parts = [
    [
      "| task | n | accuracy (strict) | accuracy (flexible) | chains with claims | step validity |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...Object.entries(summary.by_task).map(([task, b]) => line(task, b)),
      line("**all**", summary),
    ].join("\n"),
  ];
  if (summary.chain_n > 0) {
    parts.push(
      [
        "| chains vs reference | n | BLEU | ROUGE-1 F | ROUGE-2 F | ROUGE-L F |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        `| all | ${summary.chain_n} | ${num(summary.bleu, 2)} | ${num(summary.rouge1, 4)} | ${num(summary.rouge2, 4)} | ${num(summary.rougeL, 4)} |`,
      ].join("\n"),
    );
  }
  if (summary.samples !== undefined) {
    const k = summary.samples;
    parts.push(
      [
        `| sampling (k = ${k}) | maj@${k} | pass@1 | pass@${k} |`,
        "| --- | ---: | ---: | ---: |",
        `| strict | ${pct(summary.maj_at_k_strict)} | ${pct(summary.pass_at_1_strict)} | ${pct(summary.pass_at_k_strict)} |`,
        `| flexible | ${pct(summary.maj_at_k_flexible)} | ${pct(summary.pass_at_1_flexible)} | ${pct(summary.pass_at_k_flexible)} |`,
      ].join("\n"),
    );
  }
  return parts.join("\n\n");
}

/** File names written by writeEvalOutputs. */
export const EXAMPLES_FILE = "examples.jsonl";
export const SUMMARY_FILE = "summary.json";
export const TABLE_FILE = "summary.md";

/** Write examples.jsonl (one EvalExample per line), summary.json (the report) and summary.md (the tables) into `dir`. */
export async function writeEvalOutputs(
  dir: string,
  result: { report: EvalSummary; examples: readonly EvalExample[] },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const examples = join(dir, EXAMPLES_FILE);
  const summary = join(dir, SUMMARY_FILE);
  const table = join(dir, TABLE_FILE);
  await writeFile(
    examples,
    result.examples.map((s) => JSON.stringify(s)).join("\n") + (result.examples.length ? "\n" : ""),
  );
  await writeFile(summary, `${JSON.stringify(result.report, null, 2)}\n`);
  await writeFile(table, `${reportTable(result.report)}\n`);
  return [examples, summary, table];
}
