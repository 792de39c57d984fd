/**
 * T5 (Raffel et al., 2020), T5 v1.1 and Flan-T5 (Chung et al., 2022) as transformers'
 * modeling_t5.py computes them: an encoder–decoder over one shared embedding.
 *
 *   encoder  x₀ = E[src]
 *            x += o(attn(q, k, v) + bias_bi)       on RMS(x)      (every block)
 *            x += ff(RMS(x))
 *            enc = RMS_final(x)
 *   decoder  y₀ = E[tgt]
 *            y += o(attn_causal(q, k, v) + bias_causal)  on RMS(y)
 *            y += o(attn(q(RMS(y)), k(enc), v(enc)))     cross-attention, no position bias
 *            y += ff(RMS(y))
 *   logits   = RMS_final(y) · (d_model^−½ when tied) Eᵀ,  or RMS_final(y) lm_headᵀ when untied
 *
 * with T5's RMS layer norm (no mean, no bias), attention scores q·kᵀ WITHOUT the 1/√d scaling
 * (the init absorbs it), the relative position bias of t5-buckets.ts (bidirectional in the
 * encoder, causal in the decoder; one table per stack, held by block 0, reused by every block)
 * and the feed-forward "relu" (wo(relu(wi h))) or "gated-ACT" (wo(act(wi_0 h) · wi_1 h)).
 * Names are T5ForConditionalGeneration's ("encoder.block.0.layer.0.SelfAttention.q.weight").
 *
 * Departures: no dropout (stepwise trains without it); the fp16 clamping of hidden states
 * is not needed in float32 and not done.
 */
import { type Array, nn, np } from "../engine/jax.ts";
import { keepTree } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { activate } from "./activations.ts";
import type { T5Config } from "./config.ts";
import {
  attentionMask,
  type KVCache,
  linear,
  MASKED_SCORE,
  rmsNorm,
  type Weights,
  weightsOf,
  writeSlots,
} from "./layers.ts";
import { positionBias } from "./t5-buckets.ts";
import type { CrossKV, DecodeOptions, EncodeOptions, ParamShapes, TrunkResult } from "./types.ts";

const ENC_BIAS = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
const DEC_BIAS = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

/** Every tensor a checkpoint of this config holds, with its shape. */
export function t5ParamShapes(c: T5Config): ParamShapes {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const inner = c.numHeads * c.headDim;
  const attn = (p: string): ParamShapes => [
    [`${p}q.weight`, [inner, C]],
    [`${p}k.weight`, [inner, C]],
    [`${p}v.weight`, [inner, C]],
    [`${p}o.weight`, [C, inner]],
  ];
  const ff = (p: string): ParamShapes =>
    c.gatedFeedForward
      ? [
          [`${p}wi_0.weight`, [F, C]],
          [`${p}wi_1.weight`, [F, C]],
          [`${p}wo.weight`, [C, F]],
        ]
      : [
          [`${p}wi.weight`, [F, C]],
          [`${p}wo.weight`, [C, F]],
        ];
  const out: ParamShapes = [["shared.weight", [c.vocabSize, C]]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.block.${l}.layer.`;
    out.push(...attn(`${p}0.SelfAttention.`));
    if (l === 0) out.push([ENC_BIAS, [c.numBuckets, c.numHeads]]);
    out.push([`${p}0.layer_norm.weight`, [C]], ...ff(`${p}1.DenseReluDense.`), [`${p}1.layer_norm.weight`, [C]]);
  }
  out.push(["encoder.final_layer_norm.weight", [C]]);
  for (let l = 0; l < c.numDecoderLayers; l++) {
    const p = `decoder.block.${l}.layer.`;
    out.push(...attn(`${p}0.SelfAttention.`));
    if (l === 0) out.push([DEC_BIAS, [c.numBuckets, c.numHeads]]);
    out.push([`${p}0.layer_norm.weight`, [C]], ...attn(`${p}1.EncDecAttention.`), [`${p}1.layer_norm.weight`, [C]]);
    out.push(...ff(`${p}2.DenseReluDense.`), [`${p}2.layer_norm.weight`, [C]]);
  }
  out.push(["decoder.final_layer_norm.weight", [C]]);
  if (!c.tieWordEmbeddings) out.push(["lm_head.weight", [c.vocabSize, C]]);
  return out;
}

/**
 * T5PreTrainedModel._init_weights (Mesh TensorFlow's), all times initializer_factor:
 * norms 1; embeddings and an untied lm_head N(0, 1); q N(0, 1/(C·H)); k, v, wi N(0, 1/C);
 * o N(0, 1/(N·H)); wo N(0, 1/F); relative_attention_bias N(0, 1/C).
 */
export function t5InitRule(name: string, c: T5Config): "ones" | { std: number } {
  const f = c.initializerFactor;
  const C = c.hiddenSize;
  if (name.endsWith("layer_norm.weight")) return "ones";
  if (name === "shared.weight" || name === "lm_head.weight") return { std: f };
  if (name.endsWith(".q.weight")) return { std: f * (C * c.headDim) ** -0.5 };
  if (name.endsWith(".o.weight")) return { std: f * (c.numHeads * c.headDim) ** -0.5 };
  if (name.endsWith(".wo.weight")) return { std: f * c.intermediateSize ** -0.5 };
  return { std: f * C ** -0.5 }; // k, v, wi, wi_0, wi_1, relative_attention_bias
}

/**
 * Attention without scaling: softmax(q kᵀ + bias) v over the visible slots.
 * q [B, T, N, H]; k, v [B, S, N, H]; bias [1, N, T, S] or null; visible bool [B, 1, T|1, S] or null.
 */
function t5Attention(q: Array, k: Array, v: Array, bias: Array | null, visible: Array | null): Array {
  let scores = np.einsum("btnh,bsnh->bnts", q, k); // [B, N, T, S], no 1/√H (T5)
  if (bias) scores = np.add(scores, bias);
  if (visible) scores = np.where(visible, scores, MASKED_SCORE);
  const probs = nn.softmax(scores, -1); // [B, N, T, S]
  return np.einsum("bnts,bsnh->btnh", probs, v); // [B, T, N, H]
}

/** A [B, S] 0/1 mask of real positions → bool [B, 1, 1, S] (attend), or null for none. */
function keyMask(mask: Array | undefined, B: number, S: number): Array | null {
  return mask ? np.notEqual(mask, 0).reshape([B, 1, 1, S]) : null;
}

/** T5LayerFF's DenseReluDense on h [B, T, C] → [B, T, C] (p ends with "DenseReluDense."). */
function feedForward(h: Array, p: string, w: Weights, c: T5Config): Array {
  const hidden = c.gatedFeedForward
    ? np.multiply(activate(linear(h.ref, w(`${p}wi_0.weight`)), c.activation), linear(h, w(`${p}wi_1.weight`)))
    : activate(linear(h, w(`${p}wi.weight`)), c.activation); // [B, T, F]
  return linear(hidden, w(`${p}wo.weight`));
}

/** [B, T, C] through a projection into heads: [B, T, N, H]. */
function heads(x: Array, weight: Array, c: T5Config): Array {
  const [B, T] = x.shape as [number, number];
  return linear(x, weight).reshape([B, T, c.numHeads, c.headDim]);
}

/**
 * The encoder: ids int32 [B, S] → its last hidden state [B, S, C] (after the final norm).
 * Right or left padding both work with opts.attentionMask: the bias depends on key − query only.
 * Consumes `params`, `ids` and the mask.
 */
export function t5Encode(params: Params, config: T5Config, ids: Array, opts: EncodeOptions = {}): Array {
  const [B, S] = ids.shape as [number, number];
  const { numHeads: N, headDim: H, layerNormEps: eps } = config;
  const w = weightsOf(params, "t5Encode");
  const visible = keyMask(opts.attentionMask, B, S); // [B, 1, 1, S]
  const spec = { bidirectional: true, numBuckets: config.numBuckets, maxDistance: config.maxDistance };
  const bias = positionBias(w(ENC_BIAS), S, S, spec); // [1, N, S, S]
  let x = np.take(w("shared.weight"), ids, 0); // [B, S, C]
  for (let l = 0; l < config.numLayers; l++) {
    const p = `encoder.block.${l}.layer.`;
    const h = rmsNorm(x.ref, w(`${p}0.layer_norm.weight`), eps); // [B, S, C]
    const q = heads(h.ref, w(`${p}0.SelfAttention.q.weight`), config); // [B, S, N, H]
    const k = heads(h.ref, w(`${p}0.SelfAttention.k.weight`), config);
    const v = heads(h, w(`${p}0.SelfAttention.v.weight`), config);
    const att = t5Attention(q, k, v, bias.ref, visible?.ref ?? null).reshape([B, S, N * H]);
    x = np.add(x, linear(att, w(`${p}0.SelfAttention.o.weight`)));
    x = np.add(x, feedForward(rmsNorm(x.ref, w(`${p}1.layer_norm.weight`), eps), `${p}1.DenseReluDense.`, w, config));
  }
  bias.dispose();
  visible?.dispose();
  x = rmsNorm(x, w("encoder.final_layer_norm.weight"), eps); // [B, S, C]
  for (const a of Object.values(params)) a.dispose();
  return x;
}

/** Each decoder layer's cross-attention keys and values of the encoder output [B, S_enc, C]. Consumes both. */
export function t5CrossKeyValues(params: Params, config: T5Config, encoderHidden: Array): CrossKV {
  const w = weightsOf(params, "t5CrossKeyValues");
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numDecoderLayers; l++) {
    const p = `decoder.block.${l}.layer.1.EncDecAttention.`;
    keys.push(heads(encoderHidden.ref, w(`${p}k.weight`), config)); // [B, S_enc, N, H]
    values.push(heads(encoderHidden.ref, w(`${p}v.weight`), config));
  }
  encoderHidden.dispose();
  for (const a of Object.values(params)) a.dispose();
  return { keys, values };
}

/**
 * The decoder trunk: ids int32 [B, T] → final hidden states [B, T, C] (after the final norm,
 * what transformers' decoder last_hidden_state holds) and the lm head. It attends to
 * opts.encoderHidden (or opts.cross, projected once) through opts.encoderMask, and to its own
 * opts.cache: the T new tokens fill slots [offset, offset + T), at positions offset + t.
 * Consumes `params`, `ids` and every array in `opts`.
 */
export function t5DecoderTrunk(params: Params, config: T5Config, ids: Array, opts: DecodeOptions): TrunkResult {
  const [B, T] = ids.shape as [number, number];
  const { numHeads: N, headDim: H, layerNormEps: eps } = config;
  const w = weightsOf(params, "t5Decode");
  let cross = opts.cross;
  if (!cross) {
    if (!opts.encoderHidden) throw new Error("t5Decode: give the encoder's output (encoderHidden) or its cross keys");
    cross = t5CrossKeyValues(keepTree(params), config, opts.encoderHidden);
  } else opts.encoderHidden?.dispose();
  const Se = cross.keys[0]!.shape[1]!;
  const cache = opts.cache;
  const S = cache ? cache.keys[0]!.shape[1]! : T;
  const offset = cache?.offset;
  const selfVisible = attentionMask(B, T, S, offset?.ref, opts.attentionMask); // bool [B, 1, T, S]
  const crossVisible = keyMask(opts.encoderMask, B, Se); // [B, 1, 1, S_enc]
  const spec = { bidirectional: false, numBuckets: config.numBuckets, maxDistance: config.maxDistance };
  const bias = positionBias(w(DEC_BIAS), T, S, spec, offset?.ref); // [1, N, T, S]

  let x = np.take(w("shared.weight"), ids, 0); // [B, T, C]
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numDecoderLayers; l++) {
    const p = `decoder.block.${l}.layer.`;
    // --- causal self-attention, with the cache
    const h = rmsNorm(x.ref, w(`${p}0.layer_norm.weight`), eps); // [B, T, C]
    const q = heads(h.ref, w(`${p}0.SelfAttention.q.weight`), config); // [B, T, N, H]
    let k = heads(h.ref, w(`${p}0.SelfAttention.k.weight`), config);
    let v = heads(h, w(`${p}0.SelfAttention.v.weight`), config);
    if (cache) {
      k = writeSlots(cache.keys[l]!, k, offset!.ref); // [B, S, N, H]
      v = writeSlots(cache.values[l]!, v, offset!.ref);
      keys.push(k.ref);
      values.push(v.ref);
    }
    const att = t5Attention(q, k, v, bias.ref, selfVisible.ref).reshape([B, T, N * H]);
    x = np.add(x, linear(att, w(`${p}0.SelfAttention.o.weight`)));
    // --- cross-attention over the encoder output
    const hc = rmsNorm(x.ref, w(`${p}1.layer_norm.weight`), eps);
    const qc = heads(hc, w(`${p}1.EncDecAttention.q.weight`), config); // [B, T, N, H]
    const ca = t5Attention(qc, cross.keys[l]!, cross.values[l]!, null, crossVisible?.ref ?? null);
    x = np.add(x, linear(ca.reshape([B, T, N * H]), w(`${p}1.EncDecAttention.o.weight`)));
    // --- feed-forward
    x = np.add(x, feedForward(rmsNorm(x.ref, w(`${p}2.layer_norm.weight`), eps), `${p}2.DenseReluDense.`, w, config));
  }
  bias.dispose();
  selfVisible.dispose();
  crossVisible?.dispose();
  if (opts.logits === "last" && T > 1) x = x.slice([], [T - 1], []); // [B, T, C] → [B, 1, C]
  x = rmsNorm(x, w("decoder.final_layer_norm.weight"), eps); // [B, T, C]
  const tied = config.tieWordEmbeddings;
  const headWeight = w(tied ? "shared.weight" : "lm_head.weight"); // [V, C]
  for (const a of Object.values(params)) a.dispose();
  const scale = config.hiddenSize ** -0.5;
  return {
    hidden: x,
    ...(cache ? { cache: { keys, values, offset: np.add(offset!, T) } satisfies KVCache } : {}),
    // tied: rescale by d_model^−½ before projecting on the embedding (Mesh TensorFlow)
    head: (hid) => linear(tied ? np.multiply(hid, scale) : hid, headWeight), // [B, T, C] → [B, T, V]
    release: () => headWeight.dispose(),
  };
}
