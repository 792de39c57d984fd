/**
 * Batched, KV-cached text generation and continuation scoring.
 *
 *   generate(model, promptIds, opts)            → per prompt: new token ids, their log-probs, text
 *   scoreContinuation(model, prompt, cont)      → Σ_t log p(cont_t | prompt, cont_<t)
 *
 * Batching: prompts of different lengths are left-padded to the longest, so every
 * row's next token sits in the same column. Padding slots are masked out of
 * attention, and positions count real tokens only (transformers' generate does the
 * same: position_ids = cumsum(attention_mask) − 1), so a padded row computes what
 * it would alone.
 *
 * Caching: one prefill forward over the padded prompts fills a fixed-capacity
 * key/value cache; each later step feeds one token per row. Both steps are
 * jit-compiled once per shape; the decoding step's shapes do not change with the
 * step, so it compiles once per (batch, capacity). `useCache: false` recomputes the
 * whole sequence every step instead — the reference the tests compare against.
 *
 * Sampling (on the host, from the last position's logits z, in float64):
 *   greedy       argmax z                                     (temperature 0, the default)
 *   temperature  p ∝ exp(z / τ)
 *   top-k        keep the k largest logits                   (applied after temperature)
 *   top-p        keep the smallest prefix of tokens sorted by probability whose mass reaches p
 *                (Holtzman et al., 2020; the token that crosses p is kept, as in transformers)
 * Every row draws from one seeded xoshiro stream, row by row, so a seed fixes the result.
 *
 * Log-probabilities are those of the model itself, log softmax(z) at temperature 1
 * without top-k/top-p filtering: what policy-gradient methods need as log π(a|s).
 */
import { type Array as JaxArray, jit, np, type OwnedFunction } from "../engine/jax.ts";
import { tokenLogProbs } from "../engine/losses.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import { Rng } from "../engine/rng.ts";
import { isSeq2seq, type ModelConfig } from "./config.ts";
import type { KVCache } from "./layers.ts";
import { createCache, forward, type Model } from "./model.ts";

/** What generation needs from a tokenizer (src/tokenizer's Tokenizer has it). */
export interface TextDecoder {
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
}

export interface GenerateOptions {
  /** Tokens to generate at most per prompt (default 32). */
  maxNewTokens?: number;
  /** Softmax temperature τ; 0 (default) is greedy decoding. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: off). */
  topK?: number;
  /** Nucleus sampling mass in (0, 1] (1 or undefined: off). */
  topP?: number;
  /** Seed of the sampling stream (default 0). */
  seed?: number;
  /** Token ids that end a row (default: the config's eos ids). Pass [] to never stop on EOS. */
  eosTokenIds?: number[];
  /** Strings that end a row once its decoded text contains one (needs `tokenizer`); the text is cut before it. */
  stop?: string[];
  /** Decodes the generated ids into `text` (and makes `stop` work). */
  tokenizer?: TextDecoder;
  /** Id used for left padding and for rows already finished (default: pad id, else first eos id, else 0). */
  padTokenId?: number;
  /** false: recompute the full sequence each step instead of using the KV cache (default true). */
  useCache?: boolean;
  /** Called for each new token of a row, with the row's logits (valid during the call only): to stream, or read top-k log-probs. */
  onToken?: (t: { row: number; step: number; token: number; logProb: number; logits: Float32Array }) => void;
  /**
   * Left-pad the prompts to at least this many columns (default: the longest prompt). A fixed
   * value gives every call of the same batch size the same shapes, so the compiled steps and
   * their buffers are reused (RL rollouts need this to keep memory flat).
   */
  promptColumns?: number;
}

export type FinishReason = "eos" | "stop" | "length";

export interface GeneratedSequence {
  /** New token ids (the prompt excluded), the EOS token included when one ended the row. */
  tokenIds: number[];
  /** log p(token) under the model (temperature 1, unfiltered), one per token id. */
  logProbs: number[];
  /** Decoded new tokens, special tokens skipped, cut before a stop string (when a tokenizer is given). */
  text?: string;
  finishReason: FinishReason;
}

export class GenerationError extends Error {
  override name = "GenerationError";
}

// ---------------------------------------------------------------------------
// Sampling on the host.

/** log softmax of a row of logits, in float64. */
export function logSoftmaxRow(z: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]!);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i]! - m);
  const lse = m + Math.log(s);
  return Float64Array.from(z as ArrayLike<number>, (v) => v - lse);
}

/** Index of the largest value (the first one on ties). */
export function argmax(z: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i]! > z[best]!) best = i;
  return best;
}

export interface SamplingParams {
  temperature: number;
  topK: number;
  topP: number;
}

/**
 * The distribution sampling draws from after temperature, top-k and top-p, as
 * (token, probability) pairs in decreasing probability (ties: lower id first).
 * Exposed for tests: every sampled token is one of these.
 */
export function samplingDistribution(z: ArrayLike<number>, p: SamplingParams): { ids: number[]; probs: number[] } {
  const order = Array.from({ length: z.length }, (_, i) => i).sort((a, b) => z[b]! - z[a]! || a - b);
  const k = p.topK > 0 ? Math.min(p.topK, order.length) : order.length;
  const kept = order.slice(0, k);
  const scaled = kept.map((i) => z[i]! / p.temperature);
  const m = scaled[0]!;
  const w = scaled.map((v) => Math.exp(v - m));
  const total = w.reduce((a, b) => a + b, 0);
  let probs = w.map((v) => v / total);
  let n = probs.length;
  if (p.topP < 1) {
    // keep tokens while the mass before them is < p: the token that crosses p stays
    let mass = 0;
    n = 0;
    while (n < probs.length && mass < p.topP) mass += probs[n++]!;
    n = Math.max(n, 1);
    const keptMass = probs.slice(0, n).reduce((a, b) => a + b, 0);
    probs = probs.slice(0, n).map((v) => v / keptMass);
  }
  return { ids: kept.slice(0, n), probs };
}

/** One token from a row of logits: greedy at temperature 0 (or top-k 1), else a draw from `rng`. */
export function sampleToken(z: ArrayLike<number>, p: SamplingParams, rng: Rng): number {
  if (p.temperature === 0 || p.topK === 1) return argmax(z);
  const { ids, probs } = samplingDistribution(z, p);
  const u = rng.float();
  let c = 0;
  for (let i = 0; i < ids.length; i++) {
    c += probs[i]!;
    if (u < c) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}

// ---------------------------------------------------------------------------
// Compiled steps, one pair per config (jit retraces per input shape by itself).

interface StepFns {
  /** (params, ids [B, T], positions [B, T], keyMask [B, S], cache) → last logits [B, 1, V] and the cache. */
  step: OwnedFunction<
    (
      params: Model["params"],
      ids: JaxArray,
      positions: JaxArray,
      keyMask: JaxArray,
      cache: KVCache,
    ) => {
      logits: JaxArray;
      cache: KVCache;
    }
  >;
}

const compiled = new WeakMap<ModelConfig, StepFns>();

function stepsFor(config: ModelConfig): StepFns {
  let fns = compiled.get(config);
  if (!fns) {
    const step = jit(
      (params: Model["params"], ids: JaxArray, positions: JaxArray, keyMask: JaxArray, cache: KVCache) => {
        const out = forward(params, config, ids, { positions, attentionMask: keyMask, cache, logits: "last" });
        return { logits: out.logits, cache: out.cache! };
      },
    );
    fns = { step };
    compiled.set(config, fns);
  }
  return fns;
}

/** Free the compiled generation steps of a config (they are otherwise kept for the config's lifetime). */
export function releaseCompiled(config: ModelConfig): void {
  compiled.get(config)?.step.dispose();
  compiled.delete(config);
}

function int32(rows: number[][] | Int32Array, shape: number[]): JaxArray {
  const data = rows instanceof Int32Array ? rows : Int32Array.from(rows.flat());
  return np.array(data, { shape, dtype: np.int32 });
}

// ---------------------------------------------------------------------------
// generate

/**
 * Continue each prompt (a list of token ids). Returns one GeneratedSequence per
 * prompt, in order. Does not consume the model's parameters.
 */
export async function generate(
  model: Model,
  promptIds: number[][],
  opts: GenerateOptions = {},
): Promise<GeneratedSequence[]> {
  if (isSeq2seq(model.config)) return (await import("./generate-seq2seq.ts")).generateSeq2seq(model, promptIds, opts); // T5
  const { config } = model;
  const B = promptIds.length;
  const maxNew = opts.maxNewTokens ?? 32;
  const sampling: SamplingParams = { temperature: opts.temperature ?? 0, topK: opts.topK ?? 0, topP: opts.topP ?? 1 };
  const eos = new Set(opts.eosTokenIds ?? config.eosTokenIds);
  const stops = opts.stop ?? [];
  const pad = opts.padTokenId ?? config.padTokenId ?? config.eosTokenIds[0] ?? 0;
  checkGenerateArgs(config, promptIds, maxNew, sampling, opts);
  if (stops.length > 0 && !opts.tokenizer) throw new GenerationError("generate: stop strings need a tokenizer");
  if (B === 0) return [];

  const lens = promptIds.map((p) => p.length);
  const L = Math.max(...lens, opts.promptColumns ?? 0); // prompt columns after left padding
  const padOf = lens.map((n) => L - n);
  const total = L + maxNew; // columns once every token is generated
  // Slots beyond the prompt are marked real up front; causality hides those not yet written.
  const capacity = opts.useCache === false ? total : Math.ceil(total / 32) * 32;
  const keyMask = new Int32Array(B * capacity);
  for (let b = 0; b < B; b++) for (let s = padOf[b]!; s < capacity; s++) keyMask[b * capacity + s] = 1;
  // Position of column s in row b: real tokens before it (0 on padding, which nothing attends to).
  const positionsOf = (from: number, to: number): Int32Array => {
    const out = new Int32Array(B * (to - from));
    for (let b = 0; b < B; b++)
      for (let s = from; s < to; s++) out[b * (to - from) + s - from] = Math.max(0, s - padOf[b]!);
    return out;
  };
  const columns: number[][] = promptIds.map((p, b) => [...new Array(padOf[b]!).fill(pad), ...p]); // [B, L + generated]
  const results: GeneratedSequence[] = promptIds.map(() => ({ tokenIds: [], logProbs: [], finishReason: "length" }));
  const done = new Array<boolean>(B).fill(false);
  const rng = new Rng(opts.seed ?? 0);

  let cache: KVCache | null = null;
  let maskArray: JaxArray | null = null;
  const fns = opts.useCache === false ? null : stepsFor(config);
  try {
    if (fns) {
      maskArray = int32(keyMask, [B, capacity]);
      cache = createCache(config, B, capacity);
    }
    for (let i = 0; i < maxNew; i++) {
      const T = L + i; // columns so far
      let logits: JaxArray;
      if (fns) {
        // prefill the prompts, then one column per step
        const from = i === 0 ? 0 : T - 1;
        const ids = int32(
          columns.map((c) => c.slice(from, T)),
          [B, T - from],
        );
        const out = fns.step(
          keepTree(model.params),
          ids,
          int32(positionsOf(from, T), [B, T - from]),
          maskArray!.ref,
          cache!,
        );
        cache = out.cache;
        logits = out.logits; // [B, 1, V]
      } else {
        const mask = new Int32Array(B * T);
        for (let b = 0; b < B; b++) mask.set(keyMask.subarray(b * capacity, b * capacity + T), b * T);
        logits = forward(keepTree(model.params), config, int32(columns, [B, T]), {
          positions: int32(positionsOf(0, T), [B, T]),
          attentionMask: int32(mask, [B, T]),
          logits: "last",
        }).logits; // [B, 1, V]
      }
      const z = await readFloat32(logits); // awaiting every step bounds queued work
      decodeStep(z, i, { columns, results, done }, { sampling, rng, eos, stops, pad, opts });
      if (done.every(Boolean)) break;
    }
  } finally {
    if (cache) {
      for (const a of [...cache.keys, ...cache.values, cache.offset]) a.dispose();
    }
    maskArray?.dispose();
  }
  addTexts(results, stops, opts.tokenizer);
  return results;
}

/** The rows of one generate call: token columns (prompt + generated), results, which rows ended. */
export interface DecodeRows {
  columns: number[][];
  results: GeneratedSequence[];
  done: boolean[];
}

/**
 * One decoding step on the host, shared by the decoder-only and the seq2seq loops: from the
 * last position's logits z [B·V], sample each live row's next token, record it with its
 * log-prob (and tell `onToken`), and end rows on EOS or once their text holds a stop string.
 * Rows already ended get `pad`.
 */
export function decodeStep(
  z: Float32Array,
  step: number,
  rows: DecodeRows,
  ctx: {
    sampling: SamplingParams;
    rng: Rng;
    eos: Set<number>;
    stops: readonly string[];
    pad: number;
    opts: GenerateOptions;
  },
): void {
  const { columns, results, done } = rows;
  const V = z.length / results.length;
  for (let b = 0; b < results.length; b++) {
    if (done[b]) {
      columns[b]!.push(ctx.pad);
      continue;
    }
    const row = z.subarray(b * V, (b + 1) * V);
    const token = sampleToken(row, ctx.sampling, ctx.rng);
    const r = results[b]!;
    r.tokenIds.push(token);
    const logProb = logSoftmaxRow(row)[token]!;
    r.logProbs.push(logProb);
    ctx.opts.onToken?.({ row: b, step, token, logProb, logits: row });
    columns[b]!.push(token);
    if (ctx.eos.has(token)) {
      done[b] = true;
      r.finishReason = "eos";
    } else if (ctx.stops.length > 0) {
      const text = ctx.opts.tokenizer!.decode(r.tokenIds, { skipSpecialTokens: true });
      if (ctx.stops.some((s) => text.includes(s))) {
        done[b] = true;
        r.finishReason = "stop";
      }
    }
  }
}

/** With a tokenizer: each result's decoded text (special tokens skipped), cut before the first stop string. */
export function addTexts(
  results: GeneratedSequence[],
  stops: readonly string[],
  tokenizer: GenerateOptions["tokenizer"],
): void {
  if (!tokenizer) return;
  for (const r of results) {
    let text = tokenizer.decode(r.tokenIds, { skipSpecialTokens: true });
    const cut = Math.min(...stops.map((s) => text.indexOf(s)).filter((at) => at >= 0));
    if (Number.isFinite(cut)) text = text.slice(0, cut);
    r.text = text;
  }
}

export function checkGenerateArgs(
  config: ModelConfig,
  promptIds: number[][],
  maxNew: number,
  s: SamplingParams,
  opts: GenerateOptions,
): void {
  const fail = (msg: string): never => {
    throw new GenerationError(`generate: ${msg}`);
  };
  if (!Number.isInteger(maxNew) || maxNew < 1) fail(`maxNewTokens must be an integer >= 1, got ${maxNew}`);
  if (!(s.temperature >= 0) || !Number.isFinite(s.temperature)) fail(`temperature must be >= 0, got ${s.temperature}`);
  if (!Number.isInteger(s.topK) || s.topK < 0) fail(`topK must be an integer >= 0, got ${s.topK}`);
  if (!(s.topP > 0 && s.topP <= 1)) fail(`topP must be in (0, 1], got ${s.topP}`);
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) fail(`seed must be an integer, got ${opts.seed}`);
  promptIds.forEach((p, b) => {
    if (p.length === 0) fail(`prompt ${b} is empty (a prompt needs at least one token, e.g. BOS)`);
    for (const id of p) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        fail(`prompt ${b} has token id ${id}, outside the vocabulary [0, ${config.vocabSize})`);
      }
    }
  });
  const longest = Math.max(0, ...promptIds.map((p) => p.length));
  // the last new token is never fed back, so positions reach longest + maxNew − 2
  if (config.arch === "gpt2" && longest + maxNew - 1 > config.maxPositionEmbeddings) {
    fail(
      `prompt (${longest} tokens) + maxNewTokens (${maxNew}) needs more than the ${config.maxPositionEmbeddings} learned positions of this gpt2 model`,
    );
  }
}

// ---------------------------------------------------------------------------
// Scoring

/**
 * log p of each continuation token given the prompt and the tokens before it,
 * for a batch of (prompt, continuation) pairs: one forward pass over the
 * right-padded concatenations. Does not consume the model's parameters.
 */
export async function continuationLogProbs(
  model: Model,
  pairs: { prompt: number[]; continuation: number[] }[],
): Promise<number[][]> {
  if (isSeq2seq(model.config)) return (await import("./generate-seq2seq.ts")).seq2seqContinuationLogProbs(model, pairs);
  if (pairs.length === 0) return [];
  const V = model.config.vocabSize;
  for (const [i, { prompt, continuation }] of pairs.entries()) {
    if (prompt.length === 0) throw new GenerationError(`scoreContinuation: prompt ${i} is empty (start it with BOS)`);
    for (const id of [...prompt, ...continuation]) {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new GenerationError(`scoreContinuation: pair ${i} has token id ${id}, outside [0, ${V})`);
      }
    }
  }
  const seqs = pairs.map((p) => [...p.prompt, ...p.continuation]);
  const T = Math.max(...seqs.map((s) => s.length));
  if (T < 2) return pairs.map(() => []);
  const B = seqs.length;
  const ids = seqs.map((s) => [...s, ...new Array(T - s.length).fill(0)]); // right padding: causal, so harmless
  // inputs are columns [0, T−1), targets columns [1, T)
  const inputs = int32(
    ids.map((r) => r.slice(0, T - 1)),
    [B, T - 1],
  );
  const targets = int32(
    ids.map((r) => r.slice(1)),
    [B, T - 1],
  );
  const { logits } = forward(keepTree(model.params), model.config, inputs); // [B, T−1, V]
  const lp = await readFloat32(tokenLogProbs(logits, targets)); // [B, T−1]
  return pairs.map(({ prompt, continuation }, b) =>
    Array.from(lp.subarray(b * (T - 1) + prompt.length - 1, b * (T - 1) + prompt.length - 1 + continuation.length)),
  );
}

/** Σ_t log p(continuation_t | prompt, continuation_<t): the score of one answer (multiple choice, DPO). */
export async function scoreContinuation(model: Model, promptIds: number[], continuationIds: number[]): Promise<number> {
  const [lp] = await continuationLogProbs(model, [{ prompt: promptIds, continuation: continuationIds }]);
  return lp!.reduce((a, b) => a + b, 0);
}
