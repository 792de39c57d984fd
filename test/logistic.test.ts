import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { adamw } from "../src/engine/optim.ts";
import { fitByNll, logisticNll, makeLogisticData, newtonLogistic } from "../src/examples/logistic.ts";

before(async () => {
  await initEngine();
});

/** Gradient of the mean NLL in float64, to check the reference itself is at a stationary point. */
function nllGradient(data: ReturnType<typeof makeLogisticData>, w: ArrayLike<number>, b: number): number[] {
  const g = new Array(data.d + 1).fill(0);
  for (let i = 0; i < data.n; i++) {
    let z = b;
    for (let j = 0; j < data.d; j++) z += w[j]! * data.x[i * data.d + j]!;
    const r = 1 / (1 + Math.exp(-z)) - data.y[i]!;
    for (let j = 0; j < data.d; j++) g[j] += (r * data.x[i * data.d + j]!) / data.n;
    g[data.d] += r / data.n;
  }
  return g;
}

const maxAbsDiff = (fit: { w: Float64Array; b: number }, ref: { w: Float64Array; b: number }) =>
  Math.max(Math.abs(fit.b - ref.b), ...Array.from(fit.w, (v, i) => Math.abs(v - ref.w[i]!)));

describe("logistic regression by NLL (the worked example)", () => {
  test("Newton's method finds a stationary point of the NLL (the reference is right)", () => {
    const data = makeLogisticData({ n: 500, d: 3, seed: 3 });
    const ref = newtonLogistic(data);
    for (const g of nllGradient(data, ref.w, ref.b)) assert.ok(Math.abs(g) < 1e-12, `gradient ${g}`);
    // A perturbation in any direction increases the NLL (convexity, minimum not maximum).
    const base = logisticNll(data, ref.w, ref.b);
    assert.ok(logisticNll(data, ref.w, ref.b + 1e-3) > base);
    assert.ok(
      logisticNll(
        data,
        ref.w.map((v, i) => (i === 0 ? v - 1e-3 : v)),
        ref.b,
      ) > base,
    );
  });

  for (const seed of [0, 1]) {
    test(`jax-js NLL minimisation matches Newton's optimum to 1e-4 (seed ${seed})`, async () => {
      const data = makeLogisticData({ n: 600, d: 5, seed });
      const ref = newtonLogistic(data);
      const fit = await fitByNll(data, { steps: 300 });
      const diff = maxAbsDiff(fit, ref);
      assert.ok(diff <= 1e-4, `max |θ − θ*| = ${diff}`);
      assert.ok(Math.abs(fit.nll - logisticNll(data, ref.w, ref.b)) < 1e-8);
    });
  }

  test("AdamW also reaches the optimum (to a looser 1e-3: it hovers at float32 noise)", async () => {
    const data = makeLogisticData({ n: 400, d: 3, seed: 9 });
    const ref = newtonLogistic(data);
    const fit = await fitByNll(data, { steps: 1500, lr: 0.05, optimizer: adamw({ weightDecay: 0 }) });
    const diff = maxAbsDiff(fit, ref);
    assert.ok(diff <= 1e-3, `max |θ − θ*| = ${diff}`);
  });

  test("the fitted model is close to the generating weights on a large sample", async () => {
    const data = makeLogisticData({ n: 4000, d: 2, seed: 5 });
    const ref = newtonLogistic(data);
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(ref.w[j]! - data.trueW[j]!) < 0.15, `w${j}`);
  });
});
