/**
 * Reward-hacking scenarios and their common runner.
 *
 * Each scenario (shaping.ts, sensor.ts, glitch.ts) is an environment under two rewards,
 * the flawed proxy and its fix, plus a judge that says whether an episode shows the
 * hack. `runScenario` does the same three things for both rewards:
 *
 *   1. train tabular Q-learning (lab/tabular.ts) on `reward`, recording per training
 *      episode the proxy return Σ r and the true return Σ r_true (from `info.trueReward`);
 *   2. evaluate the greedy policy with one episode from every start state (the worlds are
 *      deterministic, so this is the exact expectation under the uniform start
 *      distribution): hack_rate = fraction of episodes the judge calls a hack,
 *      true_return = mean true return, next to the best achievable true return (exact,
 *      by finite-horizon dynamic programming on the true reward);
 *   3. run the generic divergence detector (guard/divergence.ts) over the training curve
 *      (proxy return, true return) — it should fire for the flawed reward and not for the fix.
 *
 * Both rewards train from the same seed (common random numbers), so the two runs differ
 * only by the reward. Measured (seeds 0–19, test/lab-hacking.test.ts checks 0–2): every
 * scenario hacks from every start with the flawed reward (hack_rate 1) and the detector
 * fires; with the fix hack_rate is 0, the true return is within 0.6% of the optimum,
 * and the detector never fires.
 */
import { deriveSeed } from "../../engine/rng.ts";
import { type DivergenceOptions, type DivergenceResult, detectDivergence } from "../../guard/divergence.ts";
import { linearDecay, qLearning } from "../tabular.ts";
import { glitch } from "./glitch.ts";
import type { EpisodeTrace, HackingEnv, RewardVariant, Scenario, TrainingSettings } from "./scenario.ts";
import { sensor } from "./sensor.ts";
import { shaping } from "./shaping.ts";

export type ScenarioName = "shaping" | "sensor" | "glitch";

/** Every scenario, by name; a new name does not compile until it has a scenario here. */
export const SCENARIOS: { readonly [K in ScenarioName]: Scenario } = { shaping, sensor, glitch };
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}

export interface RunOptions {
  seed?: number;
  /** Training episodes (default: the scenario's). */
  episodes?: number;
  /** Detector settings (default: window = episodes / 30, at least 10; see `detectorOptions`). */
  detector?: DivergenceOptions;
}

export interface VariantReport {
  variant: RewardVariant;
  /** Fraction of greedy evaluation episodes (one per start state) the scenario's judge calls a hack. */
  hackRate: number;
  /** Mean true return of the greedy evaluation episodes. */
  trueReturn: number;
  /** Mean proxy return (the reward trained on) of the greedy evaluation episodes. */
  proxyReturn: number;
  /** Fraction of greedy evaluation episodes that ended (rather than hit the step limit). */
  terminatedRate: number;
  /** Per training episode: the return of the reward trained on, and the true return. */
  curve: { proxy: number[]; truth: number[] };
  detector: DivergenceResult;
  /** The greedy episode from the first start state, for printing. */
  example: EpisodeTrace;
  /** The learned Q table, Q[s * numActions + a]. */
  q: Float64Array;
}

export interface HackingReport {
  /** The scenario's name (a registry key, or the label given to `runHackingScenario`). */
  scenario: string;
  seed: number;
  training: TrainingSettings;
  /** Best achievable mean true return from the start states within maxSteps (exact DP). */
  optimalTrueReturn: number;
  flawed: VariantReport;
  fixed: VariantReport;
}

/** Detector settings used for a training run of `episodes` episodes. */
export function detectorOptions(episodes: number, given: DivergenceOptions = {}): DivergenceOptions {
  // About 30 blocks per run: wide enough to average out ε-greedy noise, narrow enough to
  // fire within the run. patience defaults to the window (divergence.ts).
  return { window: Math.max(10, Math.round(episodes / 30)), ...given };
}

/** Train with the flawed reward and with the fix, evaluate both, and run the detector on both. */
export function runScenario(name: ScenarioName, options: RunOptions = {}): HackingReport {
  return runHackingScenario(SCENARIOS[name], name, options);
}

/** `runScenario` for any scenario object, e.g. a variant not in the registry (sensor's second fix). */
export function runHackingScenario(scenario: Scenario, name: string, options: RunOptions = {}): HackingReport {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0)
    throw new RangeError(`runScenario: seed must be an integer >= 0, got ${seed}`);
  const episodes = options.episodes ?? scenario.training.episodes;
  if (!Number.isInteger(episodes) || episodes < 1) {
    throw new RangeError(`runScenario: episodes must be an integer >= 1, got ${episodes}`);
  }
  const training: TrainingSettings = { ...scenario.training, episodes };
  const detector = detectorOptions(episodes, options.detector);
  const run = (variant: RewardVariant) => runVariant(scenario, variant, training, detector, deriveSeed(seed, name));
  return {
    scenario: name,
    seed,
    training,
    optimalTrueReturn: optimalTrueReturn(scenario.makeEnv("flawed"), training.maxSteps),
    flawed: run("flawed"),
    fixed: run("fixed"),
  };
}

function runVariant(
  scenario: Scenario,
  variant: RewardVariant,
  training: TrainingSettings,
  detector: DivergenceOptions,
  seed: number,
): VariantReport {
  const env = scenario.makeEnv(variant);
  const truth: number[] = [];
  let trueReturn = 0;
  const result = qLearning(env, {
    episodes: training.episodes,
    alpha: linearDecay(training.alpha[0], training.alpha[1], training.episodes),
    epsilon: linearDecay(training.epsilon[0], training.epsilon[1], training.episodes),
    gamma: training.gamma,
    maxSteps: training.maxSteps,
    seed: deriveSeed(seed, "train"),
    onStep: (step) => {
      trueReturn += Number(step.info?.trueReward ?? 0);
    },
    onEpisode: () => {
      truth.push(trueReturn);
      trueReturn = 0;
    },
  });
  const proxy = result.returnsPerEpisode;
  const traces = env.startStates.map((start) => greedyEpisode(env, result.q, start, training.maxSteps));
  const mean = (f: (t: EpisodeTrace) => number) => traces.reduce((s, t) => s + f(t), 0) / traces.length;
  return {
    variant,
    hackRate: mean((t) => (scenario.isHack(t) ? 1 : 0)),
    trueReturn: mean((t) => t.trueReturn),
    proxyReturn: mean((t) => t.proxyReturn),
    terminatedRate: mean((t) => (t.terminated ? 1 : 0)),
    curve: { proxy, truth },
    detector: detectDivergence(proxy, truth, detector),
    example: traces[0]!,
    q: result.q,
  };
}

/** argmax_a Q(s, a), ties to the lowest action index (as dp.ts's greedy policies). */
export function greedyAction(q: Float64Array, state: number, numActions: number): number {
  let best = 0;
  for (let a = 1; a < numActions; a++) if (q[state * numActions + a]! > q[state * numActions + best]!) best = a;
  return best;
}

/** Follow the greedy policy of `q` from `start` until the episode ends or `maxSteps` steps. */
export function greedyEpisode(env: HackingEnv, q: Float64Array, start: number, maxSteps: number): EpisodeTrace {
  const trace: EpisodeTrace = {
    start,
    actions: [],
    states: [start],
    rewards: [],
    trueRewards: [],
    events: [],
    terminated: false,
    truncated: false,
    proxyReturn: 0,
    trueReturn: 0,
  };
  let s = start;
  for (let t = 0; t < maxSteps && !trace.terminated; t++) {
    const a = greedyAction(q, s, env.numActions);
    const o = env.outcome(s, a);
    trace.actions.push(a);
    trace.states.push(o.next);
    trace.rewards.push(o.reward);
    trace.trueRewards.push(o.trueReward);
    trace.events.push(o.events ?? {});
    trace.proxyReturn += o.reward;
    trace.trueReturn += o.trueReward;
    trace.terminated = o.terminal;
    s = o.next;
  }
  trace.truncated = !trace.terminated;
  return trace;
}

/**
 * The best mean undiscounted true return within `horizon` steps from the start states:
 * V_k(s) = max_a [r_true(s, a) + V_{k−1}(s')], V_0 = 0, V_k(terminal) = 0 (finite-horizon
 * DP, exact for these deterministic worlds), averaged over the start distribution.
 */
export function optimalTrueReturn(env: HackingEnv, horizon: number): number {
  const nS = env.numStates;
  let V = new Float64Array(nS);
  for (let k = 1; k <= horizon; k++) {
    const next = new Float64Array(nS);
    for (let s = 0; s < nS; s++) {
      if (env.isTerminal(s)) continue;
      let best = -Infinity;
      for (let a = 0; a < env.numActions; a++) {
        const o = env.outcome(s, a);
        best = Math.max(best, o.trueReward + (o.terminal ? 0 : V[o.next]!));
      }
      next[s] = best;
    }
    V = next;
  }
  return env.startStates.reduce((sum, s) => sum + V[s]!, 0) / env.startStates.length;
}
