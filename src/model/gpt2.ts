/**
 * GPT-2 (Radford et al., 2019) as transformers' modeling_gpt2.py computes it:
 *
 *   x₀ = wte[ids] + wpe[positions]
 *   for each layer:  x += c_proj(attn(split(c_attn(LN₁(x)))))
 *                    x += c_proj(gelu(c_fc(LN₂(x))))
 *   logits = LN_f(x) wteᵀ            (the output embedding is tied to wte)
 *
 * Weights use GPT-2's Conv1D layout, W [in, out] (y = x W + b), and the names of
 * GPT2LMHeadModel ("transformer.h.0.attn.c_attn.weight", ...). Checkpoints of the
 * bare GPT2Model ("h.0.attn.c_attn.weight", as the original "gpt2" repository
 * ships) are renamed on load by checkpoint.ts.
 */
import { type Array, nn, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import type { Gpt2Config } from "./config.ts";
import {
  attention,
  attentionMask,
  conv1d,
  defaultPositions,
  type KVCache,
  layerNorm,
  weightsOf,
  writeSlots,
} from "./layers.ts";
import type { ForwardOptions, ParamShapes, TrunkResult } from "./types.ts";

/** Every tensor a checkpoint of this config holds, with its shape. */
export function gpt2ParamShapes(c: Gpt2Config): ParamShapes {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const out: ParamShapes = [
    ["transformer.wte.weight", [c.vocabSize, C]],
    ["transformer.wpe.weight", [c.maxPositionEmbeddings, C]],
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    out.push(
      [`${p}ln_1.weight`, [C]],
      [`${p}ln_1.bias`, [C]],
      [`${p}attn.c_attn.weight`, [C, 3 * C]],
      [`${p}attn.c_attn.bias`, [3 * C]],
      [`${p}attn.c_proj.weight`, [C, C]],
      [`${p}attn.c_proj.bias`, [C]],
      [`${p}ln_2.weight`, [C]],
      [`${p}ln_2.bias`, [C]],
      [`${p}mlp.c_fc.weight`, [C, F]],
      [`${p}mlp.c_fc.bias`, [F]],
      [`${p}mlp.c_proj.weight`, [F, C]],
      [`${p}mlp.c_proj.bias`, [C]],
    );
  }
  out.push(["transformer.ln_f.weight", [C]], ["transformer.ln_f.bias", [C]]);
  return out;
}

/**
 * transformers' GPT2PreTrainedModel._init_weights: LayerNorm gains 1, biases 0,
 * weights N(0, 0.02²), and the residual projections (c_proj) N(0, (0.02 / √(2L))²).
 */
export function gpt2InitKind(name: string): "ones" | "zeros" | "normal" | "residual" {
  if (/ln_(1|2|f)\.weight$/.test(name)) return "ones";
  if (name.endsWith(".bias")) return "zeros";
  if (name.endsWith("c_proj.weight")) return "residual";
  return "normal";
}

/**
 * The trunk: ids int32 [B, T] → final hidden states [B, T, C] and the tied lm head (see
 * ForwardOptions; model.ts's `forward` applies the head). Consumes `params`, `ids` and every
 * array in `opts`.
 */
export function gpt2Trunk(params: Params, config: Gpt2Config, ids: Array, opts: ForwardOptions = {}): TrunkResult {
  const [B, T] = ids.shape as [number, number];
  const { numHeads: N, headDim: H, hiddenSize: C, layerNormEps: eps } = config;
  const cache = opts.cache;
  const S = cache ? cache.keys[0]!.shape[1]! : T;
  const w = weightsOf(params, "gpt2Forward");
  const gelu = (x: Array) => nn.gelu(x, { approximate: config.activation === "gelu_new" });

  const offset = cache?.offset;
  const positions = opts.positions ?? defaultPositions(B, T, offset?.ref); // [B, T]
  const mask = attentionMask(B, T, S, offset?.ref, opts.attentionMask); // bool [B, 1, T, S]

  let x = np.add(np.take(w("transformer.wte.weight"), ids, 0), np.take(w("transformer.wpe.weight"), positions, 0)); // [B, T, C]
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    // --- attention block
    const h = layerNorm(x.ref, w(`${p}ln_1.weight`), w(`${p}ln_1.bias`), eps); // [B, T, C]
    const qkv = conv1d(h, w(`${p}attn.c_attn.weight`), w(`${p}attn.c_attn.bias`)); // [B, T, 3C]
    const q = qkv.ref.slice([], [], [0, C]).reshape([B, T, N, H]); // [B, T, C] → [B, T, N, H]
    let k = qkv.ref.slice([], [], [C, 2 * C]).reshape([B, T, N, H]); // [B, T, C] → [B, T, N, H]
    let v = qkv.slice([], [], [2 * C]).reshape([B, T, N, H]); // [B, T, C] → [B, T, N, H]
    if (cache) {
      k = writeSlots(cache.keys[l]!, k, offset!.ref); // [B, S, N, H]
      v = writeSlots(cache.values[l]!, v, offset!.ref); // [B, S, N, H]
      keys.push(k.ref);
      values.push(v.ref);
    }
    const att = attention(q, k, v, mask.ref).reshape([B, T, C]); // [B, T, N, H] → [B, T, C]
    x = np.add(x, conv1d(att, w(`${p}attn.c_proj.weight`), w(`${p}attn.c_proj.bias`)));
    // --- MLP block
    const h2 = layerNorm(x.ref, w(`${p}ln_2.weight`), w(`${p}ln_2.bias`), eps); // [B, T, C]
    const hidden = gelu(conv1d(h2, w(`${p}mlp.c_fc.weight`), w(`${p}mlp.c_fc.bias`))); // [B, T, F]
    x = np.add(x, conv1d(hidden, w(`${p}mlp.c_proj.weight`), w(`${p}mlp.c_proj.bias`)));
  }
  mask.dispose();
  if (opts.logits === "last" && T > 1) x = x.slice([], [T - 1], []); // [B, T, C] → [B, 1, C]
  x = layerNorm(x, w("transformer.ln_f.weight"), w("transformer.ln_f.bias"), eps); // [B, T, C]
  const wte = w("transformer.wte.weight"); // [V, C]
  for (const a of Object.values(params)) a.dispose();
  return {
    hidden: x,
    ...(cache ? { cache: { keys, values, offset: np.add(offset!, T) } satisfies KVCache } : {}),
    head: (h) => np.matmul(h, np.transpose(wte)), // [B, T, C] @ [C, V] → [B, T, V]
    release: () => wte.dispose(),
  };
}
