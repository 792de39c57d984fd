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

// ---------------------------------------------------------------------------
// Outcome advantages for language-model RL: one scalar reward per completion, completions of
// the same prompt side by side (the "group"). rewards[i·G + j] is completion j of prompt i.
// Each estimator returns one advantage per completion; the policy loss broadcasts it over the
// completion's tokens (every token of a completion shares its sequence's advantage).

/** The group estimators (see `GROUP_ADVANTAGES`); "gae" needs a value head and lives above. */
export type GroupAdvantageKind = "grpo" | "dr_grpo" | "rloo" | "reinforce_pp";

/** How GRPO divides the centred rewards: by the group's std, the batch's std, or not at all (Dr. GRPO). */
export type RewardScaling = "group" | "batch" | "none";

export interface GroupAdvantageOptions {
  /** Completions per prompt G (≥ 2 for every estimator with a group baseline). */
  groupSize: number;
  /** grpo only: divide by the group std (DeepSeekMath), the batch std (TRL scale_rewards="batch"), or none. */
  scaling: RewardScaling;
  /** ε in (r − mean) / (std + ε). */
  eps: number;
  /** reinforce_pp only: subtract the group mean before the batch whitening (verl's reinforce_plus_plus_baseline). */
  groupBaseline: boolean;
}

/** mean and std (ddof 0 by default; GRPO passes ddof 1) of xs[from, to). */
function meanStd(xs: ArrayLike<number>, from: number, to: number, ddof = 0): { mean: number; std: number } {
  const n = to - from;
  let mean = 0;
  for (let i = from; i < to; i++) mean += xs[i]!;
  mean /= n;
  let v = 0;
  for (let i = from; i < to; i++) v += (xs[i]! - mean) ** 2;
  return { mean, std: n - ddof > 0 ? Math.sqrt(v / (n - ddof)) : 0 };
}

function checkGroups(where: string, rewards: ArrayLike<number>, G: number, minG: number): number {
  if (!Number.isInteger(G) || G < minG)
    throw new AdvantageError(`${where}: groupSize must be an integer >= ${minG}, got ${G}`);
  if (rewards.length % G !== 0) {
    throw new AdvantageError(`${where}: ${rewards.length} rewards do not split into groups of ${G}`);
  }
  for (let i = 0; i < rewards.length; i++) {
    if (!Number.isFinite(rewards[i]!))
      throw new AdvantageError(`${where}: reward ${i} is ${rewards[i]}, expected a finite number`);
  }
  return rewards.length / G;
}

/**
 * GRPO (Shao et al. 2024, DeepSeekMath §4.1.2, outcome supervision):
 *
 *   Â_{i,j} = (r_{i,j} − mean_j r_{i,·}) / (std_j r_{i,·} + ε)          scaling "group"
 *   Â_{i,j} = (r_{i,j} − mean_j r_{i,·}) / (std r_{·,·} + ε)            scaling "batch" (TRL, "batch")
 *   Â_{i,j} =  r_{i,j} − mean_j r_{i,·}                                 scaling "none" (Dr. GRPO, Liu et al. 2025 §3.1)
 *
 * std is the sample std (ddof 1, torch.std's default, as TRL and verl use); a group of one has
 * std 0. Departure from DeepSeekMath, which does not say which std.
 */
export function grpoAdvantages(rewards: ArrayLike<number>, opts: GroupAdvantageOptions): Float64Array {
  const G = opts.groupSize;
  const groups = checkGroups("grpoAdvantages", rewards, G, 1);
  const out = new Float64Array(rewards.length);
  const batch = meanStd(rewards, 0, rewards.length, 1);
  for (let g = 0; g < groups; g++) {
    const { mean, std } = meanStd(rewards, g * G, (g + 1) * G, 1);
    const scale = opts.scaling === "group" ? std + opts.eps : opts.scaling === "batch" ? batch.std + opts.eps : 1;
    for (let j = g * G; j < (g + 1) * G; j++) out[j] = (rewards[j]! - mean) / scale;
  }
  return out;
}

/**
 * RLOO (Ahmadian et al. 2024, "Back to Basics", eq. 6; Kool et al. 2019): the baseline of each
 * completion is the mean of the OTHER G − 1 rewards of its group:
 *
 *   Â_{i,j} = r_{i,j} − 1/(G−1) Σ_{k≠j} r_{i,k}  =  G/(G−1) · (r_{i,j} − mean_k r_{i,k})
 */
export function rlooAdvantages(
  rewards: ArrayLike<number>,
  opts: Pick<GroupAdvantageOptions, "groupSize">,
): Float64Array {
  const G = opts.groupSize;
  const groups = checkGroups("rlooAdvantages", rewards, G, 2);
  const out = new Float64Array(rewards.length);
  for (let g = 0; g < groups; g++) {
    let sum = 0;
    for (let j = g * G; j < (g + 1) * G; j++) sum += rewards[j]!;
    for (let j = g * G; j < (g + 1) * G; j++) out[j] = rewards[j]! - (sum - rewards[j]!) / (G - 1);
  }
  return out;
}

/**
 * REINFORCE++ (Hu 2025, "REINFORCE++", §3; verl compute_reinforce_plus_plus_outcome_advantage):
 * the return of an outcome reward is the reward itself (γ = 1, one reward at the last token),
 * whitened over the whole batch:
 *
 *   Â_{i,j} = (r_{i,j} − mean r) / (std r + ε)                            groupBaseline false
 *   Â_{i,j} = whiten_batch(r_{i,j} − mean_k r_{i,k})                      groupBaseline true (REINFORCE++-baseline)
 *
 * Departure: the paper folds the per-token KL into the return before whitening; here the KL
 * goes in the loss (policy-loss.ts) or is added to the reward by the trainer before this runs.
 */
export function reinforcePpAdvantages(rewards: ArrayLike<number>, opts: GroupAdvantageOptions): Float64Array {
  const G = opts.groupSize;
  const groups = checkGroups("reinforcePpAdvantages", rewards, G, 1);
  const centred = Float64Array.from(rewards);
  if (opts.groupBaseline) {
    for (let g = 0; g < groups; g++) {
      const { mean } = meanStd(rewards, g * G, (g + 1) * G);
      for (let j = g * G; j < (g + 1) * G; j++) centred[j] = rewards[j]! - mean;
    }
  }
  const { mean, std } = meanStd(centred, 0, centred.length, 1);
  return centred.map((a) => (a - mean) / (std + opts.eps));
}

/** The group estimators by name; a new kind does not compile until it is added here. */
export const GROUP_ADVANTAGES: {
  [K in GroupAdvantageKind]: (rewards: ArrayLike<number>, opts: GroupAdvantageOptions) => Float64Array;
} = {
  grpo: grpoAdvantages,
  dr_grpo: (r, o) => grpoAdvantages(r, { ...o, scaling: "none" }),
  rloo: rlooAdvantages,
  reinforce_pp: reinforcePpAdvantages,
};

/** The number of groups whose rewards are all equal (std 0): no learning signal (TRL's frac_reward_zero_std · groups). */
export function zeroStdGroups(rewards: ArrayLike<number>, groupSize: number): boolean[] {
  const groups = checkGroups("zeroStdGroups", rewards, groupSize, 1);
  return Array.from({ length: groups }, (_, g) => {
    for (let j = g * groupSize + 1; j < (g + 1) * groupSize; j++)
      if (rewards[j] !== rewards[g * groupSize]) return false;
    return true;
  });
}

// ---------------------------------------------------------------------------
// Per-token advantages for language-model PPO: a completion is an episode whose actions are its
// tokens, with a learned V(s_t) on every token (rl/value.ts). Rows are packed [B, T] with the
// completion's tokens where mask = 1 (rollout.ts packRows).

/** The token estimators (see `TOKEN_ADVANTAGES`): they need per-token values. */
export type TokenAdvantageKind = "gae";

/** Every estimator `stepwise rl` accepts: the group ones and the token ones. */
export type RlAdvantageKind = GroupAdvantageKind | TokenAdvantageKind;

/** Per-token rewards and values of B packed rows of T positions. */
export interface TokenRollout {
  rows: number;
  seqLen: number;
  /** r_t per position (0 off the mask). [B·T] */
  rewards: ArrayLike<number>;
  /** V(s_t) per position. [B·T] */
  values: ArrayLike<number>;
  /** 1 on the completion's tokens. [B·T] */
  mask: ArrayLike<number>;
}

/**
 * GAE(γ, λ) over each row's completion tokens (verl compute_gae_advantage_return), by `gae`
 * above: row b's masked positions t_0 < … < t_{L−1} are one episode of L steps that
 * terminates after its last token (V := 0 past the end of the completion):
 *
 *   δ_k = r_{t_k} + γ V(s_{t_{k+1}}) − V(s_{t_k}),   Â_k = δ_k + γλ Â_{k+1},   R_k = Â_k + V(s_{t_k})
 *
 * Returns Â and R per position [B·T], 0 off the mask. Departure: a completion cut at the
 * budget (finish reason "length") is treated as terminal too, as verl and OpenRLHF do; the
 * reward it gets is its final one.
 */
export function tokenGae(batch: TokenRollout, gamma: number, lam: number): Advantages {
  const { rows: B, seqLen: T, rewards, values, mask } = batch;
  checkLengths("tokenGae", { rewards, values, mask });
  if (rewards.length !== B * T)
    throw new AdvantageError(`tokenGae: expected ${B}·${T} = ${B * T} positions, got ${rewards.length}`);
  const advantages = new Float64Array(B * T);
  const returns = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    const at: number[] = [];
    for (let t = 0; t < T; t++) if (mask[b * T + t]) at.push(b * T + t);
    if (at.length === 0) continue;
    const v = at.map((i) => values[i]!);
    const out = gae(
      {
        rewards: at.map((i) => rewards[i]!),
        values: v,
        nextValues: v.map((_, k) => (k + 1 < v.length ? v[k + 1]! : 0)),
        terminated: at.map((_, k) => k === at.length - 1),
      },
      gamma,
      lam,
    );
    at.forEach((i, k) => {
      advantages[i] = out.advantages[k]!;
      returns[i] = out.returns[k]!;
    });
  }
  return { advantages, returns };
}

/** The token estimators by name; a new kind does not compile until it is added here. */
export const TOKEN_ADVANTAGES: {
  [K in TokenAdvantageKind]: (batch: TokenRollout, opts: AdvantageConfig) => Advantages;
} = {
  gae: (b, { gamma, lam }) => tokenGae(b, gamma, lam),
};

/** All estimator names, group ones first (the config's enum). */
export const RL_ADVANTAGE_KINDS = [
  ...(Object.keys(GROUP_ADVANTAGES) as GroupAdvantageKind[]),
  ...(Object.keys(TOKEN_ADVANTAGES) as TokenAdvantageKind[]),
] as [RlAdvantageKind, ...RlAdvantageKind[]];

export function isTokenAdvantage(kind: RlAdvantageKind): kind is TokenAdvantageKind {
  return kind in TOKEN_ADVANTAGES;
}
