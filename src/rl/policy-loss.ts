/**
 * Policy losses for language-model RL: per-token surrogate losses, the ways of reducing them
 * over a batch of completions, and the KL and entropy terms. Pure functions of arrays; the
 * objective (objective.ts) calls them inside the jit-compiled step.
 *
 * Per-token clipped surrogate (PPO, Schulman et al. 2017, eq. 7), with the ratio taken against
 * the rollout-time log-probabilities, asymmetric clip range ("clip-higher", DAPO, Yu et al.
 * 2025 §3.1) and the optional dual clip (Ye et al. 2020, "Mastering Complex Control in MOBA
 * Games", eq. 5; verl's clip_ratio_c):
 *
 *   ρ_t   = exp(log π_θ(y_t) − log π_old(y_t))
 *   ℓ_t   = max(−Â_t ρ_t, −Â_t clip(ρ_t, 1 − ε_low, 1 + ε_high))
 *   ℓ_t   = min(ℓ_t, −Â_t c)                 where Â_t < 0 and c > 1 (dual clip)
 *
 * "reinforce" is ℓ_t = −Â_t log π_θ(y_t) (REINFORCE / nanochat's on-policy loss): at ρ = 1
 * both have the gradient −Â_t ∇log π_θ(y_t) (tested by finite differences).
 *
 * Aggregation over the completions' tokens, M the completion mask, L_max the generation
 * budget, B the completions of the whole accumulated batch (the loop sums the sums and the
 * counts over micro-batches before dividing, so the divisor is that of the whole batch):
 *
 *   token-mean               Σ_{i,t} M ℓ / Σ_{i,t} M                    (DAPO; TRL's "dapo", verl's default)
 *   seq-mean-token-mean      1/B Σ_i (Σ_t M ℓ / Σ_t M)                  (the original GRPO, eq. 3)
 *   seq-mean-token-sum-norm  1/B Σ_i Σ_t M ℓ / L_max                    (Dr. GRPO, Liu et al. 2025 §3.1; TRL's "dr_grpo")
 *
 * Departures: TRL's token-mean divides by the tokens of each micro-batch (of each process)
 * unless it rescales; ours divides by the tokens of the whole accumulated batch, so the update
 * does not depend on how the batch is split into micro-batches.
 */
import { type Array, np } from "../engine/jax.ts";

export const AGGREGATIONS = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export const POLICY_LOSS_KINDS = ["clip", "reinforce"] as const;
export type PolicyLossKind = (typeof POLICY_LOSS_KINDS)[number];

export interface ClipConfig {
  /** ε_low: the ratio is clipped below at 1 − ε_low. */
  clipLow: number;
  /** ε_high: clipped above at 1 + ε_high (DAPO's clip-higher uses 0.28 against ε_low 0.2). */
  clipHigh: number;
  /** Dual-clip constant c > 1 for negative advantages; 0 turns it off. */
  dualClip: number;
}

/** A per-token loss and which tokens the clip was active on. */
export interface TokenLoss {
  /** ℓ_t. [B, T] */
  loss: Array;
  /** 1 where the clipped branch was taken (the gradient is 0 there), else 0. [B, T] */
  clipped: Array;
}

/**
 * The per-token policy losses on device arrays. logProbs, oldLogProbs, advantages [B, T];
 * consumes all three.
 */
export const POLICY_LOSSES: {
  [K in PolicyLossKind]: (logProbs: Array, oldLogProbs: Array, advantages: Array, cfg: ClipConfig) => TokenLoss;
} = {
  clip: (logProbs, oldLogProbs, advantages, cfg) => {
    const ratio = np.exp(np.subtract(logProbs, oldLogProbs)); // ρ [B, T]
    const unclipped = np.multiply(np.negative(advantages.ref), ratio.ref); // −Â ρ
    const clippedLoss = np.multiply(np.negative(advantages.ref), np.clip(ratio, 1 - cfg.clipLow, 1 + cfg.clipHigh));
    const clipped = np.where(np.greater(clippedLoss.ref, unclipped.ref), 1, 0).astype(np.float32);
    let loss = np.maximum(unclipped, clippedLoss); // [B, T]
    if (cfg.dualClip > 0) {
      const cap = np.multiply(np.negative(advantages.ref), cfg.dualClip); // −Â c
      const negative = np.less(advantages, 0);
      loss = np.where(negative, np.minimum(loss.ref, cap), loss);
    } else advantages.dispose();
    return { loss, clipped };
  },
  reinforce: (logProbs, oldLogProbs, advantages) => {
    oldLogProbs.dispose();
    const loss = np.multiply(np.negative(advantages), logProbs); // −Â log π
    return { loss, clipped: np.zerosLike(loss.ref) };
  },
};

/** Σ and the count to divide it by, for one micro-batch (see the header). */
export interface Aggregated {
  sum: Array;
  count: Array;
}

/** Aggregations on device arrays: x, mask [B, T] → {sum, count}. Consumes x and mask. */
export const AGGREGATE: { [K in Aggregation]: (x: Array, mask: Array, maxLen: number) => Aggregated } = {
  "token-mean": (x, mask) => ({ sum: np.sum(np.multiply(x, mask.ref)), count: np.sum(mask) }),
  "seq-mean-token-mean": (x, mask) => {
    const B = x.shape[0]!;
    const perSeq = np.divide(np.sum(np.multiply(x, mask.ref), 1), np.maximum(np.sum(mask, 1), 1)); // [B]
    return { sum: np.sum(perSeq), count: np.array(B, { dtype: np.float32 }) };
  },
  "seq-mean-token-sum-norm": (x, mask, maxLen) => {
    const B = x.shape[0]!;
    return {
      sum: np.divide(np.sum(np.multiply(x, mask)), maxLen),
      count: np.array(B, { dtype: np.float32 }),
    };
  },
};

/** The same aggregations on the host (plain loops), the reference the tests hold AGGREGATE to. */
export const AGGREGATE_HOST: {
  [K in Aggregation]: (
    x: readonly number[][],
    mask: readonly number[][],
    maxLen: number,
  ) => { sum: number; count: number };
} = {
  "token-mean": (x, mask) => {
    let sum = 0;
    let count = 0;
    for (const [i, row] of x.entries()) {
      for (const [t, v] of row.entries()) {
        sum += v * mask[i]![t]!;
        count += mask[i]![t]!;
      }
    }
    return { sum, count };
  },
  "seq-mean-token-mean": (x, mask) => {
    let sum = 0;
    x.forEach((row, i) => {
      let s = 0;
      let n = 0;
      row.forEach((v, t) => {
        s += v * mask[i]![t]!;
        n += mask[i]![t]!;
      });
      sum += s / Math.max(n, 1);
    });
    return { sum, count: x.length };
  },
  "seq-mean-token-sum-norm": (x, mask, maxLen) => {
    let sum = 0;
    for (const [i, row] of x.entries()) for (const [t, v] of row.entries()) sum += (v * mask[i]![t]!) / maxLen;
    return { sum, count: x.length };
  },
};

/** The clipped surrogate of one token on the host (the reference for POLICY_LOSSES.clip). */
export function clippedSurrogateHost(
  logProb: number,
  oldLogProb: number,
  advantage: number,
  cfg: ClipConfig,
): { loss: number; clipped: boolean } {
  const ratio = Math.exp(logProb - oldLogProb);
  const unclipped = -advantage * ratio;
  const clippedLoss = -advantage * Math.min(1 + cfg.clipHigh, Math.max(1 - cfg.clipLow, ratio));
  let loss = Math.max(unclipped, clippedLoss);
  if (cfg.dualClip > 0 && advantage < 0) loss = Math.min(loss, -advantage * cfg.dualClip);
  return { loss, clipped: clippedLoss > unclipped };
}

/**
 * Entropy of each position's distribution from its log-probabilities: H = −Σ_v p_v log p_v.
 * logProbs [B, T, V] → [B, T]. Consumes logProbs.
 */
export function entropyOf(logProbs: Array): Array {
  return np.negative(np.sum(np.multiply(np.exp(logProbs.ref), logProbs), -1));
}

/**
 * The approximate KL between the rollout policy and the current one that PPO implementations
 * log (CleanRL's approx_kl, the k3 estimator of KL(π_old ‖ π_θ)): (ρ − 1) − log ρ per token.
 * Consumes both.
 */
export function approxKlOf(logProbs: Array, oldLogProbs: Array): Array {
  const logRatio = np.subtract(logProbs, oldLogProbs);
  return np.subtract(np.subtract(np.exp(logRatio.ref), 1), logRatio);
}
