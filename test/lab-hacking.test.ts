import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { Rng } from "../src/engine/rng.ts";
import { valueIteration } from "../src/lab/dp.ts";
import {
  decode as decodeGlitch,
  encode as encodeGlitch,
  makeGlitchEnv,
  TARGET_PLACES,
} from "../src/lab/hacking/glitch.ts";
import {
  greedyEpisode,
  type HackingReport,
  optimalTrueReturn,
  runHackingScenario,
  runScenario,
  SCENARIO_NAMES,
  SCENARIOS,
  type ScenarioName,
} from "../src/lab/hacking/index.ts";
import { withTrueReward } from "../src/lab/hacking/scenario.ts";
import {
  decode,
  encode,
  makeSensorEnv,
  SENSOR_TRAINING,
  sensorTamperPenalty,
  TAMPER_PENALTY,
} from "../src/lab/hacking/sensor.ts";
import { isNearGoal, makeShapingEnv, potential, SHAPING_TRAINING } from "../src/lab/hacking/shaping.ts";

/** The acceptance thresholds, stated once. */
const HACK_RATE_FLAWED_MIN = 0.9;
const HACK_RATE_FIXED_MAX = 0.1;
/** With the fix, the true return is within this fraction of the best achievable. */
const NEAR_OPTIMUM = 0.05;
const SEEDS = [0, 1, 2];

const reports = new Map<string, HackingReport>();
function report(name: ScenarioName, seed: number): HackingReport {
  const key = `${name}/${seed}`;
  if (!reports.has(key)) reports.set(key, runScenario(name, { seed }));
  return reports.get(key)!;
}

describe("reward-hacking scenarios: flawed reward → hack + alarm; fix → no hack, true optimum, no alarm", () => {
  for (const name of SCENARIO_NAMES) {
    test(`${name}: with the flawed reward the greedy policy hacks (hack_rate ≥ ${HACK_RATE_FLAWED_MIN}) and the detector fires`, () => {
      for (const seed of SEEDS) {
        const r = report(name, seed);
        assert.ok(r.flawed.hackRate >= HACK_RATE_FLAWED_MIN, `seed ${seed}: hack_rate ${r.flawed.hackRate}`);
        assert.equal(r.flawed.detector.fired, true, `seed ${seed}: ${r.flawed.detector.reason}`);
        assert.ok(r.flawed.detector.firedAt! < r.training.episodes);
        // The hack pays in proxy and costs in truth: the fixed agent is far better at the real task.
        assert.ok(
          r.flawed.trueReturn < r.fixed.trueReturn - 0.5,
          `seed ${seed}: true return flawed ${r.flawed.trueReturn} vs fixed ${r.fixed.trueReturn}`,
        );
      }
    });

    test(`${name}: with the fix the hack disappears (hack_rate ≤ ${HACK_RATE_FIXED_MAX}), the true return is near the optimum, and the detector stays quiet`, () => {
      for (const seed of SEEDS) {
        const r = report(name, seed);
        assert.ok(r.fixed.hackRate <= HACK_RATE_FIXED_MAX, `seed ${seed}: hack_rate ${r.fixed.hackRate}`);
        const opt = r.optimalTrueReturn;
        assert.ok(
          r.fixed.trueReturn >= opt - NEAR_OPTIMUM * Math.abs(opt),
          `seed ${seed}: true return ${r.fixed.trueReturn}, optimum ${opt}`,
        );
        assert.equal(r.fixed.detector.fired, false, `seed ${seed}: ${r.fixed.detector.reason}`);
        assert.equal(r.fixed.terminatedRate, 1, `seed ${seed}: every fixed episode should end`);
      }
    });
  }

  test("training curves are one (proxy, true) pair per episode, and a seed reproduces them exactly", () => {
    const r = report("glitch", 0);
    for (const v of [r.flawed, r.fixed]) {
      assert.equal(v.curve.proxy.length, r.training.episodes);
      assert.equal(v.curve.truth.length, r.training.episodes);
    }
    const again = runScenario("glitch", { seed: 0 });
    assert.deepEqual(again.flawed.curve, r.flawed.curve);
    assert.deepEqual(again.fixed.curve, r.fixed.curve);
    assert.notDeepEqual(report("glitch", 1).flawed.curve, r.flawed.curve);
  });
});

describe("shaping: potential-based shaping keeps π*, the near-goal bonus does not", () => {
  const gamma = SHAPING_TRAINING.gamma;
  const fixed = makeShapingEnv("fixed");
  const trueOpt = valueIteration(withTrueReward(fixed), { gamma });
  const fixedOpt = valueIteration(fixed, { gamma });
  const nA = fixed.numActions;

  test("Q*_fixed(s, a) = Q*_true(s, a) − Φ(s) to 1e-8 (Ng, Harada & Russell 1999), so π* is unchanged", () => {
    for (let s = 0; s < fixed.numStates; s++) {
      if (fixed.isTerminal(s)) continue;
      for (let a = 0; a < nA; a++) {
        const lhs = fixedOpt.Q[s * nA + a]!;
        const rhs = trueOpt.Q[s * nA + a]! - potential(s);
        assert.ok(Math.abs(lhs - rhs) < 1e-8, `s ${s} a ${a}: ${lhs} vs ${rhs}`);
      }
    }
    assert.deepEqual([...fixedOpt.pi], [...trueOpt.pi]);
  });

  test("under the flawed bonus the optimal policy never enters the goal: circling is worth 0.09/(1−γ) = 9 > 1", () => {
    const flawed = makeShapingEnv("flawed");
    const flawedOpt = valueIteration(flawed, { gamma });
    for (let s = 0; s < flawed.numStates; s++) {
      if (!isNearGoal(s)) continue;
      assert.ok(Math.abs(flawedOpt.V[s]! - 0.09 / (1 - gamma)) < 1e-6, `V*(${s}) = ${flawedOpt.V[s]}`);
    }
    for (const start of flawed.startStates) {
      let state = start;
      for (let t = 0; t < 200; t++) state = flawed.outcome(state, flawedOpt.pi[state]!).next;
      assert.ok(isNearGoal(state), `from ${flawed.describeState(start)} π*_flawed should end up circling the goal`);
    }
  });

  test("the best true return from the edge is 1 − 0.01·(d − 1), averaged over the 16 edge cells", () => {
    // Distances 2 (4 cells), 3 (8 cells), 4 (4 cells) → mean of 1 − 0.01·(d − 1) = 0.98.
    assert.ok(Math.abs(optimalTrueReturn(fixed, 100) - 0.98) < 1e-12);
  });
});

describe("sensor: switching the sensor off is the proxy's optimum", () => {
  const flawed = makeSensorEnv("flawed");
  const start = encode({ pos: 0, dirt: 0b00011, sensorOn: true });

  test("sensor off ends the episode at proxy 0 with the dirt still there; honest cleaning starts at a cost", () => {
    const off = flawed.outcome(start, 3);
    assert.deepEqual(decode(off.next), { pos: 0, dirt: 0b00011, sensorOn: false });
    assert.equal(off.terminal, true);
    assert.equal(off.reward, 0);
    assert.equal(off.trueReward, 0);
    assert.equal(off.events?.sensorOff, true);
    const suck = flawed.outcome(start, 2);
    assert.ok(Math.abs(suck.reward - -0.05) < 1e-12, "one dirty cell still seen");
    assert.equal(suck.trueReward, 1);
  });

  test(`the tamper penalty (${TAMPER_PENALTY}) exceeds the proxy cost of cleaning efficiently from every start`, () => {
    const pi = valueIteration(withTrueReward(flawed), { gamma: SENSOR_TRAINING.gamma }).pi;
    let worst = 0;
    for (const s0 of flawed.startStates) {
      let s = s0;
      let cost = 0;
      for (let t = 0; t < SENSOR_TRAINING.maxSteps && !flawed.isTerminal(s); t++) {
        const o = flawed.outcome(s, pi[s]!);
        cost -= o.reward;
        s = o.next;
      }
      assert.equal(decode(s).dirt, 0, `π*_true from ${flawed.describeState(s0)} should clean everything`);
      worst = Math.max(worst, cost);
    }
    // From the middle of a fully dirty corridor: seen = 4,4,3,3,2,2,2,2,1,1,0 → 0.05·24 = 1.2 (sensor.ts).
    assert.ok(Math.abs(worst - 1.2) < 1e-9, `worst honest proxy cost ${worst}`);
    assert.ok(worst < TAMPER_PENALTY);
  });

  test("the second fix, penalising the tamper action, also removes the hack without an alarm", () => {
    const r = runHackingScenario(sensorTamperPenalty, "sensor-tamper-penalty", { seed: 0 });
    assert.ok(r.flawed.hackRate >= HACK_RATE_FLAWED_MIN);
    assert.ok(r.fixed.hackRate <= HACK_RATE_FIXED_MAX, `hack_rate ${r.fixed.hackRate}`);
    assert.ok(r.fixed.trueReturn >= r.optimalTrueReturn * (1 - NEAR_OPTIMUM), `true return ${r.fixed.trueReturn}`);
    assert.equal(r.fixed.detector.fired, false, r.fixed.detector.reason);
  });
});

describe("glitch: the respawning targets", () => {
  const flawed = makeGlitchEnv("flawed");
  const fixed = makeGlitchEnv("fixed");
  const [t1, t2] = TARGET_PLACES as [number, number];
  const [RIGHT, LEFT, UP] = [1, 3, 0];

  test("shuttling between the targets pays a point a step under the game score and nothing once corrected", () => {
    let sFlawed = encodeGlitch(t1, 0b01);
    let sFixed = sFlawed;
    for (let k = 0; k < 4; k++) {
      const action = k % 2 === 0 ? RIGHT : LEFT;
      const o = flawed.outcome(sFlawed, action);
      assert.equal(o.reward, 1, `game score, shuttle step ${k}`);
      assert.equal(o.events?.targetHit, true);
      sFlawed = o.next;
      const f = fixed.outcome(sFixed, action);
      // Only the first visit to t2 is fresh: t1 was hit before the shuttle began.
      assert.equal(f.reward, k === 0 ? 1 : 0, `corrected score, shuttle step ${k}`);
      sFixed = f.next;
    }
    assert.deepEqual(decodeGlitch(sFlawed), { place: t1, hit: 0b11 });
  });

  test("bumping the rock above a target is not a hit", () => {
    const o = flawed.outcome(encodeGlitch(t2, 0b11), UP);
    assert.equal(o.next, encodeGlitch(t2, 0b11));
    assert.equal(o.reward, 0);
    assert.equal(o.events?.targetHit, false);
  });

  test("every route to the line passes both targets: the corrected score's optimum is the fastest race", () => {
    const piFixed = valueIteration(fixed, { gamma: 0.95 }).pi;
    const q = new Float64Array(fixed.numStates * fixed.numActions);
    for (let s = 0; s < fixed.numStates; s++) q[s * fixed.numActions + piFixed[s]!] = 1;
    for (const start of fixed.startStates) {
      const trace = greedyEpisode(fixed, q, start, 60);
      assert.equal(trace.terminated, true);
      assert.equal(trace.proxyReturn, 5, "both targets once, then the line");
      const best = optimalTrueReturn({ ...fixed, startStates: [start] }, 60);
      assert.ok(Math.abs(trace.trueReturn - best) < 1e-12, `from ${fixed.describeState(start)}`);
    }
  });
});

describe("scenario environments follow the lab's Env contract", () => {
  test("step agrees with transitions and carries the true reward in info; reset draws a start state", () => {
    for (const name of SCENARIO_NAMES) {
      for (const variant of ["flawed", "fixed"] as const) {
        const env = SCENARIOS[name].makeEnv(variant);
        const rng = new Rng(3);
        for (let ep = 0; ep < 20; ep++) {
          let s = env.reset(rng);
          assert.ok(env.startStates.includes(s));
          for (let t = 0; t < 50; t++) {
            const a = rng.int(0, env.numActions - 1);
            const [tr] = env.transitions(s, a);
            const out = env.step(a, rng);
            assert.deepEqual([out.state, out.reward, out.terminated], [tr!.next, tr!.reward, tr!.terminal]);
            assert.equal(out.info?.trueReward, env.outcome(s, a).trueReward);
            s = out.state;
            if (out.terminated) break;
          }
        }
        const dist = env.startDistribution();
        assert.ok(Math.abs(dist.reduce((x, y) => x + y, 0) - 1) < 1e-12);
      }
    }
  });

  test("misuse is a clear error", () => {
    const env = makeSensorEnv("flawed");
    assert.throws(() => env.step(0, new Rng(0)), /sensor-flawed\.step: the episode has ended \(or never started\)/);
    env.reset(new Rng(0));
    assert.throws(() => env.step(4, new Rng(0)), /action must be an integer in 0\.\.3, got 4/);
    assert.throws(() => runScenario("shaping", { episodes: 0 }), /episodes must be an integer >= 1, got 0/);
  });
});

describe("stepwise lab hacking (CLI)", () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 120_000 });

  test("--json prints a table then one JSON object with the six fields as its last line, and writes the SVG", async () => {
    const out = mkdtempSync(join(tmpdir(), "stepwise-hacking-"));
    try {
      const { stdout } = await cli("lab", "hacking", "--scenario", "glitch", "--seed", "1", "--out", out, "--json");
      assert.match(stdout, /hack rate \(never finishes and re-hits a target\)/);
      const lines = stdout.trimEnd().split("\n");
      const summary = JSON.parse(lines[lines.length - 1]!);
      const expected = report("glitch", 1);
      assert.equal(summary.scenario, "glitch");
      assert.equal(summary.hack_rate_flawed, expected.flawed.hackRate);
      assert.equal(summary.hack_rate_fixed, expected.fixed.hackRate);
      assert.equal(summary.true_return_flawed, expected.flawed.trueReturn);
      assert.equal(summary.true_return_fixed, expected.fixed.trueReturn);
      assert.equal(summary.detector_fired_flawed, true);
      assert.equal(summary.detector_fired_fixed, false);
      const svg = readFileSync(join(out, "curves.svg"), "utf8");
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /alarm \(flawed\)/);
      assert.ok(existsSync(join(out, "report.json")));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("an unknown scenario is a clear error with a non-zero exit", async () => {
    await assert.rejects(cli("lab", "hacking", "--scenario", "boat"), (e: Error & { stderr: string; code: number }) => {
      assert.match(e.stderr, /lab hacking: --scenario must be one of shaping, sensor, glitch, got "boat"/);
      assert.equal(e.code, 1);
      return true;
    });
  });
});
