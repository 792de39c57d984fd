/**
 * T5's relative position bias (Raffel et al., 2020, §2.1; transformers' T5Attention
 * _relative_position_bucket and compute_bias). For a query at position i and a key at j,
 * with r = j − i:
 *
 *   bidirectional (encoder)  half the buckets for r > 0, half for r ≤ 0, then |r|
 *   causal (decoder)         n = max(−r, 0)
 *   n < E                    bucket n                            (E = buckets' half of the side: exact)
 *   n ≥ E                    E + ⌊log(n / E) / log(D / E) · (M − E)⌋, at most M − 1
 *
 * (M the buckets of one side, D = relative_attention_max_distance) and the bias added to the
 * attention scores of head h is relative_attention_bias[bucket, h]: one table, held by the
 * first block of each stack and reused by every block.
 *
 * The logarithm branch is computed in float32 step by step (Math.fround), as torch does it on
 * float32 tensors, so that an r whose exact value lands on a bucket boundary (n = 2E, 4E, ...)
 * falls on the same side as in transformers. The buckets depend on positions only, so they
 * are computed on the host; with a cache the query offset is a device scalar, and the bias is
 * read through a host table indexed by r.
 */
import { type Array, np } from "../engine/jax.ts";

/** The bucket of relative position r = key − query. */
export function relativePositionBucket(
  r: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  const f = Math.fround;
  let M = numBuckets;
  let bucket = 0;
  let n: number;
  if (bidirectional) {
    M = Math.floor(M / 2);
    if (r > 0) bucket += M;
    n = Math.abs(r);
  } else {
    n = Math.max(-r, 0);
  }
  const E = Math.floor(M / 2);
  if (n < E) return bucket + n;
  // float32: log(n / E) / log(D / E) · (M − E), truncated toward zero
  const ratio = f(f(Math.log(f(n / E))) / f(Math.log(maxDistance / E)));
  const large = E + Math.trunc(f(ratio * (M - E)));
  return bucket + Math.min(large, M - 1);
}

export interface BucketSpec {
  bidirectional: boolean;
  numBuckets: number;
  maxDistance: number;
}

/**
 * The position bias [1, N, T, S] of T queries against S key slots, from the table
 * weight [numBuckets, N] (consumed). Queries sit at positions 0..T−1 (queryStart undefined:
 * no cache), or at queryStart + t for an int32 scalar queryStart (consumed; a decoder cache,
 * whose S slots hold positions 0..S−1).
 */
export function positionBias(weight: Array, T: number, S: number, spec: BucketSpec, queryStart?: Array): Array {
  const N = weight.shape[1]!;
  const bucketOf = (r: number) => relativePositionBucket(r, spec.bidirectional, spec.numBuckets, spec.maxDistance);
  let rows: Array; // [T·S, N]
  if (!queryStart) {
    const buckets = new Int32Array(T * S);
    for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) buckets[t * S + s] = bucketOf(s - t);
    rows = np.take(weight, np.array(buckets, { dtype: np.int32 }), 0);
  } else {
    // r = s − (queryStart + t) lies in [−(S − 1), S − 1]: table row r + S − 1
    const table = Int32Array.from({ length: 2 * S - 1 }, (_, i) => bucketOf(i - (S - 1)));
    const byR = np.take(weight, np.array(table, { dtype: np.int32 }), 0); // [2S − 1, N]
    const slots = np.arange(S, undefined, undefined, { dtype: np.int32 }).reshape([1, S]); // [1, S]
    const queries = np.add(np.arange(T, undefined, undefined, { dtype: np.int32 }), queryStart).reshape([T, 1]); // [T, 1]
    const index = np.add(np.subtract(slots, queries), S - 1).reshape([T * S]); // [T·S]
    rows = np.take(byR, index, 0);
  }
  return np.transpose(rows.reshape([T, S, N]), [2, 0, 1]).reshape([1, N, T, S]); // [T, S, N] → [1, N, T, S]
}
