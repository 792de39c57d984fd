/**
 * Tabular temporal-difference control: Q-learning and SARSA (Sutton & Barto, 2nd ed., §6.4–6.5).
 *
 *   SARSA (on-policy):       Q(S,A) ← Q(S,A) + α [R + γ Q(S',A') − Q(S,A)],   A' ~ ε-greedy(Q)(S')
 *   Q-learning (off-policy): Q(S,A) ← Q(S,A) + α [R + γ max_a Q(S',a) − Q(S,A)]
 *
 * Both behave ε-greedily. Q-learning learns Q* whatever it does; SARSA learns the value of
 * the ε-greedy policy it follows, which is why on cliff walking it prefers the path away
 * from the edge (S&B Example 6.6).
 *
 * Departures from the book's pseudo-code, all deliberate:
 *  - ties in the behaviour policy's argmax are broken uniformly at random (seeded), so
 *    that an all-zero table does not always try action 0 first;
 *  - an episode cut off at `maxSteps` is *truncated*, not terminated: its last update
 *    still bootstraps from Q(S'), because the state is not really terminal;
 *  - α and ε may be schedules over the episode index (0-based), not only constants.
 */
import { Rng } from "../engine/rng.ts";
import type { Env } from "./env.ts";

/** A constant, or a function of the 0-based index (episode for TD control, step for bandits). */
export type ScheduleLike = number | ((index: number) => number);

export function scheduleValue(s: ScheduleLike, index: number): number {
  return typeof s === "number" ? s : s(index);
}

/** Linear decay from `from` to `to` over `steps` indices, then constant at `to`. */
export function linearDecay(from: number, to: number, steps: number): (index: number) => number {
  if (!(steps > 0)) throw new RangeError(`linearDecay: steps must be > 0, got ${steps}`);
  return (i) => from + (to - from) * Math.min(1, i / steps);
}

/** An environment with integer states 0..numStates−1, as tabular methods need. */
export type TabularSampleEnv = Env<number> & { readonly numStates: number };

export interface TdStep {
  episode: number;
  t: number;
  state: number;
  action: number;
  reward: number;
  next: number;
  terminated: boolean;
  truncated: boolean;
  info?: Record<string, number | boolean | string>;
}

export interface TdOptions {
  /** Number of episodes to run. */
  episodes: number;
  /** Step size α ∈ (0, 1], constant or a schedule over episodes. */
  alpha: ScheduleLike;
  /** Discount γ ∈ [0, 1]. */
  gamma: number;
  /** Exploration ε ∈ [0, 1], constant or a schedule over episodes. */
  epsilon: ScheduleLike;
  /** Seed for all randomness: the environment's and the agent's. */
  seed: number;
  /** Cut an episode off after this many steps (truncation; default 1000). */
  maxSteps?: number;
  /** Initial value of every Q(s, a) (default 0; optimistic values drive exploration). */
  initialQ?: number;
  /** Called after every transition, e.g. to record a true-objective metric from `info`. */
  onStep?: (step: TdStep) => void;
  /** Called after every episode with the live Q table (read it, do not write it). */
  onEpisode?: (episode: number, q: Float64Array) => void;
}

export interface TdResult {
  /** Q[s * numActions + a]. */
  q: Float64Array;
  numStates: number;
  numActions: number;
  /** Undiscounted sum of rewards of each episode: G = Σ_t R_{t+1}. */
  returnsPerEpisode: number[];
  /** Steps taken in each episode. */
  lengthsPerEpisode: number[];
  /** Whether each episode reached a terminal state (false: cut off at maxSteps). */
  terminatedPerEpisode: boolean[];
}

/** Index of the largest q[base..base+n), ties broken uniformly at random with `rng`. */
export function argmaxRandomTie(q: Float64Array, base: number, n: number, rng: Rng): number {
  let best = q[base]!;
  let bestA = 0;
  let ties = 1;
  for (let a = 1; a < n; a++) {
    const v = q[base + a]!;
    if (v > best) {
      best = v;
      bestA = a;
      ties = 1;
    } else if (v === best) {
      // Reservoir sampling over the tied actions: keep the k-th with probability 1/k.
      ties++;
      if (rng.int(1, ties) === 1) bestA = a;
    }
  }
  return bestA;
}

/** ε-greedy: a uniformly random action with probability ε, else argmax_a Q(s, a). */
export function epsilonGreedy(q: Float64Array, state: number, numActions: number, epsilon: number, rng: Rng): number {
  if (rng.float() < epsilon) return rng.int(0, numActions - 1);
  return argmaxRandomTie(q, state * numActions, numActions, rng);
}

function maxQ(q: Float64Array, state: number, numActions: number): number {
  let m = -Infinity;
  for (let a = 0; a < numActions; a++) m = Math.max(m, q[state * numActions + a]!);
  return m;
}

function validate(fn: string, env: TabularSampleEnv, o: TdOptions): void {
  const bad = (key: string, value: unknown, want: string) =>
    new RangeError(`${fn}: option ${key} must be ${want}, got ${String(value)}`);
  if (!Number.isInteger(env.numStates) || env.numStates < 1)
    throw bad("env.numStates", env.numStates, "an integer ≥ 1");
  if (!Number.isInteger(env.numActions) || env.numActions < 1) {
    throw bad("env.numActions", env.numActions, "an integer ≥ 1");
  }
  if (!Number.isInteger(o.episodes) || o.episodes < 0) throw bad("episodes", o.episodes, "an integer ≥ 0");
  if (!(o.gamma >= 0 && o.gamma <= 1)) throw bad("gamma", o.gamma, "in [0, 1]");
  if (typeof o.alpha === "number" && !(o.alpha > 0 && o.alpha <= 1)) throw bad("alpha", o.alpha, "in (0, 1]");
  if (typeof o.epsilon === "number" && !(o.epsilon >= 0 && o.epsilon <= 1)) {
    throw bad("epsilon", o.epsilon, "in [0, 1]");
  }
  if (o.maxSteps !== undefined && !(Number.isInteger(o.maxSteps) && o.maxSteps >= 1)) {
    throw bad("maxSteps", o.maxSteps, "an integer ≥ 1");
  }
  if (!Number.isInteger(o.seed)) throw bad("seed", o.seed, "an integer");
}

type TdTarget = "q-learning" | "sarsa";

/** The shared episode loop; only the bootstrap target differs between the two methods. */
function tdControl(fn: TdTarget, env: TabularSampleEnv, o: TdOptions): TdResult {
  validate(fn === "q-learning" ? "qLearning" : "sarsa", env, o);
  const nS = env.numStates;
  const nA = env.numActions;
  const maxSteps = o.maxSteps ?? 1000;
  const q = new Float64Array(nS * nA).fill(o.initialQ ?? 0);
  const rng = new Rng(o.seed);
  const returnsPerEpisode: number[] = [];
  const lengthsPerEpisode: number[] = [];
  const terminatedPerEpisode: boolean[] = [];

  for (let ep = 0; ep < o.episodes; ep++) {
    const alpha = scheduleValue(o.alpha, ep);
    const epsilon = scheduleValue(o.epsilon, ep);
    let s = env.reset(rng);
    let a = epsilonGreedy(q, s, nA, epsilon, rng);
    let G = 0;
    let t = 0;
    let terminated = false;
    while (t < maxSteps) {
      const out = env.step(a, rng);
      const s2 = out.state;
      t++;
      G += out.reward;
      terminated = out.terminated;
      const truncated = !terminated && (out.truncated || t >= maxSteps);
      // A' is needed by SARSA's target and, for both methods, as the next action taken.
      const a2 = terminated ? -1 : epsilonGreedy(q, s2, nA, epsilon, rng);
      const bootstrap = terminated ? 0 : fn === "q-learning" ? maxQ(q, s2, nA) : q[s2 * nA + a2]!;
      const i = s * nA + a;
      // Q(S,A) ← Q(S,A) + α [R + γ·bootstrap − Q(S,A)]
      q[i] = q[i]! + alpha * (out.reward + o.gamma * bootstrap - q[i]!);
      o.onStep?.({
        episode: ep,
        t,
        state: s,
        action: a,
        reward: out.reward,
        next: s2,
        terminated,
        truncated,
        info: out.info,
      });
      if (terminated || out.truncated) break;
      s = s2;
      a = a2;
    }
    returnsPerEpisode.push(G);
    lengthsPerEpisode.push(t);
    terminatedPerEpisode.push(terminated);
    o.onEpisode?.(ep, q);
  }
  return { q, numStates: nS, numActions: nA, returnsPerEpisode, lengthsPerEpisode, terminatedPerEpisode };
}

/** Off-policy TD control (Watkins' Q-learning): learns Q* while behaving ε-greedily. */
export function qLearning(env: TabularSampleEnv, opts: TdOptions): TdResult {
  return tdControl("q-learning", env, opts);
}

/** On-policy TD control (SARSA): learns Q of the ε-greedy policy it follows. */
export function sarsa(env: TabularSampleEnv, opts: TdOptions): TdResult {
  return tdControl("sarsa", env, opts);
}
