/**
 * Paired bootstrap confidence interval for the difference of a metric between two systems
 * evaluated on the same examples (Efron & Tibshirani 1993; Koehn 2004 for MT).
 *
 * Method: each example i has a per-example value a[i] for system A and b[i] for system B
 * (null where the metric does not apply to that example, e.g. step validity of a chain
 * with no checked claim). The metric of a system on a multiset of example indices is the
 * mean of its non-null values there. The point estimate is metric(B) − metric(A) on all
 * examples. For each of `resamples` rounds, n indices are drawn uniformly WITH replacement
 * from 0..n−1 (Rng(seed), xoshiro128**), the SAME indices for A and B (that is the pairing),
 * and the difference is recomputed; rounds where either side has no non-null value are
 * skipped. The 95% interval is the 2.5th and 97.5th percentile of the differences (linear
 * interpolation between order statistics, numpy's default "linear" method).
 */
import { Rng } from "../engine/rng.ts";

export interface BootstrapResult {
  /** metric(B) − metric(A) on all examples (null when either side has no value). */
  diff: number | null;
  a: number | null;
  b: number | null;
  /** Percentile interval of the resampled differences (null when no round had values on both sides). */
  ci: { lo: number; hi: number } | null;
  /** Rounds that had values on both sides. */
  rounds: number;
  level: number;
}

/** Mean of the non-null values at `idx` (all indices when omitted); null when there are none. */
function meanAt(v: readonly (number | null)[], idx?: readonly number[]): number | null {
  let s = 0;
  let c = 0;
  const n = idx ? idx.length : v.length;
  for (let t = 0; t < n; t++) {
    const x = v[idx ? idx[t]! : t];
    if (x === null || x === undefined) continue;
    s += x;
    c++;
  }
  return c === 0 ? null : s / c;
}

/** The q-quantile (0..1) of sorted values, linear interpolation (numpy "linear"). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error("quantileSorted: no values");
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Paired bootstrap of mean(b) − mean(a) (see the file header). */
export function pairedBootstrap(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
  opts: { resamples?: number; seed?: number; level?: number } = {},
): BootstrapResult {
  if (a.length !== b.length) throw new Error(`pairedBootstrap: ${a.length} values for A but ${b.length} for B`);
  const resamples = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new Error(`pairedBootstrap: resamples must be a positive integer, got ${resamples}`);
  }
  const n = a.length;
  const ma = meanAt(a);
  const mb = meanAt(b);
  const diff = ma === null || mb === null ? null : mb - ma;
  const rng = new Rng(opts.seed ?? 0);
  const diffs: number[] = [];
  const idx = new Array<number>(n);
  if (n > 0) {
    for (let r = 0; r < resamples; r++) {
      for (let t = 0; t < n; t++) idx[t] = rng.int(0, n - 1);
      const ra = meanAt(a, idx);
      const rb = meanAt(b, idx);
      if (ra !== null && rb !== null) diffs.push(rb - ra);
    }
  }
  diffs.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return {
    diff,
    a: ma,
    b: mb,
    ci: diffs.length === 0 ? null : { lo: quantileSorted(diffs, alpha), hi: quantileSorted(diffs, 1 - alpha) },
    rounds: diffs.length,
    level,
  };
}
