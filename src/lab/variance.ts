/**
 * The variance claim, measured: subtracting a baseline from the return leaves the
 * policy gradient's expectation unchanged and lowers its variance.
 *
 * For a FIXED tabular softmax policy π_θ on a small MDP whose dynamics we know, we
 * estimate ∇J(θ) N times, each from M fresh episodes, with the score-function estimator
 *
 *   ĝ = (1/M) Σ_episodes Σ_t γ^t Ψ_t ∇_θ log π_θ(a_t | s_t)
 *
 * and several Ψ (the estimator registry below):
 *
 *   returns            Ψ_t = G_t                          (REINFORCE)
 *   exact_baseline     Ψ_t = G_t − V^π(s_t)               (V^π exact, from the known dynamics)
 *   learned_baseline   Ψ_t = G_t − V̂(s_t)                 (V̂ fitted on M other episodes)
 *   advantage          Ψ_t = A^π(s_t, a_t)                (exact; the usual low-variance reference)
 *
 * All are unbiased: E_a[∇ log π(a|s)] = 0, so any b(s) that does not depend on a_t (or on
 * the episode's own later randomness) adds zero in expectation; this is why V̂ is fitted on
 * independent episodes. The exact gradient comes from the policy gradient theorem
 * (Sutton et al. 2000), for a softmax row
 *
 *   ∂J/∂θ_{s,b} = d^π(s) π(b|s) A^π(s, b),   d^π(s) = Σ_t γ^t P(s_t = s)   (unnormalised)
 *
 * with V^π from the linear system (I − γ P_π) V = r_π (dp.ts), and it is checked against finite
 * differences of J(θ) = Σ_s μ_0(s) V^π(s) in the tests.
 *
 * The MDP is a slippery chain walk (`ChainWalk`): with a step cost every return carries a
 * large state-dependent offset that the baseline removes, which is the effect the seed
 * describes. Departure: the estimator keeps γ^t so that it is unbiased for the discounted
 * objective; most deep-RL code drops it (see a2c.ts).
 */
import { z } from "zod";
import { nonNegInt, posInt } from "../config/blocks.ts";
import { ConfigError, parseConfig } from "../config/load.ts";
import { Rng } from "../engine/rng.ts";
import { policyMatrices, qFromV, solveLinear, solvePolicy } from "./dp.ts";
import type { TabularEnv, TabularPolicy, Transition } from "./env.ts";
import { type Episode, runEpisode, sampleCategorical } from "./episodes.ts";
import { addScore, type SoftmaxParams, softmaxPolicy, softmaxRow } from "./tabular-pg.ts";

export class VarianceConfigError extends ConfigError {
  override name = "VarianceConfigError";
}

// ---------------------------------------------------------------------------
// The MDP.

export const ChainWalkOptionsSchema = z.strictObject({
  /** Number of states; the last one is the terminal goal. */
  numStates: z.number().int().min(2).default(5),
  /** Probability that the move goes the other way (below ½, so that "right" still heads for the goal). */
  slip: z.number().min(0).lt(0.5).default(0.1),
  /** Reward on every step (a cost when negative). */
  stepReward: z.number().default(-1),
  /** Reward added on the step that reaches the goal. */
  goalReward: z.number().default(0),
});

export type ChainWalkOptions = z.infer<typeof ChainWalkOptionsSchema>;

/**
 * States 0 … n−1 on a line; the agent starts at 0 and the episode ends at n−1.
 * Action 0 moves left, 1 right; with probability `slip` the move is reversed.
 * Moving left from 0 stays at 0. Every step pays `stepReward`, reaching the goal adds `goalReward`.
 */
export class ChainWalk implements TabularEnv {
  readonly name: string;
  readonly numActions = 2;
  readonly numStates: number;
  readonly slip: number;
  readonly stepReward: number;
  readonly goalReward: number;
  #s = 0;

  constructor(options: z.input<typeof ChainWalkOptionsSchema> = {}) {
    const opts = parseConfig(ChainWalkOptionsSchema, options, {
      where: "ChainWalk",
      what: "chain-walk options",
      docs: "src/lab/variance.ts",
      errorClass: VarianceConfigError,
    });
    this.numStates = opts.numStates;
    this.slip = opts.slip;
    this.stepReward = opts.stepReward;
    this.goalReward = opts.goalReward;
    this.name = `chain-${this.numStates}`;
  }

  transitions(state: number, action: number): readonly Transition[] {
    if (this.isTerminal(state)) return [{ prob: 1, next: state, reward: 0, terminal: true }];
    const goal = this.numStates - 1;
    const move = (dir: number, prob: number): Transition => {
      const next = Math.min(Math.max(state + dir, 0), goal);
      return { prob, next, reward: this.stepReward + (next === goal ? this.goalReward : 0), terminal: next === goal };
    };
    const dir = action === 1 ? 1 : -1;
    return this.slip > 0 ? [move(dir, 1 - this.slip), move(-dir, this.slip)] : [move(dir, 1)];
  }

  startDistribution(): Float64Array {
    const mu = new Float64Array(this.numStates);
    mu[0] = 1;
    return mu;
  }

  isTerminal(state: number): boolean {
    return state === this.numStates - 1;
  }

  reset(_rng: Rng): number {
    this.#s = 0;
    return this.#s;
  }

  step(action: number, rng: Rng) {
    const outs = this.transitions(this.#s, action);
    const o =
      outs[
        sampleCategorical(
          outs.map((x) => x.prob),
          rng,
        )
      ]!;
    this.#s = o.next;
    return { state: o.next, reward: o.reward, terminated: o.terminal, truncated: false };
  }
}

// ---------------------------------------------------------------------------
// Exact evaluation on known dynamics.

/** V^π (linear solve, from dp.ts) and Q^π(s,a) = Σ p (r + γ (1 − terminal) V(s')). Terminal states: 0. */
export function exactValues(
  env: TabularEnv,
  policy: TabularPolicy,
  gamma: number,
): { V: Float64Array; Q: Float64Array } {
  const V = solvePolicy(env, policy, gamma);
  return { V, Q: qFromV(env, V, gamma) };
}

/** d^π(s) = Σ_t γ^t P(s_t = s | s_0 ~ μ_0), i.e. the solution of (I − γ P_π)ᵀ d = μ_0. */
export function discountedVisitation(env: TabularEnv, policy: TabularPolicy, gamma: number): Float64Array {
  const S = env.numStates;
  const { P } = policyMatrices(env, policy);
  const Mt = new Float64Array(S * S); // (I − γ P_π)ᵀ
  for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) Mt[j * S + i] = (i === j ? 1 : 0) - gamma * P[i * S + j]!;
  return solveLinear(Mt, env.startDistribution(), S);
}

/** J(θ) = Σ_s μ_0(s) V^π(s). */
export function exactObjective(env: TabularEnv, theta: SoftmaxParams, gamma: number): number {
  const { V } = exactValues(env, softmaxPolicy(theta), gamma);
  const mu = env.startDistribution();
  return mu.reduce((acc, m, s) => acc + m * V[s]!, 0);
}

/** ∇J(θ) by the policy gradient theorem: ∂J/∂θ_{s,b} = d^π(s) π(b|s) (Q^π(s,b) − V^π(s)). */
export function exactPolicyGradient(env: TabularEnv, theta: SoftmaxParams, gamma: number): Float64Array {
  const policy = softmaxPolicy(theta);
  const { V, Q } = exactValues(env, policy, gamma);
  const d = discountedVisitation(env, policy, gamma);
  const A = env.numActions;
  const grad = new Float64Array(env.numStates * A);
  for (let s = 0; s < env.numStates; s++) {
    if (env.isTerminal(s)) continue;
    for (let b = 0; b < A; b++) grad[s * A + b] = d[s]! * policy.probs[s * A + b]! * (Q[s * A + b]! - V[s]!);
  }
  return grad;
}

// ---------------------------------------------------------------------------
// Score-function estimators.

export type EstimatorKind = "returns" | "exact_baseline" | "learned_baseline" | "advantage";
export const ESTIMATOR_KINDS: readonly EstimatorKind[] = ["returns", "exact_baseline", "learned_baseline", "advantage"];

/** What an estimator may look at besides the episode. */
export interface EstimatorContext {
  gamma: number;
  /** Exact V^π [S] and Q^π [S·A]. */
  V: Float64Array;
  Q: Float64Array;
  numActions: number;
  /** V̂ fitted on independent episodes [S]. */
  learnedV: Float64Array;
}

/** Ψ_t for every step of an episode, given G_t. */
type PsiFn = (ep: Episode<number>, returns: Float64Array, ctx: EstimatorContext) => Float64Array;

export const ESTIMATORS: { [K in EstimatorKind]: PsiFn } = {
  returns: (_ep, G) => G,
  exact_baseline: (ep, G, ctx) => G.map((g, t) => g - ctx.V[ep.states[t]!]!),
  learned_baseline: (ep, G, ctx) => G.map((g, t) => g - ctx.learnedV[ep.states[t]!]!),
  advantage: (ep, _G, ctx) =>
    Float64Array.from(ep.states, (s, t) => ctx.Q[s * ctx.numActions + ep.actions[t]!]! - ctx.V[s]!),
};

/** G_t = Σ_{k≥t} γ^{k−t} r_k within one (terminated) episode. */
function returnsToGo(rewards: readonly number[], gamma: number): Float64Array {
  const G = new Float64Array(rewards.length);
  let g = 0;
  for (let t = rewards.length - 1; t >= 0; t--) {
    g = rewards[t]! + gamma * g;
    G[t] = g;
  }
  return G;
}

/** ĝ = (1/M) Σ_episodes Σ_t γ^t Ψ_t ∇_θ log π(a_t|s_t), in θ's layout [S·A]. */
export function scoreFunctionGradient(
  episodes: readonly Episode<number>[],
  theta: SoftmaxParams,
  psi: PsiFn,
  ctx: EstimatorContext,
): Float64Array {
  const grad = new Float64Array(theta.logits.length);
  for (const ep of episodes) {
    const G = returnsToGo(ep.rewards, ctx.gamma);
    const weights = psi(ep, G, ctx);
    let discount = 1; // γ^t
    for (let t = 0; t < ep.states.length; t++) {
      addScore(grad, theta, ep.states[t]!, ep.actions[t]!, (discount * weights[t]!) / episodes.length);
      discount *= ctx.gamma;
    }
  }
  return grad;
}

/** Every-visit Monte-Carlo estimate V̂(s) = mean of G_t over visits to s (0 if unvisited). */
export function fitMonteCarloBaseline(
  episodes: readonly Episode<number>[],
  numStates: number,
  gamma: number,
): Float64Array {
  const sum = new Float64Array(numStates);
  const count = new Float64Array(numStates);
  for (const ep of episodes) {
    const G = returnsToGo(ep.rewards, gamma);
    ep.states.forEach((s, t) => {
      sum[s]! += G[t]!;
      count[s]! += 1;
    });
  }
  return sum.map((x, s) => (count[s]! > 0 ? x / count[s]! : 0));
}

// ---------------------------------------------------------------------------
// The experiment.

/** The experiment's settings; the defaults are what `stepwise lab variance` runs. */
export const VarianceConfigSchema = z.strictObject({
  /** Independent gradient estimates per estimator (N); ≥ 2 for a sample variance. */
  runs: z.number().int().min(2).default(400),
  /** Episodes per estimate (M); ≥ 2. */
  episodes: z.number().int().min(2).default(10),
  /** Discount γ, below 1 so that V^π and d^π are finite. */
  gamma: z.number().min(0).lt(1).default(0.95),
  seed: nonNegInt.default(0),
  /** The fixed policy: logits [0, rightBias] in every state (π(right) = σ(rightBias)). */
  rightBias: z.number().default(0.5),
  /** Safety cut-off; an episode reaching it makes the run fail (the estimators assume termination). */
  maxSteps: posInt.default(10_000),
  /** The chain walk. */
  env: ChainWalkOptionsSchema.prefault({}),
});

export type VarianceConfig = z.infer<typeof VarianceConfigSchema>;
export type VarianceInput = z.input<typeof VarianceConfigSchema>;

/** Validate the experiment's settings and fill in defaults, or throw a VarianceConfigError naming the key paths. */
export function parseVarianceConfig(input: unknown = {}, where = "config"): VarianceConfig {
  return parseConfig(VarianceConfigSchema, input, {
    where,
    what: "variance config",
    docs: "src/lab/variance.ts",
    errorClass: VarianceConfigError,
  });
}

export interface EstimatorStats {
  /** Per parameter, over the N estimates. [P] */
  mean: number[];
  /** Unbiased sample variance (ddof 1). [P] */
  variance: number[];
  /** Standard error of the mean, √(variance / N). [P] */
  stdError: number[];
  /** Σ_p variance_p, the trace of the estimator's covariance. */
  totalVariance: number;
}

export interface VarianceResult {
  config: VarianceConfig;
  /** Names of the reported parameters, e.g. "θ[s=0,a=right]" (terminal states left out). */
  paramNames: string[];
  /** Indices of the reported parameters in θ's layout. */
  paramIndex: number[];
  /** ∇J(θ) from the policy gradient theorem. [P] */
  trueGradient: number[];
  /** J(θ) = V^π(s_0). */
  objective: number;
  /** Mean episode length under π. */
  meanEpisodeLength: number;
  estimators: { [K in EstimatorKind]: EstimatorStats };
}

/** Run the experiment; estimators share episodes (common random numbers) within a run. */
export function runVarianceExperiment(config: VarianceInput = {}): VarianceResult {
  const cfg = parseVarianceConfig(config);
  const env = new ChainWalk(cfg.env);
  const A = env.numActions;
  const theta: SoftmaxParams = { numStates: env.numStates, numActions: A, logits: new Float64Array(env.numStates * A) };
  for (let s = 0; s < env.numStates; s++) theta.logits[s * A + 1] = cfg.rightBias;
  const { V, Q } = exactValues(env, softmaxPolicy(theta), cfg.gamma);
  const trueGrad = exactPolicyGradient(env, theta, cfg.gamma);

  const paramIndex: number[] = [];
  const paramNames: string[] = [];
  for (let s = 0; s < env.numStates; s++) {
    if (env.isTerminal(s)) continue;
    for (let a = 0; a < A; a++) {
      paramIndex.push(s * A + a);
      paramNames.push(`θ[s=${s},a=${a === 1 ? "right" : "left"}]`);
    }
  }

  const rng = new Rng(cfg.seed);
  const act = (s: number) => sampleCategorical(softmaxRow(theta, s), rng);
  const sample = () =>
    Array.from({ length: cfg.episodes }, () => {
      const ep = runEpisode(env, act, rng, cfg.maxSteps);
      if (!ep.terminated)
        throw new Error(`runVarianceExperiment: an episode hit maxSteps=${cfg.maxSteps} without terminating`);
      return ep;
    });
  const estimates = Object.fromEntries(ESTIMATOR_KINDS.map((k) => [k, [] as Float64Array[]])) as Record<
    EstimatorKind,
    Float64Array[]
  >;
  let steps = 0;
  for (let run = 0; run < cfg.runs; run++) {
    const learnedV = fitMonteCarloBaseline(sample(), env.numStates, cfg.gamma); // independent episodes
    const episodes = sample();
    steps += episodes.reduce((n, ep) => n + ep.states.length, 0);
    const ctx: EstimatorContext = { gamma: cfg.gamma, V, Q, numActions: A, learnedV };
    for (const k of ESTIMATOR_KINDS) estimates[k].push(scoreFunctionGradient(episodes, theta, ESTIMATORS[k], ctx));
  }

  const stats = (samples: Float64Array[]): EstimatorStats => {
    const n = samples.length;
    const mean = paramIndex.map((i) => samples.reduce((acc, g) => acc + g[i]!, 0) / n);
    const variance = paramIndex.map((i, p) => samples.reduce((acc, g) => acc + (g[i]! - mean[p]!) ** 2, 0) / (n - 1));
    return {
      mean,
      variance,
      stdError: variance.map((v) => Math.sqrt(v / n)),
      totalVariance: variance.reduce((a, b) => a + b, 0),
    };
  };
  return {
    config: cfg,
    paramNames,
    paramIndex,
    trueGradient: paramIndex.map((i) => trueGrad[i]!),
    objective: env.startDistribution().reduce((acc, m, s) => acc + m * V[s]!, 0),
    meanEpisodeLength: steps / (cfg.runs * cfg.episodes),
    estimators: Object.fromEntries(
      ESTIMATOR_KINDS.map((k) => [k, stats(estimates[k])]),
    ) as VarianceResult["estimators"],
  };
}

/** The machine-readable summary (`stepwise lab variance --json`): "with" = exact V^π baseline. */
export function varianceSummary(r: VarianceResult) {
  const without = r.estimators.returns;
  const withB = r.estimators.exact_baseline;
  return {
    params: r.paramNames,
    true_gradient: r.trueGradient,
    mean_without: without.mean,
    mean_with: withB.mean,
    var_without: without.variance,
    var_with: withB.variance,
    se_without: without.stdError,
    se_with: withB.stdError,
    var_without_total: without.totalVariance,
    var_with_total: withB.totalVariance,
    /** Σ var_without / Σ var_with: > 1 means the baseline helps. */
    variance_ratio: without.totalVariance / withB.totalVariance,
    variance_ratio_per_param: without.variance.map((v, p) => v / withB.variance[p]!),
    variance_ratio_learned: without.totalVariance / r.estimators.learned_baseline.totalVariance,
    variance_ratio_advantage: without.totalVariance / r.estimators.advantage.totalVariance,
    estimators: r.estimators,
    objective: r.objective,
    mean_episode_length: r.meanEpisodeLength,
    runs: r.config.runs,
    episodes: r.config.episodes,
    gamma: r.config.gamma,
    seed: r.config.seed,
  };
}
