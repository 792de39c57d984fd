/**
 * Model configs: a Hugging Face `config.json` parsed into one typed config per
 * architecture family.
 *
 *   llama     model_type llama (Llama 2/3, SmolLM/SmolLM2), qwen2 (Qwen2/2.5), qwen3, mistral   config-llama-gpt2.ts
 *   gpt2      model_type gpt2                                                                 config-llama-gpt2.ts
 *   gptj      model_type gptj (GPT-J)                                                         config-families.ts
 *   gpt_neox  model_type gpt_neox (GPT-NeoX, Pythia)                                          config-families.ts
 *   t5        model_type t5 (T5, T5 v1.1, Flan-T5): the one encoder–decoder family            config-families.ts
 *
 * This file holds the typed configs and dispatches by model_type; each family's file parses
 * its config.json, writes it back (toHfConfig) and builds it from sizes (configFromSizes).
 *
 * The raw JSON is validated with zod (wrong types name the key and file), then
 * defaults are filled in exactly as the matching `transformers` config class does,
 * and combinations we cannot run (a `rope_scaling` type we do not implement, a
 * non-SiLU MLP in a Llama, ...) are rejected here, before any weights are read.
 *
 * Shape letters used in the models: B batch, T new tokens, S key/value slots,
 * C hidden size, N query heads, K key/value heads, H head dim, V vocabulary, F MLP width.
 */
import { type Activation, fail, ModelConfigError } from "./config-base.ts";
import {
  configFromFamilySizes,
  type FamilySizes,
  familyToHfConfig,
  parseGptj,
  parseNeox,
  parseT5,
} from "./config-families.ts";
import { llamaGpt2FromSizes, llamaGpt2ToHfConfig, parseGpt2, parseLlama } from "./config-llama-gpt2.ts";

export type { Activation } from "./config-base.ts";
export { ModelConfigError } from "./config-base.ts";

export type LlamaModelType = "llama" | "qwen2" | "qwen3" | "mistral";
export type Gpt2ModelType = "gpt2";
export type ModelType = LlamaModelType | Gpt2ModelType | "gptj" | "gpt_neox" | "t5";
export type Arch = "llama" | "gpt2" | "gptj" | "gpt_neox" | "t5";

/** Which family each supported `model_type` belongs to. */
export const MODEL_TYPES: { [K in ModelType]: Arch } = {
  llama: "llama",
  qwen2: "llama",
  qwen3: "llama",
  mistral: "llama",
  gpt2: "gpt2",
  gptj: "gptj",
  gpt_neox: "gpt_neox",
  t5: "t5",
};

/**
 * RoPE frequency scaling (transformers' `rope_scaling`):
 *   linear  θ_i / factor (positions divided by factor)
 *   llama3  Llama 3.1's piecewise scaling of long wavelengths (modeling_rope_utils._compute_llama3_parameters)
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

interface CommonConfig {
  modelType: ModelType;
  vocabSize: number; // V
  hiddenSize: number; // C
  intermediateSize: number; // F
  numLayers: number;
  numHeads: number; // N
  headDim: number; // H
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** One or more end-of-sequence ids (Llama 3 lists several). */
  eosTokenIds: number[];
  padTokenId: number | null;
}

export interface LlamaConfig extends CommonConfig {
  arch: "llama";
  modelType: LlamaModelType;
  numKvHeads: number; // K, divides N (grouped-query attention)
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Bias on q/k/v projections (Qwen2 always; Llama/Qwen3 with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama/Qwen3 with attention_bias). */
  oBias: boolean;
  /** Bias on gate/up/down projections (Llama's mlp_bias). */
  mlpBias: boolean;
  /** RMSNorm over the head dim of q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Mistral's sliding window; stepwise attends to everything and refuses sequences longer than it. */
  slidingWindow: number | null;
}

export interface Gpt2Config extends CommonConfig {
  arch: "gpt2";
  modelType: Gpt2ModelType;
  layerNormEps: number;
  /** gelu_new / gelu_pytorch_tanh: the tanh approximation; gelu: the exact erf form. */
  activation: "gelu_new" | "gelu";
  tieWordEmbeddings: true;
}

/**
 * GPT-J (modeling_gptj.py): one LayerNorm feeds attention and the MLP in parallel,
 * x += attn(LN(x)) + mlp(LN(x)); rotary embeddings on the first `rotaryDim` dims of each
 * head in the interleaved (rotate-every-two) layout; q/k/v/out without bias; lm_head with bias.
 */
export interface GptjConfig extends CommonConfig {
  arch: "gptj";
  modelType: "gptj";
  /** R: rotated dims per head (rotary_dim; null in config.json = the whole head), even, ≤ H. */
  rotaryDim: number;
  layerNormEps: number;
  activation: Activation;
}

/**
 * GPT-NeoX / Pythia (modeling_gpt_neox.py): a fused query_key_value whose output is laid
 * out per head as [q_h, k_h, v_h]; rotary (rotate-half) on the first ⌊H · rotary_pct⌋ dims;
 * parallel (x += attn(LN₁ x) + mlp(LN₂ x)) or sequential residuals.
 */
export interface NeoxConfig extends CommonConfig {
  arch: "gpt_neox";
  modelType: "gpt_neox";
  /** R = int(H · rotary_pct), even. */
  rotaryDim: number;
  rotaryPct: number;
  ropeTheta: number;
  parallelResidual: boolean;
  /** Bias on query_key_value and dense (attention_bias, default true). */
  attentionBias: boolean;
  layerNormEps: number;
  activation: Activation;
}

/**
 * T5 / T5 v1.1 / Flan-T5 (modeling_t5.py), an encoder–decoder. CommonConfig's fields read:
 * numLayers = encoder blocks (num_layers), hiddenSize = d_model, headDim = d_kv (need not be
 * C / N), intermediateSize = d_ff, maxPositionEmbeddings = n_positions (default 512: T5's
 * positions are relative, so this is the trained length, not a hard limit).
 */
export interface T5Config extends CommonConfig {
  arch: "t5";
  modelType: "t5";
  isEncoderDecoder: true;
  numDecoderLayers: number;
  /** relative_attention_num_buckets. */
  numBuckets: number;
  /** relative_attention_max_distance. */
  maxDistance: number;
  layerNormEps: number;
  /** feed_forward_proj "gated-ACT": act(wi_0 h) · wi_1 h; else act(wi h). */
  gatedFeedForward: boolean;
  activation: Activation;
  /** The first decoder input (decoder_start_token_id; T5 uses the pad id, 0). */
  decoderStartTokenId: number;
  /** initializer_factor: scales every init std (transformers' T5 _init_weights). */
  initializerFactor: number;
}

export type ModelConfig = LlamaConfig | Gpt2Config | GptjConfig | NeoxConfig | T5Config;
/** The decoder-only families: what `forward` runs. */
export type DecoderConfig = Exclude<ModelConfig, { isEncoderDecoder: true }>;

/** Is this an encoder–decoder config (T5)? */
export function isSeq2seq(c: ModelConfig): c is T5Config {
  return c.arch === "t5";
}

/**
 * Parse a Hugging Face `config.json` object. `source` names the file in errors.
 * An unknown `model_type` is an error listing the supported ones.
 */
export function parseModelConfig(json: unknown, source = "config.json"): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail(source, "expected a JSON object");
  const modelType = (json as Record<string, unknown>).model_type;
  if (typeof modelType !== "string") {
    fail(source, `missing "model_type" (supported: ${Object.keys(MODEL_TYPES).join(", ")})`);
  }
  if (!Object.hasOwn(MODEL_TYPES, modelType)) {
    fail(source, `unsupported model_type "${modelType}" (supported: ${Object.keys(MODEL_TYPES).join(", ")})`);
  }
  const mt = modelType as ModelType;
  switch (MODEL_TYPES[mt]) {
    case "gpt2":
      return parseGpt2(json, source);
    case "gptj":
      return parseGptj(json, source);
    case "gpt_neox":
      return parseNeox(json, source);
    case "t5":
      return parseT5(json, source);
    case "llama":
      return parseLlama(json, source, mt as LlamaModelType);
  }
}

/**
 * The `config.json` object transformers writes for a config (used by init-model).
 * `parseModelConfig(toHfConfig(c))` gives back `c`.
 */
export function toHfConfig(c: ModelConfig): Record<string, unknown> {
  return c.arch === "gptj" || c.arch === "gpt_neox" || c.arch === "t5" ? familyToHfConfig(c) : llamaGpt2ToHfConfig(c);
}

export interface ConfigSizes extends FamilySizes {
  arch: Arch;
  /** Llama-family flavour (default "llama"); ignored for gpt2. */
  modelType?: LlamaModelType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Default numHeads (no grouping). gpt2 has no grouped-query attention. */
  numKvHeads?: number;
  /** Default: Llama ≈ 8C/3 rounded up to a multiple of 16 (256 → 688); GPT-2 4C. */
  intermediateSize?: number;
  /** Default C / N (T5: d_kv). */
  headDim?: number;
  /** Default 2048 (Llama, GPT-J, GPT-NeoX) / 1024 (GPT-2) / 512 (T5). */
  maxPositionEmbeddings?: number;
  /** Default: false for Llama, always true for GPT-2. */
  tieWordEmbeddings?: boolean;
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  /** Bias on q/k/v (and o for llama/qwen3); qwen2 always has q/k/v bias. */
  attentionBias?: boolean;
  bosTokenId?: number | null;
  eosTokenIds?: number[];
  padTokenId?: number | null;
}

function checkSize(name: string, v: number | undefined, min = 1): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
    throw new ModelConfigError(`${name} must be an integer >= ${min}, got ${v}`);
  }
}

/**
 * A config from sizes (init-model's flags), validated and round-tripped through
 * the config.json parser so it is exactly what a saved folder reads back as.
 */
export function configFromSizes(s: ConfigSizes): ModelConfig {
  for (const k of ["vocabSize", "hiddenSize", "numLayers", "numHeads"] as const) checkSize(k, s[k]);
  for (const k of ["numKvHeads", "intermediateSize", "headDim", "maxPositionEmbeddings"] as const) checkSize(k, s[k]);
  const tokens = {
    bosTokenId: s.bosTokenId ?? null,
    eosTokenIds: s.eosTokenIds ?? [],
    padTokenId: s.padTokenId ?? null,
  };
  const config: ModelConfig =
    s.arch === "gptj" || s.arch === "gpt_neox" || s.arch === "t5"
      ? configFromFamilySizes({ ...s, arch: s.arch }, tokens)
      : llamaGpt2FromSizes({ ...s, arch: s.arch }, tokens);
  return parseModelConfig(toHfConfig(config), "configFromSizes");
}
