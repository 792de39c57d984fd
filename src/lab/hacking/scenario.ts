/**
 * What every reward-hacking scenario shares.
 *
 * A scenario is a small deterministic MDP whose every transition carries two rewards:
 *   reward      the one the agent is trained on: the flawed proxy, or its fix;
 *   trueReward  the one the designer meant (goal reached, dirt actually cleaned, race
 *               finished), never shown to the learner; it travels in `StepResult.info`.
 * plus the events a hack leaves behind (`sensorOff`, `targetHit`, ...), so that an
 * episode can be judged afterwards. The runner in `index.ts` trains tabular Q-learning
 * on `reward`, measures `trueReward`, and hands both curves to the divergence detector.
 */
import type { Rng } from "../../engine/rng.ts";
import type { TabularEnv, Transition } from "../env.ts";

/** Which reward the agent is trained on. */
export type RewardVariant = "flawed" | "fixed";
export const REWARD_VARIANTS: readonly RewardVariant[] = ["flawed", "fixed"];

/** What taking `action` in `state` does; the scenarios are deterministic. */
export interface Outcome {
  next: number;
  /** The episode ends in `next`. */
  terminal: boolean;
  /** The reward the agent is trained on (the proxy, or its fix). */
  reward: number;
  /** The task's true reward: what the designer meant. */
  trueReward: number;
  /** Facts worth keeping for the judge of an episode, e.g. { sensorOff: true }. */
  events?: Record<string, number | boolean>;
}

/** A tabular environment that also exposes its deterministic outcomes and true reward. */
export interface HackingEnv extends TabularEnv {
  readonly variant: RewardVariant;
  /** States an episode may start in; `reset` picks one uniformly. */
  readonly startStates: readonly number[];
  outcome(state: number, action: number): Outcome;
  /** Human-readable state, for printing traces. */
  describeState(state: number): string;
}

export interface HackingEnvSpec {
  name: string;
  variant: RewardVariant;
  numStates: number;
  numActions: number;
  startStates: readonly number[];
  isTerminal(state: number): boolean;
  /** Called once per non-terminal (state, action); the table is cached. */
  outcome(state: number, action: number): Outcome;
  describeState?(state: number): string;
}

/** Build the `TabularEnv` (exact transitions, seeded reset/step) of a deterministic scenario. */
export function makeHackingEnv(spec: HackingEnvSpec): HackingEnv {
  const { name, numStates, numActions, startStates } = spec;
  if (startStates.length === 0) throw new RangeError(`${name}: needs at least one start state`);
  const table: Outcome[] = [];
  for (let s = 0; s < numStates; s++) {
    for (let a = 0; a < numActions; a++) {
      // A terminal state absorbs with reward 0, as in the rest of the lab (V = 0 there).
      table.push(spec.isTerminal(s) ? { next: s, terminal: true, reward: 0, trueReward: 0 } : spec.outcome(s, a));
    }
  }
  const outcome = (s: number, a: number): Outcome => {
    const o = table[s * numActions + a];
    if (o === undefined) {
      throw new RangeError(
        `${name}: no outcome for state ${s}, action ${a} (${numStates} states, ${numActions} actions)`,
      );
    }
    return o;
  };
  let current = -1;
  return {
    name,
    variant: spec.variant,
    numStates,
    numActions,
    startStates,
    outcome,
    describeState: spec.describeState ?? ((s) => `s${s}`),
    isTerminal: spec.isTerminal,
    transitions: (s, a): readonly Transition[] => {
      const o = outcome(s, a);
      return [{ prob: 1, next: o.next, reward: o.reward, terminal: o.terminal }];
    },
    startDistribution: () => {
      const d = new Float64Array(numStates);
      for (const s of startStates) d[s] = d[s]! + 1 / startStates.length;
      return d;
    },
    reset: (rng: Rng) => {
      current = rng.pick(startStates);
      return current;
    },
    step: (action: number, _rng: Rng) => {
      if (current < 0 || spec.isTerminal(current)) {
        throw new Error(`${name}.step: the episode has ended (or never started); call reset() first`);
      }
      if (!Number.isInteger(action) || action < 0 || action >= numActions) {
        throw new RangeError(`${name}.step: action must be an integer in 0..${numActions - 1}, got ${action}`);
      }
      const o = outcome(current, action);
      current = o.next;
      return {
        state: o.next,
        reward: o.reward,
        terminated: o.terminal,
        truncated: false,
        info: { trueReward: o.trueReward, ...o.events },
      };
    },
  };
}

/** One evaluation episode, step by step (`events[t]` are the events of step t). */
export interface EpisodeTrace {
  start: number;
  actions: number[];
  states: number[];
  rewards: number[];
  trueRewards: number[];
  events: Record<string, number | boolean>[];
  terminated: boolean;
  /** Cut off at the step limit without ending. */
  truncated: boolean;
  proxyReturn: number;
  trueReturn: number;
}

/** Q-learning settings; α and ε decay linearly [from, to] over the training episodes. */
export interface TrainingSettings {
  episodes: number;
  alpha: readonly [number, number];
  epsilon: readonly [number, number];
  gamma: number;
  /** Episodes are cut off (truncated) after this many steps, in training and evaluation. */
  maxSteps: number;
}

/** The story of a scenario, one sentence per part, printed by the CLI. */
export interface ScenarioStory {
  task: string;
  flawedReward: string;
  hack: string;
  fix: string;
}

/** A reward-hacking scenario: the environment under both rewards and a judge of episodes. */
export interface Scenario {
  readonly title: string;
  readonly story: ScenarioStory;
  /** What `isHack` looks for, e.g. "never reaches the goal". */
  readonly hackLabel: string;
  makeEnv(variant: RewardVariant): HackingEnv;
  /** Does this evaluation episode show the hack? */
  isHack(episode: EpisodeTrace): boolean;
  readonly training: TrainingSettings;
}

/**
 * The same world with the true reward as its reward: the task the designer meant. Its
 * optimal policy (e.g. by value iteration in dp.ts) is what a fix must not change.
 */
export function withTrueReward(env: HackingEnv): TabularEnv {
  return {
    ...env,
    name: `${env.name}-true`,
    transitions: (s, a): readonly Transition[] => {
      const o = env.outcome(s, a);
      return [{ prob: 1, next: o.next, reward: o.trueReward, terminal: o.terminal }];
    },
    step: (action, rng) => {
      const out = env.step(action, rng);
      return { ...out, reward: Number(out.info?.trueReward ?? 0) };
    },
  };
}
