/**
 * Generation and continuation scoring for encoder–decoder models (T5), with the options,
 * results and sampling rules of generate.ts (which dispatches here for such a config):
 *
 *   generateSeq2seq(model, promptIds, opts)    the prompt is the encoder input; the decoder
 *                                              starts from decoder_start_token_id and samples
 *   seq2seqContinuationLogProbs(model, pairs)  log p(cont_t | prompt, cont_<t), the prompt encoded
 *
 * Caching: the encoder runs ONCE over the prompts (right-padded, their padding masked out of
 * cross-attention), and each decoder layer's cross-attention keys and values are projected
 * from its output once; each step then feeds one token per row through the decoder with a
 * fixed-capacity self-attention cache (layers.ts). Every row decodes in lockstep from the
 * start token, so the decoder needs no padding. Both pieces are jit-compiled once per shape.
 * `useCache: false` instead recomputes encoder and decoder over the whole sequence every step —
 * the reference the tests compare against.
 *
 * Departure from transformers' generate: positions never run out (T5's are relative), so
 * there is no length check beyond maxNewTokens.
 */
import { type Array as JaxArray, jit, np, type OwnedFunction } from "../engine/jax.ts";
import { tokenLogProbs } from "../engine/losses.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import { Rng } from "../engine/rng.ts";
import { isSeq2seq, type ModelConfig, type T5Config } from "./config.ts";
import {
  addTexts,
  checkGenerateArgs,
  decodeStep,
  type GeneratedSequence,
  type GenerateOptions,
  GenerationError,
  type SamplingParams,
} from "./generate.ts";
import type { KVCache } from "./layers.ts";
import { createCache, crossKeyValues, decode, encode, forwardSeq2seq, type Model } from "./model.ts";
import type { CrossKV } from "./types.ts";

interface Seq2seqSteps {
  /** (params, ids [B, S], mask [B, S]) → the decoder's cross keys and values of the encoded prompts. */
  encode: OwnedFunction<(params: Model["params"], ids: JaxArray, mask: JaxArray) => CrossKV>;
  /** (params, ids [B, 1], cross, encoder mask, cache) → logits [B, 1, V] and the cache. */
  step: OwnedFunction<
    (
      params: Model["params"],
      ids: JaxArray,
      cross: CrossKV,
      encoderMask: JaxArray,
      cache: KVCache,
    ) => { logits: JaxArray; cache: KVCache }
  >;
}

const compiled = new WeakMap<ModelConfig, Seq2seqSteps>();

function stepsFor(config: T5Config): Seq2seqSteps {
  let fns = compiled.get(config);
  if (!fns) {
    fns = {
      encode: jit((params: Model["params"], ids: JaxArray, mask: JaxArray) =>
        crossKeyValues(keepTree(params), config, encode(params, config, ids, { attentionMask: mask })),
      ),
      step: jit((params: Model["params"], ids: JaxArray, cross: CrossKV, encoderMask: JaxArray, cache: KVCache) => {
        const out = decode(params, config, ids, { cross, encoderMask, cache, logits: "last" });
        return { logits: out.logits, cache: out.cache! };
      }),
    };
    compiled.set(config, fns);
  }
  return fns;
}

/** Free the compiled encoder and decoding step of a config. */
export function releaseCompiledSeq2seq(config: ModelConfig): void {
  const fns = compiled.get(config);
  fns?.encode.dispose();
  fns?.step.dispose();
  compiled.delete(config);
}

function int32(rows: number[][] | Int32Array, shape: number[]): JaxArray {
  const data = rows instanceof Int32Array ? rows : Int32Array.from(rows.flat());
  return np.array(data, { shape, dtype: np.int32 });
}

/** Rows right-padded with `pad` to the longest, and their 0/1 mask of real tokens. */
function rightPad(rows: readonly number[][], pad: number): { ids: number[][]; mask: number[][]; width: number } {
  const width = Math.max(1, ...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...new Array(width - r.length).fill(pad)]),
    mask: rows.map((r) => [...r.map(() => 1), ...new Array(width - r.length).fill(0)]),
    width,
  };
}

function seq2seqConfig(model: Model, where: string): T5Config {
  if (!isSeq2seq(model.config))
    throw new GenerationError(`${where}: ${model.config.modelType} is not an encoder–decoder`);
  return model.config;
}

/**
 * Decode a continuation of each prompt (encoder input ids). Returns one GeneratedSequence per
 * prompt, in order. Does not consume the model's parameters.
 */
export async function generateSeq2seq(
  model: Model,
  promptIds: number[][],
  opts: GenerateOptions = {},
): Promise<GeneratedSequence[]> {
  const config = seq2seqConfig(model, "generate");
  const B = promptIds.length;
  const maxNew = opts.maxNewTokens ?? 32;
  const sampling: SamplingParams = { temperature: opts.temperature ?? 0, topK: opts.topK ?? 0, topP: opts.topP ?? 1 };
  const eos = new Set(opts.eosTokenIds ?? config.eosTokenIds);
  const stops = opts.stop ?? [];
  const pad = opts.padTokenId ?? config.padTokenId ?? config.eosTokenIds[0] ?? 0;
  checkGenerateArgs(config, promptIds, maxNew, sampling, opts);
  if (stops.length > 0 && !opts.tokenizer) throw new GenerationError("generate: stop strings need a tokenizer");
  if (B === 0) return [];

  const enc = rightPad(promptIds, pad);
  const columns: number[][] = promptIds.map(() => [config.decoderStartTokenId]); // decoder inputs so far
  const results: GeneratedSequence[] = promptIds.map(() => ({ tokenIds: [], logProbs: [], finishReason: "length" }));
  const done = new Array<boolean>(B).fill(false);
  const rng = new Rng(opts.seed ?? 0);
  const encIds = () => int32(enc.ids, [B, enc.width]);
  const encMask = () => int32(enc.mask, [B, enc.width]);

  const fns = opts.useCache === false ? null : stepsFor(config);
  let cross: CrossKV | null = null;
  let cache: KVCache | null = null;
  let maskArray: JaxArray | null = null;
  try {
    if (fns) {
      maskArray = encMask();
      cross = fns.encode(keepTree(model.params), encIds(), maskArray.ref); // the encoder, once
      cache = createCache(config, B, Math.ceil(maxNew / 32) * 32);
    }
    for (let i = 0; i < maxNew; i++) {
      let logits: JaxArray; // [B, 1, V]
      if (fns) {
        const last = int32(
          columns.map((c) => [c[c.length - 1]!]),
          [B, 1],
        );
        const out = fns.step(keepTree(model.params), last, keepTree(cross!), maskArray!.ref, cache!);
        cache = out.cache;
        logits = out.logits;
      } else {
        logits = forwardSeq2seq(keepTree(model.params), config, encIds(), int32(columns, [B, i + 1]), {
          encoderMask: encMask(),
          logits: "last",
        }).logits;
      }
      const z = await readFloat32(logits); // awaiting every step bounds queued work
      decodeStep(z, i, { columns, results, done }, { sampling, rng, eos, stops, pad, opts });
      if (done.every(Boolean)) break;
    }
  } finally {
    if (cache) for (const a of [...cache.keys, ...cache.values, cache.offset]) a.dispose();
    if (cross) for (const a of [...cross.keys, ...cross.values]) a.dispose();
    maskArray?.dispose();
  }
  addTexts(results, stops, opts.tokenizer);
  return results;
}

/**
 * log p of each continuation token given the prompt (encoded) and the continuation before it,
 * for a batch of pairs: one encoder pass over the right-padded prompts and one decoder pass
 * over [start, cont₀, ..., cont_{n−2}] (right-padded; causal, so harmless). Does not consume
 * the model's parameters.
 */
export async function seq2seqContinuationLogProbs(
  model: Model,
  pairs: { prompt: number[]; continuation: number[] }[],
): Promise<number[][]> {
  const config = seq2seqConfig(model, "scoreContinuation");
  if (pairs.length === 0) return [];
  const V = config.vocabSize;
  for (const [i, { prompt, continuation }] of pairs.entries()) {
    if (prompt.length === 0) throw new GenerationError(`scoreContinuation: prompt ${i} is empty`);
    for (const id of [...prompt, ...continuation]) {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new GenerationError(`scoreContinuation: pair ${i} has token id ${id}, outside [0, ${V})`);
      }
    }
  }
  const T = Math.max(...pairs.map((p) => p.continuation.length));
  if (T === 0) return pairs.map(() => []);
  const B = pairs.length;
  const pad = config.padTokenId ?? 0;
  const enc = rightPad(
    pairs.map((p) => p.prompt),
    pad,
  );
  const targets = pairs.map((p) => [...p.continuation, ...new Array(T - p.continuation.length).fill(pad)]); // [B, T]
  const inputs = targets.map((t) => [config.decoderStartTokenId, ...t.slice(0, T - 1)]); // shifted right
  const { logits } = forwardSeq2seq(
    keepTree(model.params),
    config,
    int32(enc.ids, [B, enc.width]),
    int32(inputs, [B, T]),
    { encoderMask: int32(enc.mask, [B, enc.width]) },
  ); // [B, T, V]
  const lp = await readFloat32(tokenLogProbs(logits, int32(targets, [B, T]))); // [B, T]
  return pairs.map((p, b) => Array.from(lp.subarray(b * T, b * T + p.continuation.length)));
}
