/**
 * A model is a typed config, its parameters (flat, keyed by Hugging Face names)
 * and the raw `config.json` it came from (written back unchanged on save, so
 * keys stepwise does not read survive a round trip).
 *
 * Each architecture registers its forward pass, its tensor list and its
 * initialisation in ARCHS; a new family cannot compile until it provides all three.
 * A decoder-only family registers a trunk (forward / forwardHidden); an encoder–decoder
 * (a config with isEncoderDecoder: true, T5) must register an encoder, its cross keys and
 * values, and a decoder trunk instead (forwardSeq2seq, encode, decode) — the mapped type
 * SpecOf makes the wrong kind a compile error, and forward refuses a T5 config by name.
 */
import { type Array, Array as JaxArray, np, random } from "../engine/jax.ts";
import { keepTree } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { keyFor } from "../engine/rng.ts";
import {
  type Arch,
  type ConfigSizes,
  configFromSizes,
  type Gpt2Config,
  type LlamaConfig,
  type ModelConfig,
  type T5Config,
  toHfConfig,
} from "./config.ts";
import { gpt2InitKind, gpt2ParamShapes, gpt2Trunk } from "./gpt2.ts";
import { gptjInitKind, gptjParamShapes, gptjTrunk } from "./gptj.ts";
import { createKVCache, type KVCache } from "./layers.ts";
import { llamaInitKind, llamaParamShapes, llamaTrunk } from "./llama.ts";
import { neoxInitKind, neoxParamShapes, neoxTrunk } from "./neox.ts";
import { t5CrossKeyValues, t5DecoderTrunk, t5Encode, t5InitRule, t5ParamShapes } from "./t5.ts";
import type {
  CrossKV,
  DecodeOptions,
  EncodeOptions,
  ForwardOptions,
  ForwardResult,
  ParamShapes,
  TrunkResult,
} from "./types.ts";

export interface Model {
  config: ModelConfig;
  params: Params;
  /** The config.json object (stepwise reads only some keys; all are written back). */
  hfConfig: Record<string, unknown>;
  /** generation_config.json, when the folder had one. */
  generationConfig?: Record<string, unknown>;
}

/** How initParams fills a tensor: constants, N(0, std²) (GPT-2's residual projections std/√(2L)), or a fixed std. */
type InitRule = "ones" | "zeros" | "normal" | "residual" | { std: number };

interface CommonSpec<C extends ModelConfig> {
  paramShapes(config: C): ParamShapes;
  initKind(name: string, config: C): InitRule;
  /** What the (decoder's) key/value cache stores: layers and heads per layer. */
  cacheShape(config: C): { layers: number; kvHeads: number };
}

/** A decoder-only family: ids → hidden states and the lm head. */
interface DecoderSpec<C extends ModelConfig> extends CommonSpec<C> {
  kind: "decoder";
  /** ids [B, T] → final hidden states [B, T, C], the cache and the lm head (types.ts TrunkResult). */
  trunk(params: Params, config: C, ids: Array, opts?: ForwardOptions): TrunkResult;
}

/** An encoder–decoder family: the encoder once, then a decoder that attends to it. */
interface Seq2SeqSpec<C extends ModelConfig> extends CommonSpec<C> {
  kind: "seq2seq";
  /** Encoder ids [B, S] → its last hidden state [B, S, C]. */
  encode(params: Params, config: C, ids: Array, opts?: EncodeOptions): Array;
  /** The cross-attention keys and values of an encoder output (projected once for generation). */
  crossKeyValues(params: Params, config: C, encoderHidden: Array): CrossKV;
  /** Decoder ids [B, T] → final hidden states, the self-attention cache and the lm head. */
  decoderTrunk(params: Params, config: C, ids: Array, opts: DecodeOptions): TrunkResult;
}

type ConfigOf<A extends Arch> = Extract<ModelConfig, { arch: A }>;
/** An encoder–decoder config must register a Seq2SeqSpec, every other config a DecoderSpec. */
type SpecOf<C extends ModelConfig> = C extends { isEncoderDecoder: true } ? Seq2SeqSpec<C> : DecoderSpec<C>;

const selfAttention = (c: ModelConfig) => ({ layers: c.numLayers, kvHeads: c.numHeads });

export const ARCHS: { [A in Arch]: SpecOf<ConfigOf<A>> } = {
  llama: {
    kind: "decoder",
    trunk: llamaTrunk,
    paramShapes: llamaParamShapes,
    initKind: llamaInitKind,
    cacheShape: (c: LlamaConfig) => ({ layers: c.numLayers, kvHeads: c.numKvHeads }),
  },
  gpt2: {
    kind: "decoder",
    trunk: gpt2Trunk,
    paramShapes: gpt2ParamShapes,
    initKind: gpt2InitKind,
    cacheShape: (c: Gpt2Config) => selfAttention(c),
  },
  gptj: {
    kind: "decoder",
    trunk: gptjTrunk,
    paramShapes: gptjParamShapes,
    initKind: gptjInitKind,
    cacheShape: selfAttention,
  },
  gpt_neox: {
    kind: "decoder",
    trunk: neoxTrunk,
    paramShapes: neoxParamShapes,
    initKind: neoxInitKind,
    cacheShape: selfAttention,
  },
  t5: {
    kind: "seq2seq",
    encode: t5Encode,
    crossKeyValues: t5CrossKeyValues,
    decoderTrunk: t5DecoderTrunk,
    paramShapes: t5ParamShapes,
    initKind: t5InitRule,
    cacheShape: (c: T5Config) => ({ layers: c.numDecoderLayers, kvHeads: c.numHeads }),
  },
};

function spec(config: ModelConfig): DecoderSpec<ModelConfig> | Seq2SeqSpec<ModelConfig> {
  return ARCHS[config.arch] as unknown as DecoderSpec<ModelConfig> | Seq2SeqSpec<ModelConfig>;
}

function decoderSpec(config: ModelConfig, where: string): DecoderSpec<ModelConfig> {
  const s = spec(config);
  if (s.kind === "seq2seq") {
    throw new TypeError(
      `${where}: ${config.modelType} is an encoder–decoder model; use forwardSeq2seq(params, config, encoderIds, decoderIds) (generate and the trainers dispatch on isSeq2seq)`,
    );
  }
  return s;
}

function seq2seqSpec(config: ModelConfig, where: string): Seq2SeqSpec<ModelConfig> {
  const s = spec(config);
  if (s.kind !== "seq2seq") throw new TypeError(`${where}: ${config.modelType} is a decoder-only model; use forward`);
  return s;
}

/**
 * The forward pass of `config`'s architecture: ids int32 [B, T] → logits [B, T, V], and with
 * opts.hidden the final hidden states [B, T, C] too. Consumes `params`, `ids` and the arrays
 * in `opts`; pass `keepTree(params)` to keep the weights. Decoder-only families; T5 runs
 * through forwardSeq2seq.
 */
export function forward(params: Params, config: ModelConfig, ids: Array, opts?: ForwardOptions): ForwardResult {
  const s = decoderSpec(config, "forward");
  checkIds(ids, config);
  const t = s.trunk(params, config, ids, opts);
  const logits = t.head(opts?.hidden ? t.hidden.ref : t.hidden); // [B, T, V]
  return {
    logits,
    ...(opts?.hidden ? { hidden: t.hidden } : {}),
    ...(t.cache ? { cache: t.cache } : {}),
  };
}

/**
 * The trunk without the lm head: ids int32 [B, T] → final hidden states [B, T, C] (after the
 * last norm, what transformers' `last_hidden_state` holds), for a value or reward head on the
 * policy. Consumes like `forward`.
 */
export function forwardHidden(
  params: Params,
  config: ModelConfig,
  ids: Array,
  opts?: ForwardOptions,
): { hidden: Array; cache?: KVCache } {
  const s = decoderSpec(config, "forwardHidden");
  checkIds(ids, config);
  const t = s.trunk(params, config, ids, opts);
  t.release();
  return { hidden: t.hidden, ...(t.cache ? { cache: t.cache } : {}) };
}

export interface Seq2SeqForwardOptions {
  /** Which encoder ids are real, [B, S_enc] (1 = real, 0 = padding). */
  encoderMask?: Array;
  /** Which decoder ids are real, [B, T_dec] (causal attention makes right padding harmless without it). */
  decoderMask?: Array;
  /** "last": logits of the last decoder position only, [B, 1, V]. */
  logits?: "all" | "last";
  /** Also return the decoder's final hidden states [B, T_dec, C]. */
  hidden?: boolean;
}

/**
 * An encoder–decoder's forward pass (T5): encoder ids [B, S] and decoder ids [B, T] (starting
 * with the decoder start token: the targets shifted right) → decoder logits [B, T, V], as
 * transformers' T5ForConditionalGeneration(input_ids, decoder_input_ids).logits. Consumes
 * `params`, both id arrays and the masks; pass keepTree(params) to keep the weights.
 */
export function forwardSeq2seq(
  params: Params,
  config: ModelConfig,
  encoderIds: Array,
  decoderIds: Array,
  opts: Seq2SeqForwardOptions = {},
): ForwardResult {
  const s = seq2seqSpec(config, "forwardSeq2seq");
  checkIds(encoderIds, config);
  checkIds(decoderIds, config);
  const encoderHidden = s.encode(keepTree(params), config, encoderIds, {
    ...(opts.encoderMask ? { attentionMask: opts.encoderMask.ref } : {}),
  }); // [B, S, C]
  const t = s.decoderTrunk(params, config, decoderIds, {
    encoderHidden,
    ...(opts.encoderMask ? { encoderMask: opts.encoderMask } : {}),
    ...(opts.decoderMask ? { attentionMask: opts.decoderMask } : {}),
    ...(opts.logits ? { logits: opts.logits } : {}),
  });
  const logits = t.head(opts.hidden ? t.hidden.ref : t.hidden); // [B, T, V]
  return { logits, ...(opts.hidden ? { hidden: t.hidden } : {}) };
}

/** The encoder of an encoder–decoder: ids [B, S] → [B, S, C]. Consumes like forward. */
export function encode(params: Params, config: ModelConfig, ids: Array, opts?: EncodeOptions): Array {
  const s = seq2seqSpec(config, "encode");
  checkIds(ids, config);
  return s.encode(params, config, ids, opts);
}

/** The cross keys and values of an encoder output, for a decoder that attends to it every step. Consumes both. */
export function crossKeyValues(params: Params, config: ModelConfig, encoderHidden: Array): CrossKV {
  return seq2seqSpec(config, "crossKeyValues").crossKeyValues(params, config, encoderHidden);
}

/**
 * One pass of an encoder–decoder's decoder: decoder ids [B, T] → logits [B, T, V] (or [B, 1, V])
 * and the updated self-attention cache. Consumes `params`, `ids` and every array in `opts`.
 */
export function decode(params: Params, config: ModelConfig, ids: Array, opts: DecodeOptions): ForwardResult {
  const s = seq2seqSpec(config, "decode");
  checkIds(ids, config);
  const t = s.decoderTrunk(params, config, ids, opts);
  return { logits: t.head(t.hidden), ...(t.cache ? { cache: t.cache } : {}) };
}

/**
 * Token ids must be [B, T] and inside the vocabulary: np.take would read past the embedding
 * table without a word. The values are checked for concrete arrays (eager calls: the library's
 * entry points); inside jit the ids are tracers and go unchecked — the trainers' and the
 * generator's batches are checked on the host (`checkTokenIds`) before they become arrays.
 */
function checkIds(ids: Array, config: ModelConfig): void {
  if (ids.ndim !== 2) throw new RangeError(`forward: ids must be [B, T], got shape [${ids.shape.join(", ")}]`);
  if (ids instanceof JaxArray) checkTokenIds(ids.ref.dataSync() as Int32Array, config.vocabSize, "forward");
}

/** Refuse any id outside [0, vocabSize), naming the first one, its position and the vocabulary size. */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number, where: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(
        `${where}: token id ${id} at position ${i} is outside the vocabulary (vocab_size ${vocabSize}: ids 0..${vocabSize - 1})`,
      );
    }
  }
}

/** Tensor names and shapes a checkpoint of `config` holds. */
export function paramShapes(config: ModelConfig): ParamShapes {
  return spec(config).paramShapes(config);
}

/** An empty key/value cache with `capacity` slots for a batch of `batch` rows (T5: of the decoder). */
export function createCache(config: ModelConfig, batch: number, capacity: number): KVCache {
  const { layers, kvHeads } = spec(config).cacheShape(config);
  return createKVCache(layers, batch, capacity, kvHeads, config.headDim);
}

export interface InitOptions {
  seed?: number;
  /**
   * Standard deviation of weight matrices and embeddings (transformers' initializer_range, 0.02).
   * T5 ignores it: its init scales each matrix by its fan-in, times config.initializerFactor.
   */
  std?: number;
}

/**
 * Random parameters as transformers initialises them: matrices and embeddings
 * N(0, std²), norm gains 1, biases 0 (GPT-2's residual projections std/√(2L)).
 * Each tensor draws from its own key, keyFor(seed, name), so adding a tensor
 * does not change the others.
 */
export function initParams(config: ModelConfig, opts: InitOptions = {}): Params {
  const seed = opts.seed ?? 0;
  const std = opts.std ?? 0.02;
  const s = spec(config);
  const params: Params = {};
  for (const [name, shape] of s.paramShapes(config)) {
    const kind = s.initKind(name, config);
    if (kind === "ones") params[name] = np.ones(shape, { dtype: np.float32 });
    else if (kind === "zeros") params[name] = np.zeros(shape, { dtype: np.float32 });
    else {
      const scale =
        typeof kind === "object" ? kind.std : kind === "residual" ? std / Math.sqrt(2 * config.numLayers) : std;
      params[name] = np.multiply(random.normal(keyFor(seed, "init", name), shape), scale);
    }
  }
  return params;
}

/** The special-token ids a tokenizer gives a model's config (bos, eos, pad). */
export interface SpecialIds {
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
}

/**
 * A freshly initialised model from sizes: the one place that turns sizes (init-model's flags,
 * an SFT config's `init` block, the demo's base) into a validated config, random parameters
 * and the config.json object. The tokenizer's special ids go into the config.
 */
export function createModel(
  sizes: Omit<ConfigSizes, "bosTokenId" | "eosTokenIds" | "padTokenId">,
  tokens: SpecialIds | null,
  init: InitOptions = {},
): Model {
  const config = configFromSizes({
    ...sizes,
    bosTokenId: tokens?.bosId ?? null,
    eosTokenIds: tokens && tokens.eosId !== null ? [tokens.eosId] : [],
    padTokenId: tokens?.padId ?? null,
  });
  return { config, params: initParams(config, init), hfConfig: toHfConfig(config) };
}
