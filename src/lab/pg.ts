/**
 * Policy gradients: REINFORCE with and without a baseline, and actor-critic with
 * one-step TD and GAE(λ) advantages.
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
 * Two policy families:
 *  - tabular softmax, π(a|s) = softmax(θ_s)_a, on small discrete MDPs, in float64 on the
 *    host, with the exact score ∇_{θ_s} log π(a|s) = e_a − π(·|s) (no autodiff needed);
 *  - an MLP actor and critic in jax-js for continuous states (cart-pole), with autodiff
 *    and AdamW. `ppo.ts` reuses its network and rollout collector.
 *
 * Departures, each said again at its line:
 *  - The tabular learners keep the γ^t factor (Sutton & Barto 2018, §13.3), so they follow
 *    the true gradient of the discounted objective; the MLP learner drops it, as CleanRL,
 *    Stable-Baselines and nearly every deep-RL code do.
 *  - Updates are per batch of episodes (tabular) or per rollout (MLP), not per step as in
 *    Sutton & Barto's online one-step actor-critic.
 *  - The MLP actor-critic (A2C-style) uses AdamW instead of RMSprop.
 */
import { type Array as JaxArray, jit, np, valueAndGrad } from "../engine/jax.ts";
import { logSoftmax } from "../engine/losses.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../engine/memory.ts";
import { adamw, clipByGlobalNorm, type OptimizerState } from "../engine/optim.ts";
import type { Params } from "../engine/params.ts";
import { Rng } from "../engine/rng.ts";
import {
  ADVANTAGE_ESTIMATORS,
  type AdvantageKind,
  type Advantages,
  explainedVariance,
  normalizeAdvantages,
  type Rollout,
} from "../rl/advantages.ts";
import type { Env, TabularEnv, TabularPolicy } from "./env.ts";

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

/** Sample an index from a probability vector with the host Rng (inverse CDF). */
export function sampleCategorical(probs: ArrayLike<number>, rng: Rng): number {
  const u = rng.float();
  let acc = 0;
  for (let a = 0; a < probs.length; a++) {
    acc += probs[a]!;
    if (u < acc) return a;
  }
  return probs.length - 1; // u ≥ Σp by rounding
}

// ---------------------------------------------------------------------------
// Episodes.

export interface Episode<S = number> {
  /** s_0 … s_{T−1}. */
  states: S[];
  actions: number[];
  rewards: number[];
  /** The state reached after the last step (terminal, or where the episode was cut off). */
  finalState: S;
  terminated: boolean;
  truncated: boolean;
}

/** Run one episode of `act` in `env`, cut off (truncated) after `maxSteps` steps. */
export function runEpisode<S>(env: Env<S>, act: (s: S) => number, rng: Rng, maxSteps: number): Episode<S> {
  const states: S[] = [];
  const actions: number[] = [];
  const rewards: number[] = [];
  let s = env.reset(rng);
  for (let t = 0; ; t++) {
    const a = act(s);
    const out = env.step(a, rng);
    states.push(s);
    actions.push(a);
    rewards.push(out.reward);
    s = out.state;
    const truncated = out.truncated || (!out.terminated && t + 1 >= maxSteps);
    if (out.terminated || truncated)
      return { states, actions, rewards, finalState: s, terminated: out.terminated, truncated };
  }
}

/** Σ_t γ^t r_t of an episode. */
export function discountedReturn(rewards: readonly number[], gamma: number): number {
  let g = 0;
  for (let t = rewards.length - 1; t >= 0; t--) g = rewards[t]! + gamma * g;
  return g;
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

export interface TabularPgConfig {
  /** Which Ψ_t: "returns" (REINFORCE), "baselined" (REINFORCE + learned V), "td", "gae" (actor-critic). */
  advantage: AdvantageKind;
  /** Number of policy updates. */
  iterations: number;
  /** Episodes per update; the gradient is their mean. */
  episodesPerUpdate: number;
  /** Actor step size α_θ (plain gradient ascent). */
  lr: number;
  /** Critic step size α_w for V(s) ← V(s) + α_w (R_t − V(s)); unused by "returns". */
  criticLr: number;
  gamma: number;
  /** GAE's λ (only "gae"). */
  lam: number;
  /** Episodes are truncated after this many steps. */
  maxSteps: number;
  seed: number;
}

export const TABULAR_PG_DEFAULTS: Omit<TabularPgConfig, "advantage"> = {
  iterations: 200,
  episodesPerUpdate: 8,
  lr: 0.1,
  criticLr: 0.1,
  gamma: 0.95,
  lam: 0.9,
  maxSteps: 200,
  seed: 0,
};

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
export function trainTabularPg(env: TabularEnv, config: TabularPgConfig): TabularPgResult {
  const cfg = config;
  for (const k of ["iterations", "episodesPerUpdate", "maxSteps"] as const) {
    if (!(Number.isInteger(cfg[k]) && cfg[k] >= 1))
      throw new RangeError(`trainTabularPg: ${k} must be an integer >= 1, got ${cfg[k]}`);
  }
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
  config: Partial<Omit<TabularPgConfig, "advantage">> & { baseline: boolean },
): TabularPgResult {
  return trainTabularPg(env, {
    ...TABULAR_PG_DEFAULTS,
    ...config,
    advantage: config.baseline ? "baselined" : "returns",
  });
}

/** Actor-critic: Ψ_t = δ_t (one-step TD) or GAE(λ) from a tabular critic. */
export function actorCritic(
  env: TabularEnv,
  config: Partial<Omit<TabularPgConfig, "advantage">> & { advantage: "td" | "gae" },
): TabularPgResult {
  return trainTabularPg(env, { ...TABULAR_PG_DEFAULTS, ...config });
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

// ---------------------------------------------------------------------------
// An MLP actor and critic in jax-js (CleanRL's ppo.py network for CartPole).
//
//   actor:  obs → 64 → tanh → 64 → tanh → logits [A]
//   critic: obs → 64 → tanh → 64 → tanh → V(s)
//
// Orthogonal initialisation (Saxe et al. 2014) with gain √2 for hidden layers, 0.01 for
// the policy head (near-uniform π at the start) and 1 for the value head; zero biases.

export interface MlpConfig {
  obsSize: number;
  numActions: number;
  hidden: number;
}

/** A [rows, cols] matrix with orthonormal rows or columns, times `gain`, from the host Rng. */
export function orthogonalInit(rows: number, cols: number, gain: number, rng: Rng): Float32Array {
  const tall = rows >= cols;
  const [n, k] = tall ? [rows, cols] : [cols, rows]; // orthonormalise k columns of length n
  const q = Array.from({ length: k }, () => Float64Array.from({ length: n }, () => rng.normal()));
  for (let j = 0; j < k; j++) {
    // modified Gram–Schmidt: the sign convention of QR with a positive diagonal of R
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += q[i]![r]! * q[j]![r]!;
      for (let r = 0; r < n; r++) q[j]![r]! -= dot * q[i]![r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += q[j]![r]! ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < n; r++) q[j]![r]! /= norm;
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? q[c]![r]! : q[r]![c]!);
  }
  return out;
}

/** Parameters named "actor.fc1.weight" … "critic.fc3.bias"; weights are [in, out]. */
export function initMlpActorCritic(cfg: MlpConfig, seed: number): Params {
  const rng = new Rng(seed);
  const params: Params = {};
  const dense = (name: string, nIn: number, nOut: number, gain: number) => {
    params[`${name}.weight`] = np.array(orthogonalInit(nIn, nOut, gain, rng), { shape: [nIn, nOut] });
    params[`${name}.bias`] = np.zeros([nOut], { dtype: np.float32 });
  };
  const { obsSize, numActions, hidden } = cfg;
  for (const [net, outSize, headGain] of [
    ["actor", numActions, 0.01],
    ["critic", 1, 1.0],
  ] as const) {
    dense(`${net}.fc1`, obsSize, hidden, Math.SQRT2);
    dense(`${net}.fc2`, hidden, hidden, Math.SQRT2);
    dense(`${net}.fc3`, hidden, outSize, headGain);
  }
  return params;
}

function mlp(params: Params, net: "actor" | "critic", obs: JaxArray): JaxArray {
  const layer = (x: JaxArray, i: number) =>
    np.add(np.matmul(x, params[`${net}.fc${i}.weight`]!), params[`${net}.fc${i}.bias`]!);
  const h1 = np.tanh(layer(obs, 1)); // [B, H]
  const h2 = np.tanh(layer(h1, 2)); // [B, H]
  return layer(h2, 3); // [B, out]
}

/**
 * log π(·|s) and V(s) for a batch of observations [B, obsSize] → { logProbs [B, A], values [B] }.
 * Consumes `params` and `obs` (pass `keepTree(params)` to keep them).
 */
export function actorCriticForward(params: Params, obs: JaxArray): { logProbs: JaxArray; values: JaxArray } {
  const logits = mlp(params, "actor", obs.ref); // [B, A]
  const values = mlp(params, "critic", obs); // [B, 1]
  return { logProbs: logSoftmax(logits), values: np.squeeze(values, -1) };
}

/**
 * Per-sample log π(a|s) and entropy H(π(·|s)) from log-probabilities [B, A] and a
 * one-hot of the actions [B, A] (the one-hot pick works under jit; takeAlongAxis's
 * gradient does not). Returns { logProb [B], entropy [B] }. Consumes both.
 */
export function pickLogProb(logProbs: JaxArray, actionsOneHot: JaxArray): { logProb: JaxArray; entropy: JaxArray } {
  const entropy = np.negative(np.sum(np.multiply(np.exp(logProbs.ref), logProbs.ref), -1)); // H = −Σ_a π log π  [B]
  const logProb = np.sum(np.multiply(logProbs, actionsOneHot), -1); // [B]
  return { logProb, entropy };
}

// ---------------------------------------------------------------------------
// Rollouts from E environments in lock step (CleanRL's SyncVectorEnv with auto-reset).

/** An environment with a vector observation (cart-pole). */
export interface VectorObsEnv extends Env<Float64Array> {
  readonly observationSize: number;
}

/** T steps × E envs, time-major: index t * E + e. */
export interface RolloutBatch {
  numSteps: number;
  numEnvs: number;
  obsSize: number;
  /** s_t. [T·E, obsSize] */
  obs: Float32Array;
  /** a_t. [T·E] */
  actions: Int32Array;
  /** log π_old(a_t | s_t) at collection time. [T·E] */
  logProbs: Float64Array;
  /** V_old(s_t). [T·E] */
  values: Float64Array;
  rewards: Float64Array;
  /** V_old(s'_t), the state reached (the final observation if the episode ended there). [T·E] */
  nextValues: Float64Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  /** Undiscounted returns and lengths of the episodes that finished during this rollout. */
  episodeReturns: number[];
  episodeLengths: number[];
}

/**
 * Steps E copies of an environment in lock step, resetting each when its episode ends,
 * and keeps the episodes going across calls to `collect` (as CleanRL does).
 * Actions are sampled on the host from the log-probabilities read back each step.
 */
export class VecRunner {
  readonly envs: VectorObsEnv[];
  readonly obsSize: number;
  readonly rng: Rng;
  #obs: Float64Array[];
  #epReturn: number[];
  #epLength: number[];

  constructor(makeEnv: () => VectorObsEnv, numEnvs: number, seed: number) {
    if (!(Number.isInteger(numEnvs) && numEnvs >= 1))
      throw new RangeError(`VecRunner: numEnvs must be >= 1, got ${numEnvs}`);
    this.envs = Array.from({ length: numEnvs }, makeEnv);
    this.obsSize = this.envs[0]!.observationSize;
    this.rng = new Rng(seed);
    this.#obs = this.envs.map((env) => env.reset(this.rng));
    this.#epReturn = this.envs.map(() => 0);
    this.#epLength = this.envs.map(() => 0);
  }

  /** Collect `numSteps` steps from every env with the policy/critic `params`. */
  async collect(params: Params, numSteps: number, forward: PolicyForward): Promise<RolloutBatch> {
    const E = this.envs.length;
    const D = this.obsSize;
    const N = numSteps * E;
    const batch: RolloutBatch = {
      numSteps,
      numEnvs: E,
      obsSize: D,
      obs: new Float32Array(N * D),
      actions: new Int32Array(N),
      logProbs: new Float64Array(N),
      values: new Float64Array(N),
      rewards: new Float64Array(N),
      nextValues: new Float64Array(N),
      terminated: new Uint8Array(N),
      truncated: new Uint8Array(N),
      episodeReturns: [],
      episodeLengths: [],
    };
    const finals: { index: number; obs: Float64Array }[] = []; // truncated steps: V(final obs) needed
    for (let t = 0; t < numSteps; t++) {
      for (let e = 0; e < E; e++) batch.obs.set(this.#obs[e]!, (t * E + e) * D);
      const { logProbs, values } = await forward(params, batch.obs.slice(t * E * D, (t + 1) * E * D), E);
      const A = logProbs.length / E;
      for (let e = 0; e < E; e++) {
        const i = t * E + e;
        const row = Array.from({ length: A }, (_, a) => Math.exp(logProbs[e * A + a]!));
        const a = sampleCategorical(row, this.rng);
        const out = this.envs[e]!.step(a, this.rng);
        batch.actions[i] = a;
        batch.logProbs[i] = logProbs[e * A + a]!;
        batch.values[i] = values[e]!;
        batch.rewards[i] = out.reward;
        batch.terminated[i] = out.terminated ? 1 : 0;
        batch.truncated[i] = out.truncated && !out.terminated ? 1 : 0;
        this.#epReturn[e]! += out.reward;
        this.#epLength[e]! += 1;
        if (out.terminated || out.truncated) {
          if (batch.truncated[i]) finals.push({ index: i, obs: out.state });
          batch.episodeReturns.push(this.#epReturn[e]!);
          batch.episodeLengths.push(this.#epLength[e]!);
          this.#epReturn[e] = 0;
          this.#epLength[e] = 0;
          this.#obs[e] = this.envs[e]!.reset(this.rng);
        } else {
          this.#obs[e] = out.state;
        }
      }
    }
    // V(s'_t): the next step's V(s_{t+1}) within an episode; one more forward pass for the
    // observations after the last step and for the final observations of truncated episodes.
    const tail = [...this.#obs, ...finals.map((f) => f.obs)];
    const tailObs = new Float32Array(tail.length * D);
    for (const [j, o] of tail.entries()) tailObs.set(o, j * D);
    const { values: tailValues } = await forward(params, tailObs, tail.length);
    for (let t = 0; t < numSteps; t++) {
      for (let e = 0; e < E; e++) {
        const i = t * E + e;
        batch.nextValues[i] = t + 1 < numSteps ? batch.values[i + E]! : tailValues[e]!;
      }
    }
    finals.forEach((f, j) => {
      batch.nextValues[f.index] = tailValues[E + j]!;
    });
    // (terminated steps: nextValues holds the reset state's value, which the estimators ignore.)
    return batch;
  }
}

/** Host-facing forward pass: observations [B·obsSize] → log π [B·A] and V [B]. */
export type PolicyForward = (
  params: Params,
  obs: Float32Array,
  batchSize: number,
) => Promise<{ logProbs: Float32Array; values: Float32Array }>;

/** A jit-compiled `actorCriticForward` behind the host-facing `PolicyForward` signature. */
export function makePolicyForward(): { forward: PolicyForward; dispose: () => void } {
  const f = jit((params: Params, obs: JaxArray) => actorCriticForward(params, obs));
  const forward: PolicyForward = async (params, obs, batchSize) => {
    const out = f(keepTree(params), np.array(obs, { shape: [batchSize, obs.length / batchSize] }));
    const [logProbs, values] = await Promise.all([readFloat32(out.logProbs), readFloat32(out.values)]);
    return { logProbs, values };
  };
  return { forward, dispose: () => f.dispose() };
}

/** Advantages for every env's column of a rollout batch, laid out like the batch. [T·E] */
export function batchAdvantages(
  batch: RolloutBatch,
  kind: AdvantageKind,
  cfg: { gamma: number; lam: number },
): Advantages {
  const { numSteps: T, numEnvs: E } = batch;
  const advantages = new Float64Array(T * E);
  const returns = new Float64Array(T * E);
  const column = <A extends Float64Array | Uint8Array>(x: A, e: number) =>
    Array.from({ length: T }, (_, t) => x[t * E + e]!);
  for (let e = 0; e < E; e++) {
    const out = ADVANTAGE_ESTIMATORS[kind](
      {
        rewards: column(batch.rewards, e),
        values: column(batch.values, e),
        nextValues: column(batch.nextValues, e),
        terminated: column(batch.terminated, e),
        truncated: column(batch.truncated, e),
      },
      cfg,
    );
    for (let t = 0; t < T; t++) {
      advantages[t * E + e] = out.advantages[t]!;
      returns[t * E + e] = out.returns[t]!;
    }
  }
  return { advantages, returns };
}

// ---------------------------------------------------------------------------
// Actor-critic with the MLP (synchronous advantage actor-critic, A2C; Mnih et al. 2016).

export interface MlpActorCriticConfig {
  /** "td" (one-step), "gae", or "baselined" (Monte-Carlo within the rollout, bootstrapped at its end). */
  advantage: AdvantageKind;
  iterations: number;
  numEnvs: number;
  /** Steps per env per rollout. */
  numSteps: number;
  lr: number;
  gamma: number;
  lam: number;
  entCoef: number;
  vfCoef: number;
  maxGradNorm: number;
  normAdv: boolean;
  hidden: number;
  seed: number;
}

export const MLP_ACTOR_CRITIC_DEFAULTS: MlpActorCriticConfig = {
  advantage: "gae",
  iterations: 50,
  numEnvs: 8,
  numSteps: 32,
  lr: 1e-3,
  gamma: 0.99,
  lam: 0.95,
  entCoef: 0.01,
  vfCoef: 0.5,
  maxGradNorm: 0.5,
  normAdv: true,
  hidden: 64,
  seed: 0,
};

/** One row of a training log (also what `ppo` logs, minus the PPO-only fields). */
export interface PgLogRow {
  iteration: number;
  /** Environment steps so far. */
  globalStep: number;
  /** Mean undiscounted return / length of the episodes that finished in this rollout (NaN if none). */
  episodeReturn: number;
  episodeLength: number;
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  explainedVariance: number;
}

/**
 * A2C on a vector-observation env: per rollout, one full-batch step on
 *
 *   L = −mean_t[Â_t log π(a_t|s_t)] + c_v · ½ mean_t[(V(s_t) − R_t)²] − c_e · mean_t[H(π(·|s_t))]
 *
 * (no γ^t weighting: see the header).
 */
export async function trainMlpActorCritic(
  makeEnv: () => VectorObsEnv,
  config: Partial<MlpActorCriticConfig> = {},
  onLog?: (row: PgLogRow) => void,
): Promise<{ params: Params; log: PgLogRow[] }> {
  const cfg = { ...MLP_ACTOR_CRITIC_DEFAULTS, ...config };
  const runner = new VecRunner(makeEnv, cfg.numEnvs, cfg.seed);
  const numActions = runner.envs[0]!.numActions;
  let params = initMlpActorCritic({ obsSize: runner.obsSize, numActions, hidden: cfg.hidden }, cfg.seed);
  const opt = adamw({ weightDecay: 0, eps: 1e-5 });
  let optState: OptimizerState = opt.init(params);
  const policy = makePolicyForward();

  const loss = (p: Params, obs: JaxArray, actionsOneHot: JaxArray, advantages: JaxArray, returns: JaxArray) => {
    const out = actorCriticForward(p, obs); // logProbs [B, A], values [B]
    const { logProb, entropy } = pickLogProb(out.logProbs, actionsOneHot); // [B], [B]
    const policyLoss = np.negative(np.mean(np.multiply(advantages, logProb))); // −mean Â log π
    const valueLoss = np.multiply(0.5, np.mean(np.square(np.subtract(out.values, returns)))); // ½ mean (V − R)²
    const entropyMean = np.mean(entropy);
    const total = np.add(
      np.subtract(policyLoss.ref, np.multiply(cfg.entCoef, entropyMean.ref)),
      np.multiply(cfg.vfCoef, valueLoss.ref),
    );
    return [total, { policyLoss, valueLoss, entropy: entropyMean }] as [JaxArray, Record<string, JaxArray>];
  };
  const step = jit(
    (
      p: Params,
      s: OptimizerState,
      obs: JaxArray,
      actionsOneHot: JaxArray,
      advantages: JaxArray,
      returns: JaxArray,
      lr: JaxArray,
    ) => {
      const [[, aux], grads] = valueAndGrad(loss, { hasAux: true })(
        keepTree(p),
        obs,
        actionsOneHot,
        advantages,
        returns,
      );
      const clipped = clipByGlobalNorm(grads, cfg.maxGradNorm);
      clipped.norm.dispose();
      const next = opt.update(p, clipped.grads, s, lr);
      return { params: next.params, state: next.state, aux };
    },
  );

  const log: PgLogRow[] = [];
  const lr = np.array(cfg.lr, { dtype: np.float32 });
  for (let it = 0; it < cfg.iterations; it++) {
    const batch = await runner.collect(params, cfg.numSteps, policy.forward);
    const { advantages, returns } = batchAdvantages(batch, cfg.advantage, cfg);
    const adv = cfg.normAdv ? normalizeAdvantages(advantages) : advantages;
    const B = batch.actions.length;
    const out = step(
      params,
      optState,
      np.array(batch.obs, { shape: [B, batch.obsSize] }),
      oneHotHost(batch.actions, numActions),
      np.array(Float32Array.from(adv)),
      np.array(Float32Array.from(returns)),
      lr.ref,
    );
    params = out.params;
    optState = out.state;
    const row: PgLogRow = {
      iteration: it,
      globalStep: (it + 1) * B,
      episodeReturn: mean(batch.episodeReturns),
      episodeLength: mean(batch.episodeLengths),
      policyLoss: await readScalar(out.aux.policyLoss!),
      valueLoss: await readScalar(out.aux.valueLoss!),
      entropy: await readScalar(out.aux.entropy!),
      explainedVariance: explainedVariance(batch.values, returns),
    };
    log.push(row);
    onLog?.(row);
  }
  lr.dispose();
  step.dispose();
  policy.dispose();
  disposeTree(optState);
  return { params, log };
}

/** One-hot rows [B, A] built on the host (float32). */
export function oneHotHost(actions: Int32Array, numActions: number): JaxArray {
  const out = new Float32Array(actions.length * numActions);
  actions.forEach((a, i) => {
    out[i * numActions + a] = 1;
  });
  return np.array(out, { shape: [actions.length, numActions] });
}

/**
 * Mean undiscounted return and length of `episodes` full episodes of the MLP policy,
 * sampling actions (or taking the argmax when `greedy`). Borrows `params`.
 */
export async function evaluateMlpPolicy(
  params: Params,
  makeEnv: () => VectorObsEnv,
  opts: { episodes: number; seed: number; greedy?: boolean; maxSteps?: number },
): Promise<{ meanReturn: number; meanLength: number; lengths: number[] }> {
  const env = makeEnv();
  const rng = new Rng(opts.seed);
  const policy = makePolicyForward();
  const returns: number[] = [];
  const lengths: number[] = [];
  try {
    for (let ep = 0; ep < opts.episodes; ep++) {
      let s = env.reset(rng);
      let total = 0;
      for (let t = 1; ; t++) {
        const { logProbs } = await policy.forward(params, Float32Array.from(s), 1);
        const a = opts.greedy ? argmax(logProbs) : sampleCategorical(Array.from(logProbs, Math.exp), rng);
        const out = env.step(a, rng);
        total += out.reward;
        s = out.state;
        if (out.terminated || out.truncated || t >= (opts.maxSteps ?? Number.POSITIVE_INFINITY)) {
          returns.push(total);
          lengths.push(t);
          break;
        }
      }
    }
  } finally {
    policy.dispose();
  }
  return { meanReturn: mean(returns), meanLength: mean(lengths), lengths };
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}
