/**
 * Model configs: a Hugging Face `config.json` parsed into one typed config per
 * architecture family.
 *
 *   llama     model_type llama (Llama 2/3, SmolLM/SmolLM2), qwen2 (Qwen2/2.5), qwen3, mistral
 *   gpt2      model_type gpt2
 *   gptj      model_type gptj (GPT-J)                        parsed in config-families.ts
 *   gpt_neox  model_type gpt_neox (GPT-NeoX, Pythia)         parsed in config-families.ts
 *   t5        model_type t5 (T5, T5 v1.1, Flan-T5): the one encoder–decoder family
 *
 * The raw JSON is validated with zod (wrong types name the key and file), then
 * defaults are filled in exactly as the matching `transformers` config class does,
 * and combinations we cannot run (a `rope_scaling` type we do not implement, a
 * non-SiLU MLP in a Llama, ...) are rejected here, before any weights are read.
 *
 * Shape letters used in the models: B batch, T new tokens, S key/value slots,
 * C hidden size, N query heads, K key/value heads, H head dim, V vocabulary, F MLP width.
 */
import { z } from "zod";
import {
  type Activation,
  eosJson,
  eosList,
  fail,
  ModelConfigError,
  posInt,
  tokenId,
  tokenIds,
  zodFail,
} from "./config-base.ts";
import {
  configFromFamilySizes,
  type FamilySizes,
  familyToHfConfig,
  parseGptj,
  parseNeox,
  parseT5,
} from "./config-families.ts";

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

// ---------------------------------------------------------------------------
// Raw JSON schemas (only the keys we read; every other key passes through untouched).

const ropeScalingSchema = z
  .looseObject({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().positive().optional(),
    high_freq_factor: z.number().positive().optional(),
    original_max_position_embeddings: posInt.optional(),
    rope_theta: z.number().positive().optional(),
  })
  .nullable()
  .optional();

const llamaSchema = z.looseObject({
  model_type: z.string(),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullable().optional(),
  head_dim: posInt.nullable().optional(),
  hidden_act: z.string().optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeScalingSchema,
  /** transformers ≥ 4.56 may put rope_theta and the scaling here instead. */
  rope_parameters: ropeScalingSchema,
  max_position_embeddings: posInt.optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  use_sliding_window: z.boolean().optional(),
  sliding_window: posInt.nullable().optional(),
  bos_token_id: tokenId,
  eos_token_id: tokenIds,
  pad_token_id: tokenId,
});

const gpt2Schema = z.looseObject({
  model_type: z.literal("gpt2"),
  vocab_size: posInt.optional(),
  n_embd: posInt.optional(),
  n_layer: posInt.optional(),
  n_head: posInt.optional(),
  n_positions: posInt.optional(),
  n_inner: posInt.nullable().optional(),
  layer_norm_epsilon: z.number().positive().optional(),
  activation_function: z.string().optional(),
  scale_attn_weights: z.boolean().optional(),
  scale_attn_by_inverse_layer_idx: z.boolean().optional(),
  reorder_and_upcast_attn: z.boolean().optional(),
  tie_word_embeddings: z.boolean().optional(),
  bos_token_id: tokenId,
  eos_token_id: tokenIds,
  pad_token_id: tokenId,
});

/** Defaults of each transformers config class (LlamaConfig, Qwen2Config, Qwen3Config, MistralConfig). */
const LLAMA_DEFAULTS: {
  [K in LlamaModelType]: { rmsNormEps: number; ropeTheta: number; maxPos: number; bos: number | null; eos: number[] };
} = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 2048, bos: 1, eos: [2] },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768, bos: null, eos: [] },
  qwen3: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 32768, bos: null, eos: [] },
  mistral: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPos: 4096 * 32, bos: 1, eos: [2] },
};

function parseRopeScaling(raw: z.infer<typeof ropeScalingSchema>, source: string, maxPos: number): RopeScaling | null {
  if (!raw) return null;
  const kind = raw.rope_type ?? raw.type ?? "default";
  if (kind === "default") return null;
  const factor = raw.factor;
  if (factor === undefined) fail(source, `rope_scaling.factor is required for rope type "${kind}"`);
  if (kind === "linear") return { type: "linear", factor };
  if (kind === "llama3") {
    return {
      type: "llama3",
      factor,
      lowFreqFactor: raw.low_freq_factor ?? fail(source, 'rope_scaling.low_freq_factor is required for "llama3"'),
      highFreqFactor: raw.high_freq_factor ?? fail(source, 'rope_scaling.high_freq_factor is required for "llama3"'),
      originalMaxPositionEmbeddings: raw.original_max_position_embeddings ?? maxPos,
    };
  }
  fail(source, `rope_scaling type "${kind}" is not supported (supported: default, linear, llama3)`);
}

function parseLlama(json: unknown, source: string, modelType: LlamaModelType): LlamaConfig {
  const parsed = llamaSchema.safeParse(json);
  if (!parsed.success) zodFail(source, parsed.error);
  const c = parsed.data;
  const d = LLAMA_DEFAULTS[modelType];
  const act = c.hidden_act ?? "silu";
  if (act !== "silu" && act !== "swish") {
    fail(source, `hidden_act "${act}" is not supported for ${modelType} (supported: silu)`);
  }
  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    fail(source, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  // Qwen3Config defaults head_dim to 128; the others derive it as C / N.
  const hd = c.head_dim ?? (modelType === "qwen3" && c.head_dim === undefined ? 128 : c.hidden_size / numHeads);
  if (!Number.isInteger(hd)) {
    fail(
      source,
      `hidden_size (${c.hidden_size}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given`,
    );
  }
  if (hd % 2 !== 0) fail(source, `head_dim (${hd}) must be even for rotary embeddings`);
  const maxPos = c.max_position_embeddings ?? d.maxPos;
  const ropeRaw = c.rope_scaling ?? c.rope_parameters;
  const ropeTheta = c.rope_theta ?? c.rope_parameters?.rope_theta ?? d.ropeTheta;
  const attentionBias = c.attention_bias ?? false;
  let slidingWindow: number | null = null;
  if (modelType === "mistral") slidingWindow = c.sliding_window ?? null;
  if (modelType !== "mistral" && c.use_sliding_window === true) slidingWindow = c.sliding_window ?? null;
  return {
    arch: "llama",
    modelType,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim: hd,
    rmsNormEps: c.rms_norm_eps ?? d.rmsNormEps,
    ropeTheta,
    ropeScaling: parseRopeScaling(ropeRaw, source, maxPos),
    maxPositionEmbeddings: maxPos,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: modelType === "qwen2" ? true : attentionBias,
    oBias: modelType === "llama" || modelType === "qwen3" ? attentionBias : false,
    mlpBias: modelType === "llama" ? (c.mlp_bias ?? false) : false,
    qkNorm: modelType === "qwen3",
    slidingWindow,
    bosTokenId: c.bos_token_id === undefined ? d.bos : c.bos_token_id,
    eosTokenIds: eosList(c.eos_token_id, d.eos),
    padTokenId: c.pad_token_id ?? null,
  };
}

function parseGpt2(json: unknown, source: string): Gpt2Config {
  const parsed = gpt2Schema.safeParse(json);
  if (!parsed.success) zodFail(source, parsed.error);
  const c = parsed.data;
  const hidden = c.n_embd ?? 768;
  const numHeads = c.n_head ?? 12;
  if (hidden % numHeads !== 0) fail(source, `n_embd (${hidden}) must be divisible by n_head (${numHeads})`);
  const act = c.activation_function ?? "gelu_new";
  let activation: Gpt2Config["activation"];
  if (act === "gelu_new" || act === "gelu_pytorch_tanh") activation = "gelu_new";
  else if (act === "gelu") activation = "gelu";
  else fail(source, `activation_function "${act}" is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu)`);
  if (c.scale_attn_weights === false) fail(source, "scale_attn_weights=false is not supported");
  if (c.scale_attn_by_inverse_layer_idx === true) fail(source, "scale_attn_by_inverse_layer_idx=true is not supported");
  if (c.tie_word_embeddings === false) fail(source, "tie_word_embeddings=false is not supported for gpt2");
  return {
    arch: "gpt2",
    modelType: "gpt2",
    vocabSize: c.vocab_size ?? 50257,
    hiddenSize: hidden,
    intermediateSize: c.n_inner ?? 4 * hidden,
    numLayers: c.n_layer ?? 12,
    numHeads,
    headDim: hidden / numHeads,
    maxPositionEmbeddings: c.n_positions ?? 1024,
    layerNormEps: c.layer_norm_epsilon ?? 1e-5,
    activation,
    tieWordEmbeddings: true,
    bosTokenId: c.bos_token_id === undefined ? 50256 : c.bos_token_id,
    eosTokenIds: eosList(c.eos_token_id, [50256]),
    padTokenId: c.pad_token_id ?? null,
  };
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
  if (c.arch === "gptj" || c.arch === "gpt_neox" || c.arch === "t5") return familyToHfConfig(c);
  const tokens = { bos_token_id: c.bosTokenId, eos_token_id: eosJson(c.eosTokenIds), pad_token_id: c.padTokenId };
  if (c.arch === "gpt2") {
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      vocab_size: c.vocabSize,
      n_embd: c.hiddenSize,
      n_layer: c.numLayers,
      n_head: c.numHeads,
      n_inner: c.intermediateSize === 4 * c.hiddenSize ? null : c.intermediateSize,
      n_positions: c.maxPositionEmbeddings,
      layer_norm_epsilon: c.layerNormEps,
      activation_function: c.activation,
      initializer_range: 0.02,
      tie_word_embeddings: true,
      torch_dtype: "float32",
      ...tokens,
    };
  }
  const architectures: { [K in LlamaModelType]: string } = {
    llama: "LlamaForCausalLM",
    qwen2: "Qwen2ForCausalLM",
    qwen3: "Qwen3ForCausalLM",
    mistral: "MistralForCausalLM",
  };
  const rs = c.ropeScaling;
  const ropeScaling =
    rs === null
      ? null
      : rs.type === "linear"
        ? { rope_type: "linear", factor: rs.factor }
        : {
            rope_type: "llama3",
            factor: rs.factor,
            low_freq_factor: rs.lowFreqFactor,
            high_freq_factor: rs.highFreqFactor,
            original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
          };
  const out: Record<string, unknown> = {
    architectures: [architectures[c.modelType]],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: ropeScaling,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    initializer_range: 0.02,
    torch_dtype: "float32",
    ...tokens,
  };
  if (c.modelType === "llama") Object.assign(out, { attention_bias: c.qkvBias, mlp_bias: c.mlpBias });
  if (c.modelType === "qwen3") out.attention_bias = c.qkvBias;
  if (c.modelType === "mistral") out.sliding_window = c.slidingWindow;
  if (c.modelType === "qwen2") Object.assign(out, { use_sliding_window: false, sliding_window: null });
  return out;
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
  const C = s.hiddenSize;
  const tokens = {
    bosTokenId: s.bosTokenId ?? null,
    eosTokenIds: s.eosTokenIds ?? [],
    padTokenId: s.padTokenId ?? null,
  };
  let config: ModelConfig;
  if (s.arch === "gptj" || s.arch === "gpt_neox" || s.arch === "t5") {
    config = configFromFamilySizes({ ...s, arch: s.arch }, tokens);
  } else if (s.arch === "gpt2") {
    if (s.numKvHeads !== undefined && s.numKvHeads !== s.numHeads) {
      throw new ModelConfigError(
        `gpt2 has no grouped-query attention: kv heads (${s.numKvHeads}) must equal heads (${s.numHeads})`,
      );
    }
    if (C % s.numHeads !== 0) throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${s.numHeads})`);
    config = {
      arch: "gpt2",
      modelType: "gpt2",
      vocabSize: s.vocabSize,
      hiddenSize: C,
      intermediateSize: s.intermediateSize ?? 4 * C,
      numLayers: s.numLayers,
      numHeads: s.numHeads,
      headDim: C / s.numHeads,
      maxPositionEmbeddings: s.maxPositionEmbeddings ?? 1024,
      layerNormEps: 1e-5,
      activation: "gelu_new",
      tieWordEmbeddings: true,
      ...tokens,
    };
  } else {
    const modelType = s.modelType ?? "llama";
    const headDim = s.headDim ?? C / s.numHeads;
    if (!Number.isInteger(headDim)) {
      throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${s.numHeads}), or give a head dim`);
    }
    const bias = s.attentionBias ?? false;
    config = {
      arch: "llama",
      modelType,
      vocabSize: s.vocabSize,
      hiddenSize: C,
      intermediateSize: s.intermediateSize ?? Math.ceil((8 * C) / 3 / 16) * 16,
      numLayers: s.numLayers,
      numHeads: s.numHeads,
      numKvHeads: s.numKvHeads ?? s.numHeads,
      headDim,
      rmsNormEps: 1e-6,
      ropeTheta: s.ropeTheta ?? 10000,
      ropeScaling: s.ropeScaling ?? null,
      maxPositionEmbeddings: s.maxPositionEmbeddings ?? 2048,
      tieWordEmbeddings: s.tieWordEmbeddings ?? false,
      qkvBias: modelType === "qwen2" ? true : modelType === "mistral" ? false : bias,
      oBias: modelType === "llama" || modelType === "qwen3" ? bias : false,
      mlpBias: false,
      qkNorm: modelType === "qwen3",
      slidingWindow: null,
      ...tokens,
    };
  }
  return parseModelConfig(toHfConfig(config), "configFromSizes");
}
