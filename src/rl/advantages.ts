/**
 * Advantage estimation: discounted returns-to-go, one-step TD residuals and GAE(λ).
 *
 * Pure host-side functions in float64: plain arrays in, new Float64Arrays out.
 * The RL lab (REINFORCE, actor-critic, PPO) and the language-model RL both call them.
 *
 * Rollout layout (the gymnasium / CleanRL convention). A buffer of T steps from one
 * environment, possibly spanning several episodes; at step t the agent was in s_t,
 * took a_t, received r_t and reached s'_t:
 *
 *   rewards[t]     r_t
 *   values[t]      V(s_t)
 *   nextValues[t]  V(s'_t), the value of the state actually reached. After a truncation
 *                  this is the value of the final observation, not of the reset state
 *                  that an auto-resetting vector env shows next.
 *   terminated[t]  s'_t is terminal: V(s'_t) := 0 and nothing is bootstrapped.
 *   truncated[t]   the episode was cut off after step t (a time limit): s'_t is an
 *                  ordinary state, so the return is bootstrapped from V(s'_t).
 *
 * The buffer's last step, if its episode has not ended, is cut off by the rollout
 * length and handled exactly like a truncation (bootstrap from nextValues[T−1]).
 *
 * Equations (Schulman, Moritz, Levine, Jordan, Abbeel 2016, "High-Dimensional Continuous
 * Control Using Generalized Advantage Estimation", §3):
 *
 *   G_t   = r_t + γ G_{t+1}                                   (return-to-go, G = 0 past the end)
 *   δ_t   = r_t + γ V(s_{t+1}) − V(s_t)                       (TD residual of V)
 *   Â_t   = Σ_{l≥0} (γλ)^l δ_{t+l}                            (GAE(γ, λ), eq. 16)
 *         = δ_t + γλ Â_{t+1}                                  (the backward recursion we run)
 *   λ = 0: Â_t = δ_t;   λ = 1: Â_t = Σ_l γ^l r_{t+l} − V(s_t) = G_t − V(s_t)
 *
 * and the critic's target is the λ-return R_t = Â_t + V(s_t) (what CleanRL calls `returns`).
 *
 * Departure from the paper: the paper's sums run over one infinite-horizon trajectory;
 * here every sum stops at its episode's end, where γ V(s') is dropped on termination and
 * kept on truncation (Pardo et al. 2018, "Time Limits in Reinforcement Learning").
 */

/** A flag array: booleans or 0/1 numbers (as read back from a device array). */
export type Flags = ArrayLike<boolean | number>;

/** One environment's rollout buffer of T steps (see the file header for each field). */
export interface Rollout {
  /** r_t. [T] */
  rewards: ArrayLike<number>;
  /** V(s_t). [T] */
  values: ArrayLike<number>;
  /** V(s'_t) of the state actually reached (the final observation on truncation). [T] */
  nextValues: ArrayLike<number>;
  /** s'_t is terminal. [T] */
  terminated: Flags;
  /** The episode was cut off after step t. [T]; absent means never. */
  truncated?: Flags;
}

export class AdvantageError extends Error {
  override name = "AdvantageError";
}

function checkGamma(where: string, gamma: number, lam?: number): void {
  if (!(gamma >= 0 && gamma <= 1)) throw new AdvantageError(`${where}: gamma must be in [0, 1], got ${gamma}`);
  if (lam !== undefined && !(lam >= 0 && lam <= 1)) {
    throw new AdvantageError(`${where}: lambda must be in [0, 1], got ${lam}`);
  }
}

function checkLengths(where: string, fields: Record<string, ArrayLike<unknown> | undefined>): number {
  const entries = Object.entries(fields).filter((e): e is [string, ArrayLike<unknown>] => e[1] !== undefined);
  const T = entries[0]![1].length;
  for (const [name, arr] of entries) {
    if (arr.length !== T) {
      const all = entries.map(([n, a]) => `${n}=${a.length}`).join(", ");
      throw new AdvantageError(`${where}: every field needs the same length T; got ${all} (${name} differs)`);
    }
  }
  return T;
}

/** The episode containing step t ends after it (terminated or truncated). */
function ended(terminated: Flags, truncated: Flags | undefined, t: number): boolean {
  return Boolean(terminated[t]) || Boolean(truncated?.[t]);
}

export interface ReturnsOptions {
  /** Discount γ ∈ [0, 1]. */
  gamma: number;
  /** s'_t is terminal. Absent: the whole buffer is one episode ending in a terminal state. */
  terminated?: Flags;
  /** The episode was cut off after step t. */
  truncated?: Flags;
  /**
   * V(s'_t), used only where the return is cut off (a truncation, or the buffer's last step
   * if its episode has not ended). Absent: nothing is bootstrapped, i.e. the Monte-Carlo
   * return of the rewards observed (what REINFORCE uses).
   */
  nextValues?: ArrayLike<number>;
}

/**
 * Discounted returns-to-go, reset at every episode end:
 *
 *   G_t = r_t + γ (1 − terminated_t) · (V(s'_t) if the return is cut off after t, else G_{t+1})
 *
 * With no flags and no nextValues this is the plain G_t = Σ_{k≥t} γ^{k−t} r_k.
 */
export function discountedReturns(rewards: ArrayLike<number>, opts: ReturnsOptions): Float64Array {
  const { gamma, truncated, nextValues } = opts;
  checkGamma("discountedReturns", gamma);
  const terminated = opts.terminated ?? Array.from({ length: rewards.length }, (_, t) => t === rewards.length - 1);
  const T = checkLengths("discountedReturns", { rewards, terminated, truncated, nextValues });
  const returns = new Float64Array(T);
  let next = 0; // G_{t+1}
  for (let t = T - 1; t >= 0; t--) {
    const cutOff = Boolean(truncated?.[t]) || (t === T - 1 && !terminated[t]);
    if (terminated[t]) next = 0;
    else if (cutOff) next = nextValues ? nextValues[t]! : 0;
    returns[t] = rewards[t]! + gamma * next;
    next = returns[t]!;
  }
  return returns;
}

/**
 * One-step TD residuals (the TD(0) advantage estimate):
 *
 *   δ_t = r_t + γ V(s'_t) (1 − terminated_t) − V(s_t)
 *
 * Truncation needs no special case here: V(s'_t) is the final observation's value.
 */
export function tdResiduals(rollout: Rollout, gamma: number): Float64Array {
  checkGamma("tdResiduals", gamma);
  const { rewards, values, nextValues, terminated } = rollout;
  const T = checkLengths("tdResiduals", { rewards, values, nextValues, terminated, truncated: rollout.truncated });
  const deltas = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const notTerminal = terminated[t] ? 0 : 1;
    deltas[t] = rewards[t]! + gamma * nextValues[t]! * notTerminal - values[t]!;
  }
  return deltas;
}

export interface Advantages {
  /** Â_t. [T] */
  advantages: Float64Array;
  /** The critic's target R_t = Â_t + V(s_t) (the λ-return). [T] */
  returns: Float64Array;
}

/**
 * GAE(γ, λ) by the backward recursion (as in CleanRL's ppo.py):
 *
 *   Â_t = δ_t + γλ (1 − ended_t) Â_{t+1},   Â_T = 0,   ended_t = terminated_t ∨ truncated_t
 *
 * Returns the advantages and the value targets R_t = Â_t + V(s_t).
 */
export function gae(rollout: Rollout, gamma: number, lam: number): Advantages {
  checkGamma("gae", gamma, lam);
  const deltas = tdResiduals(rollout, gamma); // [T]
  const T = deltas.length;
  const advantages = new Float64Array(T);
  let next = 0; // Â_{t+1}
  for (let t = T - 1; t >= 0; t--) {
    const carry = ended(rollout.terminated, rollout.truncated, t) ? 0 : 1;
    advantages[t] = deltas[t]! + gamma * lam * carry * next;
    next = advantages[t]!;
  }
  const returns = advantages.map((a, t) => a + rollout.values[t]!);
  return { advantages, returns };
}

/**
 * GAE(γ, λ) by its definition, an O(T²) sum used as a check on `gae`:
 *
 *   Â_t = Σ_{l=0}^{L_t} (γλ)^l δ_{t+l}
 *
 * where t + L_t is the last step of t's episode within the buffer.
 */
export function gaeBySum(rollout: Rollout, gamma: number, lam: number): Float64Array {
  checkGamma("gaeBySum", gamma, lam);
  const deltas = tdResiduals(rollout, gamma);
  const T = deltas.length;
  const advantages = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let sum = 0;
    let weight = 1; // (γλ)^l
    for (let k = t; k < T; k++) {
      sum += weight * deltas[k]!;
      if (ended(rollout.terminated, rollout.truncated, k)) break;
      weight *= gamma * lam;
    }
    advantages[t] = sum;
  }
  return advantages;
}

/**
 * Per-batch advantage normalisation (CleanRL's `norm_adv`): (Â − mean) / (std + eps).
 * Not in the paper; a common variance-reduction step that also fixes the step scale.
 * Uses the population std (ddof 0); a batch of one comes back as 0.
 */
export function normalizeAdvantages(advantages: ArrayLike<number>, eps = 1e-8): Float64Array {
  const n = advantages.length;
  if (n === 0) return new Float64Array(0);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += advantages[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (advantages[i]! - mean) ** 2;
  const std = Math.sqrt(v / n);
  return Float64Array.from(advantages, (a) => (a - mean) / (std + eps));
}

/**
 * Explained variance of the value predictions, 1 − Var[R − V] / Var[R]: 1 is a perfect
 * critic, 0 no better than a constant, negative worse. NaN when Var[R] = 0 (as CleanRL).
 */
export function explainedVariance(values: ArrayLike<number>, returns: ArrayLike<number>): number {
  checkLengths("explainedVariance", { values, returns });
  const n = returns.length;
  const variance = (xs: (i: number) => number) => {
    let m = 0;
    for (let i = 0; i < n; i++) m += xs(i);
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (xs(i) - m) ** 2;
    return v / n;
  };
  const varReturns = variance((i) => returns[i]!);
  if (varReturns === 0) return Number.NaN;
  return 1 - variance((i) => returns[i]! - values[i]!) / varReturns;
}

/** The advantage estimators a policy-gradient trainer can choose (see `ADVANTAGE_ESTIMATORS`). */
export type AdvantageKind = "returns" | "baselined" | "td" | "gae";

export interface AdvantageConfig {
  gamma: number;
  /** GAE's λ; only "gae" reads it. */
  lam: number;
}

/**
 * Ψ_t in ĝ = Σ_t Ψ_t ∇ log π(a_t | s_t) (Schulman et al. 2016, §2, the list of choices of Ψ):
 *
 *   returns    Ψ_t = G_t                  (REINFORCE; no critic)
 *   baselined  Ψ_t = G_t − V(s_t)         (REINFORCE with a baseline)
 *   td         Ψ_t = δ_t                  (one-step actor-critic)
 *   gae        Ψ_t = Â_t^{GAE(γ,λ)}
 *
 * Monte-Carlo kinds bootstrap only where the rollout is cut off (truncation or buffer end).
 * Every kind also returns the critic target it implies.
 */
export const ADVANTAGE_ESTIMATORS: { [K in AdvantageKind]: (rollout: Rollout, cfg: AdvantageConfig) => Advantages } = {
  returns: (r, { gamma }) => {
    const returns = discountedReturns(r.rewards, {
      gamma,
      terminated: r.terminated,
      truncated: r.truncated,
      nextValues: r.nextValues,
    });
    return { advantages: returns.slice(), returns };
  },
  baselined: (r, { gamma }) => {
    const returns = discountedReturns(r.rewards, {
      gamma,
      terminated: r.terminated,
      truncated: r.truncated,
      nextValues: r.nextValues,
    });
    return { advantages: returns.map((g, t) => g - r.values[t]!), returns };
  },
  td: (r, { gamma }) => {
    const advantages = tdResiduals(r, gamma);
    return { advantages, returns: advantages.map((d, t) => d + r.values[t]!) };
  },
  gae: (r, { gamma, lam }) => gae(r, gamma, lam),
};
