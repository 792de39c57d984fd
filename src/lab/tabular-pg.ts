/**
 * Tabular policy gradients: REINFORCE with and without a baseline, and actor-critic with
 * one-step TD and GAE(λ) advantages, for a softmax policy on small discrete MDPs, in
 * float64 on the host.
 *
 * The policy gradient theorem (Sutton et al. 2000; Williams 1992 for the estimator):
 *
 *   ∇J(θ) = E_π[ Σ_t γ^t Ψ_t ∇_θ log π_θ(a_t | s_t) ]
 *
 * holds for Ψ_t = G_t (REINFORCE), G_t − b(s_t) for any baseline b (the baseline's term
 * has zero mean, E_a[∇ log π(a|s)] = 0), Q^π(s_t, a_t) or A^π(s_t, a_t). Actor-critic
 * methods plug in a learned critic's estimate: the TD residual δ_t or GAE(λ). The
 * choice of Ψ lives in `rl/advantages.ts` (`ADVANTAGE_ESTIMATORS`); one loop serves all.
 *
 * The policy is π(a|s) = softmax(θ_s)_a, with the exact score ∇_{θ_s} log π(a|s) = e_a − π(·|s)
 * (no autodiff needed). The MLP learners for continuous states are in a2c.ts and ppo.ts.
 *
 * Departures, each said again at its line:
 *  - The γ^t factor is kept (Sutton & Barto 2018, §13.3), so the learners follow the true
 *    gradient of the discounted objective; the MLP learners drop it, as most deep-RL code does.
 *  - Updates are per batch of episodes, not per step as in Sutton & Barto's online
 *    one-step actor-critic.
 */
import { z } from "zod";
import { nonNegInt, posInt } from "../config/blocks.ts";
import { ConfigError, parseConfig } from "../config/load.ts";
import { Rng } from "../engine/rng.ts";
import { ADVANTAGE_ESTIMATORS, type Advantages, type Rollout } from "../rl/advantages.ts";
import type { TabularEnv, TabularPolicy } from "./env.ts";
import { discountedReturn, type Episode, mean, runEpisode, sampleCategorical } from "./episodes.ts";

// ---------------------------------------------------------------------------
// Tabular softmax policies.

/** θ ∈ R^{S×A}, row-major: logits[s * A + a]. */
export interface SoftmaxParams {
  numStates: number;
  numActions: number;
  logits: Float64Array;
}

export function zeroSoftmaxParams(numStates: number, numActions: number): SoftmaxParams {
  return { numStates, numActions, logits: new Float64Array(numStates * numActions) };
}

/** π(·|s) = softmax(θ_s), with the max subtracted before exp. [A] */
export function softmaxRow(theta: SoftmaxParams, s: number): Float64Array {
  const A = theta.numActions;
  const row = theta.logits.subarray(s * A, (s + 1) * A);
  let m = Number.NEGATIVE_INFINITY;
  for (const z of row) m = Math.max(m, z);
  const p = Float64Array.from(row, (z) => Math.exp(z - m));
  let sum = 0;
  for (const v of p) sum += v;
  for (let a = 0; a < A; a++) p[a]! /= sum;
  return p;
}

/** The whole table π(a|s) in the lab's `TabularPolicy` layout (for exact evaluation). */
export function softmaxPolicy(theta: SoftmaxParams): TabularPolicy {
  const { numStates, numActions } = theta;
  const probs = new Float64Array(numStates * numActions);
  for (let s = 0; s < numStates; s++) probs.set(softmaxRow(theta, s), s * numActions);
  return { numStates, numActions, probs };
}

/**
 * Add scale · ∇_θ log π(a|s) into `grad` (same layout as θ). For a softmax row only
 * θ_s moves: ∂ log π(a|s) / ∂θ_{s,b} = 1[a = b] − π(b|s).
 */
export function addScore(grad: Float64Array, theta: SoftmaxParams, s: number, a: number, scale: number): void {
  const A = theta.numActions;
  const probs = softmaxRow(theta, s);
  for (let b = 0; b < A; b++) grad[s * A + b]! += scale * ((a === b ? 1 : 0) - probs[b]!);
}

/** An episode as one `Rollout` under a tabular critic V (V of a terminal state is not read). */
export function episodeRollout(ep: Episode<number>, V: ArrayLike<number>): Rollout {
  const T = ep.states.length;
  const values = ep.states.map((s) => V[s]!);
  const nextValues = Array.from({ length: T }, (_, t) => V[t + 1 < T ? ep.states[t + 1]! : ep.finalState]!);
  const terminated = Array.from({ length: T }, (_, t) => t === T - 1 && ep.terminated);
  const truncated = Array.from({ length: T }, (_, t) => t === T - 1 && ep.truncated);
  return { rewards: ep.rewards, values, nextValues, terminated, truncated };
}

// ---------------------------------------------------------------------------
// Tabular REINFORCE and actor-critic: one loop, Ψ from the advantage registry.

export class TabularPgConfigError extends ConfigError {
  override name = "TabularPgConfigError";
}

/** The tabular learners' hyperparameters (tuned on the 8-state chain walk of test/lab-pg.test.ts). */
export const TabularPgConfigSchema = z.strictObject({
  /** Which Ψ_t: "returns" (REINFORCE), "baselined" (REINFORCE + learned V), "td", "gae" (actor-critic). */
  advantage: z.enum(["returns", "baselined", "td", "gae"]),
  /** Number of policy updates. */
  iterations: posInt.default(200),
  /** Episodes per update; the gradient is their mean. */
  episodesPerUpdate: posInt.default(8),
  /** Actor step size α_θ (plain gradient ascent). */
  lr: z.number().positive().default(0.1),
  /** Critic step size α_w for V(s) ← V(s) + α_w (R_t − V(s)); unused by "returns". */
  criticLr: z.number().positive().default(0.1),
  /** Discount γ. */
  gamma: z.number().min(0).max(1).default(0.95),
  /** GAE's λ (only "gae"). */
  lam: z.number().min(0).max(1).default(0.9),
  /** Episodes are truncated after this many steps. */
  maxSteps: posInt.default(200),
  seed: nonNegInt.default(0),
});

export type TabularPgConfig = z.infer<typeof TabularPgConfigSchema>;
/** What a caller passes: every field but `advantage` may be left to its default. */
export type TabularPgInput = z.input<typeof TabularPgConfigSchema>;

/** Validate a tabular config and fill in defaults, or throw a TabularPgConfigError naming the key paths. */
export function parseTabularPgConfig(input: unknown, where = "config"): TabularPgConfig {
  return parseConfig(TabularPgConfigSchema, input, {
    where,
    what: "tabular policy-gradient config",
    docs: "src/lab/tabular-pg.ts",
    errorClass: TabularPgConfigError,
  });
}

export interface TabularPgResult {
  theta: SoftmaxParams;
  /** The critic V(s) (zeros for "returns"). */
  values: Float64Array;
  /** Mean discounted return Σ γ^t r_t of each update's episodes. */
  returns: number[];
  /** Mean episode length of each update's episodes. */
  lengths: number[];
}

/**
 * Train a tabular softmax policy by policy-gradient ascent:
 *
 *   θ ← θ + α_θ (1/M) Σ_episodes Σ_t γ^t Ψ_t ∇_θ log π(a_t | s_t)
 *
 * where Ψ comes from `ADVANTAGE_ESTIMATORS[advantage]` over each episode with the current
 * critic, and the critic then moves toward the estimator's targets R_t (returns or λ-returns):
 *
 *   V(s_t) ← V(s_t) + α_w (R_t − V(s_t))
 */
export function trainTabularPg(env: TabularEnv, config: TabularPgInput): TabularPgResult {
  const cfg = parseTabularPgConfig(config);
  const rng = new Rng(cfg.seed);
  const theta = zeroSoftmaxParams(env.numStates, env.numActions);
  const V = new Float64Array(env.numStates); // critic; V(terminal) stays 0
  const useCritic = cfg.advantage !== "returns";
  const estimate = ADVANTAGE_ESTIMATORS[cfg.advantage];
  const returns: number[] = [];
  const lengths: number[] = [];
  const act = (s: number) => sampleCategorical(softmaxRow(theta, s), rng);

  for (let it = 0; it < cfg.iterations; it++) {
    const episodes = Array.from({ length: cfg.episodesPerUpdate }, () => runEpisode(env, act, rng, cfg.maxSteps));
    const grad = new Float64Array(theta.logits.length);
    const batch: { ep: Episode<number>; adv: Advantages }[] = [];
    for (const ep of episodes) {
      const adv = estimate(episodeRollout(ep, V), { gamma: cfg.gamma, lam: cfg.lam });
      batch.push({ ep, adv });
      let discount = 1; // γ^t (Sutton & Barto's REINFORCE keeps it; see the header)
      for (let t = 0; t < ep.states.length; t++) {
        addScore(grad, theta, ep.states[t]!, ep.actions[t]!, (discount * adv.advantages[t]!) / episodes.length);
        discount *= cfg.gamma;
      }
    }
    for (let i = 0; i < grad.length; i++) theta.logits[i]! += cfg.lr * grad[i]!; // ascent
    if (useCritic) {
      for (const { ep, adv } of batch) {
        for (let t = 0; t < ep.states.length; t++) {
          const s = ep.states[t]!;
          V[s]! += cfg.criticLr * (adv.returns[t]! - V[s]!);
        }
      }
    }
    returns.push(mean(episodes.map((ep) => discountedReturn(ep.rewards, cfg.gamma))));
    lengths.push(mean(episodes.map((ep) => ep.rewards.length)));
  }
  return { theta, values: V, returns, lengths };
}

/** REINFORCE (Williams 1992): Ψ_t = G_t, or G_t − V(s_t) with a learned baseline. */
export function reinforce(
  env: TabularEnv,
  config: Omit<TabularPgInput, "advantage"> & { baseline: boolean },
): TabularPgResult {
  const { baseline, ...rest } = config;
  return trainTabularPg(env, { ...rest, advantage: baseline ? "baselined" : "returns" });
}

/** Actor-critic: Ψ_t = δ_t (one-step TD) or GAE(λ) from a tabular critic. */
export function actorCritic(env: TabularEnv, config: TabularPgInput & { advantage: "td" | "gae" }): TabularPgResult {
  return trainTabularPg(env, config);
}
