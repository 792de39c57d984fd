/**
 * Rollouts: G completions per prompt from the policy through the KV-cached batched generator
 * (model/generate.ts), then one scoring pass for the per-token log-probabilities the loss needs.
 *
 *   sampleCompletions(model, prompts, spec)   N prompts × G samples in ONE generate call
 *   scoreTokens(params, rows, …)              log π(y_t | x, y_<t) at the sampling temperature
 *   packRows(…)                               fixed-shape training rows
 *   planMicroBatches(rows, micro, m)          length-sorted micro-batches at multiples of m columns
 *
 * Fixed shapes are a requirement, not an optimisation (issue 15 measured it): every new shape
 * compiles and allocates anew and the Wasm allocator never coalesces, so memory grows without a
 * ceiling. Every rollout therefore has the same batch (N·G rows), the same prompt columns
 * (`promptColumns`, prompts left-padded to it) and the same cache capacity, and every training
 * row is prompt + completion right-padded to promptColumns + maxNewTokens tokens.
 *
 * Log-probabilities at the sampling temperature τ, as TRL computes them (logits / τ before the
 * log-softmax): log π_τ(y) = log softmax(z / τ)_y. The "old" log-probabilities are recomputed
 * after sampling by the same compiled forward the update uses, not taken from the generator
 * (which reports τ = 1 and a left-padded layout), so that at the first of μ updates the ratio
 * is exactly 1. Departure from TRL with num_iterations = 1, which detaches the current
 * log-probabilities instead: the same value, one more forward pass here.
 *
 * Right padding needs no attention mask: attention is causal, so padding after a completion
 * never changes the logits of its tokens. The same fact lets a micro-batch drop its trailing
 * padding columns (planMicroBatches, `batch.padMultiple`): rows sorted by length run at the next
 * multiple of m columns that holds them, so the scoring passes and the update skip most of the
 * padding and still compile at most ⌈T/m⌉ shapes.
 */
import { type Array as JaxArray, jit, nn, np, type OwnedFunction } from "../engine/jax.ts";
import { logSoftmax } from "../engine/losses.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { type FinishReason, generate, type TextDecoder } from "../model/generate.ts";
import { forward, type Model } from "../model/model.ts";
import { padToMultiple } from "../train/nll.ts";

export interface SamplingSpec {
  /** Completions per prompt G. */
  groupSize: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** Prompts are left-padded to this many columns for generation (fixed shapes). */
  promptColumns: number;
  eosTokenIds: number[];
  stop: string[];
  seed: number;
}

export interface Completion {
  /** Index of its prompt in the rollout's prompt list. */
  prompt: number;
  tokenIds: number[];
  text: string;
  finishReason: FinishReason;
}

/** N prompts × G completions, group-contiguous (completion j of prompt i at i·G + j). */
export async function sampleCompletions(
  model: Model,
  tokenizer: TextDecoder,
  prompts: readonly number[][],
  spec: SamplingSpec,
): Promise<Completion[]> {
  const rows = prompts.flatMap((p) => Array.from({ length: spec.groupSize }, () => p));
  for (const [i, p] of prompts.entries()) {
    if (p.length > spec.promptColumns) {
      throw new Error(
        `rollout: prompt ${i} has ${p.length} tokens, more than rollout.promptColumns (${spec.promptColumns})`,
      );
    }
  }
  const out = await generate(model, rows, {
    maxNewTokens: spec.maxNewTokens,
    temperature: spec.temperature,
    topP: spec.topP,
    seed: spec.seed,
    eosTokenIds: spec.eosTokenIds,
    tokenizer,
    ...(spec.stop.length > 0 ? { stop: spec.stop } : {}),
    promptColumns: spec.promptColumns,
  });
  return out.map((g, r) => ({
    prompt: Math.floor(r / spec.groupSize),
    tokenIds: g.tokenIds,
    text: g.text ?? "",
    finishReason: g.finishReason,
  }));
}

/** Training rows of one fixed length: ids = x[0..T), targets = x[1..T], mask on completion targets. */
export interface PackedRows {
  rows: number; // B
  seqLen: number; // T = promptColumns + maxNewTokens − 1
  ids: Int32Array; // [B, T]
  targets: Int32Array; // [B, T]
  mask: Float32Array; // [B, T] 1 where targets[t] is a completion token
}

/** prompt ‖ completion, right-padded to promptColumns + maxNewTokens (see the header). */
export function packRows(
  pairs: readonly { prompt: readonly number[]; completion: readonly number[] }[],
  promptColumns: number,
  maxNewTokens: number,
  padId: number,
): PackedRows {
  const B = pairs.length;
  const T = promptColumns + maxNewTokens - 1;
  const ids = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  pairs.forEach(({ prompt, completion }, b) => {
    const seq = [...prompt, ...completion];
    if (prompt.length > promptColumns || completion.length > maxNewTokens) {
      throw new Error(`packRows: row ${b} (${prompt.length} + ${completion.length} tokens) exceeds the fixed shape`);
    }
    for (let t = 0; t < seq.length - 1; t++) {
      ids[b * T + t] = seq[t]!;
      targets[b * T + t] = seq[t + 1]!;
      if (t + 1 >= prompt.length) mask[b * T + t] = 1;
    }
  });
  return { rows: B, seqLen: T, ids, targets, mask };
}

/**
 * log π_τ(targets) per position at temperature τ, and with `logits` the full log-softmax
 * (for entropy): logits [B, T, V] → [B, T]. Consumes logits and targets.
 */
export function temperedLogProbs(
  logits: JaxArray,
  targets: JaxArray,
  temperature: number,
): { logProbs: JaxArray; all: JaxArray } {
  const V = logits.shape[logits.shape.length - 1]!;
  const all = logSoftmax(temperature === 1 ? logits : np.divide(logits, temperature)); // [B, T, V]
  const logProbs = np.sum(np.multiply(all.ref, nn.oneHot(targets, V)), -1); // [B, T]
  return { logProbs, all };
}

const scorers = new WeakMap<
  ModelConfig,
  Map<number, OwnedFunction<(p: Params, ids: JaxArray, t: JaxArray) => JaxArray>>
>();

function scorerFor(config: ModelConfig, temperature: number) {
  let byT = scorers.get(config);
  if (!byT) {
    byT = new Map();
    scorers.set(config, byT);
  }
  let f = byT.get(temperature);
  if (!f) {
    f = jit((params: Params, ids: JaxArray, targets: JaxArray) => {
      const { logits } = forward(params, config, ids);
      const { logProbs, all } = temperedLogProbs(logits, targets, temperature);
      all.dispose();
      return logProbs;
    });
    byT.set(temperature, f);
  }
  return f;
}

/** Free the compiled scoring passes of a config. */
export function releaseScorers(config: ModelConfig): void {
  for (const f of scorers.get(config)?.values() ?? []) f.dispose();
  scorers.delete(config);
}

/** One micro-batch of a rollout: which packed rows, cut to their first `seqLen` columns. */
export interface MicroSlice {
  rows: number[];
  seqLen: number;
}

/** Positions a packed row uses: one past its last completion target (rows are right-padded). */
function usedColumns(rows: PackedRows, b: number): number {
  const T = rows.seqLen;
  for (let t = T - 1; t >= 0; t--) if (rows.mask[b * T + t] !== 0) return t + 1;
  return 1;
}

/**
 * Micro-batches of `micro` rows for the scoring passes and the update, with `batch.padMultiple`
 * as in `stepwise sft`. With m = 0 they are the rows in order at the full width T, as packed.
 * With m > 0 the rows are sorted by the columns they use (stable: ties keep row order) and
 * each micro-batch runs at the next multiple of m that holds its longest row (at most T).
 * Dropping trailing right-padding changes no logit of a row's tokens (causal attention), so
 * Σ loss and its gradient are those of the full-width rows, summed in another order; at most
 * ⌈T/m⌉ widths ever compile, which keeps the fixed-shape requirement of the header. Pure in
 * the rows, so a resumed run plans alike.
 */
export function planMicroBatches(rows: PackedRows, micro: number, padMultiple: number): MicroSlice[] {
  const { rows: B, seqLen: T } = rows;
  if (B % micro !== 0) throw new Error(`planMicroBatches: ${B} rows do not split into micro-batches of ${micro}`);
  const order = Array.from({ length: B }, (_, b) => b);
  if (padMultiple <= 0) {
    return Array.from({ length: B / micro }, (_, k) => ({ rows: order.slice(k * micro, (k + 1) * micro), seqLen: T }));
  }
  const used = order.map((b) => usedColumns(rows, b));
  order.sort((x, y) => used[x]! - used[y]! || x - y);
  const plan: MicroSlice[] = [];
  for (let s = 0; s < B; s += micro) {
    const chunk = order.slice(s, s + micro);
    const longest = Math.max(...chunk.map((b) => used[b]!));
    plan.push({ rows: chunk, seqLen: padToMultiple(longest, T, padMultiple) });
  }
  return plan;
}

/** The [rows, seqLen] block of a [B, T] host array that a micro-batch reads. */
export function gatherRows<A extends Int32Array | Float32Array>(x: A, T: number, slice: MicroSlice): A {
  const out = (
    x instanceof Int32Array
      ? new Int32Array(slice.rows.length * slice.seqLen)
      : new Float32Array(slice.rows.length * slice.seqLen)
  ) as A;
  slice.rows.forEach((b, i) => {
    out.set(x.subarray(b * T, b * T + slice.seqLen), i * slice.seqLen);
  });
  return out;
}

/** Write a micro-batch's [rows, seqLen] values back into a [B, T] host array (the rest untouched). */
export function scatterRows(into: Float32Array, T: number, slice: MicroSlice, values: Float32Array): void {
  slice.rows.forEach((b, i) => {
    into.set(values.subarray(i * slice.seqLen, (i + 1) * slice.seqLen), b * T);
  });
}

/**
 * Per-token log-probabilities of packed rows under `params` (not consumed), micro-batch by
 * micro-batch as planMicroBatches planned them. Returns [B·T] float32, 0 off the mask.
 */
export async function scoreTokens(
  params: Params,
  config: ModelConfig,
  rows: PackedRows,
  temperature: number,
  plan: readonly MicroSlice[],
): Promise<Float32Array> {
  const { rows: B, seqLen: T } = rows;
  const f = scorerFor(config, temperature);
  const out = new Float32Array(B * T);
  for (const slice of plan) {
    const shape = [slice.rows.length, slice.seqLen];
    const lp = f(
      keepTree(params),
      np.array(gatherRows(rows.ids, T, slice), { shape, dtype: np.int32 }),
      np.array(gatherRows(rows.targets, T, slice), { shape, dtype: np.int32 }),
    );
    scatterRows(out, T, slice, await readFloat32(lp));
  }
  for (let i = 0; i < out.length; i++) if (rows.mask[i] === 0) out[i] = 0;
  return out;
}
