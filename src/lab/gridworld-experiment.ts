/**
 * The gridworld experiment behind `stepwise lab gridworld`: solve one world exactly, check the
 * exact methods against each other, learn it from samples, and compare the learners with π*.
 *
 *  1. V*, Q*, π* by value iteration and by policy iteration (exact evaluation): same V*, same π*.
 *  2. For a random stochastic policy π: V^π iteratively vs by (I − γ P_π) V = r_π; Q^π iteratively
 *     vs r + γ P V^π; V^π(s) = Σ_a π(a|s) Q^π(s,a); E_{a~π}[A^π(s,a)] = 0.
 *  3. Q-learning and SARSA from the start state, α and ε decaying linearly over the episodes.
 *     A learner "matches π*" when its greedy action is optimal (in argmax Q*) in every
 *     non-terminal state, and its value gap is max_s V*(s) − V^{greedy}(s).
 *
 * Pure: returns numbers and SVG strings; the CLI writes files and prints.
 */
import { deriveSeed, Rng } from "../engine/rng.ts";
import { movingAverage } from "../eval/series.ts";
import {
  advantageTable,
  deterministicPolicy,
  evaluatePolicy,
  evaluatePolicyQ,
  expectUnderPolicy,
  greedyPolicy,
  maxAbsDiff,
  type OptimalResult,
  optimalActions,
  policyIteration,
  qFromV,
  randomPolicy,
  SingularMatrixError,
  solvePolicy,
  valueIteration,
} from "./dp.ts";
import { ACTION_ARROWS, type Gridworld, greedyPath, gridworldHeatMap, type TdSettings } from "./gridworld.ts";
import { lineChartSvg } from "./svg.ts";
import { linearDecay, qLearning, sarsa, type TdResult } from "./tabular.ts";

/** Largest discount used for the random-policy evaluation check (see runGridworldExperiment). */
export const EVAL_GAMMA_MAX = 0.99;

export interface GridworldExperimentOptions {
  gamma: number;
  seed: number;
  learning: TdSettings;
  /** Tolerance of the iterative methods (guaranteed max-norm error for γ < 1). Default 1e-11. */
  tol?: number;
}

export interface LearnerReport {
  matches_pi_star: boolean;
  /** Non-terminal states whose greedy action is not optimal. */
  wrong_states: number;
  /** max_s V*(s) − V^{greedy}(s); null when the greedy policy never terminates (γ = 1). */
  value_gap: number | null;
  /** First episode after which the greedy policy stayed optimal to the end; null if it never did. */
  first_optimal_episode: number | null;
  mean_return_last_100: number;
  greedy_path_steps: number;
  greedy_path_reaches_goal: boolean;
}

export interface GridworldSummary {
  world: string;
  rows: number;
  cols: number;
  num_states: number;
  gamma: number;
  slip: number;
  seed: number;
  episodes: number;
  /** V* on the map, row by row; null for walls. */
  v_star: (number | null)[][];
  v_star_start: number;
  /** π*'s expected undiscounted return from the start (null if π* never terminates). */
  pi_star_return: number | null;
  /** π* as arrows on the map, one string per row (# walls, G goals, H hazards). */
  pi_star: string[];
  vi_iterations: number;
  pi_iterations: number;
  v_vi_vs_pi_max_abs: number;
  pi_vi_equals_pi_pi: boolean;
  /** States with a unique optimal action, and whether VI and PI agree on all of them. */
  unique_action_states: number;
  unique_actions_agree: boolean;
  /** Discount of the random-policy evaluation check: min(γ, 0.99). */
  eval_gamma: number;
  eval_iterations: number;
  eval_iterative_vs_linear_max_abs: number;
  q_eval_iterative_vs_linear_max_abs: number;
  v_vs_sum_pi_q_max_abs: number;
  advantage_mean_under_pi_max_abs: number;
  q_learning: LearnerReport;
  sarsa: LearnerReport;
  q_learning_matches_pi_star: boolean;
  sarsa_matches_pi_star: boolean;
}

export interface GridworldExperiment {
  summary: GridworldSummary;
  vi: OptimalResult;
  pi: OptimalResult;
  qLearning: TdResult;
  sarsa: TdResult;
  /** file name → SVG document */
  svgs: Record<string, string>;
}

/** Non-terminal states whose greedy action is not in argmax_a Q*(s, a). */
function wrongGreedyStates(world: Gridworld, qStar: Float64Array, greedy: Int32Array): number {
  let wrong = 0;
  for (let s = 0; s < world.numStates; s++) {
    if (!world.isTerminal(s) && !optimalActions(qStar, s, world.numActions).includes(greedy[s]!)) wrong++;
  }
  return wrong;
}

function learn(
  method: typeof qLearning,
  world: Gridworld,
  vi: OptimalResult,
  o: GridworldExperimentOptions,
  seedName: string,
): { result: TdResult; report: LearnerReport; greedy: Int32Array } {
  const { episodes, alpha, epsilon, maxSteps } = o.learning;
  let since: number | null = null;
  const result = method(world, {
    episodes,
    alpha: linearDecay(alpha[0], alpha[1], episodes),
    epsilon: linearDecay(epsilon[0], epsilon[1], episodes),
    gamma: o.gamma,
    seed: deriveSeed(o.seed, seedName),
    maxSteps,
    onEpisode: (ep, q) => {
      const ok = wrongGreedyStates(world, vi.Q, greedyPolicy(q, world.numStates, world.numActions)) === 0;
      since = ok ? (since ?? ep + 1) : null;
    },
  });
  const greedy = greedyPolicy(result.q, world.numStates, world.numActions);
  const wrong = wrongGreedyStates(world, vi.Q, greedy);
  let gap: number | null = null;
  try {
    const V = solvePolicy(world, deterministicPolicy(greedy, world.numActions), o.gamma);
    gap = Math.max(...Array.from(vi.V, (v, s) => v - V[s]!));
  } catch (e) {
    if (!(e instanceof SingularMatrixError)) throw e;
  }
  const path = greedyPath(world, greedy);
  const last = path[path.length - 1]!;
  const tail = result.returnsPerEpisode.slice(-100);
  return {
    result,
    greedy,
    report: {
      matches_pi_star: wrong === 0,
      wrong_states: wrong,
      value_gap: gap,
      first_optimal_episode: since,
      mean_return_last_100: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
      greedy_path_steps: path.length - 1,
      greedy_path_reaches_goal: world.map.cells[world.stateCell[last]!] === "goal",
    },
  };
}

/** Run the whole experiment on one world. Deterministic given `seed`. */
export function runGridworldExperiment(world: Gridworld, o: GridworldExperimentOptions): GridworldExperiment {
  const { gamma } = o;
  const tol = o.tol ?? 1e-11;
  const nS = world.numStates;
  const nA = world.numActions;

  // 1. Optimal control two ways.
  const vi = valueIteration(world, { gamma, tol });
  const pi = policyIteration(world, { gamma, tol });
  let uniqueStates = 0;
  let uniqueAgree = true;
  for (let s = 0; s < nS; s++) {
    if (world.isTerminal(s) || optimalActions(vi.Q, s, nA, 1e-6).length !== 1) continue;
    uniqueStates++;
    if (vi.pi[s] !== pi.pi[s]) uniqueAgree = false;
  }

  // 2. Policy evaluation two ways, for a random stochastic policy. Departure: with γ = 1 a random
  // policy's episodes can last ~10^5 steps (cliff walking), and iterative evaluation converges
  // at that rate, so this check discounts with γ_eval = min(γ, 0.99).
  const gammaEval = Math.min(gamma, EVAL_GAMMA_MAX);
  const piRand = randomPolicy(nS, nA, new Rng(deriveSeed(o.seed, "random-policy")));
  const it = evaluatePolicy(world, piRand, { gamma: gammaEval, tol });
  const Vlin = solvePolicy(world, piRand, gammaEval);
  const Qlin = qFromV(world, Vlin, gammaEval); // Q^π = r + γ P V^π
  const Qit = evaluatePolicyQ(world, piRand, { gamma: gammaEval, tol }).Q;
  const A = advantageTable(Qlin, Vlin, nA);

  // 3. Learning from samples.
  const ql = learn(qLearning, world, vi, o, "q-learning");
  const sa = learn(sarsa, world, vi, o, "sarsa");

  // Returns are undiscounted, so the reference line is π*'s expected undiscounted return (γ = 1).
  let piStarReturn: number | null = null;
  try {
    piStarReturn = solvePolicy(world, deterministicPolicy(vi.pi, nA), 1)[world.startState]!;
  } catch (e) {
    if (!(e instanceof SingularMatrixError)) throw e;
  }
  const xs = ql.result.returnsPerEpisode.map((_, i) => i + 1);
  const { rows, cols } = world.map;
  const vGrid: (number | null)[][] = [];
  for (let r = 0; r < rows; r++) {
    vGrid.push(
      Array.from({ length: cols }, (_, c) => {
        const s = world.cellState[r * cols + c]!;
        return s < 0 ? null : vi.V[s]!;
      }),
    );
  }
  const piRows: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = "";
    for (let c = 0; c < cols; c++) {
      const kind = world.map.cells[r * cols + c]!;
      const s = world.cellState[r * cols + c]!;
      line += kind === "wall" ? "#" : kind === "goal" ? "G" : kind === "hazard" ? "H" : ACTION_ARROWS[vi.pi[s]!];
    }
    piRows.push(line);
  }

  const summary: GridworldSummary = {
    world: world.name,
    rows,
    cols,
    num_states: nS,
    gamma,
    slip: world.options.slip,
    seed: o.seed,
    episodes: o.learning.episodes,
    v_star: vGrid,
    v_star_start: vi.V[world.startState]!,
    pi_star_return: piStarReturn,
    pi_star: piRows,
    vi_iterations: vi.iterations,
    pi_iterations: pi.iterations,
    v_vi_vs_pi_max_abs: maxAbsDiff(vi.V, pi.V),
    pi_vi_equals_pi_pi: vi.pi.every((a, s) => world.isTerminal(s) || a === pi.pi[s]),
    unique_action_states: uniqueStates,
    unique_actions_agree: uniqueAgree,
    eval_gamma: gammaEval,
    eval_iterations: it.iterations,
    eval_iterative_vs_linear_max_abs: maxAbsDiff(it.V, Vlin),
    q_eval_iterative_vs_linear_max_abs: maxAbsDiff(Qit, Qlin),
    v_vs_sum_pi_q_max_abs: maxAbsDiff(expectUnderPolicy(piRand, Qlin), Vlin),
    advantage_mean_under_pi_max_abs: Math.max(...Array.from(expectUnderPolicy(piRand, A), Math.abs)),
    q_learning: ql.report,
    sarsa: sa.report,
    q_learning_matches_pi_star: ql.report.matches_pi_star,
    sarsa_matches_pi_star: sa.report.matches_pi_star,
  };

  const maxQ = (q: Float64Array) =>
    Array.from({ length: nS }, (_, s) => (world.isTerminal(s) ? 0 : Math.max(...q.subarray(s * nA, s * nA + nA))));
  const window = Math.max(1, Math.round(o.learning.episodes / 50));
  const smoothQ = movingAverage(ql.result.returnsPerEpisode, window);
  const smoothS = movingAverage(sa.result.returnsPerEpisode, window);
  // Fit the y axis to the curves after the first 10% of episodes: early returns (−2000 on the
  // cliff) would flatten everything else. Earlier points are clipped at the bottom.
  const later = [...smoothQ, ...smoothS].filter((_, i) => i % xs.length >= Math.floor(xs.length / 10));
  const yHi = Math.max(...smoothQ, ...smoothS, piStarReturn ?? -Infinity);
  const yLo = Math.min(...later, piStarReturn ?? Infinity);
  const svgs: Record<string, string> = {
    "value-policy.svg": gridworldHeatMap(world, vi.V, vi.pi, `${world.name}: V* and π* (γ = ${gamma})`),
    "q-learning-policy.svg": gridworldHeatMap(
      world,
      maxQ(ql.result.q),
      ql.greedy,
      `${world.name}: Q-learning max_a Q and greedy policy`,
    ),
    "sarsa-policy.svg": gridworldHeatMap(
      world,
      maxQ(sa.result.q),
      sa.greedy,
      `${world.name}: SARSA max_a Q and greedy policy`,
    ),
    "learning-curves.svg": lineChartSvg({
      title: `${world.name}: return per episode (moving average of ${window})`,
      xLabel: "episode",
      yLabel: "return (undiscounted)",
      yRange: [yLo - 0.05 * (yHi - yLo), yHi + 0.05 * (yHi - yLo)],
      series: [
        { name: "Q-learning", xs, ys: smoothQ },
        { name: "SARSA", xs, ys: smoothS },
        ...(piStarReturn === null
          ? []
          : [{ name: "π* expected return", xs: [1, xs.length], ys: [piStarReturn, piStarReturn], dash: "6 4" }]),
      ],
    }),
  };
  return { summary, vi, pi, qLearning: ql.result, sarsa: sa.result, svgs };
}
