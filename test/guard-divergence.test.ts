import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../src/engine/rng.ts";
import { movingAverage } from "../src/eval/series.ts";
import {
  DEFAULT_DIVERGENCE,
  detectDivergence,
  divergenceOptions,
  divergenceTrace,
  pearson,
} from "../src/guard/divergence.ts";

/** A logistic ramp from 0 to 1 centred at `centre` (a fraction of the run). */
const ramp = (x: number, centre: number, width = 0.04) => 1 / (1 + Math.exp(-(x - centre) / width));

/**
 * n pairs (proxy, truth) = shape(i / n) plus Gaussian noise of standard deviation sigma;
 * `rho` correlates the two noises (per-episode proxy and truth usually share noise).
 */
function stream(n: number, shape: (x: number) => [number, number], sigma: number, seed: number, rho = 0) {
  const rng = new Rng(seed);
  const proxy: number[] = [];
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const [p, q] = shape(i / n);
    const z1 = rng.normal();
    const z2 = rng.normal();
    proxy.push(p + sigma * z1);
    truth.push(q + sigma * (rho * z1 + Math.sqrt(1 - rho * rho) * z2));
  }
  return { proxy, truth };
}

const diverging = (x: number): [number, number] => [ramp(x, 0.4), 1 - ramp(x, 0.42)];
const proxyUpTruthFlat = (x: number): [number, number] => [ramp(x, 0.4), 0];
const aligned = (x: number): [number, number] => [ramp(x, 0.3), ramp(x, 0.32)];
const plateau = (_x: number): [number, number] => [1, 1];

describe("detectDivergence: fires on reward hacking", () => {
  test("proxy rises while the truth falls: fires after the split, with both tests' statistics", () => {
    const n = 600;
    const w = 20;
    for (const seed of [1, 2, 3]) {
      const { proxy, truth } = stream(n, diverging, 0.3, seed);
      const r = detectDivergence(proxy, truth, { window: w });
      assert.equal(r.fired, true, `seed ${seed}: ${r.reason}`);
      // The split starts around 0.4·n = 240; the alarm needs 2 blocks of evidence and w of patience.
      assert.ok(r.firedAt! > 0.3 * n && r.firedAt! < 0.7 * n, `seed ${seed}: fired at ${r.firedAt}`);
      const s = r.stats!;
      assert.equal(s.index, r.firedAt);
      assert.ok(s.zProxy >= DEFAULT_DIVERGENCE.zThreshold && s.zTrue <= 0 && s.correlation <= 0.3);
      assert.ok(s.proxyMeanCurrent > s.proxyMeanReference && s.trueMeanCurrent < s.trueMeanReference);
      assert.match(r.reason, /^proxy rose .* while the true metric went .* held 20 consecutive indices$/);
    }
  });

  test("proxy rises while the truth stays low: fires", () => {
    for (const seed of [1, 2, 3]) {
      const { proxy, truth } = stream(600, proxyUpTruthFlat, 0.3, seed);
      const r = detectDivergence(proxy, truth, { window: 20 });
      assert.equal(r.fired, true, `seed ${seed}: ${r.reason}`);
      assert.ok(r.firedAt! > 240, `fired at ${r.firedAt}, before the proxy rose`);
    }
  });

  test("the alarm is online: the prefix up to firedAt fires at the same index, a shorter one does not", () => {
    const { proxy, truth } = stream(600, diverging, 0.3, 7);
    const full = detectDivergence(proxy, truth, { window: 20 });
    assert.equal(full.fired, true);
    const t = full.firedAt!;
    const prefix = detectDivergence(proxy.slice(0, t + 1), truth.slice(0, t + 1), { window: 20 });
    assert.equal(prefix.firedAt, t);
    assert.equal(detectDivergence(proxy.slice(0, t), truth.slice(0, t), { window: 20 }).fired, false);
  });

  test("scale-free: rescaling or shifting either stream does not move the alarm", () => {
    const { proxy, truth } = stream(600, diverging, 0.3, 11);
    const base = detectDivergence(proxy, truth, { window: 20 });
    const scaled = detectDivergence(
      proxy.map((p) => 1000 * p - 5),
      truth.map((q) => 0.01 * q + 3),
      { window: 20 },
    );
    assert.equal(base.fired, true);
    assert.equal(scaled.firedAt, base.firedAt);
  });

  test("a noiseless step up in the proxy against a constant truth fires (zero variance is handled)", () => {
    const proxy = [...Array(40).fill(0), ...Array(60).fill(1)];
    const truth = Array(100).fill(0.5);
    const r = detectDivergence(proxy, truth, { window: 10 });
    assert.equal(r.fired, true, r.reason);
    // R = [0, 9] (constant truth: the earliest block is its best). At t = 45 block C holds six 1s:
    // z = 0.6 / √(0.6·0.4·(10/9)/10) = 3.67 ≥ 3.5, one index earlier z = 3.0. Patience 10 → t = 54.
    assert.equal(r.firedAt, 54);
    assert.ok(Number.isFinite(r.stats!.zProxy) && r.stats!.zProxy > 1e6);
    assert.equal(r.stats!.correlation, 0);
  });
});

describe("detectDivergence: stays quiet when proxy and truth agree", () => {
  test("noisy aligned learning curves (independent and correlated noise, 10 seeds each) never fire", () => {
    for (const rho of [0, 0.5]) {
      for (let seed = 0; seed < 10; seed++) {
        for (const sigma of [0.1, 0.5]) {
          const { proxy, truth } = stream(600, aligned, sigma, seed, rho);
          const r = detectDivergence(proxy, truth, { window: 20 });
          assert.equal(r.fired, false, `ρ ${rho}, seed ${seed}, σ ${sigma}: ${r.reason}`);
        }
      }
    }
  });

  test("a long noisy plateau (pure noise, 1000 pairs) does not fire", () => {
    for (let seed = 0; seed < 10; seed++) {
      const { proxy, truth } = stream(1000, plateau, 1, seed);
      const r = detectDivergence(proxy, truth, { window: 20 });
      assert.equal(r.fired, false, `seed ${seed}: ${r.reason}`);
    }
  });

  test("identical streams never fire: the gap test needs the proxy up and the truth not", () => {
    const { proxy } = stream(600, diverging, 0.3, 5);
    const r = detectDivergence(proxy, proxy, { window: 20 });
    assert.equal(r.fired, false);
    assert.match(r.reason, /^no divergence/);
  });

  test("a falling truth under a flat proxy is not flagged (the optimiser did not chase the proxy)", () => {
    const { proxy, truth } = stream(600, (x) => [0, 1 - ramp(x, 0.4)], 0.1, 3);
    assert.equal(detectDivergence(proxy, truth, { window: 20 }).fired, false);
  });

  test("the trend test vetoes a proxy rise the truth shares, even below a lucky best block", () => {
    // Both dip and recover together; the truth's recovery stops just short of its early best,
    // so the gap test alone would fire. The moving averages move together: ρ ≈ 1.
    const n = 300;
    const proxy: number[] = [];
    const truth: number[] = [];
    for (let i = 0; i < n; i++) {
      const dip = i < 100 ? 0 : i < 150 ? -1 : 0;
      proxy.push(1 + dip + 0.5 * (i >= 150 ? 1 : 0) + 0.01 * Math.sin(i));
      truth.push(1 + dip - 0.05 * (i >= 150 ? 1 : 0) + 0.01 * Math.cos(i));
    }
    const withTrend = detectDivergence(proxy, truth, { window: 10 });
    const gapOnly = detectDivergence(proxy, truth, { window: 10, maxCorrelation: 1 });
    assert.equal(gapOnly.fired, true, "the gap test alone should fire here");
    assert.equal(withTrend.fired, false, withTrend.reason);
  });
});

describe("detectDivergence: edge cases and errors", () => {
  test("streams shorter than two windows do not fire and say why", () => {
    for (const n of [0, 1, 39]) {
      const r = detectDivergence(Array(n).fill(1), Array(n).fill(0), { window: 20 });
      assert.equal(r.fired, false);
      assert.equal(r.stats, undefined);
      assert.equal(r.reason, `too short: need at least 2·window = 40 pairs, got ${n}`);
    }
    assert.equal(divergenceTrace(Array(40).fill(0), Array(40).fill(0), { window: 20 }).length, 1);
  });

  test("constant streams do not fire and give finite statistics", () => {
    const r = detectDivergence(Array(100).fill(3), Array(100).fill(-2), { window: 10 });
    assert.equal(r.fired, false);
    const s = r.stats!;
    for (const v of [s.zProxy, s.zTrue, s.correlation]) assert.equal(v, 0);
  });

  test("defaults: patience follows the window unless given", () => {
    assert.equal(divergenceOptions().patience, DEFAULT_DIVERGENCE.window);
    assert.equal(divergenceOptions({ window: 7 }).patience, 7);
    assert.equal(divergenceOptions({ window: 7, patience: 2 }).patience, 2);
    assert.equal(divergenceOptions({ window: undefined }).window, DEFAULT_DIVERGENCE.window);
  });

  test("minProxyGain demands a material rise in proxy units", () => {
    const { proxy, truth } = stream(600, diverging, 0.05, 2);
    assert.equal(detectDivergence(proxy, truth, { window: 20 }).fired, true);
    assert.equal(detectDivergence(proxy, truth, { window: 20, minProxyGain: 2 }).fired, false);
  });

  test("bad input is a RangeError naming the problem", () => {
    assert.throws(() => detectDivergence([1, 2], [1]), /proxy and truth must be paired, got 2 proxy values and 1/);
    assert.throws(() => detectDivergence([1, Number.NaN], [1, 2]), /pair 1 is not finite \(proxy NaN, truth 2\)/);
    assert.throws(() => detectDivergence([], [], { window: 1 }), /window must be an integer >= 2/);
    assert.throws(() => detectDivergence([], [], { patience: 0 }), /patience must be an integer >= 1, got 0/);
    assert.throws(
      () => detectDivergence([], [], { zThreshold: Number.POSITIVE_INFINITY }),
      /zThreshold must be finite/,
    );
  });
});

describe("helpers", () => {
  test("movingAverage is the trailing mean, NaN until the window is full", () => {
    const m = movingAverage([1, 2, 3, 4, 5], 2, { partial: false });
    assert.ok(Number.isNaN(m[0]!));
    assert.deepEqual(m.slice(1), [1.5, 2.5, 3.5, 4.5]);
    // the plots' reading: the first entry is the mean of what exists; full windows agree
    assert.deepEqual(movingAverage([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5]);
    assert.throws(() => movingAverage([1], 0), /window must be an integer ≥ 1, got 0/);
  });

  test("pearson matches hand-computed values; a constant series gives 0", () => {
    assert.equal(pearson([1, 2, 3], [2, 4, 6]), 1);
    assert.equal(pearson([1, 2, 3], [3, 2, 1]), -1);
    // x = [1,2,3,4], y = [1,3,2,4]: Σdx·dy = 4, Σdx² = Σdy² = 5, so r = 4/5.
    assert.ok(Math.abs(pearson([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12);
    assert.equal(pearson([1, 2, 3], [5, 5, 5]), 0);
    assert.equal(pearson([0, 1, 2, 3, 9], [9, 1, 2, 3, 0], 1, 3), 1);
  });
});
