/**
 * PPO with a learned value head for language models (Schulman et al. 2017; Ouyang et al. 2022
 * §3.5; verl's and OpenRLHF's PPO): the pieces the shared RL loop (grpo.ts) calls when
 * advantage.estimator is "gae". Per rollout:
 *
 *   r_t   = −β k1_t + [t = last] · R(x, y)          per-token rewards (verl apply_kl_penalty;
 *                                                    the KL fold only with loss.klIn = "reward")
 *   V_t   = value head on the policy's h_t            (value.ts, at rollout time: V_old)
 *   Â, R  = GAE(γ, λ) over the completion's tokens   (advantages.ts tokenGae); R = Â + V
 *   Â     ← (Â − mean) / (std + ε) over valid tokens  (advantage.whiten; verl masked_whiten)
 *   EV    = 1 − Var(R − V) / Var(R) over valid tokens (CleanRL/TRL explained_variance)
 *
 * and in the update the objective (objective.ts) adds value.coef · ½ max((V−R)², (V_clip−R)²)
 * per token to the clipped policy loss (value.ts clippedValueLoss).
 *
 * Departures: k1 is the estimator folded into the reward (as grpo.ts's sequence-level fold and
 * verl's default kl_penalty "kl"); the value head shares the policy's trunk (value.ts header).
 */
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { explainedVariance, normalizeAdvantages, TOKEN_ADVANTAGES, type TokenAdvantageKind } from "./advantages.ts";
import { KL_HOST } from "./kl.ts";
import type { MicroSlice, PackedRows } from "./rollout.ts";
import { scoreValues } from "./value.ts";

/**
 * Per-token rewards [B·T]: each row's sequence reward at its last valid token, minus β·k1 on
 * every valid token when `beta` > 0. Rows without valid tokens get nothing.
 */
export function tokenRewards(
  sequenceRewards: ArrayLike<number>,
  mask: ArrayLike<number>,
  seqLen: number,
  kl?: { beta: number; logProbs: ArrayLike<number>; refLogProbs: ArrayLike<number> },
): Float64Array {
  const B = sequenceRewards.length;
  const T = seqLen;
  if (mask.length !== B * T) throw new Error(`tokenRewards: mask has ${mask.length} positions, expected ${B}·${T}`);
  const out = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let last = -1;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (!mask[i]) continue;
      last = i;
      if (kl && kl.beta > 0) out[i] = -kl.beta * KL_HOST.k1(kl.logProbs[i]!, kl.refLogProbs[i]!);
    }
    if (last >= 0) out[last]! += sequenceRewards[b]!;
  }
  return out;
}

/** What the loop needs from one rollout's values: per-token targets and the logged figures. */
export interface GaeTargets {
  /** Â per position, whitened if asked (0 off the mask). [B·T] */
  advantages: Float32Array;
  /** R = Â + V_old before whitening (0 off the mask). [B·T] */
  returns: Float32Array;
  metrics: {
    explained_variance: number | null;
    "values/mean": number | null;
    "returns/mean": number | null;
  };
}

export interface GaeTargetOptions {
  estimator: TokenAdvantageKind;
  gamma: number;
  lam: number;
  /** Whiten Â over the batch's valid tokens. */
  whiten: boolean;
  eps: number;
}

/** Advantages, returns and explained variance of one rollout batch (the header's steps). */
export function gaeTargets(
  batch: {
    rows: number;
    seqLen: number;
    rewards: ArrayLike<number>;
    values: ArrayLike<number>;
    mask: ArrayLike<number>;
  },
  opts: GaeTargetOptions,
): GaeTargets {
  const { advantages, returns } = TOKEN_ADVANTAGES[opts.estimator](batch, { gamma: opts.gamma, lam: opts.lam });
  const valid: number[] = [];
  for (let i = 0; i < batch.mask.length; i++) if (batch.mask[i]) valid.push(i);
  const adv = new Float32Array(advantages.length);
  if (valid.length > 0) {
    const a = valid.map((i) => advantages[i]!);
    const white = opts.whiten ? normalizeAdvantages(a, opts.eps) : a;
    valid.forEach((i, k) => {
      adv[i] = white[k]!;
    });
  }
  const v = valid.map((i) => batch.values[i]!);
  const r = valid.map((i) => returns[i]!);
  const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length);
  return {
    advantages: adv,
    returns: Float32Array.from(returns),
    metrics: {
      explained_variance: maskedExplainedVariance(batch.values, returns, batch.mask),
      "values/mean": mean(v),
      "returns/mean": mean(r),
    },
  };
}

/**
 * Explained variance over the valid tokens, 1 − Var(R − V) / Var(R) (advantages.ts
 * explainedVariance); null when there are no valid tokens or Var(R) = 0 (JSON has no NaN).
 */
export function maskedExplainedVariance(
  values: ArrayLike<number>,
  returns: ArrayLike<number>,
  mask: ArrayLike<number>,
): number | null {
  const v: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    v.push(values[i]!);
    r.push(returns[i]!);
  }
  if (r.length === 0) return null;
  const ev = explainedVariance(v, r);
  return Number.isFinite(ev) ? ev : null;
}

/** The update's value figures for metrics.jsonl from the objective's aux sums (per valid token). */
export function valueStepMetrics(aux: Record<string, number>): Record<string, number> {
  const tokens = Math.max(aux.tokens ?? 0, 1);
  return {
    value_loss: (aux.value_loss ?? 0) / tokens,
    vf_clipfrac: (aux.vf_clipped ?? 0) / tokens,
  };
}

/**
 * One rollout's PPO targets (the header's steps): V_old by the head on `params` (the policy's
 * weights plus the head; not consumed), the per-token rewards, GAE and explained variance.
 */
export async function ppoTargets(
  params: Params,
  config: ModelConfig,
  batch: {
    rows: PackedRows;
    /** The loss mask (the rows' mask after any maskTruncated). [B·T] */
    mask: Float32Array;
    /** Sequence rewards. [B] */
    totals: readonly number[];
    /** The micro-batches, as rollout.ts planMicroBatches planned them. */
    plan: readonly MicroSlice[];
    kl?: { beta: number; logProbs: ArrayLike<number>; refLogProbs: ArrayLike<number> } | undefined;
  },
  opts: Omit<GaeTargetOptions, "estimator"> & { estimator: string },
): Promise<GaeTargets & { oldValues: Float32Array }> {
  const { rows, mask } = batch;
  if (!(opts.estimator in TOKEN_ADVANTAGES)) throw new Error(`ppoTargets: ${opts.estimator} is not a token estimator`);
  const oldValues = await scoreValues(params, config, { ...rows, mask }, batch.plan);
  const rewards = tokenRewards(batch.totals, mask, rows.seqLen, batch.kl);
  const targets = gaeTargets(
    { rows: rows.rows, seqLen: rows.seqLen, rewards, values: oldValues, mask },
    { ...opts, estimator: opts.estimator as TokenAdvantageKind },
  );
  return { ...targets, oldValues };
}
