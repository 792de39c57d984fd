/**
 * Per-token estimators of KL(π_θ ‖ π_ref) from tokens sampled from π_θ (Schulman 2020,
 * "Approximating KL Divergence", http://joschu.net/blog/kl-approx.html). With the log-ratio
 *
 *   log r = log π_ref(y_t) − log π_θ(y_t),        y_t ~ π_θ
 *
 *   k1 = −log r                  unbiased, high variance, negative on some tokens
 *   k2 = ½ (log r)²              biased (its mean is ≈ KL for small KL; ≥ 0), low variance
 *   k3 = (r − 1) − log r         unbiased and ≥ 0 (r − 1 has mean 0 under π_θ); low variance
 *
 * These are verl's kl_penalty "kl" (k1), "mse" (k2) and "low_var_kl" (k3), and TRL's β term
 * (k3). Used either as a loss term β·k (GRPO) or subtracted from the reward (PPO-style
 * in-reward KL, policy-loss.ts and the trainer).
 *
 * Departure: verl clamps k3 to [−10, 10]; we clamp the log-ratio to [−20, 20] before exp so
 * r stays finite and leave k3 itself unclamped (its exact value is what the tests check).
 */
import { type Array, np } from "../engine/jax.ts";

export const KL_ESTIMATORS = ["k1", "k2", "k3"] as const;
export type KlEstimator = (typeof KL_ESTIMATORS)[number];

const LOG_RATIO_BOUND = 20;

/** The estimators on the host, in float64: one value per token from (log π_θ, log π_ref). */
export const KL_HOST: { [K in KlEstimator]: (logProb: number, refLogProb: number) => number } = {
  k1: (lp, ref) => lp - ref,
  k2: (lp, ref) => 0.5 * (ref - lp) ** 2,
  k3: (lp, ref) => {
    const logRatio = Math.max(-LOG_RATIO_BOUND, Math.min(LOG_RATIO_BOUND, ref - lp));
    return Math.exp(logRatio) - 1 - logRatio;
  },
};

/** The estimators on device arrays: logProbs, refLogProbs [B, T] → [B, T]. Consumes both. */
export const KL_DEVICE: { [K in KlEstimator]: (logProbs: Array, refLogProbs: Array) => Array } = {
  k1: (lp, ref) => np.subtract(lp, ref),
  k2: (lp, ref) => np.multiply(0.5, np.square(np.subtract(ref, lp))),
  k3: (lp, ref) => {
    const logRatio = np.clip(np.subtract(ref, lp), -LOG_RATIO_BOUND, LOG_RATIO_BOUND); // log r
    return np.subtract(np.subtract(np.exp(logRatio.ref), 1), logRatio); // r − 1 − log r
  },
};

/** Exact KL(p ‖ q) of two categorical distributions (probabilities), for tests and the README. */
export function categoricalKl(p: readonly number[], q: readonly number[]): number {
  let kl = 0;
  for (let i = 0; i < p.length; i++) if (p[i]! > 0) kl += p[i]! * Math.log(p[i]! / q[i]!);
  return kl;
}
