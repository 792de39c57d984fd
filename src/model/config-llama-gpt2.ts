/**
 * config.json of the Llama family (llama, qwen2, qwen3, mistral) and GPT-2: parsed with
 * transformers' keys and defaults (LlamaConfig, Qwen2Config, Qwen3Config, MistralConfig,
 * GPT2Config), written back the same way (init-model), and built from sizes. config.ts
 * dispatches here by model_type, as it does to config-families.ts for GPT-J, GPT-NeoX and T5.
 *
 * Refused (a ModelConfigError naming the key): a rope_scaling type other than linear and
 * llama3, a non-SiLU Llama MLP, an odd head dim, GPT-2's scale_attn_weights=false,
 * scale_attn_by_inverse_layer_idx and an untied head.
 */
import { z } from "zod";
import type { ConfigSizes, Gpt2Config, LlamaConfig, LlamaModelType, RopeScaling } from "./config.ts";
import { eosJson, eosList, fail, ModelConfigError, posInt, tokenId, tokenIds, zodFail } from "./config-base.ts";

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

export function parseLlama(json: unknown, source: string, modelType: LlamaModelType): LlamaConfig {
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

export function parseGpt2(json: unknown, source: string): Gpt2Config {
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

/** The `config.json` object transformers writes for a Llama-family or GPT-2 config. */
export function llamaGpt2ToHfConfig(c: LlamaConfig | Gpt2Config): Record<string, unknown> {
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

type Tokens = Pick<LlamaConfig, "bosTokenId" | "eosTokenIds" | "padTokenId">;

/** A Llama-family or GPT-2 config from init-model's sizes (config.ts round-trips it through config.json). */
export function llamaGpt2FromSizes(
  s: ConfigSizes & { arch: "llama" | "gpt2" },
  tokens: Tokens,
): LlamaConfig | Gpt2Config {
  const C = s.hiddenSize;
  if (s.arch === "gpt2") {
    if (s.numKvHeads !== undefined && s.numKvHeads !== s.numHeads) {
      throw new ModelConfigError(
        `gpt2 has no grouped-query attention: kv heads (${s.numKvHeads}) must equal heads (${s.numHeads})`,
      );
    }
    if (C % s.numHeads !== 0) throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${s.numHeads})`);
    return {
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
  }
  const modelType = s.modelType ?? "llama";
  const headDim = s.headDim ?? C / s.numHeads;
  if (!Number.isInteger(headDim)) {
    throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${s.numHeads}), or give a head dim`);
  }
  const bias = s.attentionBias ?? false;
  return {
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
