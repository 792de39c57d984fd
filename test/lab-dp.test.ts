/**
 * Exact dynamic programming on gridworlds: iterative evaluation vs the linear solve, the
 * advantage identities, value iteration vs policy iteration, hand-computed values, and the
 * gridworld maps and dynamics they run on.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Rng } from "../src/engine/rng.ts";
import { cliffWalking } from "../src/lab/cliff.ts";
import {
  advantageTable,
  DpConvergenceError,
  deterministicPolicy,
  evaluatePolicy,
  evaluatePolicyQ,
  expectUnderPolicy,
  maxAbsDiff,
  optimalActions,
  policyIteration,
  qFromV,
  randomPolicy,
  SingularMatrixError,
  solveLinear,
  solvePolicy,
  uniformPolicy,
  valueIteration,
} from "../src/lab/dp.ts";
import { GRIDWORLD_PRESETS, GridMapError, type Gridworld, makeGridworld, parseGridMap } from "../src/lab/gridworld.ts";
import { assertClose, assertScalarClose } from "./helpers.ts";

/** Worlds with walls, hazards (terminal and restart), slip and several goals, each with its γ. */
const WORLDS: { world: Gridworld; gamma: number }[] = [
  { world: makeGridworld(GRIDWORLD_PRESETS.maze5x5.map, GRIDWORLD_PRESETS.maze5x5.options), gamma: 0.95 },
  { world: makeGridworld(GRIDWORLD_PRESETS.open5x5.map, GRIDWORLD_PRESETS.open5x5.options), gamma: 0.9 },
  { world: makeGridworld(GRIDWORLD_PRESETS.slippery.map, GRIDWORLD_PRESETS.slippery.options), gamma: 0.95 },
  { world: cliffWalking(), gamma: 0.9 },
  {
    world: makeGridworld(["G..H..", ".#..#.", "..S..H", "H.#...", "....#G"].join("\n"), {
      name: "two-goals-slip",
      slip: 0.3,
      stepReward: -0.5,
      goalReward: 5,
      hazardReward: -20,
    }),
    gamma: 0.99,
  },
];

describe("policy evaluation: iterative vs linear solve", () => {
  for (const { world, gamma } of WORLDS) {
    test(`${world.name} (slip ${world.options.slip}, γ ${gamma}): V^π and Q^π agree to 1e-8 for random stochastic π`, () => {
      const rng = new Rng(7);
      for (let k = 0; k < 3; k++) {
        const pi = randomPolicy(world.numStates, world.numActions, rng);
        const it = evaluatePolicy(world, pi, { gamma });
        const Vlin = solvePolicy(world, pi, gamma);
        assertClose(it.V, Vlin, 1e-8, `${world.name} V^π (policy ${k}, ${it.iterations} sweeps)`);
        const Qlin = qFromV(world, Vlin, gamma); // Q^π = r + γ P V^π
        assertClose(evaluatePolicyQ(world, pi, { gamma }).Q, Qlin, 1e-8, `${world.name} Q^π (policy ${k})`);
        // The values are not trivially zero: the policy does reach rewards.
        assert.ok(Math.max(...Vlin.map(Math.abs)) > 0.1);
      }
    });
  }

  test("a 1x3 corridor under the uniform policy matches the hand-solved 2x2 system", () => {
    // S . G, deterministic, step −1, goal +10. Uniform π: from S three of four moves bump (stay),
    // one goes right; from the middle two bump, one goes back to S, one reaches G.
    //   V_S = −1 + γ (3/4 V_S + 1/4 V_m)
    //   V_m = 1/4·10 − 3/4 + γ (1/4 V_S + 1/2 V_m)
    const gamma = 0.9;
    const world = makeGridworld("S.G", { stepReward: -1, goalReward: 10 });
    const [a, b, c] = [1 - (3 / 4) * gamma, -(1 / 4) * gamma, -1];
    const [d, e, f] = [-(1 / 4) * gamma, 1 - (1 / 2) * gamma, 10 / 4 - 3 / 4];
    const det = a * e - b * d;
    const expected = [(c * e - b * f) / det, (a * f - c * d) / det, 0];
    const pi = uniformPolicy(world.numStates, 4);
    assertClose(solvePolicy(world, pi, gamma), expected, 1e-12, "linear V^π");
    assertClose(evaluatePolicy(world, pi, { gamma }).V, expected, 1e-9, "iterative V^π");
  });

  test("an improper policy at γ = 1 is a singular system and a non-converging sweep, with clear errors", () => {
    const world = makeGridworld("S.G");
    const bump = deterministicPolicy(new Int32Array([0, 0, 0]), 4); // always 'up': never leaves
    assert.throws(() => solvePolicy(world, bump, 1), SingularMatrixError);
    assert.throws(() => solvePolicy(world, bump, 1), /γ = 1 and the policy can run forever/);
    assert.throws(
      () => evaluatePolicy(world, bump, { gamma: 1, maxIterations: 50 }),
      (e: unknown) => e instanceof DpConvergenceError && e.iterations === 50 && /raise maxIterations/.test(e.message),
    );
    assert.throws(
      () => evaluatePolicy(world, bump, { gamma: 1.5 }),
      /evaluatePolicy: gamma must be in \[0, 1\], got 1.5/,
    );
  });
});

describe("advantage A^π = Q^π − V^π", () => {
  for (const { world, gamma } of WORLDS) {
    test(`${world.name}: V^π(s) = Σ_a π(a|s) Q^π(s,a) and E_π[A^π(s,·)] = 0 in every state`, () => {
      const rng = new Rng(11);
      for (let k = 0; k < 3; k++) {
        const pi = randomPolicy(world.numStates, world.numActions, rng);
        const V = solvePolicy(world, pi, gamma);
        const Q = qFromV(world, V, gamma);
        assertClose(expectUnderPolicy(pi, Q), V, 1e-9, "Σ_a π Q^π vs V^π");
        const A = advantageTable(Q, V, world.numActions);
        assertClose(expectUnderPolicy(pi, A), new Float64Array(world.numStates), 1e-9, "E_π[A^π]");
        // The advantage itself is far from zero: actions do differ.
        assert.ok(Math.max(...A.map(Math.abs)) > 0.1, "some |A^π(s,a)| > 0.1");
      }
    });
  }
});

describe("value iteration vs policy iteration", () => {
  for (const { world, gamma } of WORLDS) {
    test(`${world.name}: same V* to 1e-8, same π* (unique optimal actions and the canonical tie-break)`, () => {
      const vi = valueIteration(world, { gamma, tol: 1e-11 });
      const pi = policyIteration(world, { gamma });
      const piIter = policyIteration(world, { gamma, evaluation: "iterative" });
      assertClose(vi.V, pi.V, 1e-8, "V*_VI vs V*_PI");
      assertClose(piIter.V, pi.V, 1e-8, "V*_PI(iterative) vs V*_PI(linear)");
      let unique = 0;
      for (let s = 0; s < world.numStates; s++) {
        if (world.isTerminal(s)) continue;
        if (optimalActions(vi.Q, s, 4, 1e-6).length === 1) {
          unique++;
          assert.equal(vi.pi[s], pi.pi[s], `state ${s} at ${world.position(s)}: unique optimal action differs`);
        }
      }
      assert.ok(unique >= 5, `only ${unique} states with a unique optimal action`);
      assert.deepEqual(Array.from(vi.pi), Array.from(pi.pi));
      // Bellman optimality: V*(s) = max_a Q*(s,a), and no random policy beats V*.
      for (let s = 0; s < world.numStates; s++) {
        if (!world.isTerminal(s)) assertScalarClose(vi.V[s]!, Math.max(...vi.Q.subarray(s * 4, s * 4 + 4)), 1e-9);
      }
      const Vrand = solvePolicy(world, randomPolicy(world.numStates, 4, new Rng(3)), gamma);
      for (let s = 0; s < world.numStates; s++) assert.ok(Vrand[s]! <= vi.V[s]! + 1e-9);
      // π* evaluated exactly is V*.
      assertClose(solvePolicy(world, deterministicPolicy(vi.pi, 4), gamma), vi.V, 1e-8, "V^{π*} vs V*");
    });
  }

  test("cliff walking, γ = 1: V*(start) = −13 (the 13-step edge path) and π* goes up first", () => {
    const world = cliffWalking();
    const vi = valueIteration(world, { gamma: 1 });
    const pi = policyIteration(world, { gamma: 1 });
    assertScalarClose(vi.V[world.startState]!, -13, 1e-9, "V*(start)");
    assertScalarClose(pi.V[world.startState]!, -13, 1e-9, "V*(start) by PI");
    assert.equal(vi.pi[world.startState], 0);
  });

  test("maze5x5: V*(start) is the discounted 8-step path, −Σ_{k<7} γ^k + γ^7·10", () => {
    const { map, options, gamma } = GRIDWORLD_PRESETS.maze5x5;
    const world = makeGridworld(map, options);
    const expected = -(1 - gamma ** 7) / (1 - gamma) + gamma ** 7 * 10;
    assertScalarClose(valueIteration(world, { gamma }).V[world.startState]!, expected, 1e-9, "V*(S)");
  });
});

describe("Gaussian elimination", () => {
  test("solves a system that needs pivoting, and reports a singular one", () => {
    // A zero in the (0,0) slot: without row exchanges this divides by zero.
    const A = Float64Array.from([0, 2, 1, 1, 1, 1, 2, 1, 3]);
    const x = [1, -2, 3];
    const b = Float64Array.from(
      [0, 1, 2].map((i) => A[i * 3]! * x[0]! + A[i * 3 + 1]! * x[1]! + A[i * 3 + 2]! * x[2]!),
    );
    assertClose(solveLinear(A, b, 3), x, 1e-12, "x");
    assert.throws(
      () => solveLinear(Float64Array.from([1, 2, 2, 4]), Float64Array.from([1, 2]), 2),
      SingularMatrixError,
    );
    assert.throws(() => solveLinear(new Float64Array(4), new Float64Array(3), 2), /need A of 2x2 and b of 2/);
  });

  test("property: random diagonally dominant systems are solved to 1e-9", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 }), (n, seed) => {
        const rng = new Rng(seed);
        const A = new Float64Array(n * n).map(() => rng.normal());
        for (let i = 0; i < n; i++) A[i * n + i] = A[i * n + i]! + n + 1;
        const x = Float64Array.from({ length: n }, () => rng.normal());
        const b = new Float64Array(n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i] = b[i]! + A[i * n + j]! * x[j]!;
        return maxAbsDiff(solveLinear(A, b, n), x) < 1e-9;
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe("gridworld maps and dynamics", () => {
  test("slip splits probability between the intended and the two perpendicular moves", () => {
    const world = makeGridworld(["...", ".S.", "..G"].join("\n"), { slip: 0.2 });
    const s = world.startState;
    const byNext = (a: number) =>
      Object.fromEntries(world.transitions(s, a).map((t) => [world.position(t.next).join(","), t.prob]));
    assert.deepEqual(byNext(0), { "0,1": 0.8, "1,2": 0.1, "1,0": 0.1 });
    // Against the top wall 'up' and its perpendiculars: staying in place merges outcomes.
    const top = world.cellState[1]!;
    const up = world.transitions(top, 0);
    assert.deepEqual(
      up.map((t) => [world.position(t.next).join(","), Number(t.prob.toFixed(12))]),
      [
        ["0,1", 0.8],
        ["0,2", 0.1],
        ["0,0", 0.1],
      ],
    );
  });

  test("hazards end the episode or restart it; goals end it; sampled steps follow the table", () => {
    const terminal = makeGridworld("SHG", { hazardReward: -7 });
    assert.deepEqual(terminal.transitions(0, 1), [{ prob: 1, next: 1, reward: -7, terminal: true }]);
    const restart = makeGridworld("SHG", { hazardReward: -7, hazard: "restart" });
    assert.deepEqual(restart.transitions(0, 1), [{ prob: 1, next: 0, reward: -7, terminal: false }]);
    const world = makeGridworld("S.G", { goalReward: 3 });
    const rng = new Rng(0);
    assert.equal(world.reset(rng), 0);
    assert.deepEqual(world.step(1, rng), { state: 1, reward: -1, terminated: false, truncated: false });
    assert.deepEqual(world.step(1, rng), { state: 2, reward: 3, terminated: true, truncated: false });
    assert.throws(() => world.step(1, rng), /the episode has ended .*call reset\(\)/);
    world.reset(rng);
    assert.throws(() => world.step(4, rng), /action must be an integer in 0..3, got 4/);
  });

  test("property: every valid random map parses and every (s, a) has probabilities summing to 1", () => {
    const cell = fc.constantFrom("#", ".", ".", ".", "H", "G");
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 2, max: 6 }),
        fc.array(cell, { minLength: 36, maxLength: 36 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (rows, cols, chars, slip) => {
          const g: string[] = chars.slice(0, rows * cols);
          g[0] = "S";
          g[g.length - 1] = "G";
          const text = Array.from({ length: rows }, (_, r) => g.slice(r * cols, (r + 1) * cols).join("")).join("\n");
          const world = makeGridworld(text, { slip });
          for (let s = 0; s < world.numStates; s++) {
            for (let a = 0; a < 4; a++) {
              const total = world.transitions(s, a).reduce((acc, t) => acc + t.prob, 0);
              if (Math.abs(total - 1) > 1e-12) return false;
            }
          }
          return world.numStates === g.filter((c) => c !== "#").length;
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  test("map errors name the line and column, counting blank leading lines", () => {
    const err = (text: string) => {
      try {
        parseGridMap(text, "maps/bad.txt");
      } catch (e) {
        assert.ok(e instanceof GridMapError);
        return { line: e.line, column: e.column, message: e.message };
      }
      assert.fail("expected a GridMapError");
    };
    const unknown = err("\nS..\n.x.\n..G\n");
    assert.deepEqual([unknown.line, unknown.column], [3, 2]);
    assert.match(unknown.message, /^maps\/bad.txt:3:2: unknown cell "x"; expected one of # \. S G H$/);
    assert.match(err("S..\n..\n..G").message, /:2:3: row has 2 cells but the first row \(line 1\) has 3/);
    assert.match(err("S..\n.S.\n..G").message, /:2:2: second start 'S' \(the first is at line 1, column 1\)/);
    assert.match(err("S..\n...").message, /:1:1: no goal 'G'/);
    assert.match(err("...\n..G").message, /no start 'S'/);
    assert.match(err("S..\n\n..G").message, /:2:1: empty line inside the map/);
    assert.match(err("  \n").message, /the map is empty/);
    assert.throws(() => makeGridworld("S.G", { slip: 1.5 }), /makeGridworld: option slip must be in \[0, 1\], got 1.5/);
  });
});
