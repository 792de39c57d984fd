/**
 * GPT-NeoX / Pythia (Black et al., 2022) as transformers' modeling_gpt_neox.py computes it:
 *
 *   x₀ = embed_in[ids]
 *   for each layer:  a = dense(attn(rot(q), rot(k), v))     [q_h, k_h, v_h] = split per head of query_key_value(LN₁ x)
 *     parallel:      x = x + a + mlp(LN₂ x)                  (use_parallel_residual, the default)
 *     sequential:    x = x + a;  x = x + mlp(LN₂ x)
 *   logits = LN_f(x) embed_outᵀ
 *
 * The fused query_key_value weight [3C, C] is laid out head by head: its output, viewed as
 * [B, T, N, 3H], holds q, k and v of head n at [..., n, 0:H], [H:2H] and [2H:3H] (not three
 * [C]-wide blocks as GPT-2's c_attn). Rotary embeddings (rotate-half layout) cover the first
 * R = int(H · rotary_pct) dims of each head (rotary.ts). Names are GPTNeoXForCausalLM's
 * ("gpt_neox.layers.0.attention.query_key_value.weight", nn.Linear [out, in]).
 */
import { type Array, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import { activate } from "./activations.ts";
import type { NeoxConfig } from "./config.ts";
import {
  attention,
  attentionMask,
  defaultPositions,
  type KVCache,
  layerNorm,
  linear,
  ropeTables,
  weightsOf,
  writeSlots,
} from "./layers.ts";
import { applyPartialRotary, rotaryInvFreq } from "./rotary.ts";
import type { ForwardOptions, ParamShapes, TrunkResult } from "./types.ts";

/** Every tensor a checkpoint of this config holds, with its shape. */
export function neoxParamShapes(c: NeoxConfig): ParamShapes {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const out: ParamShapes = [["gpt_neox.embed_in.weight", [c.vocabSize, C]]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    out.push(
      [`${p}input_layernorm.weight`, [C]],
      [`${p}input_layernorm.bias`, [C]],
      [`${p}post_attention_layernorm.weight`, [C]],
      [`${p}post_attention_layernorm.bias`, [C]],
      [`${p}attention.query_key_value.weight`, [3 * C, C]],
    );
    if (c.attentionBias) out.push([`${p}attention.query_key_value.bias`, [3 * C]]);
    out.push([`${p}attention.dense.weight`, [C, C]]);
    if (c.attentionBias) out.push([`${p}attention.dense.bias`, [C]]);
    out.push(
      [`${p}mlp.dense_h_to_4h.weight`, [F, C]],
      [`${p}mlp.dense_h_to_4h.bias`, [F]],
      [`${p}mlp.dense_4h_to_h.weight`, [C, F]],
      [`${p}mlp.dense_4h_to_h.bias`, [C]],
    );
  }
  out.push(["gpt_neox.final_layer_norm.weight", [C]], ["gpt_neox.final_layer_norm.bias", [C]]);
  if (!c.tieWordEmbeddings) out.push(["embed_out.weight", [c.vocabSize, C]]);
  return out;
}

/** GPTNeoXPreTrainedModel._init_weights: LayerNorm gains 1, biases 0, weights N(0, std²). */
export function neoxInitKind(name: string): "ones" | "zeros" | "normal" {
  if (name.endsWith("layernorm.weight") || name.endsWith("final_layer_norm.weight")) return "ones";
  if (name.endsWith(".bias")) return "zeros";
  return "normal";
}

/**
 * The trunk: ids int32 [B, T] → final hidden states [B, T, C] and the lm head (ForwardOptions
 * for the cache, positions and padding mask). Consumes `params`, `ids` and the arrays in `opts`.
 */
export function neoxTrunk(params: Params, config: NeoxConfig, ids: Array, opts: ForwardOptions = {}): TrunkResult {
  const [B, T] = ids.shape as [number, number];
  const { numHeads: N, headDim: H, hiddenSize: C, layerNormEps: eps } = config;
  const cache = opts.cache;
  const S = cache ? cache.keys[0]!.shape[1]! : T;
  const w = weightsOf(params, "neoxForward");
  const bias = (name: string): Array | undefined => (config.attentionBias ? w(name) : undefined);

  const offset = cache?.offset;
  const positions = opts.positions ?? defaultPositions(B, T, offset?.ref); // [B, T]
  const mask = attentionMask(B, T, S, offset?.ref, opts.attentionMask); // bool [B, 1, T, S]
  const { cos, sin } = ropeTables(positions, rotaryInvFreq(config.rotaryDim, config.ropeTheta)); // [B, T, 1, R/2]

  const mlp = (h: Array, p: string): Array =>
    linear(
      activate(linear(h, w(`${p}mlp.dense_h_to_4h.weight`), w(`${p}mlp.dense_h_to_4h.bias`)), config.activation),
      w(`${p}mlp.dense_4h_to_h.weight`),
      w(`${p}mlp.dense_4h_to_h.bias`),
    ); // [B, T, C]

  let x = np.take(w("gpt_neox.embed_in.weight"), ids, 0); // [B, T, C]
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    const h = layerNorm(x.ref, w(`${p}input_layernorm.weight`), w(`${p}input_layernorm.bias`), eps); // [B, T, C]
    const qkv = linear(
      h,
      w(`${p}attention.query_key_value.weight`),
      bias(`${p}attention.query_key_value.bias`),
    ).reshape([B, T, N, 3 * H]); // [B, T, 3C] → [B, T, N, 3H], head-interleaved
    let q = qkv.ref.slice([], [], [], [0, H]); // [B, T, N, H]
    let k = qkv.ref.slice([], [], [], [H, 2 * H]);
    let v = qkv.slice([], [], [], [2 * H]);
    q = applyPartialRotary(q, cos.ref, sin.ref, "half");
    k = applyPartialRotary(k, cos.ref, sin.ref, "half");
    if (cache) {
      k = writeSlots(cache.keys[l]!, k, offset!.ref); // [B, S, N, H]
      v = writeSlots(cache.values[l]!, v, offset!.ref);
      keys.push(k.ref);
      values.push(v.ref);
    }
    const att = attention(q, k, v, mask.ref).reshape([B, T, C]); // [B, T, N, H] → [B, T, C]
    const a = linear(att, w(`${p}attention.dense.weight`), bias(`${p}attention.dense.bias`)); // [B, T, C]
    const ln2 = (y: Array) =>
      layerNorm(y, w(`${p}post_attention_layernorm.weight`), w(`${p}post_attention_layernorm.bias`), eps);
    if (config.parallelResidual) {
      x = np.add(np.add(mlp(ln2(x.ref), p), a), x); // mlp(LN₂ x) + a + x
    } else {
      x = np.add(a, x); // a + x
      x = np.add(mlp(ln2(x.ref), p), x);
    }
  }
  mask.dispose();
  cos.dispose();
  sin.dispose();
  if (opts.logits === "last" && T > 1) x = x.slice([], [T - 1], []); // [B, T, C] → [B, 1, C]
  x = layerNorm(x, w("gpt_neox.final_layer_norm.weight"), w("gpt_neox.final_layer_norm.bias"), eps);
  const headWeight = w(config.tieWordEmbeddings ? "gpt_neox.embed_in.weight" : "embed_out.weight"); // [V, C]
  for (const a of Object.values(params)) a.dispose();
  return {
    hidden: x,
    ...(cache ? { cache: { keys, values, offset: np.add(offset!, T) } satisfies KVCache } : {}),
    head: (hid) => linear(hid, headWeight), // [B, T, C] → [B, T, V]
    release: () => headWeight.dispose(),
  };
}
