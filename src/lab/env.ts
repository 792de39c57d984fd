/**
 * The RL lab's environment interface: small, discrete where it can be, seeded.
 *
 * An environment is a Markov decision process we can sample from (`reset`/`step`)
 * and, for tabular ones, whose dynamics we know exactly (`transitions`), so that
 * V^π, Q^π and A^π can be computed exactly and learned estimates checked against them.
 */
import type { Rng } from "../engine/rng.ts";

export interface StepResult<S> {
  state: S;
  reward: number;
  /** The episode ended in a terminal state (no bootstrapping past it). */
  terminated: boolean;
  /** The episode was cut off by a time limit (bootstrapping past it is correct). */
  truncated: boolean;
  /** Extra facts for monitors, e.g. the true task reward when `reward` is a proxy. */
  info?: Record<string, number | boolean | string>;
}

/** An environment with states of type S and `numActions` discrete actions. */
export interface Env<S = number> {
  readonly name: string;
  readonly numActions: number;
  /** Start an episode; all randomness comes from `rng`. */
  reset(rng: Rng): S;
  /** Take `action` in the current state. */
  step(action: number, rng: Rng): StepResult<S>;
}

/** One possible outcome of (s, a): next state s' with probability p and reward r. */
export interface Transition {
  prob: number;
  next: number;
  reward: number;
  /** s' is terminal: V(s') = 0 by definition. */
  terminal: boolean;
}

/**
 * A finite MDP with known dynamics: states 0..numStates−1, actions 0..numActions−1,
 * P(s', r | s, a) given as a list of transitions per (s, a).
 */
export interface TabularEnv extends Env<number> {
  readonly numStates: number;
  /** transitions(s, a): outcomes whose probabilities sum to 1. */
  transitions(state: number, action: number): readonly Transition[];
  /** Distribution of the start state (probabilities over states). */
  startDistribution(): Float64Array;
  /** States where episodes end (their values are 0). */
  isTerminal(state: number): boolean;
}

/** A policy over a finite MDP: probs[s * numActions + a] = π(a | s). */
export interface TabularPolicy {
  numStates: number;
  numActions: number;
  probs: Float64Array;
}
