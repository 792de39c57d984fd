import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError, defaultsOf } from "../src/config/load.ts";
import { initEngine } from "../src/engine/device.ts";
import { grad, jit, np } from "../src/engine/jax.ts";
import { disposeTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { Rng } from "../src/engine/rng.ts";
import { ActorCriticConfigError, ActorCriticConfigSchema, trainMlpActorCritic } from "../src/lab/a2c.ts";
import { CartPole } from "../src/lab/cartpole.ts";
import { valueIteration } from "../src/lab/dp.ts";
import { evaluateMlpPolicy, initMlpActorCritic, orthogonalInit } from "../src/lab/mlp-policy.ts";
import {
  clippedSurrogateLoss,
  PpoConfigError,
  PpoConfigSchema,
  parsePpoConfig,
  ppo,
  ratioDiagnostics,
} from "../src/lab/ppo.ts";
import {
  actorCritic,
  reinforce,
  softmaxPolicy,
  TabularPgConfigError,
  zeroSoftmaxParams,
} from "../src/lab/tabular-pg.ts";
import { ChainWalk, exactObjective, exactValues } from "../src/lab/variance.ts";
import { batchAdvantages, type PolicyForward, VecRunner } from "../src/lab/vec-rollout.ts";
import { gae } from "../src/rl/advantages.ts";
import { assertClose } from "./helpers.ts";

before(async () => {
  await initEngine();
});

describe("cart-pole (Gymnasium CartPole-v1 dynamics)", () => {
  test("one Euler step from rest, pushing right, matches the hand-computed values", () => {
    // temp = F/(m_c + m_p) = 100/11;  θ̈ = −temp / (l (4/3 − m_p/(m_c+m_p))) = −600/41;
    // ẍ = temp − m_p l θ̈ / (m_c+m_p) = 400/41;  then ẋ = τ ẍ = 8/41, θ̇ = τ θ̈ = −12/41, x = θ = 0.
    const rest = new CartPole();
    const middle = { float: () => 0.5 } as unknown as Rng; // every reset draw lands mid-range
    const s0 = rest.reset(middle); // −0.05 + 0.1·0.5 = 0 in every component
    assertClose(s0, [0, 0, 0, 0], 1e-17, "s0");
    const out = rest.step(1, new Rng(0));
    assertClose(out.state, [0, 8 / 41, 0, -12 / 41], 1e-14, "s1");
    assert.equal(out.reward, 1);
    assert.equal(out.terminated, false);
    const out2 = rest.step(1, new Rng(0));
    assertClose([out2.state[0]!, out2.state[2]!], [0.02 * (8 / 41), 0.02 * (-12 / 41)], 1e-14, "x, θ after 2 steps");
  });

  test("always pushing one way lets the pole fall (terminated, not truncated); the limit truncates", () => {
    const env = new CartPole();
    const rng = new Rng(3);
    env.reset(rng);
    let steps = 0;
    let last = env.step(1, rng);
    for (steps = 1; !last.terminated && steps < 100; steps++) last = env.step(1, rng);
    assert.ok(last.terminated && !last.truncated, `terminated after ${steps} steps`);
    assert.ok(steps < 30, `a constant push topples the pole quickly (${steps} steps)`);
    assert.ok(Math.abs(last.state[2]!) > (12 * Math.PI) / 180 || Math.abs(last.state[0]!) > 2.4);
    assert.throws(() => env.step(0, rng), /the episode has ended; call reset\(\) first/);

    const short = new CartPole({ maxSteps: 4 });
    short.reset(rng);
    const outs = [0, 1, 0, 1].map((a) => short.step(a, rng));
    assert.deepEqual(
      outs.map((o) => [o.terminated, o.truncated]),
      [
        [false, false],
        [false, false],
        [false, false],
        [false, true],
      ],
    );
  });

  test("resets are seeded and lie in [−0.05, 0.05]⁴", () => {
    const a = new CartPole().reset(new Rng(42));
    const b = new CartPole().reset(new Rng(42));
    assert.deepEqual(a, b);
    assert.ok(a.every((x) => Math.abs(x) <= 0.05));
    assert.notDeepEqual(new CartPole().reset(new Rng(43)), a);
  });
});

describe("tabular REINFORCE and actor-critic on an 8-state slippery chain (exact J checks, 8 seeds)", () => {
  // ChainWalk(8): −1 per step, slip 0.1, γ = 0.95. The uniform policy has J = −16.43, π* has J* = −7.06.
  // Measured (60 updates of 4 episodes, lr 0.1), final exact J over seeds 0–7:
  //   REINFORCE           mean −8.07, sd 1.35 (worst −11.63: a seed that stalled)
  //   REINFORCE+baseline  mean −7.61, sd 0.076 (worst −7.73)
  //   actor-critic TD     mean −7.67, sd 0.034 (worst −7.71);  GAE(0.9) mean −7.61, sd 0.043 (worst −7.67)
  //   critic error |V(s_0) − V^π(s_0)| at most 0.78 (baseline), 0.32 (TD), 0.66 (GAE).
  const env = new ChainWalk({ numStates: 8 });
  const gamma = 0.95;
  const J0 = exactObjective(env, zeroSoftmaxParams(env.numStates, 2), gamma);
  const Jstar = valueIteration(env, { gamma }).V[0]!;
  const seeds = [0, 1, 2, 3, 4, 5, 6, 7];
  const common = { iterations: 60, lr: 0.1, episodesPerUpdate: 4, gamma };
  const sd = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
  };

  test("the references: J of the uniform policy and J*", () => {
    assertClose([J0, Jstar], [-16.4347, -7.0626], 1e-4, "J0, J*");
  });

  const learners = {
    "REINFORCE with a baseline": (seed: number) => reinforce(env, { ...common, seed, baseline: true }),
    "actor-critic, one-step TD": (seed: number) => actorCritic(env, { ...common, seed, advantage: "td" }),
    "actor-critic, GAE(λ=0.9)": (seed: number) => actorCritic(env, { ...common, seed, advantage: "gae", lam: 0.9 }),
  };
  for (const [name, learn] of Object.entries(learners)) {
    test(`${name}: every seed ends within 1.2 of J* (from 9.4 below) and its critic tracks V^π`, () => {
      for (const seed of seeds) {
        const r = learn(seed);
        const J = exactObjective(env, r.theta, gamma);
        assert.ok(Jstar - J <= 1.2, `seed ${seed}: J = ${J}, J* = ${Jstar}`);
        const { V } = exactValues(env, softmaxPolicy(r.theta), gamma);
        assert.ok(
          Math.abs(r.values[0]! - V[0]!) <= 1.0,
          `seed ${seed}: critic V(s0) = ${r.values[0]}, V^π(s0) = ${V[0]}`,
        );
        // The logged returns improve too (noisy samples of J): last 10 updates vs first 10.
        const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        assert.ok(avg(r.returns.slice(-10)) > avg(r.returns.slice(0, 10)) + 4, `seed ${seed}: returns ${r.returns}`);
      }
    });
  }

  test("the baseline makes REINFORCE's outcome reliable: across seeds the spread of final J shrinks ≥ 4× (measured 18×)", () => {
    const without = seeds.map((seed) =>
      exactObjective(env, reinforce(env, { ...common, seed, baseline: false }).theta, gamma),
    );
    const withB = seeds.map((seed) =>
      exactObjective(env, reinforce(env, { ...common, seed, baseline: true }).theta, gamma),
    );
    assert.ok(sd(without) >= 4 * sd(withB), `sd without ${sd(without)}, with ${sd(withB)}`);
    assert.ok(
      Math.min(...withB) > Math.min(...without),
      `worst seed: with ${Math.min(...withB)}, without ${Math.min(...without)}`,
    );
    // Without a baseline it still learns on average (the estimator is unbiased, just noisy).
    assert.ok(
      without.every((J) => J > J0 + 3),
      `without: ${without}`,
    );
  });

  test("config: a misspelt or out-of-range key is an error naming it, not a silent default", () => {
    const bad = (config: object) => () => reinforce(env, { baseline: true, ...config } as { baseline: boolean });
    assert.throws(bad({ learningRate: 0.5 }), (e: Error) => {
      assert.ok(e instanceof TabularPgConfigError && e instanceof ConfigError, e.name);
      assert.match(e.message, /learningRate: unknown key \(check the spelling; see src\/lab\/tabular-pg\.ts\)/);
      return true;
    });
    assert.throws(bad({ episodesPerUpdate: 0 }), /episodesPerUpdate: Too small/);
    assert.throws(() => actorCritic(env, { advantage: "q" as "td" }), /advantage: Invalid option/);
  });
});

describe("PPO's clipped surrogate loss", () => {
  // ρ = [1.5, 0.5, 1.1, 0.7, 1.5], Â = [2, −1, −3, 1, −1], ε = 0.2:
  //   i  ρÂ     clip(ρ)Â  min    which
  //   0  3.0    2.4       2.4    clipped (ρ > 1+ε, Â > 0: no reward for going further)  ∂ = 0
  //   1  −0.5   −0.8      −0.8   clipped (ρ < 1−ε, Â < 0: no reward for going further)  ∂ = 0
  //   2  −3.3   −3.3      −3.3   inside the range                                        ∂ = ρÂ
  //   3  0.7    0.8       0.7    unclipped (ρ < 1−ε but Â > 0: pulled back up)           ∂ = ρÂ
  //   4  −1.5   −1.2      −1.5   unclipped (ρ > 1+ε but Â < 0: pessimistic bound)         ∂ = ρÂ
  // L^CLIP = (2.4 − 0.8 − 3.3 + 0.7 − 1.5)/5 = −0.5, so loss = 0.5, and
  // ∂loss/∂log π_θ = −(1/5) [0, 0, −3.3, 0.7, −1.5] = [0, 0, 0.66, −0.14, 0.3].
  const ratios = [1.5, 0.5, 1.1, 0.7, 1.5];
  const adv = [2, -1, -3, 1, -1];
  const oldLogProbs = [-0.3, -1.2, -0.7, -2.0, -0.1];
  const newLogProbs = ratios.map((r, i) => oldLogProbs[i]! + Math.log(r));
  const lossOf = (newLp: ReturnType<typeof np.array>) =>
    clippedSurrogateLoss(np.exp(np.subtract(newLp, np.array(oldLogProbs))), np.array(adv), 0.2);

  test("equals the hand-computed value", async () => {
    assertClose([await readScalar(lossOf(np.array(newLogProbs)))], [0.5], 1e-6, "loss");
  });

  test("its gradient is zero exactly where the clipped term binds, ρÂ/B elsewhere (eager and under jit)", async () => {
    const expected = [0, 0, 0.66, -0.14, 0.3];
    assertClose(await readFloat32(grad(lossOf)(np.array(newLogProbs))), expected, 1e-6, "∂loss/∂log π");
    const jitted = jit(grad(lossOf));
    assertClose(await readFloat32(jitted(np.array(newLogProbs))), expected, 1e-6, "∂loss/∂log π (jit)");
    jitted.dispose();
  });

  test("diagnostics: clipfrac and approx_kl by hand", async () => {
    const logRatio = np.array(ratios.map(Math.log));
    const { approxKl, clipFrac } = ratioDiagnostics(logRatio, 0.2);
    const kl = ratios.reduce((acc, r) => acc + (r - 1 - Math.log(r)), 0) / ratios.length;
    assertClose([await readScalar(approxKl), await readScalar(clipFrac)], [kl, 4 / 5], 1e-6, "approx_kl, clipfrac");
    assert.ok(kl > 0);
  });

  test("config: defaults are CleanRL's but lr, and a minibatch count that does not divide the batch is rejected with a fix", () => {
    const cfg = parsePpoConfig();
    assert.deepEqual(
      [cfg.clipEps, cfg.lam, cfg.gamma, cfg.numEnvs, cfg.numSteps, cfg.updateEpochs, cfg.numMinibatches],
      [0.2, 0.95, 0.99, 4, 128, 4, 4],
    );
    assert.equal(cfg.lr, 2.5e-3, "10× CleanRL's 2.5e-4 for a 20× smaller budget (see ppo.ts)");
    assert.throws(
      () => parsePpoConfig({ numEnvs: 3, numSteps: 10, numMinibatches: 4 }),
      /numMinibatches: numMinibatches=4 must divide the batch numEnvs·numSteps = 3·10 = 30; try 3/,
    );
    assert.throws(() => parsePpoConfig({ clipEps: -1 }), /clipEps: Too small/);
    // Strict: a typo is an error (it used to be dropped silently, leaving clipEps at 0.2).
    assert.throws(
      () => parsePpoConfig({ clipEpsilon: 0.1 }),
      (e: Error) =>
        e instanceof PpoConfigError && e instanceof ConfigError && /clipEpsilon: unknown key/.test(e.message),
    );
  });
});

describe("MLP actor-critic pieces", () => {
  test("orthogonal initialisation: WᵀW = g² I (tall) and W Wᵀ = g² I (wide)", () => {
    const rng = new Rng(1);
    for (const [rows, cols] of [
      [64, 8],
      [4, 16],
    ] as const) {
      const W = orthogonalInit(rows, cols, Math.SQRT2, rng);
      const k = Math.min(rows, cols);
      const gram: number[] = [];
      const identity: number[] = [];
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          let dot = 0;
          for (let r = 0; r < Math.max(rows, cols); r++) {
            dot += rows >= cols ? W[r * cols + i]! * W[r * cols + j]! : W[i * cols + r]! * W[j * cols + r]!;
          }
          gram.push(dot);
          identity.push(i === j ? 2 : 0);
        }
      }
      assertClose(gram, identity, 1e-5, `${rows}x${cols}`);
    }
  });

  test("rollouts bootstrap truncated episodes from the final observation, not the reset state", async () => {
    // A fake critic V(s) = 100 x + θ (so values identify states) and a uniform policy.
    const value = (o: Float32Array, i: number) => 100 * o[i * 4]! + o[i * 4 + 2]!;
    const forward: PolicyForward = async (_p, obs, B) => ({
      logProbs: new Float32Array(B * 2).fill(Math.log(0.5)),
      values: Float32Array.from({ length: B }, (_, i) => value(obs, i)),
    });
    const runner = new VecRunner(() => new CartPole({ maxSteps: 5 }), 3, 11);
    const batch = await runner.collect({}, 12, forward);
    const E = 3;
    let truncations = 0;
    for (let t = 0; t < 12; t++) {
      for (let e = 0; e < E; e++) {
        const i = t * E + e;
        if (batch.truncated[i]) {
          truncations++;
          // s'_t is the 5th state of the episode; the next row holds the reset state, whose value differs.
          assert.ok(t + 1 >= 12 || batch.nextValues[i] !== batch.values[i + E], `step ${t}, env ${e}`);
          // reconstruct s'_t = s_t plus one Euler step: x' = x + τ ẋ, θ' = θ + τ θ̇
          const o = batch.obs.subarray(i * 4, i * 4 + 4);
          const expected = 100 * (o[0]! + 0.02 * o[1]!) + (o[2]! + 0.02 * o[3]!);
          assertClose([batch.nextValues[i]!], [expected], 1e-3, "V(final observation)");
        } else if (!batch.terminated[i] && t + 1 < 12) {
          assert.equal(batch.nextValues[i], batch.values[i + E]);
        }
      }
    }
    assert.ok(truncations >= 3, `saw ${truncations} truncations`);
    assert.deepEqual(batch.episodeLengths.slice(0, 3), [5, 5, 5]);
    // Per-env GAE over the time-major batch equals GAE of each column.
    const { advantages } = batchAdvantages(batch, "gae", { gamma: 0.9, lam: 0.8 });
    const col = (x: ArrayLike<number>, e: number) => Array.from({ length: 12 }, (_, t) => x[t * E + e]!);
    for (let e = 0; e < E; e++) {
      const ref = gae(
        {
          rewards: col(batch.rewards, e),
          values: col(batch.values, e),
          nextValues: col(batch.nextValues, e),
          terminated: col(batch.terminated, e),
          truncated: col(batch.truncated, e),
        },
        0.9,
        0.8,
      );
      assertClose(col(advantages, e), ref.advantages, 0, `env ${e}`);
    }
  });
});

describe("learning cart-pole with jax-js (short, seeded)", () => {
  const makeEnv = () => new CartPole();
  const evalOpts = { episodes: 10, seed: 123 };

  test("PPO: 8 iterations of 512 steps raise the mean episode length ≥ 3× (measured 22 → 110)", async () => {
    const init = initMlpActorCritic({ obsSize: 4, numActions: 2, hidden: 64 }, 0);
    const beforeEval = await evaluateMlpPolicy(init, makeEnv, evalOpts);
    disposeTree(init);
    const { params, log } = await ppo(makeEnv, { iterations: 8, seed: 0 }); // lr: the default, 2.5e-3
    const afterEval = await evaluateMlpPolicy(params, makeEnv, evalOpts);
    disposeTree(params);
    assert.ok(
      afterEval.meanLength >= 3 * beforeEval.meanLength && afterEval.meanLength >= 60,
      `mean episode length ${beforeEval.meanLength} → ${afterEval.meanLength}`,
    );
    // CleanRL's diagnostics are logged and sane.
    for (const row of log) {
      assert.ok(row.approxKl >= 0 && row.approxKl < 0.1, `approx_kl ${row.approxKl}`);
      assert.ok(row.clipFrac >= 0 && row.clipFrac <= 1, `clipfrac ${row.clipFrac}`);
      assert.ok(row.entropy > 0 && row.entropy <= Math.log(2) + 1e-6, `entropy ${row.entropy}`);
      assert.equal(row.updates, 16);
    }
    assert.ok(log[log.length - 1]!.entropy < log[0]!.entropy, "the policy becomes less random");
    assert.ok(
      log.some((r) => r.clipFrac > 0),
      "some ratios reach the clip range",
    );
  });

  test("actor-critic (A2C, GAE): 30 rollouts of 256 steps raise the mean episode length ≥ 2× (measured 21 → 81)", async () => {
    const init = initMlpActorCritic({ obsSize: 4, numActions: 2, hidden: 64 }, 0);
    const beforeEval = await evaluateMlpPolicy(init, makeEnv, evalOpts);
    disposeTree(init);
    await assert.rejects(
      trainMlpActorCritic(makeEnv, { numEnv: 4 } as object),
      (e: Error) => e instanceof ActorCriticConfigError && /numEnv: unknown key/.test(e.message),
    );
    const { params } = await trainMlpActorCritic(makeEnv, { iterations: 30, seed: 0 }); // lr: the default, 3e-3
    const afterEval = await evaluateMlpPolicy(params, makeEnv, evalOpts);
    disposeTree(params);
    assert.ok(
      afterEval.meanLength >= 2 * beforeEval.meanLength && afterEval.meanLength >= 45,
      `mean episode length ${beforeEval.meanLength} → ${afterEval.meanLength}`,
    );
  });
});

describe("stepwise lab ppo / actor-critic (smoke)", () => {
  const run = promisify(execFile);
  const stepwise = (args: string[]) => run(process.execPath, ["bin/stepwise.js", "lab", ...args], { timeout: 120_000 });
  // The three sources of a setting, one command each: a --config file (ppo), flags and --set (actor-critic).
  const settings: Record<string, (dir: string) => string[]> = {
    ppo: (dir) => {
      const file = join(dir, "ppo.yaml");
      writeFileSync(file, "iterations: 2\nnumEnvs: 2\nnumSteps: 16\nevalEpisodes: 2\n");
      return ["--config", file];
    },
    "actor-critic": () => ["--iterations", "2", "--num-envs", "2", "--set", "numSteps=16", "--set", "evalEpisodes=2"],
  };
  for (const [cmd, args] of Object.entries(settings)) {
    test(`lab ${cmd} trains, writes metrics.jsonl and curve.svg, and ends with a JSON line`, async () => {
      const out = mkdtempSync(join(tmpdir(), `stepwise-${cmd}-`));
      try {
        const { stdout } = await stepwise([cmd, ...args(out), "--out", out, "--json"]);
        const lines = stdout.trimEnd().split("\n");
        const summary = JSON.parse(lines[lines.length - 1]!);
        assert.equal(summary.algorithm, cmd);
        assert.equal(summary.iterations, 2);
        assert.equal(summary.env_steps, 64);
        assert.ok(summary.initial_mean_length > 0 && summary.final_mean_length > 0);
        const rows = readFileSync(join(out, "metrics.jsonl"), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l));
        assert.equal(rows.length, 2);
        assert.ok(Number.isFinite(rows[1].entropy));
        assert.match(readFileSync(join(out, "curve.svg"), "utf8"), /^<svg/);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  }

  test("--help shows the schemas' defaults", async () => {
    const schemas = { ppo: PpoConfigSchema, "actor-critic": ActorCriticConfigSchema };
    for (const [cmd, schema] of Object.entries(schemas)) {
      const help = (await stepwise([cmd, "--help"])).stdout.replace(/\s+/g, " "); // commander wraps at 80 columns
      const d = defaultsOf(schema);
      for (const [flag, value] of [
        ["lr", d.lr],
        ["iterations", d.iterations],
        ["num-envs", d.numEnvs],
        ["num-steps", d.numSteps],
        ["seed", d.seed],
      ] as const) {
        assert.match(help, new RegExp(`--${flag} <value> ((?!--).)*\\(default: ${value}\\)`), `${cmd} --${flag}`);
      }
      assert.match(help, /--config <file>/);
      assert.match(help, /--set <key=value>/);
    }
  });

  test("bad options are clear errors naming the flag, the key or the file", async () => {
    await assert.rejects(
      stepwise(["actor-critic", "--advantage", "q"]),
      /lab actor-critic: invalid actor-critic config:\n {2}--advantage \(advantage\): Invalid option: expected one of "td"\|"gae"\|"baselined"/,
    );
    await assert.rejects(
      stepwise(["ppo", "--num-envs", "3", "--num-steps", "10"]),
      /numMinibatches=4 must divide the batch/,
    );
    await assert.rejects(
      stepwise(["ppo", "--lr", "fast"]),
      /--lr \(lr\): Invalid input: expected number, received string/,
    );
    await assert.rejects(stepwise(["ppo", "--set", "clipEpsilon=0.1"]), /clipEpsilon: unknown key/);
    const dir = mkdtempSync(join(tmpdir(), "stepwise-ac-config-"));
    try {
      const file = join(dir, "a2c.yaml");
      writeFileSync(file, "iterations: 2\nentropyCoef: 0.1\n");
      await assert.rejects(
        stepwise(["actor-critic", "--config", file]),
        new RegExp(`lab actor-critic --config ${file}: invalid actor-critic config:\n {2}entropyCoef: unknown key`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
