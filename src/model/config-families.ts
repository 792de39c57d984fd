/**
 * config.json of the GPT-J, GPT-NeoX and T5 families: parsed with transformers' keys and
 * defaults (GPTJConfig, GPTNeoXConfig, T5Config), written back the same way (init-model),
 * and built from sizes. config.ts dispatches here by model_type.
 *
 * Read as transformers reads them:
 *   gptj      n_embd, n_layer, n_head, n_inner (null = 4C), n_positions, rotary_dim, activation_function
 *   gpt_neox  hidden_size, ..., hidden_act, rotary_pct and rotary_emb_base (transformers < 5) or
 *             rope_parameters.{partial_rotary_factor, rope_theta} (≥ 5), use_parallel_residual, attention_bias
 *   t5        d_model, d_kv, d_ff, num_layers, num_decoder_layers (null = num_layers), num_heads,
 *             relative_attention_num_buckets / _max_distance, feed_forward_proj ("relu", "gated-gelu", ...),
 *             decoder_start_token_id, tie_word_embeddings (T5Config's default: true)
 *
 * Refused (a ModelConfigError naming the key): GPT-NeoX rope scaling, GPT-J rotary_dim null with
 * more than one head (transformers then builds its sin/cos table over n_embd, which only lines up
 * with a head when there is one), grouped-query attention, odd rotary widths.
 */
import { z } from "zod";
import type { ConfigSizes, GptjConfig, NeoxConfig, T5Config } from "./config.ts";
import {
  type Activation,
  eosJson,
  eosList,
  fail,
  ModelConfigError,
  parseActivation,
  posInt,
  tokenId,
  tokenIds,
  zodFail,
} from "./config-base.ts";

type FamilyConfig = GptjConfig | NeoxConfig | T5Config;

/** The sizes only these families read (ConfigSizes extends this). */
export interface FamilySizes {
  /** t5: decoder blocks (default: numLayers). */
  numDecoderLayers?: number;
  /** t5: feed_forward_proj, "gated-gelu" (T5 v1.1, Flan-T5; the default here) or "relu" (original T5), or gated-ACT / ACT. */
  feedForwardProj?: string;
  /** t5: relative_attention_num_buckets (default 32) and relative_attention_max_distance (default 128). */
  numBuckets?: number;
  maxDistance?: number;
  /** t5: decoder_start_token_id (default: the pad id, else 0). */
  decoderStartTokenId?: number;
  /** gptj: rotated dims per head (default a quarter of the head, as GPT-J 6B rotates 64 of 256). */
  rotaryDim?: number;
  /** gpt_neox: rotary_pct (default 0.25, Pythia's). */
  rotaryPct?: number;
  /** gpt_neox: use_parallel_residual (default true). */
  parallelResidual?: boolean;
}

const tokens = { bos_token_id: tokenId, eos_token_id: tokenIds, pad_token_id: tokenId };
const eps = z.number().positive().optional();

// ---------------------------------------------------------------------------
// GPT-J

const gptjSchema = z.looseObject({
  model_type: z.literal("gptj"),
  vocab_size: posInt.optional(),
  n_embd: posInt.optional(),
  n_layer: posInt.optional(),
  n_head: posInt.optional(),
  n_inner: posInt.nullable().optional(),
  n_positions: posInt.optional(),
  rotary_dim: posInt.nullable().optional(),
  activation_function: z.string().optional(),
  layer_norm_epsilon: eps,
  tie_word_embeddings: z.boolean().optional(),
  ...tokens,
});

export function parseGptj(json: unknown, source: string): GptjConfig {
  const parsed = gptjSchema.safeParse(json);
  if (!parsed.success) zodFail(source, parsed.error);
  const c = parsed.data;
  const C = c.n_embd ?? 4096;
  const N = c.n_head ?? 16;
  if (C % N !== 0) fail(source, `n_embd (${C}) must be divisible by n_head (${N})`);
  const H = C / N;
  if (c.rotary_dim === null && N !== 1) {
    fail(source, "rotary_dim null is not supported with more than one head (transformers' table would span n_embd)");
  }
  const R = c.rotary_dim === undefined ? 64 : (c.rotary_dim ?? H);
  if (R % 2 !== 0 || R > H) fail(source, `rotary_dim (${R}) must be even and at most the head dim (${H})`);
  return {
    arch: "gptj",
    modelType: "gptj",
    vocabSize: c.vocab_size ?? 50400,
    hiddenSize: C,
    intermediateSize: c.n_inner ?? 4 * C,
    numLayers: c.n_layer ?? 28,
    numHeads: N,
    headDim: H,
    maxPositionEmbeddings: c.n_positions ?? 2048,
    rotaryDim: R,
    layerNormEps: c.layer_norm_epsilon ?? 1e-5,
    activation: parseActivation(source, "activation_function", c.activation_function ?? "gelu_new"),
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    bosTokenId: c.bos_token_id === undefined ? 50256 : c.bos_token_id,
    eosTokenIds: eosList(c.eos_token_id, [50256]),
    padTokenId: c.pad_token_id ?? null,
  };
}

// ---------------------------------------------------------------------------
// GPT-NeoX

const neoxRopeSchema = z
  .looseObject({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    rope_theta: z.number().positive().optional(),
    partial_rotary_factor: z.number().min(0).max(1).optional(),
  })
  .nullable()
  .optional();

const neoxSchema = z.looseObject({
  model_type: z.literal("gpt_neox"),
  vocab_size: posInt.optional(),
  hidden_size: posInt.optional(),
  num_hidden_layers: posInt.optional(),
  num_attention_heads: posInt.optional(),
  intermediate_size: posInt.optional(),
  hidden_act: z.string().optional(),
  rotary_pct: z.number().min(0).max(1).optional(),
  rotary_emb_base: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  partial_rotary_factor: z.number().min(0).max(1).optional(),
  rope_scaling: neoxRopeSchema,
  rope_parameters: neoxRopeSchema,
  max_position_embeddings: posInt.optional(),
  layer_norm_eps: eps,
  use_parallel_residual: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  tie_word_embeddings: z.boolean().optional(),
  ...tokens,
});

export function parseNeox(json: unknown, source: string): NeoxConfig {
  const parsed = neoxSchema.safeParse(json);
  if (!parsed.success) zodFail(source, parsed.error);
  const c = parsed.data;
  for (const key of ["rope_scaling", "rope_parameters"] as const) {
    const kind = c[key]?.rope_type ?? c[key]?.type ?? "default";
    if (kind !== "default") fail(source, `${key} type "${kind}" is not supported for gpt_neox (supported: default)`);
  }
  const C = c.hidden_size ?? 6144;
  const N = c.num_attention_heads ?? 64;
  if (C % N !== 0) fail(source, `hidden_size (${C}) must be divisible by num_attention_heads (${N})`);
  const H = C / N;
  const pct = c.rope_parameters?.partial_rotary_factor ?? c.rotary_pct ?? c.partial_rotary_factor ?? 0.25;
  const R = Math.trunc(H * pct); // Python's int(head_size * rotary_pct)
  if (R % 2 !== 0) fail(source, `rotary_pct ${pct} rotates ${R} of ${H} dims per head; the rotated width must be even`);
  return {
    arch: "gpt_neox",
    modelType: "gpt_neox",
    vocabSize: c.vocab_size ?? 50432,
    hiddenSize: C,
    intermediateSize: c.intermediate_size ?? 24576,
    numLayers: c.num_hidden_layers ?? 44,
    numHeads: N,
    headDim: H,
    maxPositionEmbeddings: c.max_position_embeddings ?? 2048,
    rotaryDim: R,
    rotaryPct: pct,
    ropeTheta: c.rope_parameters?.rope_theta ?? c.rotary_emb_base ?? c.rope_theta ?? 10000,
    parallelResidual: c.use_parallel_residual ?? true,
    attentionBias: c.attention_bias ?? true,
    layerNormEps: c.layer_norm_eps ?? 1e-5,
    activation: parseActivation(source, "hidden_act", c.hidden_act ?? "gelu"),
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    bosTokenId: c.bos_token_id === undefined ? 0 : c.bos_token_id,
    eosTokenIds: eosList(c.eos_token_id, [2]),
    padTokenId: c.pad_token_id ?? null,
  };
}

// ---------------------------------------------------------------------------
// T5

const t5Schema = z.looseObject({
  model_type: z.literal("t5"),
  vocab_size: posInt.optional(),
  d_model: posInt.optional(),
  d_kv: posInt.optional(),
  d_ff: posInt.optional(),
  num_layers: posInt.optional(),
  num_decoder_layers: posInt.nullable().optional(),
  num_heads: posInt.optional(),
  relative_attention_num_buckets: posInt.optional(),
  relative_attention_max_distance: posInt.optional(),
  layer_norm_epsilon: eps,
  initializer_factor: z.number().positive().optional(),
  feed_forward_proj: z.string().optional(),
  is_encoder_decoder: z.boolean().optional(),
  tie_word_embeddings: z.boolean().optional(),
  n_positions: posInt.optional(),
  decoder_start_token_id: z.number().int().nonnegative().nullable().optional(),
  ...tokens,
});

/** T5Config's reading of feed_forward_proj: "ACT" or "gated-ACT"; "gated-gelu" means the tanh GELU. */
function parseFeedForward(source: string, ffp: string): { gated: boolean; activation: Activation } {
  const parts = ffp.split("-");
  if ((parts.length > 1 && parts[0] !== "gated") || parts.length > 2) {
    fail(source, `feed_forward_proj "${ffp}" must be "ACT" or "gated-ACT", e.g. "relu" or "gated-gelu"`);
  }
  const gated = parts[0] === "gated";
  const act = ffp === "gated-gelu" ? "gelu_new" : parts[parts.length - 1]!;
  return { gated, activation: parseActivation(source, "feed_forward_proj", act) };
}

function feedForwardJson(c: T5Config): string {
  if (c.gatedFeedForward) return c.activation === "gelu_new" ? "gated-gelu" : `gated-${c.activation}`;
  return c.activation;
}

export function parseT5(json: unknown, source: string): T5Config {
  const parsed = t5Schema.safeParse(json);
  if (!parsed.success) zodFail(source, parsed.error);
  const c = parsed.data;
  if (c.is_encoder_decoder === false) fail(source, "is_encoder_decoder false (T5's encoder alone) is not supported");
  const numBuckets = c.relative_attention_num_buckets ?? 32;
  const maxDistance = c.relative_attention_max_distance ?? 128;
  // the encoder's exact buckets are numBuckets / 4, the decoder's numBuckets / 2; the log range must be non-empty
  if (numBuckets < 4 || maxDistance <= numBuckets / 2) {
    fail(
      source,
      `relative_attention_num_buckets (${numBuckets}) must be >= 4 and relative_attention_max_distance (${maxDistance}) above half of it`,
    );
  }
  const ff = parseFeedForward(source, c.feed_forward_proj ?? "relu");
  const pad = c.pad_token_id === undefined ? 0 : c.pad_token_id;
  const numLayers = c.num_layers ?? 6;
  return {
    arch: "t5",
    modelType: "t5",
    isEncoderDecoder: true,
    vocabSize: c.vocab_size ?? 32128,
    hiddenSize: c.d_model ?? 512,
    intermediateSize: c.d_ff ?? 2048,
    numLayers,
    numDecoderLayers: c.num_decoder_layers ?? numLayers,
    numHeads: c.num_heads ?? 8,
    headDim: c.d_kv ?? 64,
    maxPositionEmbeddings: c.n_positions ?? 512,
    numBuckets,
    maxDistance,
    layerNormEps: c.layer_norm_epsilon ?? 1e-6,
    gatedFeedForward: ff.gated,
    activation: ff.activation,
    decoderStartTokenId: c.decoder_start_token_id ?? pad ?? 0,
    initializerFactor: c.initializer_factor ?? 1,
    tieWordEmbeddings: c.tie_word_embeddings ?? true,
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eosList(c.eos_token_id, [1]),
    padTokenId: pad,
  };
}

// ---------------------------------------------------------------------------
// Back to config.json, and from sizes.

export function familyToHfConfig(c: FamilyConfig): Record<string, unknown> {
  const ids = { bos_token_id: c.bosTokenId, eos_token_id: eosJson(c.eosTokenIds), pad_token_id: c.padTokenId };
  const common = { tie_word_embeddings: c.tieWordEmbeddings, torch_dtype: "float32", ...ids };
  if (c.arch === "gptj") {
    return {
      architectures: ["GPTJForCausalLM"],
      model_type: "gptj",
      vocab_size: c.vocabSize,
      n_embd: c.hiddenSize,
      n_layer: c.numLayers,
      n_head: c.numHeads,
      n_inner: c.intermediateSize === 4 * c.hiddenSize ? null : c.intermediateSize,
      n_positions: c.maxPositionEmbeddings,
      rotary_dim: c.rotaryDim,
      activation_function: c.activation,
      layer_norm_epsilon: c.layerNormEps,
      initializer_range: 0.02,
      ...common,
    };
  }
  if (c.arch === "gpt_neox") {
    return {
      architectures: ["GPTNeoXForCausalLM"],
      model_type: "gpt_neox",
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numHeads,
      intermediate_size: c.intermediateSize,
      hidden_act: c.activation,
      rotary_pct: c.rotaryPct,
      rotary_emb_base: c.ropeTheta,
      max_position_embeddings: c.maxPositionEmbeddings,
      layer_norm_eps: c.layerNormEps,
      use_parallel_residual: c.parallelResidual,
      attention_bias: c.attentionBias,
      initializer_range: 0.02,
      ...common,
    };
  }
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: c.vocabSize,
    d_model: c.hiddenSize,
    d_kv: c.headDim,
    d_ff: c.intermediateSize,
    num_layers: c.numLayers,
    num_decoder_layers: c.numDecoderLayers,
    num_heads: c.numHeads,
    relative_attention_num_buckets: c.numBuckets,
    relative_attention_max_distance: c.maxDistance,
    layer_norm_epsilon: c.layerNormEps,
    initializer_factor: c.initializerFactor,
    feed_forward_proj: feedForwardJson(c),
    is_encoder_decoder: true,
    n_positions: c.maxPositionEmbeddings,
    decoder_start_token_id: c.decoderStartTokenId,
    ...common,
  };
}

type Tokens = Pick<FamilyConfig, "bosTokenId" | "eosTokenIds" | "padTokenId">;

/** A config of one of these families from init-model's sizes (config.ts round-trips it through config.json). */
export function configFromFamilySizes(s: ConfigSizes & { arch: FamilyConfig["arch"] }, ids: Tokens): FamilyConfig {
  const { hiddenSize: C, numHeads: N } = s;
  if (s.numKvHeads !== undefined && s.numKvHeads !== N) {
    throw new ModelConfigError(
      `${s.arch} has no grouped-query attention: kv heads (${s.numKvHeads}) must equal heads (${N})`,
    );
  }
  if (s.arch === "t5") {
    const headDim = s.headDim ?? C / N;
    if (!Number.isInteger(headDim)) {
      throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${N}), or give a head dim (d_kv)`);
    }
    const ff = parseFeedForward("configFromSizes", s.feedForwardProj ?? "gated-gelu");
    return {
      arch: "t5",
      modelType: "t5",
      isEncoderDecoder: true,
      vocabSize: s.vocabSize,
      hiddenSize: C,
      intermediateSize: s.intermediateSize ?? (ff.gated ? 2 * C : 4 * C),
      numLayers: s.numLayers,
      numDecoderLayers: s.numDecoderLayers ?? s.numLayers,
      numHeads: N,
      headDim,
      maxPositionEmbeddings: s.maxPositionEmbeddings ?? 512,
      numBuckets: s.numBuckets ?? 32,
      maxDistance: s.maxDistance ?? 128,
      layerNormEps: 1e-6,
      gatedFeedForward: ff.gated,
      activation: ff.activation,
      decoderStartTokenId: s.decoderStartTokenId ?? ids.padTokenId ?? 0,
      initializerFactor: 1,
      tieWordEmbeddings: s.tieWordEmbeddings ?? false,
      ...ids,
    };
  }
  if (C % N !== 0) throw new ModelConfigError(`hidden (${C}) must be divisible by heads (${N})`);
  if (s.headDim !== undefined && s.headDim !== C / N) {
    throw new ModelConfigError(`${s.arch}: the head dim is hidden / heads (${C / N}), got ${s.headDim}`);
  }
  const H = C / N;
  const base = {
    vocabSize: s.vocabSize,
    hiddenSize: C,
    intermediateSize: s.intermediateSize ?? 4 * C,
    numLayers: s.numLayers,
    numHeads: N,
    headDim: H,
    maxPositionEmbeddings: s.maxPositionEmbeddings ?? 2048,
    tieWordEmbeddings: s.tieWordEmbeddings ?? false,
    layerNormEps: 1e-5,
    ...ids,
  };
  if (s.arch === "gptj") {
    const R = s.rotaryDim ?? Math.max(2, 2 * Math.floor(H / 8));
    if (R % 2 !== 0 || R > H)
      throw new ModelConfigError(`rotary dim (${R}) must be even and at most the head dim (${H})`);
    return { arch: "gptj", modelType: "gptj", rotaryDim: R, activation: "gelu_new", ...base };
  }
  const pct = s.rotaryPct ?? 0.25;
  const R = Math.trunc(H * pct);
  if (!(pct >= 0 && pct <= 1) || R % 2 !== 0) {
    throw new ModelConfigError(
      `rotary pct ${pct} rotates ${R} of ${H} dims per head; pick one that rotates an even width`,
    );
  }
  return {
    arch: "gpt_neox",
    modelType: "gpt_neox",
    rotaryDim: R,
    rotaryPct: pct,
    ropeTheta: s.ropeTheta ?? 10000,
    parallelResidual: s.parallelResidual ?? true,
    attentionBias: s.attentionBias ?? true,
    activation: "gelu",
    ...base,
  };
}
