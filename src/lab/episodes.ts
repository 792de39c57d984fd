/**
 * Episodes on the host: sample an action from a probability vector, run one episode of a
 * policy in an `Env`, and its discounted return. Shared by the tabular policy-gradient
 * learners (tabular-pg.ts), the variance experiment (variance.ts) and the MLP policies'
 * rollouts and evaluation (vec-rollout.ts, mlp-policy.ts).
 */
import type { Rng } from "../engine/rng.ts";
import type { Env } from "./env.ts";

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

/** The arithmetic mean (NaN for no values: e.g. no episode finished in a rollout). */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}
