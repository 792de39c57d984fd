/**
 * Tabular learning: Q-learning reaches π* on a 5x5 gridworld, the cliff-walking contrast
 * between SARSA and Q-learning, hand-computed TD updates, and bandit regret.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../src/engine/rng.ts";
import { bernoulliBandit, runBandit, testbedBandit } from "../src/lab/bandit.ts";
import { CLIFF_OPTIMAL_STEPS, cliffWalking, describeCliffPath } from "../src/lab/cliff.ts";
import { deterministicPolicy, greedyPolicy, optimalActions, solvePolicy, valueIteration } from "../src/lab/dp.ts";
import type { Env } from "../src/lab/env.ts";
import { GRIDWORLD_PRESETS, makeGridworld } from "../src/lab/gridworld.ts";
import { linearDecay, qLearning, sarsa, type TabularSampleEnv } from "../src/lab/tabular.ts";
import { assertClose } from "./helpers.ts";

/** A chain with one action: s0 → s1 (reward 0) → terminal (reward 1). */
function chain(): TabularSampleEnv {
  let s = 0;
  return {
    name: "chain",
    numStates: 2,
    numActions: 1,
    reset: () => {
      s = 0;
      return s;
    },
    step: () => {
      s++;
      return { state: Math.min(s, 1), reward: s === 2 ? 1 : 0, terminated: s === 2, truncated: false };
    },
  };
}

/** One state, one action, reward 1 forever: only time limits end an episode. */
const forever: Env<number> & { numStates: number } = {
  name: "forever",
  numStates: 1,
  numActions: 1,
  reset: () => 0,
  step: (_a: number, _rng: Rng) => ({ state: 0, reward: 1, terminated: false, truncated: false }),
};

describe("TD updates, by hand", () => {
  test("Q-learning and SARSA apply Q ← Q + α [R + γ Q' − Q] exactly (one action: the two coincide)", () => {
    // α = 0.5, γ = 0.9. Episode 1: Q(s0) = 0.5·(0 + 0.9·0) = 0, Q(s1) = 0.5·1 = 0.5.
    // Episode 2: Q(s0) = 0.5·(0.9·0.5) = 0.225, Q(s1) = 0.5 + 0.5·(1 − 0.5) = 0.75.
    for (const method of [qLearning, sarsa]) {
      const r = method(chain(), { episodes: 2, alpha: 0.5, gamma: 0.9, epsilon: 0, seed: 0 });
      assertClose(r.q, [0.225, 0.75], 1e-15, method.name);
      assert.deepEqual(r.returnsPerEpisode, [1, 1]);
      assert.deepEqual(r.lengthsPerEpisode, [2, 2]);
    }
  });

  test("an episode cut off at maxSteps is truncated and still bootstraps from Q(S')", () => {
    // α = 1, γ = 0.5, one step per episode: Q ← 1 + 0.5·Q gives 1, 1.5, 1.75.
    const r = qLearning(forever, { episodes: 3, alpha: 1, gamma: 0.5, epsilon: 0, seed: 0, maxSteps: 1 });
    assertClose(r.q, [1.75], 1e-15, "Q");
    assert.deepEqual(r.terminatedPerEpisode, [false, false, false]);
  });

  test("options are validated with the offending option named", () => {
    const world = makeGridworld("S.G");
    const base = { episodes: 1, alpha: 0.5, gamma: 0.9, epsilon: 0.1, seed: 0 };
    assert.throws(() => qLearning(world, { ...base, alpha: 0 }), /qLearning: option alpha must be in \(0, 1\], got 0/);
    assert.throws(() => sarsa(world, { ...base, gamma: 2 }), /sarsa: option gamma must be in \[0, 1\], got 2/);
    assert.throws(() => qLearning(world, { ...base, maxSteps: 0 }), /option maxSteps must be an integer ≥ 1, got 0/);
  });

  test("the same seed gives the same run; another seed a different one", () => {
    const world = makeGridworld(GRIDWORLD_PRESETS.slippery.map, GRIDWORLD_PRESETS.slippery.options);
    const opts = { episodes: 50, alpha: 0.5, gamma: 0.95, epsilon: 0.2, seed: 5 };
    const a = qLearning(world, opts);
    const b = qLearning(world, opts);
    const c = qLearning(world, { ...opts, seed: 6 });
    assert.deepEqual(Array.from(a.q), Array.from(b.q));
    assert.deepEqual(a.returnsPerEpisode, b.returnsPerEpisode);
    assert.notDeepEqual(a.returnsPerEpisode, c.returnsPerEpisode);
  });
});

describe("Q-learning reaches π* on a 5x5 gridworld", () => {
  // maze5x5: walls, two terminal hazards, two dead-end pockets. 1000 episodes, α 0.5 → 0.05 and
  // ε 1 → 0.1 linearly (the preset's settings); γ = 0.95; at most 200 steps per episode.
  const EPISODES = 1000;
  test(`the greedy policy is optimal in every state within ${EPISODES} episodes for ≥ 9 of 10 seeds`, () => {
    const { map, options, gamma, learning } = GRIDWORLD_PRESETS.maze5x5;
    assert.equal(learning.episodes, EPISODES);
    const world = makeGridworld(map, options);
    const vi = valueIteration(world, { gamma, tol: 1e-11 });
    let reached = 0;
    const firstOptimal: (number | null)[] = [];
    for (let seed = 0; seed < 10; seed++) {
      let since: number | null = null;
      const isOptimal = (q: Float64Array) => {
        const g = greedyPolicy(q, world.numStates, 4);
        for (let s = 0; s < world.numStates; s++) {
          if (!world.isTerminal(s) && !optimalActions(vi.Q, s, 4).includes(g[s]!)) return false;
        }
        return true;
      };
      const r = qLearning(world, {
        episodes: EPISODES,
        alpha: linearDecay(learning.alpha[0], learning.alpha[1], EPISODES),
        epsilon: linearDecay(learning.epsilon[0], learning.epsilon[1], EPISODES),
        gamma,
        seed,
        maxSteps: learning.maxSteps,
        onEpisode: (ep, q) => {
          since = isOptimal(q) ? (since ?? ep + 1) : null;
        },
      });
      firstOptimal.push(since);
      if (isOptimal(r.q)) {
        reached++;
        // Optimal in every state means its exact value is V* everywhere.
        const greedy = deterministicPolicy(greedyPolicy(r.q, world.numStates, 4), 4);
        assertClose(solvePolicy(world, greedy, gamma), vi.V, 1e-8, `V^greedy vs V* (seed ${seed})`);
      }
    }
    assert.ok(reached >= 9, `π* reached for ${reached}/10 seeds; first optimal episodes ${firstOptimal}`);
  });
});

describe("cliff walking: SARSA walks the safe path, Q-learning the edge (S&B Example 6.6)", () => {
  // The book's setting: ε = 0.1 constant, γ = 1, 500 episodes; α decays 0.5 → 0.05 so the
  // greedy path read at the end is the converged one rather than a snapshot of noise.
  test("greedy paths over 10 seeds, and SARSA's better online return", () => {
    const world = cliffWalking();
    const opts = { episodes: 500, alpha: linearDecay(0.5, 0.05, 500), gamma: 1, epsilon: 0.1, maxSteps: 1000 };
    const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    let qEdge = 0;
    let sarsaSafe = 0;
    const online = { q: 0, sarsa: 0 };
    for (let seed = 0; seed < 10; seed++) {
      const q = qLearning(world, { ...opts, seed });
      const s = sarsa(world, { ...opts, seed });
      const qPath = describeCliffPath(world, greedyPolicy(q.q, world.numStates, 4));
      const sPath = describeCliffPath(world, greedyPolicy(s.q, world.numStates, 4));
      if (qPath.edge && qPath.edgeCells === 10) qEdge++;
      if (sPath.safe && sPath.steps > CLIFF_OPTIMAL_STEPS) sarsaSafe++;
      online.q += mean(q.returnsPerEpisode.slice(-100)) / 10;
      online.sarsa += mean(s.returnsPerEpisode.slice(-100)) / 10;
    }
    assert.equal(qEdge, 10, `Q-learning took the 13-step edge path for ${qEdge}/10 seeds`);
    assert.ok(sarsaSafe >= 9, `SARSA took a safe path for ${sarsaSafe}/10 seeds`);
    // Online (while exploring), the safe path pays: about −22 vs −49 per episode.
    assert.ok(
      online.sarsa > online.q + 10,
      `mean return over the last 100 episodes: SARSA ${online.sarsa}, Q-learning ${online.q}`,
    );
  });
});

describe("bandits: regret", () => {
  const T = 4000;
  const SEEDS = 20;
  /** Mean cumulative regret at T/2 and T over seeds; growth = R(T)/R(T/2) − 1 (≈ 1 if linear). */
  function regret(agent: Parameters<typeof runBandit>[1], extra: object) {
    let half = 0;
    let full = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const bandit = testbedBandit(10, new Rng(1000 + seed));
      const r = runBandit(bandit, agent, { ...extra, steps: T, seed });
      half += r.regret[T / 2 - 1]! / SEEDS;
      full += r.regret[T - 1]! / SEEDS;
    }
    return { half, full, growth: (full - half) / half };
  }

  test("UCB and decaying-ε greedy grow sublinearly; random and constant ε linearly", () => {
    const random = regret("random", {});
    const ucb = regret("ucb", { c: 2 });
    const decaying = regret("epsilon-greedy", { epsilon: (t: number) => Math.min(1, 20 / (t + 1)) });
    const constant = regret("epsilon-greedy", { epsilon: 0.1 });
    const show = JSON.stringify({ random, ucb, decaying, constant });
    // Second-half regret vs first-half: 1 for linear growth, → 0 for logarithmic.
    assert.ok(random.growth > 0.9, show);
    assert.ok(ucb.growth < 0.5, show);
    assert.ok(decaying.growth < 0.5, show);
    assert.ok(constant.growth > 0.7, show);
    assert.ok(ucb.full < 0.1 * random.full, show);
    assert.ok(decaying.full < 0.1 * random.full, show);
  });

  test("Bernoulli arms: ε-greedy finds the best arm far more often than chance", () => {
    const bandit = bernoulliBandit([0.2, 0.3, 0.4, 0.5, 0.6, 0.45, 0.35, 0.25, 0.15, 0.55]);
    const eps = runBandit(bandit, "epsilon-greedy", { epsilon: 0.1, steps: T, seed: 1 });
    const random = runBandit(bandit, "random", { steps: T, seed: 1 });
    assert.ok(eps.optimalFraction > 0.6, `ε-greedy optimal fraction ${eps.optimalFraction}`);
    assert.ok(random.optimalFraction < 0.15, `random optimal fraction ${random.optimalFraction}`);
    assert.ok(eps.regret[T - 1]! < 0.25 * random.regret[T - 1]!);
    assert.throws(() => bernoulliBandit([0.5, 1.5]), /bernoulliBandit: probs\[1\] must be in \[0, 1\], got 1.5/);
  });
});
