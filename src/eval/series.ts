/**
 * Smoothing a series of logged values (a loss, a reward, a proxy metric): the one trailing
 * moving average, used by the plots (lab/svg.ts callers, demo/report.ts) and by the
 * divergence detector (guard/divergence.ts).
 */

export interface MovingAverageOptions {
  /**
   * What the first w − 1 entries hold, before a whole window exists: the mean of the
   * points so far (true, default: a plotted curve starts at its first point) or NaN
   * (false: statistics that must never read a partial window).
   */
  partial?: boolean;
}

/**
 * Trailing moving average: out[i] = mean(xs[i−w+1 .. i]) once i ≥ w − 1; before that the
 * mean of xs[0 .. i] or NaN (`opts.partial`). The window must be an integer ≥ 1.
 */
export function movingAverage(xs: ArrayLike<number>, window: number, opts: MovingAverageOptions = {}): number[] {
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new RangeError(`movingAverage: window must be an integer ≥ 1, got ${window}`);
  }
  const partial = opts.partial ?? true;
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i]!;
    if (i >= window) sum -= xs[i - window]!;
    out.push(i >= window - 1 ? sum / window : partial ? sum / (i + 1) : Number.NaN);
  }
  return out;
}
