/**
 * Building blocks shared by the transformer families: linear layers in both
 * weight layouts, norms, rotary embeddings, attention over a key/value cache.
 *
 * Shape letters: B batch, T new tokens, S key/value slots (T without a cache,
 * the cache capacity with one), C hidden, N query heads, K key/value heads,
 * G = N / K query heads per key/value head, H head dim.
 *
 * Ownership: like jax-js ops, every function consumes its array arguments.
 *
 * The key/value cache has a fixed capacity S, so every decoding step has the
 * same shapes and one jit compilation serves them all. jax-js has no
 * dynamic_update_slice; new keys are written into slots [offset, offset + T) with
 * a `where` over a one-hot placement, which is exact (it only selects values).
 */

import { type Array, nn, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";

/** A large negative logit for masked attention scores: finite, so a fully masked row stays finite (uniform). */
export const MASKED_SCORE = -1e9;

/** Hugging Face's nn.Linear: y = x Wᵀ + b, W [out, in]. x [..., in] → [..., out]. */
export function linear(x: Array, w: Array, b?: Array): Array {
  const y = np.matmul(x, np.transpose(w)); // [..., out]
  return b ? np.add(y, b) : y;
}

/** GPT-2's Conv1D: y = x W + b, W [in, out]. x [..., in] → [..., out]. */
export function conv1d(x: Array, w: Array, b: Array): Array {
  return np.add(np.matmul(x, w), b);
}

/** RMSNorm (Zhang & Sennrich, 2019) as LlamaRMSNorm: x / √(mean(x²) + ε) · g over the last axis. */
export function rmsNorm(x: Array, weight: Array, eps: number): Array {
  const ms = np.mean(np.square(x.ref), -1, { keepdims: true }); // [..., 1]
  return np.multiply(np.multiply(x, np.reciprocal(np.sqrt(np.add(ms, eps)))), weight);
}

/** LayerNorm (Ba et al., 2016): (x − μ) / √(σ² + ε) · g + b over the last axis, σ² biased. */
export function layerNorm(x: Array, weight: Array, bias: Array, eps: number): Array {
  const mu = np.mean(x.ref, -1, { keepdims: true }); // [..., 1]
  const xc = np.subtract(x, mu); // [..., C]
  const variance = np.mean(np.square(xc.ref), -1, { keepdims: true }); // [..., 1]
  return np.add(np.multiply(np.multiply(xc, np.reciprocal(np.sqrt(np.add(variance, eps)))), weight), bias);
}

/**
 * Rotary embeddings (Su et al., RoFormer) in the "rotate half" layout transformers uses:
 *   out = x · cos + rotate_half(x) · sin,  rotate_half([x₁, x₂]) = [−x₂, x₁]
 * with x₁, x₂ the two halves of the head dim. x [B, T, heads, H]; cos, sin [B, T, 1, H/2].
 */
export function applyRope(x: Array, cos: Array, sin: Array): Array {
  const h2 = x.shape[3]! / 2;
  const x1 = x.ref.slice([], [], [], [0, h2]); // [B, T, heads, H/2]
  const x2 = x.slice([], [], [], [h2]); // [B, T, heads, H/2]
  const out1 = np.subtract(np.multiply(x1.ref, cos.ref), np.multiply(x2.ref, sin.ref));
  const out2 = np.add(np.multiply(x2, cos), np.multiply(x1, sin));
  return np.concatenate([out1, out2], -1); // [B, T, heads, H]
}

/** cos and sin of positions × inverse frequencies: positions [B, T] int32, invFreq [H/2] → two [B, T, 1, H/2]. */
export function ropeTables(positions: Array, invFreq: Float32Array): { cos: Array; sin: Array } {
  const [B, T] = positions.shape as [number, number];
  const freqs = np.multiply(
    positions.astype(np.float32).reshape([B, T, 1, 1]), // [B, T, 1, 1]
    np.array(invFreq).reshape([1, 1, 1, invFreq.length]), // [1, 1, 1, H/2]
  ); // [B, T, 1, H/2]
  return { cos: np.cos(freqs.ref), sin: np.sin(freqs) };
}

/**
 * Scaled dot-product attention with grouped queries:
 *   softmax(q kᵀ / √H + mask) v
 * q [B, T, N, H]; k, v [B, S, K, H]; mask bool [B, 1, T, S] (true = attend). → [B, T, N, H].
 * Query head n reads key/value head ⌊n / G⌋ (transformers' repeat_kv).
 */
export function attention(q: Array, k: Array, v: Array, mask: Array): Array {
  const [B, T, N, H] = q.shape as [number, number, number, number];
  const K = k.shape[2]!;
  const G = N / K;
  const S = k.shape[1]!;
  const qg = q.reshape([B, T, K, G, H]); // [B, T, N, H] → [B, T, K, G, H]
  const scores = np.multiply(np.einsum("btkgh,bskh->bkgts", qg, k), 1 / Math.sqrt(H)); // [B, K, G, T, S]
  const masked = np.where(mask.reshape([B, 1, 1, T, S]), scores, MASKED_SCORE); // [B, K, G, T, S]
  const probs = nn.softmax(masked, -1); // [B, K, G, T, S]
  const out = np.einsum("bkgts,bskh->btkgh", probs, v); // [B, T, K, G, H]
  // Stored contiguous: as a view ([B, K, G, T, H] read as [B, T, N·H]) it reaches the output projection
  // as a gather that jax-js's Wasm codegen does not vectorise (a forward-only pass ran 3x slower).
  return materialize(out).reshape([B, T, N, H]);
}

/** Per-layer keys and values in fixed-capacity slots, and the number of slots filled. */
// A type alias, not an interface, so that it is a jax-js JsTree (jit takes and returns it).
export type KVCache = {
  /** One [B, S, K, H] array per layer. */
  keys: Array[];
  /** One [B, S, K, H] array per layer. */
  values: Array[];
  /** int32 scalar: slots [0, offset) are filled; the next tokens go to offset, offset + 1, ... */
  offset: Array;
};

/** An empty cache of `capacity` slots for `layers` layers of K heads of size H. */
export function createKVCache(
  layers: number,
  batch: number,
  capacity: number,
  kvHeads: number,
  headDim: number,
): KVCache {
  const shape = [batch, capacity, kvHeads, headDim];
  const keys: Array[] = [];
  const values: Array[] = [];
  for (let l = 0; l < layers; l++) {
    keys.push(np.zeros(shape, { dtype: np.float32 }));
    values.push(np.zeros(shape, { dtype: np.float32 }));
  }
  return { keys, values, offset: np.array(0, { dtype: np.int32 }) };
}

/**
 * The same values, computed by a kernel of their own rather than fused into each consumer.
 * jax-js fuses elementwise producers into their consumers, which recomputes them per
 * consumer element; a consumer that broadcasts (reads each value many times) then repeats
 * the producer's work. A reduction's output is always stored, so a sum over a new axis of
 * length 1 stores x and changes no value (nor the gradient, which passes through as is).
 */
export function materialize(x: Array): Array {
  return np.sum(x.reshape([...x.shape, 1]), -1);
}

/**
 * Write T new rows into slots [offset, offset + T) of a cache tensor.
 * cache [B, S, K, H], x [B, T, K, H], offset int32 scalar → [B, S, K, H].
 */
export function writeSlots(cache: Array, x: Array, offset: Array): Array {
  const [B, S, K, H] = cache.shape as [number, number, number, number];
  const T = x.shape[1]!;
  const slots = np.arange(S, undefined, undefined, { dtype: np.int32 }); // [S]
  if (T === 1) {
    // One decoding step: every slot is rewritten, so the write kernel must only load. Fused
    // into it, the slot test would recompute each element's slot from its index (which keeps
    // jax-js's Wasm codegen off SIMD), and the new row's producer (RoPE for the keys) would
    // run once per slot: S times. Both are materialised first, at the size of a row.
    const hot = materialize(np.equal(slots, offset).astype(np.float32)); // [S], 1 at slot `offset`
    const row = materialize(x); // [B, 1, K, H]
    return np.where(np.greater(hot.reshape([1, S, 1, 1]), 0.5), np.broadcastTo(row, [B, S, K, H]), cache);
  }
  const written = np
    .logicalAnd(np.greaterEqual(slots.ref, offset.ref), np.less(slots.ref, np.add(offset.ref, T)))
    .reshape([1, S, 1, 1]); // [1, S, 1, 1]
  // placement[t, s] = 1 where s = offset + t
  const target = np.add(np.arange(T, undefined, undefined, { dtype: np.int32 }), offset).reshape([T, 1]); // [T, 1]
  const placement = np.equal(slots.reshape([1, S]), target).astype(np.float32); // [T, S]
  const placed = np.einsum("ts,btkh->bskh", placement, x); // [B, S, K, H]
  return np.where(written, placed, cache);
}

/**
 * Which key slots each new token attends to: slot s is visible to new token t
 * iff s ≤ offset + t (causal) and keyMask[b, s] = 1 (not padding).
 * keyMask [B, S] (0/1, any dtype) or undefined; offset int32 scalar or undefined (0). → bool [B, 1, T, S].
 */
export function attentionMask(B: number, T: number, S: number, offset?: Array, keyMask?: Array): Array {
  const slots = np.arange(S, undefined, undefined, { dtype: np.int32 }).reshape([1, S]); // [1, S]
  let queryPos = np.arange(T, undefined, undefined, { dtype: np.int32 }).reshape([T, 1]); // [T, 1]
  if (offset) queryPos = np.add(queryPos, offset);
  let mask = np.lessEqual(slots, queryPos).reshape([1, 1, T, S]); // [1, 1, T, S]
  if (keyMask) {
    const keys = np.notEqual(keyMask, 0).reshape([B, 1, 1, S]); // [B, 1, 1, S]
    mask = np.logicalAnd(mask, keys); // [B, 1, T, S]
  } else {
    mask = np.broadcastTo(mask, [B, 1, T, S]);
  }
  return mask;
}

/** Default positions: offset + t for every row. → int32 [B, T]. */
export function defaultPositions(B: number, T: number, offset?: Array): Array {
  let pos = np.arange(T, undefined, undefined, { dtype: np.int32 }).reshape([1, T]); // [1, T]
  if (offset) pos = np.add(pos, offset);
  return np.broadcastTo(pos, [B, T]);
}

/** Reads one named weight, kept alive with `.ref`. */
export type Weights = (name: string) => Array;

/** A reader of the named weights that keeps them alive (`.ref`), or names the missing one and the caller. */
export function weightsOf(params: Params, where: string): Weights {
  return (name) => {
    const x = params[name];
    if (!x) throw new Error(`${where}: missing parameter "${name}"`);
    return x.ref;
  };
}
