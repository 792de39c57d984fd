/**
 * GPT-J (Wang & Komatsuzaki, 2021) as transformers' modeling_gptj.py computes it:
 *
 *   x₀ = wte[ids]
 *   for each layer:  h = LN(x)
 *                    x += out_proj(attn(rot(q), rot(k), v)) + fc_out(act(fc_in(h)))     q, k, v = h W_{q,k,v}ᵀ
 *   logits = LN_f(x) lm_headᵀ + b
 *
 * one LayerNorm per block feeding attention and the MLP in parallel; rotary embeddings on
 * the first rotary_dim dims of each head in the interleaved layout (rotary.ts); q/k/v/out_proj
 * without bias; an lm_head with a bias (tied to wte when tie_word_embeddings, the bias kept).
 * Names are GPTJForCausalLM's ("transformer.h.0.attn.q_proj.weight", nn.Linear [out, in]).
 *
 * Departure: transformers looks the sin/cos rows up in a table of n_positions rows and fails
 * past it; here they are computed from the positions, so nothing stops a longer sequence.
 */
import { type Array, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import { activate } from "./activations.ts";
import type { GptjConfig } from "./config.ts";
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
export function gptjParamShapes(c: GptjConfig): ParamShapes {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const out: ParamShapes = [["transformer.wte.weight", [c.vocabSize, C]]];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    out.push(
      [`${p}ln_1.weight`, [C]],
      [`${p}ln_1.bias`, [C]],
      [`${p}attn.q_proj.weight`, [C, C]],
      [`${p}attn.k_proj.weight`, [C, C]],
      [`${p}attn.v_proj.weight`, [C, C]],
      [`${p}attn.out_proj.weight`, [C, C]],
      [`${p}mlp.fc_in.weight`, [F, C]],
      [`${p}mlp.fc_in.bias`, [F]],
      [`${p}mlp.fc_out.weight`, [C, F]],
      [`${p}mlp.fc_out.bias`, [C]],
    );
  }
  out.push(["transformer.ln_f.weight", [C]], ["transformer.ln_f.bias", [C]]);
  if (!c.tieWordEmbeddings) out.push(["lm_head.weight", [c.vocabSize, C]]);
  out.push(["lm_head.bias", [c.vocabSize]]);
  return out;
}

/** GPTJPreTrainedModel._init_weights: LayerNorm gains 1, biases 0, weights N(0, std²). */
export function gptjInitKind(name: string): "ones" | "zeros" | "normal" {
  if (/ln_(1|f)\.weight$/.test(name)) return "ones";
  if (name.endsWith(".bias")) return "zeros";
  return "normal";
}

/**
 * The trunk: ids int32 [B, T] → final hidden states [B, T, C] and the lm head (ForwardOptions
 * for the cache, positions and padding mask). Consumes `params`, `ids` and the arrays in `opts`.
 */
export function gptjTrunk(params: Params, config: GptjConfig, ids: Array, opts: ForwardOptions = {}): TrunkResult {
  const [B, T] = ids.shape as [number, number];
  const { numHeads: N, headDim: H, hiddenSize: C, layerNormEps: eps } = config;
  const cache = opts.cache;
  const S = cache ? cache.keys[0]!.shape[1]! : T;
  const w = weightsOf(params, "gptjForward");

  const offset = cache?.offset;
  const positions = opts.positions ?? defaultPositions(B, T, offset?.ref); // [B, T]
  const mask = attentionMask(B, T, S, offset?.ref, opts.attentionMask); // bool [B, 1, T, S]
  const { cos, sin } = ropeTables(positions, rotaryInvFreq(config.rotaryDim, 10000)); // [B, T, 1, R/2] each

  let x = np.take(w("transformer.wte.weight"), ids, 0); // [B, T, C]
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    const h = layerNorm(x.ref, w(`${p}ln_1.weight`), w(`${p}ln_1.bias`), eps); // [B, T, C]
    let q = linear(h.ref, w(`${p}attn.q_proj.weight`)).reshape([B, T, N, H]); // [B, T, C] → [B, T, N, H]
    let k = linear(h.ref, w(`${p}attn.k_proj.weight`)).reshape([B, T, N, H]);
    let v = linear(h.ref, w(`${p}attn.v_proj.weight`)).reshape([B, T, N, H]);
    q = applyPartialRotary(q, cos.ref, sin.ref, "interleaved");
    k = applyPartialRotary(k, cos.ref, sin.ref, "interleaved");
    if (cache) {
      k = writeSlots(cache.keys[l]!, k, offset!.ref); // [B, S, N, H]
      v = writeSlots(cache.values[l]!, v, offset!.ref);
      keys.push(k.ref);
      values.push(v.ref);
    }
    const att = attention(q, k, v, mask.ref).reshape([B, T, C]); // [B, T, N, H] → [B, T, C]
    const mlp = linear(
      activate(linear(h, w(`${p}mlp.fc_in.weight`), w(`${p}mlp.fc_in.bias`)), config.activation),
      w(`${p}mlp.fc_out.weight`),
      w(`${p}mlp.fc_out.bias`),
    ); // [B, T, C]
    x = np.add(np.add(x, linear(att, w(`${p}attn.out_proj.weight`))), mlp); // residual + attn + mlp
  }
  mask.dispose();
  cos.dispose();
  sin.dispose();
  if (opts.logits === "last" && T > 1) x = x.slice([], [T - 1], []); // [B, T, C] → [B, 1, C]
  x = layerNorm(x, w("transformer.ln_f.weight"), w("transformer.ln_f.bias"), eps); // [B, T, C]
  const headWeight = w(config.tieWordEmbeddings ? "transformer.wte.weight" : "lm_head.weight"); // [V, C]
  const headBias = w("lm_head.bias"); // [V]
  for (const a of Object.values(params)) a.dispose();
  return {
    hidden: x,
    ...(cache ? { cache: { keys, values, offset: np.add(offset!, T) } satisfies KVCache } : {}),
    head: (hid) => linear(hid, headWeight, headBias), // [B, T, C] → [B, T, V]
    release: () => {
      headWeight.dispose();
      headBias.dispose();
    },
  };
}
