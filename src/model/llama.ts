/**
 * The Llama family (Llama 2/3, SmolLM, Qwen2/2.5/3, Mistral), as transformers'
 * modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py compute it:
 *
 *   x₀ = E[ids]
 *   for each layer:  x += o_proj(attn(rope(q), rope(k), v))   on RMSNorm(x)
 *                    x += down(silu(gate(h)) · up(h))          h = RMSNorm(x)
 *   logits = RMSNorm(x) Wᵀ,   W = lm_head.weight, or E when the embeddings are tied
 *
 * with grouped-query attention (K key/value heads shared by N query heads), q/k/v
 * bias for Qwen2 and q/k RMSNorm per head for Qwen3. Weight names and layouts are
 * transformers' own (nn.Linear: [out, in]), so a folder round-trips with it.
 *
 * Departures: Mistral's sliding window is not applied; forward refuses sequences
 * longer than the window instead of silently attending past it.
 */
import { type Array, nn, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import type { LlamaConfig } from "./config.ts";
import {
  applyRope,
  attention,
  attentionMask,
  defaultPositions,
  type KVCache,
  linear,
  rmsNorm,
  ropeTables,
  weightsOf,
  writeSlots,
} from "./layers.ts";
import type { ForwardOptions, ParamShapes, TrunkResult } from "./types.ts";

/**
 * RoPE inverse frequencies θ_i = base^(−2i/H), i < H/2, with rope_scaling applied
 * (transformers' modeling_rope_utils: _compute_default / _linear / _llama3_parameters).
 */
export function ropeInvFreq(config: LlamaConfig): Float32Array {
  const H = config.headDim;
  const inv = new Float64Array(H / 2).map((_, i) => 1 / config.ropeTheta ** ((2 * i) / H));
  const rs = config.ropeScaling;
  if (rs?.type === "linear") return Float32Array.from(inv, (f) => f / rs.factor);
  if (rs?.type === "llama3") {
    // Long wavelengths (> old_context / low_freq_factor) are slowed by `factor`, short ones
    // (< old_context / high_freq_factor) kept, and the band between interpolated smoothly.
    const lowFreqWavelen = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
    const highFreqWavelen = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
    return Float32Array.from(inv, (f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) return f / rs.factor;
      if (wavelen < highFreqWavelen) return f;
      const smooth =
        (rs.originalMaxPositionEmbeddings / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
      return (1 - smooth) * (f / rs.factor) + smooth * f;
    });
  }
  return Float32Array.from(inv);
}

/** Every tensor a checkpoint of this config holds, with its shape. */
export function llamaParamShapes(c: LlamaConfig): ParamShapes {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const out: ParamShapes = [["model.embed_tokens.weight", [c.vocabSize, C]]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push([`${p}input_layernorm.weight`, [C]]);
    for (const [name, dim] of [
      ["q_proj", qDim],
      ["k_proj", kvDim],
      ["v_proj", kvDim],
    ] as const) {
      out.push([`${p}self_attn.${name}.weight`, [dim, C]]);
      if (c.qkvBias) out.push([`${p}self_attn.${name}.bias`, [dim]]);
    }
    out.push([`${p}self_attn.o_proj.weight`, [C, qDim]]);
    if (c.oBias) out.push([`${p}self_attn.o_proj.bias`, [C]]);
    if (c.qkNorm) {
      out.push([`${p}self_attn.q_norm.weight`, [c.headDim]]);
      out.push([`${p}self_attn.k_norm.weight`, [c.headDim]]);
    }
    out.push([`${p}post_attention_layernorm.weight`, [C]]);
    out.push([`${p}mlp.gate_proj.weight`, [F, C]]);
    out.push([`${p}mlp.up_proj.weight`, [F, C]]);
    out.push([`${p}mlp.down_proj.weight`, [C, F]]);
    if (c.mlpBias) {
      out.push([`${p}mlp.gate_proj.bias`, [F]]);
      out.push([`${p}mlp.up_proj.bias`, [F]]);
      out.push([`${p}mlp.down_proj.bias`, [C]]);
    }
  }
  out.push(["model.norm.weight", [C]]);
  if (!c.tieWordEmbeddings) out.push(["lm_head.weight", [c.vocabSize, C]]);
  return out;
}

/** How transformers' _init_weights initialises a tensor: norms 1, biases 0, matrices N(0, std²). */
export function llamaInitKind(name: string): "ones" | "zeros" | "normal" {
  if (name.endsWith("norm.weight")) return "ones";
  if (name.endsWith(".bias")) return "zeros";
  return "normal";
}

/**
 * The trunk: ids int32 [B, T] → final hidden states [B, T, C] and the lm head (see
 * ForwardOptions for the cache, positions and padding mask; model.ts's `forward` applies the
 * head). Consumes `params`, `ids` and every array in `opts` (pass `keepTree(params)` to keep
 * the weights).
 */
export function llamaTrunk(params: Params, config: LlamaConfig, ids: Array, opts: ForwardOptions = {}): TrunkResult {
  const [B, T] = ids.shape as [number, number];
  const { numHeads: N, numKvHeads: K, headDim: H, rmsNormEps: eps } = config;
  const cache = opts.cache;
  const S = cache ? cache.keys[0]!.shape[1]! : T;
  if (config.slidingWindow !== null && S > config.slidingWindow) {
    throw new RangeError(
      `llamaForward: ${S} key slots exceed the sliding window (${config.slidingWindow}), which stepwise does not implement`,
    );
  }
  const w = weightsOf(params, "llamaForward");
  const maybe = (name: string, present: boolean): Array | undefined => (present ? w(name) : undefined);

  const offset = cache?.offset;
  const positions = opts.positions ?? defaultPositions(B, T, offset?.ref);
  const mask = attentionMask(B, T, S, offset?.ref, opts.attentionMask); // bool [B, 1, T, S]
  const { cos, sin } = ropeTables(positions, ropeInvFreq(config)); // [B, T, 1, H/2] each

  let x = np.take(w("model.embed_tokens.weight"), ids, 0); // [B, T, C]
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    // --- attention block
    const h = rmsNorm(x.ref, w(`${p}input_layernorm.weight`), eps); // [B, T, C]
    let q = linear(h.ref, w(`${p}self_attn.q_proj.weight`), maybe(`${p}self_attn.q_proj.bias`, config.qkvBias));
    let k = linear(h.ref, w(`${p}self_attn.k_proj.weight`), maybe(`${p}self_attn.k_proj.bias`, config.qkvBias));
    let v = linear(h, w(`${p}self_attn.v_proj.weight`), maybe(`${p}self_attn.v_proj.bias`, config.qkvBias));
    q = q.reshape([B, T, N, H]); // [B, T, N·H] → [B, T, N, H]
    k = k.reshape([B, T, K, H]); // [B, T, K·H] → [B, T, K, H]
    v = v.reshape([B, T, K, H]); // [B, T, K·H] → [B, T, K, H]
    if (config.qkNorm) {
      q = rmsNorm(q, w(`${p}self_attn.q_norm.weight`), eps); // over H, per head
      k = rmsNorm(k, w(`${p}self_attn.k_norm.weight`), eps);
    }
    q = applyRope(q, cos.ref, sin.ref); // [B, T, N, H]
    k = applyRope(k, cos.ref, sin.ref); // [B, T, K, H]
    if (cache) {
      k = writeSlots(cache.keys[l]!, k, offset!.ref); // [B, S, K, H]
      v = writeSlots(cache.values[l]!, v, offset!.ref); // [B, S, K, H]
      keys.push(k.ref);
      values.push(v.ref);
    }
    const att = attention(q, k, v, mask.ref).reshape([B, T, N * H]); // [B, T, N, H] → [B, T, N·H]
    x = np.add(x, linear(att, w(`${p}self_attn.o_proj.weight`), maybe(`${p}self_attn.o_proj.bias`, config.oBias)));
    // --- MLP block (SwiGLU)
    const h2 = rmsNorm(x.ref, w(`${p}post_attention_layernorm.weight`), eps); // [B, T, C]
    const gate = nn.silu(
      linear(h2.ref, w(`${p}mlp.gate_proj.weight`), maybe(`${p}mlp.gate_proj.bias`, config.mlpBias)),
    );
    const up = linear(h2, w(`${p}mlp.up_proj.weight`), maybe(`${p}mlp.up_proj.bias`, config.mlpBias)); // [B, T, F]
    x = np.add(
      x,
      linear(np.multiply(gate, up), w(`${p}mlp.down_proj.weight`), maybe(`${p}mlp.down_proj.bias`, config.mlpBias)),
    );
  }
  mask.dispose();
  cos.dispose();
  sin.dispose();
  if (opts.logits === "last" && T > 1) x = x.slice([], [T - 1], []); // [B, T, C] → [B, 1, C]
  x = rmsNorm(x, w("model.norm.weight"), eps); // [B, T, C]
  const headWeight = w(config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"); // [V, C]
  for (const a of Object.values(params)) a.dispose();
  return {
    hidden: x,
    ...(cache ? { cache: { keys, values, offset: np.add(offset!, T) } satisfies KVCache } : {}),
    head: (h) => linear(h, headWeight), // [B, T, C] → [B, T, V]
    release: () => headWeight.dispose(),
  };
}
