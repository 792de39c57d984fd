/**
 * k-armed bandits (Sutton & Barto, 2nd ed., ch. 2): one state, k actions, each paying a
 * reward from its own distribution. An agent keeps sample-average estimates
 *
 *   Q_{n+1}(a) = Q_n(a) + (R_n − Q_n(a)) / N(a)                                       (2.3)
 *
 * and chooses by one of
 *   random          a ~ Uniform{0..k−1}                      (the linear-regret baseline)
 *   epsilon-greedy  random with probability ε_t, else argmax_a Q(a)
 *   ucb             argmax_a [Q(a) + c √(ln t / N(a))], untried arms first              (2.10)
 *
 * We report the pseudo-regret Σ_t (μ* − μ_{A_t}), which depends only on the choices. It grows
 * linearly for random and for a constant ε, and logarithmically for UCB and for ε_t ∝ 1/t.
 */
import { Rng } from "../engine/rng.ts";
import type { Env, StepResult } from "./env.ts";
import { argmaxRandomTie, type ScheduleLike, scheduleValue } from "./tabular.ts";

export interface Bandit extends Env<number> {
  /** Expected reward μ_a of each arm. */
  readonly means: Float64Array;
}

function makeBandit(name: string, means: Float64Array, sample: (a: number, rng: Rng) => number): Bandit {
  return {
    name,
    numActions: means.length,
    means,
    reset: () => 0,
    step(action: number, rng: Rng): StepResult<number> {
      if (!Number.isInteger(action) || action < 0 || action >= means.length) {
        throw new RangeError(`${name}.step: action must be an integer in 0..${means.length - 1}, got ${action}`);
      }
      return { state: 0, reward: sample(action, rng), terminated: true, truncated: false };
    },
  };
}

/** Arms paying N(μ_a, sd²). */
export function gaussianBandit(means: ArrayLike<number>, sd = 1): Bandit {
  if (means.length < 1) throw new RangeError("gaussianBandit: need at least one arm");
  if (!(sd >= 0)) throw new RangeError(`gaussianBandit: sd must be ≥ 0, got ${sd}`);
  const mu = Float64Array.from(means);
  return makeBandit(`gaussian-bandit-${mu.length}`, mu, (a, rng) => mu[a]! + sd * rng.normal());
}

/** Arms paying 1 with probability p_a, else 0. */
export function bernoulliBandit(probs: ArrayLike<number>): Bandit {
  if (probs.length < 1) throw new RangeError("bernoulliBandit: need at least one arm");
  const p = Float64Array.from(probs);
  p.forEach((v, a) => {
    if (!(v >= 0 && v <= 1)) throw new RangeError(`bernoulliBandit: probs[${a}] must be in [0, 1], got ${v}`);
  });
  return makeBandit(`bernoulli-bandit-${p.length}`, p, (a, rng) => (rng.float() < p[a]! ? 1 : 0));
}

/** The Gaussian testbed of S&B §2.3: μ_a ~ N(0, 1), rewards N(μ_a, 1). */
export function testbedBandit(k: number, rng: Rng): Bandit {
  return gaussianBandit(
    Array.from({ length: k }, () => rng.normal()),
    1,
  );
}

export type BanditAgentKind = "random" | "epsilon-greedy" | "ucb";

export interface BanditAgentOptions {
  /** ε for epsilon-greedy: a constant or a schedule over the step t (0-based). Default 0.1. */
  epsilon?: ScheduleLike;
  /** Exploration weight c for UCB. Default 2. */
  c?: number;
}

/** Sample-average estimates: N(a), Q(a), and the step count t. */
interface BanditState {
  counts: Float64Array;
  values: Float64Array;
  t: number;
}

type Select = (st: BanditState, rng: Rng, o: BanditAgentOptions) => number;

const SELECT: { [K in BanditAgentKind]: Select } = {
  random: (st, rng) => rng.int(0, st.values.length - 1),
  "epsilon-greedy": (st, rng, o) => {
    const k = st.values.length;
    if (rng.float() < scheduleValue(o.epsilon ?? 0.1, st.t - 1)) return rng.int(0, k - 1);
    return argmaxRandomTie(st.values, 0, k, rng);
  },
  ucb: (st, rng, o) => {
    const k = st.values.length;
    for (let a = 0; a < k; a++) if (st.counts[a] === 0) return a; // N(a) = 0 counts as maximising
    const c = o.c ?? 2;
    const ucb = new Float64Array(k);
    for (let a = 0; a < k; a++) ucb[a] = st.values[a]! + c * Math.sqrt(Math.log(st.t) / st.counts[a]!);
    return argmaxRandomTie(ucb, 0, k, rng);
  },
};

export interface BanditRun {
  actions: Int32Array;
  rewards: Float64Array;
  /** Cumulative pseudo-regret after each step: Σ_{τ≤t} (μ* − μ_{A_τ}). */
  regret: Float64Array;
  /** Fraction of steps that pulled an optimal arm. */
  optimalFraction: number;
}

/** Run one agent for `steps` pulls, all randomness from `seed`. */
export function runBandit(
  bandit: Bandit,
  agent: BanditAgentKind,
  opts: BanditAgentOptions & { steps: number; seed: number },
): BanditRun {
  if (!Number.isInteger(opts.steps) || opts.steps < 1) {
    throw new RangeError(`runBandit: option steps must be an integer ≥ 1, got ${opts.steps}`);
  }
  const select = SELECT[agent];
  if (!select) throw new RangeError(`runBandit: unknown agent "${agent}", expected one of ${Object.keys(SELECT)}`);
  const k = bandit.numActions;
  const rng = new Rng(opts.seed);
  const st: BanditState = { counts: new Float64Array(k), values: new Float64Array(k), t: 0 };
  const best = Math.max(...bandit.means);
  const actions = new Int32Array(opts.steps);
  const rewards = new Float64Array(opts.steps);
  const regret = new Float64Array(opts.steps);
  let total = 0;
  let optimal = 0;
  for (let t = 0; t < opts.steps; t++) {
    st.t = t + 1;
    bandit.reset(rng);
    const a = select(st, rng, opts);
    const { reward } = bandit.step(a, rng);
    st.counts[a] = st.counts[a]! + 1;
    st.values[a] = st.values[a]! + (reward - st.values[a]!) / st.counts[a]!; // (2.3)
    actions[t] = a;
    rewards[t] = reward;
    total += best - bandit.means[a]!;
    regret[t] = total;
    if (bandit.means[a] === best) optimal++;
  }
  return { actions, rewards, regret, optimalFraction: optimal / opts.steps };
}
