import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError, defaultsOf } from "../src/config/load.ts";
import { evaluatePolicy } from "../src/lab/dp.ts";
import { softmaxPolicy } from "../src/lab/tabular-pg.ts";
import {
  ChainWalk,
  discountedVisitation,
  ESTIMATOR_KINDS,
  exactObjective,
  exactPolicyGradient,
  exactValues,
  runVarianceExperiment,
  VarianceConfigError,
  VarianceConfigSchema,
  varianceSummary,
} from "../src/lab/variance.ts";
import { assertClose } from "./helpers.ts";

const gamma = 0.95;

function fixedPolicy(env: ChainWalk, rightBias: number) {
  const logits = new Float64Array(env.numStates * 2);
  for (let s = 0; s < env.numStates; s++) logits[s * 2 + 1] = rightBias;
  return { numStates: env.numStates, numActions: 2, logits };
}

describe("variance experiment: the exact references", () => {
  test("ChainWalk's dynamics are distributions and V^π (linear solve) matches iterative evaluation", () => {
    const env = new ChainWalk({ numStates: 6, slip: 0.2 });
    for (let s = 0; s < env.numStates; s++) {
      for (let a = 0; a < 2; a++) {
        const total = env.transitions(s, a).reduce((acc, t) => acc + t.prob, 0);
        assert.ok(Math.abs(total - 1) < 1e-15, `Σp(s=${s}, a=${a}) = ${total}`);
      }
    }
    const pi = softmaxPolicy(fixedPolicy(env, 0.3));
    const { V } = exactValues(env, pi, gamma);
    assertClose(V, evaluatePolicy(env, pi, { gamma, tol: 1e-12 }).V, 1e-9, "V^π");
  });

  test("∇J from the policy gradient theorem equals central finite differences of exact J", () => {
    for (const [opts, bias] of [
      [{}, 0.5],
      [{ numStates: 7, slip: 0.25, goalReward: 5 }, -0.2],
    ] as const) {
      const env = new ChainWalk(opts);
      const theta = fixedPolicy(env, bias);
      theta.logits[2] = 0.7; // break the symmetry between states
      const grad = exactPolicyGradient(env, theta, gamma);
      const h = 1e-5;
      const fd = Array.from(theta.logits, (_, i) => {
        const plus = { ...theta, logits: theta.logits.slice() };
        const minus = { ...theta, logits: theta.logits.slice() };
        plus.logits[i]! += h;
        minus.logits[i]! -= h;
        return (exactObjective(env, plus, gamma) - exactObjective(env, minus, gamma)) / (2 * h);
      });
      assertClose(grad, fd, 1e-7, `∇J vs finite differences (${env.name})`);
      assert.ok(Math.max(...Array.from(grad, Math.abs)) > 0.1, "the gradient is not trivially zero");
    }
  });

  test("d^π sums to the expected discounted episode length Σ_t γ^t P(t < T)", () => {
    // With a reward of exactly −1 per step, V^π(s_0) = −Σ_t γ^t P(t < T) = −Σ_s d^π(s).
    const env = new ChainWalk({ numStates: 5, slip: 0.1 });
    const pi = softmaxPolicy(fixedPolicy(env, 0.5));
    const d = discountedVisitation(env, pi, gamma);
    const { V } = exactValues(env, pi, gamma);
    assertClose([d.reduce((a, b) => a + b, 0)], [-V[0]!], 1e-10, "Σ d^π");
  });
});

describe("variance experiment: the baseline lowers variance, the means agree (seeded)", () => {
  // Measured with seed 0, N = 400, M = 10 (chain of 5, slip 0.1, γ = 0.95, π(right) = 0.62):
  //   total variance  G_t 25.72,  G_t − V^π 4.36 (ratio 5.90),  G_t − V̂ 5.13 (5.02),  A^π 0.65 (39.4)
  //   per-parameter ratios 8.82, 6.68, 3.80, 2.24 (states 0..3); seeds 1–3 with N = 2000 gave 5.2–5.5.
  //   worst |mean − true| = 2.29 SE (G_t), 2.11 SE (G_t − V^π); worst |mean_with − mean_without| = 1.08 combined SE.
  const result = runVarianceExperiment({ seed: 0, runs: 400, episodes: 10 });
  const summary = varianceSummary(result);

  test("the exact baseline lowers the total variance at least 3× (measured 5.90×), every parameter's > 1.5×", () => {
    assert.ok(summary.variance_ratio >= 3, `variance ratio ${summary.variance_ratio}`);
    for (const [p, r] of summary.variance_ratio_per_param.entries()) {
      assert.ok(r >= 1.5, `${result.paramNames[p]}: ratio ${r}`);
    }
    // A baseline learned from independent episodes does nearly as well (measured 5.02×),
    // and the exact advantage better still (39.4×).
    assert.ok(summary.variance_ratio_learned >= 3, `learned-baseline ratio ${summary.variance_ratio_learned}`);
    assert.ok(summary.variance_ratio_advantage > summary.variance_ratio, "A^π beats G_t − V^π");
  });

  test("mean_with and mean_without agree within 3 combined standard errors", () => {
    for (let p = 0; p < result.paramNames.length; p++) {
      const diff = Math.abs(summary.mean_with[p]! - summary.mean_without[p]!);
      const se = Math.hypot(summary.se_with[p]!, summary.se_without[p]!);
      assert.ok(diff <= 3 * se, `${result.paramNames[p]}: |Δ| = ${diff}, 3·SE = ${3 * se}`);
    }
  });

  test("every estimator's mean is within 3 standard errors of the exact gradient", () => {
    for (const k of ESTIMATOR_KINDS) {
      const s = result.estimators[k];
      for (let p = 0; p < result.paramNames.length; p++) {
        const z = Math.abs(s.mean[p]! - result.trueGradient[p]!) / s.stdError[p]!;
        assert.ok(z <= 3, `${k}, ${result.paramNames[p]}: mean ${s.mean[p]}, true ${result.trueGradient[p]}, z = ${z}`);
      }
    }
  });

  test("the same seed gives the same numbers", () => {
    const again = varianceSummary(runVarianceExperiment({ seed: 0, runs: 400, episodes: 10 }));
    assert.deepEqual(again.var_with, summary.var_with);
    assert.deepEqual(again.mean_without, summary.mean_without);
  });

  test("config: strict, every key checked (a typo is an error naming it, not a silent default)", () => {
    assert.throws(
      () => runVarianceExperiment({ runz: 10 } as object),
      (e: Error) => e instanceof VarianceConfigError && e instanceof ConfigError && /runz: unknown key/.test(e.message),
    );
    assert.throws(() => runVarianceExperiment({ env: { slipp: 0.2 } } as object), /env\.slipp: unknown key/);
    assert.throws(() => runVarianceExperiment({ gamma: 1 }), /gamma: Too big/);
    assert.throws(
      () => new ChainWalk({ numStates: 1 }),
      /ChainWalk: invalid chain-walk options:\n {2}numStates: Too small/,
    );
  });
});

describe("stepwise lab variance", () => {
  const run = promisify(execFile);
  test("prints the table and, with --json, one JSON object as its last line; writes the charts", async () => {
    const out = mkdtempSync(join(tmpdir(), "stepwise-variance-"));
    try {
      const { stdout } = await run(
        process.execPath,
        [
          "bin/stepwise.js",
          "lab",
          "variance",
          "--runs",
          "100",
          "--episodes",
          "5",
          "--seed",
          "1",
          "--out",
          out,
          "--json",
        ],
        { timeout: 120_000 },
      );
      const lines = stdout.trimEnd().split("\n");
      assert.match(stdout, /the baseline lowers the variance [\d.]+×/);
      const summary = JSON.parse(lines[lines.length - 1]!);
      for (const key of [
        "mean_with",
        "mean_without",
        "var_with",
        "var_without",
        "se_with",
        "se_without",
        "true_gradient",
      ]) {
        assert.equal(summary[key].length, 8, key);
      }
      assert.ok(summary.variance_ratio > 1, `variance_ratio ${summary.variance_ratio}`);
      assert.equal(summary.runs, 100);
      for (const f of ["variance.svg", "means.svg"])
        assert.match(readFileSync(join(out, f), "utf8"), /^<svg[\s\S]*<\/svg>$/);
      assert.ok(existsSync(join(out, "summary.json")));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("bad options are clear errors naming the flag or the key; --help shows the schema's defaults", async () => {
    const variance = (args: string[]) =>
      run(process.execPath, ["bin/stepwise.js", "lab", "variance", ...args], { timeout: 60_000 });
    await assert.rejects(
      variance(["--runs", "1"]),
      /lab variance: invalid variance config:\n {2}--runs \(runs\): Too small: expected number to be >=2/,
    );
    await assert.rejects(variance(["--slip", "0.5"]), /--slip \(env\.slip\): Too big: expected number to be <0\.5/);
    await assert.rejects(variance(["--set", "env.slipp=0.2"]), /env\.slipp: unknown key/);
    const help = (await variance(["--help"])).stdout.replace(/\s+/g, " "); // commander wraps at 80 columns
    const d = defaultsOf(VarianceConfigSchema);
    for (const [flag, value] of [
      ["runs", d.runs],
      ["episodes", d.episodes],
      ["gamma", d.gamma],
      ["states", d.env.numStates],
      ["slip", d.env.slip],
    ] as const) {
      assert.match(help, new RegExp(`--${flag} <value> ((?!--).)*\\(default: ${value}\\)`), `--${flag}`);
    }
  });
});
