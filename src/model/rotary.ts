/**
 * Rotary embeddings (Su et al., RoFormer) on part of each head, in the two layouts the
 * GPT-J and GPT-NeoX checkpoints were trained with. For the first R dims of a head (R even)
 * and i < R/2, with angle θ = position · base^(−2i/R):
 *
 *   half         (GPT-NeoX, Llama)  pairs (x_i, x_{i+R/2}):  out = x·cos + rotate_half(x)·sin
 *   interleaved  (GPT-J)            pairs (x_{2i}, x_{2i+1}): out = x·cos + rotate_every_two(x)·sin
 *
 * rotate_half([x₁, x₂]) = [−x₂, x₁] over the two halves; rotate_every_two maps each pair
 * (a, b) to (−b, a). Dims R.. of the head pass through unchanged (transformers' q_pass/k_pass).
 *
 * Shapes: x [B, T, heads, H]; cos, sin [B, T, 1, R/2] (layers.ts's ropeTables with invFreq of
 * length R/2). Consumes its array arguments.
 */
import { type Array, np } from "../engine/jax.ts";
import { applyRope } from "./layers.ts";

export type RotaryLayout = "half" | "interleaved";

/** Inverse frequencies base^(−2i/R), i < R/2 (transformers computes them in float32). */
export function rotaryInvFreq(rotaryDim: number, base: number): Float32Array {
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => 1 / base ** ((2 * i) / rotaryDim));
}

/** The interleaved rotation of x [B, T, heads, R] by cos, sin [B, T, 1, R/2]. */
function rotateInterleaved(x: Array, cos: Array, sin: Array): Array {
  const [B, T, M, R] = x.shape as [number, number, number, number];
  const pairs = x.reshape([B, T, M, R / 2, 2]); // [..., R] → [..., R/2, 2]
  const a = pairs.ref.slice([], [], [], [], [0, 1]); // x_{2i}   [B, T, M, R/2, 1]
  const b = pairs.slice([], [], [], [], [1, 2]); // x_{2i+1} [B, T, M, R/2, 1]
  const c = cos.reshape([B, T, 1, R / 2, 1]);
  const s = sin.reshape([B, T, 1, R / 2, 1]);
  const outA = np.subtract(np.multiply(a.ref, c.ref), np.multiply(b.ref, s.ref)); // a cos − b sin
  const outB = np.add(np.multiply(b, c), np.multiply(a, s)); // b cos + a sin
  return np.concatenate([outA, outB], -1).reshape([B, T, M, R]); // [..., R/2, 2] → [..., R]
}

/** Rotate the first R = 2·cos.shape[3] dims of each head of x [B, T, heads, H]; the rest pass through. */
export function applyPartialRotary(x: Array, cos: Array, sin: Array, layout: RotaryLayout): Array {
  const H = x.shape[3]!;
  const R = 2 * cos.shape[3]!;
  if (R === 0) {
    cos.dispose();
    sin.dispose();
    return x;
  }
  const rotate = layout === "half" ? applyRope : rotateInterleaved;
  if (R === H) return rotate(x, cos, sin);
  const rot = rotate(x.ref.slice([], [], [], [0, R]), cos, sin); // [B, T, heads, R]
  const pass = x.slice([], [], [], [R]); // [B, T, heads, H − R]
  return np.concatenate([rot, pass], -1); // [B, T, heads, H]
}
