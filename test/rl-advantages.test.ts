import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../src/engine/rng.ts";
import {
  ADVANTAGE_ESTIMATORS,
  AdvantageError,
  discountedReturns,
  explainedVariance,
  gae,
  gaeBySum,
  normalizeAdvantages,
  type Rollout,
  tdResiduals,
} from "../src/rl/advantages.ts";
import { assertClose } from "./helpers.ts";

// A two-episode buffer, by hand. γ = 0.5, λ = 0.5.
//   episode 1: step 0 (terminates);  episode 2: steps 1, 2, cut off by the buffer's end.
const hand: Rollout = {
  rewards: [1, 2, 3],
  values: [0.5, 1, 1.5],
  nextValues: [9, 1.5, 2], // 9: the terminal state's value, which must be ignored
  terminated: [true, false, false],
};
// δ_0 = 1 − 0.5 = 0.5   (terminal: no γ V(s'))
// δ_1 = 2 + 0.5·1.5 − 1 = 1.75
// δ_2 = 3 + 0.5·2 − 1.5 = 2.5   (buffer end: bootstrap from V(s'_2) = 2)
// Â_2 = 2.5;  Â_1 = 1.75 + 0.25·2.5 = 2.375;  Â_0 = 0.5 (the episode ended)
// G_2 = 3 + 0.5·2 = 4;  G_1 = 2 + 0.5·4 = 4;  G_0 = 1

describe("advantages: hand-computed values", () => {
  test("discounted returns-to-go of one episode", () => {
    assertClose(discountedReturns([1, 2, 3], { gamma: 0.5 }), [2.75, 3.5, 3], 1e-15, "G");
    assertClose(discountedReturns([1, 1, 1, 1], { gamma: 1 }), [4, 3, 2, 1], 0, "G with γ = 1");
  });

  test("returns reset at a termination and bootstrap at the buffer's end", () => {
    const G = discountedReturns(hand.rewards, { gamma: 0.5, terminated: hand.terminated, nextValues: hand.nextValues });
    assertClose(G, [1, 4, 4], 1e-15, "G");
    // Without nextValues nothing is bootstrapped: plain Monte-Carlo of the rewards seen.
    const mc = discountedReturns(hand.rewards, { gamma: 0.5, terminated: hand.terminated });
    assertClose(mc, [1, 3.5, 3], 1e-15, "G (no bootstrap)");
  });

  test("TD residuals ignore V(s') after a termination only", () => {
    assertClose(tdResiduals(hand, 0.5), [0.5, 1.75, 2.5], 1e-15, "δ");
  });

  test("GAE(γ=0.5, λ=0.5) by the backward recursion", () => {
    const { advantages, returns } = gae(hand, 0.5, 0.5);
    assertClose(advantages, [0.5, 2.375, 2.5], 1e-15, "Â");
    assertClose(returns, [1, 3.375, 4], 1e-15, "R = Â + V");
  });

  test("truncation bootstraps from the final observation; termination does not", () => {
    // One step, reward 1, V(s) = 0, V(s') = 10, γ = 0.9.
    const base = { rewards: [1], values: [0], nextValues: [10] };
    const truncated = gae({ ...base, terminated: [false], truncated: [true] }, 0.9, 0.95);
    const terminated = gae({ ...base, terminated: [true], truncated: [false] }, 0.9, 0.95);
    assertClose(truncated.advantages, [1 + 0.9 * 10], 1e-12, "Â after truncation");
    assertClose(terminated.advantages, [1], 0, "Â after termination");
    // Terminated wins when both flags are set (Gymnasium's TimeLimit can report both).
    const both = gae({ ...base, terminated: [true], truncated: [true] }, 0.9, 0.95);
    assertClose(both.advantages, [1], 0, "Â when both");
    // A truncation stops the GAE sum: the next step (a new episode) does not leak back.
    const twoEpisodes: Rollout = {
      rewards: [1, 100],
      values: [0, 0],
      nextValues: [10, 0],
      terminated: [false, true],
      truncated: [true, false],
    };
    assertClose(gae(twoEpisodes, 0.9, 1).advantages, [10, 100], 1e-12, "Â across a truncation");
    const G = discountedReturns(twoEpisodes.rewards, { gamma: 0.9, ...twoEpisodes });
    assertClose(G, [10, 100], 1e-12, "G across a truncation");
  });

  test("bad inputs name the field and the fix", () => {
    assert.throws(() => gae({ ...hand, values: [1, 2] }, 0.9, 0.9), /same length T; got rewards=3, values=2/);
    assert.throws(() => gae(hand, 1.5, 0.9), AdvantageError);
    assert.throws(() => gae(hand, 0.9, -0.1), /lambda must be in \[0, 1\], got -0.1/);
  });
});

interface TestRollout {
  rewards: number[];
  values: number[];
  nextValues: number[];
  terminated: boolean[];
  truncated: boolean[];
}

/** A random rollout with episode ends sprinkled in (some terminated, some truncated). */
function randomRollout(rng: Rng, T: number): TestRollout {
  const terminated: boolean[] = [];
  const truncated: boolean[] = [];
  for (let t = 0; t < T; t++) {
    const u = rng.float();
    terminated.push(u < 0.15);
    truncated.push(u >= 0.15 && u < 0.25);
  }
  return {
    rewards: Array.from({ length: T }, () => rng.normal()),
    values: Array.from({ length: T }, () => rng.normal()),
    nextValues: Array.from({ length: T }, () => rng.normal()),
    terminated,
    truncated,
  };
}

/**
 * An independent formulation: the λ-return (Sutton & Barto §12.1),
 *   G^λ_t = (1 − λ) Σ_{n=1}^{N−1} λ^{n−1} G^{(n)}_t + λ^{N−1} G^{(N)}_t,
 * over n-step returns G^{(n)}_t = Σ_{k<n} γ^k r_{t+k} + γ^n V(s_{t+n}) that stop at the episode's end
 * (N steps left, the last one bootstrapped unless terminal), and Â_t = G^λ_t − V(s_t).
 * Here V(s_{t+n}) for n < N is values[t+n] and, at the end, nextValues[t+N−1]:
 * the test rollout therefore sets nextValues[t] = values[t+1] inside episodes.
 */
function lambdaReturnAdvantages(r: TestRollout, gamma: number, lam: number): number[] {
  const T = r.rewards.length;
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    let end = t; // last step of t's episode within the buffer
    while (end < T - 1 && !r.terminated[end] && !r.truncated[end]) end++;
    const N = end - t + 1;
    const nStep = (n: number) => {
      let g = 0;
      for (let k = 0; k < n; k++) g += gamma ** k * r.rewards[t + k]!;
      const last = t + n - 1;
      const bootstrap = n < N ? r.values[t + n]! : r.terminated[last] ? 0 : r.nextValues[last]!;
      return g + gamma ** n * bootstrap;
    };
    let gLam = 0;
    for (let n = 1; n < N; n++) gLam += (1 - lam) * lam ** (n - 1) * nStep(n);
    gLam += lam ** (N - 1) * nStep(N);
    out.push(gLam - r.values[t]!);
  }
  return out;
}

describe("advantages: GAE against independent formulations (seeded random rollouts)", () => {
  const rng = new Rng(7);
  const cases = Array.from({ length: 20 }, (_, i) => ({
    rollout: randomRollout(rng, 5 + (i % 4) * 10),
    gamma: [0.9, 0.99, 1, 0.5][i % 4]!,
    lam: [0.95, 0.5, 0.8, 0.3, 1, 0][i % 6]!,
  }));

  test("backward recursion equals the definition's sum Σ (γλ)^l δ_{t+l}", () => {
    for (const { rollout, gamma, lam } of cases) {
      assertClose(gae(rollout, gamma, lam).advantages, gaeBySum(rollout, gamma, lam), 1e-12, `γ=${gamma} λ=${lam}`);
    }
  });

  test("GAE equals the λ-return minus V (Sutton & Barto's forward view)", () => {
    for (const { rollout, gamma, lam } of cases) {
      // Make V(s'_t) = V(s_{t+1}) inside episodes, as a real rollout has it.
      const r = {
        ...rollout,
        nextValues: rollout.nextValues.map((v, t) => (ended(rollout, t) ? v : rollout.values[t + 1]!)),
      };
      assertClose(gae(r, gamma, lam).advantages, lambdaReturnAdvantages(r, gamma, lam), 1e-10, `γ=${gamma} λ=${lam}`);
    }
  });

  test("GAE(λ = 1) = returns − V and GAE(λ = 0) = TD residuals", () => {
    for (const { rollout, gamma } of cases) {
      const r = {
        ...rollout,
        nextValues: rollout.nextValues.map((v, t) => (ended(rollout, t) ? v : rollout.values[t + 1]!)),
      };
      const G = discountedReturns(r.rewards, { gamma, ...r });
      assertClose(
        gae(r, gamma, 1).advantages,
        Array.from(G, (g, t) => g - r.values[t]!),
        1e-10,
        `λ=1, γ=${gamma}`,
      );
      assertClose(gae(r, gamma, 1).returns, G, 1e-10, `λ=1 targets are the returns, γ=${gamma}`);
      assertClose(gae(r, gamma, 0).advantages, tdResiduals(r, gamma), 0, `λ=0, γ=${gamma}`);
    }
  });

  test("the estimator registry: returns, baselined, td and gae agree with the functions", () => {
    const { rollout } = cases[3]!;
    const cfg = { gamma: 0.9, lam: 0.7 };
    const G = discountedReturns(rollout.rewards, { gamma: cfg.gamma, ...rollout });
    assertClose(ADVANTAGE_ESTIMATORS.returns(rollout, cfg).advantages, G, 0, "returns");
    assertClose(
      ADVANTAGE_ESTIMATORS.baselined(rollout, cfg).advantages,
      Array.from(G, (g, t) => g - rollout.values[t]!),
      0,
      "baselined",
    );
    assertClose(ADVANTAGE_ESTIMATORS.td(rollout, cfg).advantages, tdResiduals(rollout, cfg.gamma), 0, "td");
    assertClose(ADVANTAGE_ESTIMATORS.gae(rollout, cfg).advantages, gae(rollout, 0.9, 0.7).advantages, 0, "gae");
  });
});

function ended(r: TestRollout, t: number): boolean {
  return Boolean(r.terminated[t]) || Boolean(r.truncated[t]) || t === r.rewards.length - 1;
}

describe("advantages: normalisation and explained variance", () => {
  test("normalised advantages have mean 0 and std 1", () => {
    const a = normalizeAdvantages([1, 2, 3, 4]);
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    const std = Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length);
    assert.ok(Math.abs(mean) < 1e-15, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 1e-8, `std ${std}`);
    assertClose(
      a,
      [-1.5, -0.5, 0.5, 1.5].map((x) => x / Math.sqrt(1.25)),
      1e-7,
      "values (eps = 1e-8 in the denominator)",
    );
  });

  test("explained variance: 1 for a perfect critic, 0 for the mean, negative for worse", () => {
    const R = [1, 2, 3, 4];
    assert.equal(explainedVariance(R, R), 1);
    assert.equal(explainedVariance([2.5, 2.5, 2.5, 2.5], R), 0);
    assertClose([explainedVariance([4, 3, 2, 1], R)], [1 - 5 / 1.25], 1e-12, "reversed");
    assert.ok(Number.isNaN(explainedVariance([1, 2], [3, 3])));
  });
});
