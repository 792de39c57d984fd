/**
 * Evaluate a model on CoT records: prompt (prompting.ts), generate in batches, then score
 * every output (score.ts: extraction in strict and flexible mode, the answer module's
 * answersMatch, step checking, BLEU/ROUGE against the reference chain) and summarise
 * (report.ts: accuracies per task, chain metrics, maj@k and pass@k, the files written).
 *
 *   evaluate({model, tokenizer, records, ...})  → {report, examples}
 *   writeEvalOutputs(dir, result)               → examples.jsonl, summary.json, summary.md (report.ts)
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
import type { CoTRecord } from "../data/records.ts";
import type { Problem } from "../data/tasks/types.ts";
import { type GeneratedSequence, generate } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { chatStopIds } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type PromptingKind, promptBuilder } from "./prompting.ts";
import { type EvalSummary, summarize } from "./report.ts";
import { EvalError, type EvalExample, scoreOutput } from "./score.ts";
import type { CheckChainOptions } from "./steps.ts";

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
  /** The generated problems behind the records (same order), so task checkers can judge their chains (default: each record's own, rebuilt from meta.structured by scoreOutput). */
  problems?: readonly (Problem | undefined)[];
  /** Step-checker options (constants; checkers default to every registered task's checkSteps). */
  steps?: CheckChainOptions;
  /** Called after each batch with the number of generations done. */
  onProgress?: (done: number, total: number) => void;
}

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
