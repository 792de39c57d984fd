/**
 * A model is a typed config, its parameters (flat, keyed by Hugging Face names)
 * and the raw `config.json` it came from (written back unchanged on save, so
 * keys stepwise does not read survive a round trip).
 *
 * Each architecture registers its forward pass, its tensor list and its
 * initialisation in ARCHS; a new family cannot compile until it provides all three.
 */
import { type Array, Array as JaxArray, np, random } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import { keyFor } from "../engine/rng.ts";
import {
  type Arch,
  type ConfigSizes,
  configFromSizes,
  type Gpt2Config,
  type LlamaConfig,
  type ModelConfig,
  toHfConfig,
} from "./config.ts";
import { gpt2InitKind, gpt2ParamShapes, gpt2Trunk } from "./gpt2.ts";
import { createKVCache, type KVCache } from "./layers.ts";
import { llamaInitKind, llamaParamShapes, llamaTrunk } from "./llama.ts";
import type { ForwardOptions, ForwardResult, ParamShapes, TrunkResult } from "./types.ts";

export interface Model {
  config: ModelConfig;
  params: Params;
  /** The config.json object (stepwise reads only some keys; all are written back). */
  hfConfig: Record<string, unknown>;
  /** generation_config.json, when the folder had one. */
  generationConfig?: Record<string, unknown>;
}

type InitKind = "ones" | "zeros" | "normal" | "residual";

interface ArchSpec<C extends ModelConfig> {
  /** ids [B, T] → final hidden states [B, T, C], the cache and the lm head (types.ts TrunkResult). */
  trunk(params: Params, config: C, ids: Array, opts?: ForwardOptions): TrunkResult;
  paramShapes(config: C): ParamShapes;
  initKind(name: string): InitKind;
  /** Key/value heads per layer (what the cache stores). */
  kvHeads(config: C): number;
}

type ConfigOf<A extends Arch> = Extract<ModelConfig, { arch: A }>;

export const ARCHS: { [A in Arch]: ArchSpec<ConfigOf<A>> } = {
  llama: {
    trunk: llamaTrunk,
    paramShapes: llamaParamShapes,
    initKind: llamaInitKind,
    kvHeads: (c: LlamaConfig) => c.numKvHeads,
  },
  gpt2: {
    trunk: gpt2Trunk,
    paramShapes: gpt2ParamShapes,
    initKind: gpt2InitKind,
    kvHeads: (c: Gpt2Config) => c.numHeads,
  },
};

function spec(config: ModelConfig): ArchSpec<ModelConfig> {
  return ARCHS[config.arch] as unknown as ArchSpec<ModelConfig>;
}

/**
 * The forward pass of `config`'s architecture: ids int32 [B, T] → logits [B, T, V], and with
 * opts.hidden the final hidden states [B, T, C] too. Consumes `params`, `ids` and the arrays
 * in `opts`; pass `keepTree(params)` to keep the weights.
 */
export function forward(params: Params, config: ModelConfig, ids: Array, opts?: ForwardOptions): ForwardResult {
  checkIds(ids, config);
  const t = spec(config).trunk(params, config, ids, opts);
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
  checkIds(ids, config);
  const t = spec(config).trunk(params, config, ids, opts);
  t.release();
  return { hidden: t.hidden, ...(t.cache ? { cache: t.cache } : {}) };
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

/** An empty key/value cache with `capacity` slots for a batch of `batch` rows. */
export function createCache(config: ModelConfig, batch: number, capacity: number): KVCache {
  return createKVCache(config.numLayers, batch, capacity, spec(config).kvHeads(config), config.headDim);
}

export interface InitOptions {
  seed?: number;
  /** Standard deviation of weight matrices and embeddings (transformers' initializer_range, 0.02). */
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
    const kind = s.initKind(name);
    if (kind === "ones") params[name] = np.ones(shape, { dtype: np.float32 });
    else if (kind === "zeros") params[name] = np.zeros(shape, { dtype: np.float32 });
    else {
      const scale = kind === "residual" ? std / Math.sqrt(2 * config.numLayers) : std;
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
