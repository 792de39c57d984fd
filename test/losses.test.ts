import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { grad, type Array as JaxArray, jit, np } from "../src/engine/jax.ts";
import {
  binaryCrossEntropyWithLogits,
  crossEntropy,
  logSumExp,
  perplexity,
  tokenLogProbs,
  tokenNll,
} from "../src/engine/losses.ts";
import { readFloat32, readScalar } from "../src/engine/memory.ts";
import { Rng } from "../src/engine/rng.ts";
import { assertClose, assertScalarClose } from "./helpers.ts";

before(async () => {
  await initEngine();
});

/** float64 reference: log p(y) = z_y − log Σ exp(z) with max subtraction. */
function refLogProb(z: number[], y: number): number {
  const m = Math.max(...z);
  return z[y]! - (m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)));
}

function randomProblem(seed: number, B: number, T: number, V: number, scale = 3) {
  const rng = new Rng(seed);
  const logits = Float32Array.from({ length: B * T * V }, () => scale * rng.normal());
  const targets = Int32Array.from({ length: B * T }, () => rng.int(0, V - 1));
  const mask = Float32Array.from({ length: B * T }, () => (rng.float() < 0.6 ? 1 : 0));
  mask[0] = 1;
  return { logits, targets, mask, B, T, V };
}

function refNll(p: ReturnType<typeof randomProblem>) {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < p.B * p.T; i++) {
    if (!p.mask[i]) continue;
    sum -= refLogProb(Array.from(p.logits.subarray(i * p.V, (i + 1) * p.V)), p.targets[i]!);
    count++;
  }
  return { sum, mean: sum / count, count };
}

const arrays = (p: ReturnType<typeof randomProblem>) => ({
  logits: np.array(p.logits, { shape: [p.B, p.T, p.V] }),
  targets: np.array(p.targets, { shape: [p.B, p.T], dtype: np.int32 }),
  mask: np.array(p.mask, { shape: [p.B, p.T] }),
});

describe("token NLL", () => {
  test("mean and sum match a float64 reference", async () => {
    for (const seed of [1, 2, 3]) {
      const p = randomProblem(seed, 3, 5, 11);
      const ref = refNll(p);
      const a = arrays(p);
      assertScalarClose(await readScalar(tokenNll(a.logits, a.targets, a.mask)), ref.mean, 1e-5, "mean");
      const b = arrays(p);
      assertScalarClose(
        await readScalar(tokenNll(b.logits, b.targets, b.mask, { reduction: "sum" })),
        ref.sum,
        1e-4,
        "sum",
      );
    }
  });

  test("per-token log-probabilities match the reference", async () => {
    const p = randomProblem(4, 2, 3, 7);
    const a = arrays(p);
    a.mask.dispose();
    const got = await readFloat32(tokenLogProbs(a.logits, a.targets));
    const want = Array.from({ length: 6 }, (_, i) =>
      refLogProb(Array.from(p.logits.subarray(i * 7, (i + 1) * 7)), p.targets[i]!),
    );
    assertClose(got, want, 1e-5, "logProbs");
  });

  test("is stable for huge logits (no inf, no NaN)", async () => {
    const logits = np.array([
      [
        [1e4, -1e4, 0],
        [-3e4, -3e4 + 1, -3e4 + 2],
        [88, 89, 90],
      ],
    ]); // exp overflows float32 naively
    const targets = np.array([[1, 2, 0]], { dtype: np.int32 });
    const mask = np.ones([1, 3]);
    const got = await readScalar(tokenNll(logits, targets, mask));
    const want = (-refLogProb([1e4, -1e4, 0], 1) - refLogProb([0, 1, 2], 2) - refLogProb([88, 89, 90], 0)) / 3;
    assert.ok(Number.isFinite(got), `NLL must be finite, got ${got}`);
    assertScalarClose(got, want, 1e-6 * Math.abs(want), "stable NLL (relative 1e-6)");
  });

  test("masked positions contribute nothing; an all-masked batch gives 0, not NaN", async () => {
    const p = randomProblem(5, 2, 4, 5);
    const a = arrays(p);
    // Change logits where mask = 0: the loss must not change.
    const changed = Float32Array.from(p.logits);
    for (let i = 0; i < 8; i++) if (!p.mask[i]) for (let v = 0; v < 5; v++) changed[i * 5 + v] = 1000 * (v + 1);
    const b = arrays({ ...p, logits: changed });
    const l1 = await readScalar(tokenNll(a.logits, a.targets, a.mask));
    const l2 = await readScalar(tokenNll(b.logits, b.targets, b.mask));
    assert.equal(l1, l2);
    const zero = await readScalar(
      tokenNll(np.ones([1, 2, 3]), np.zeros([1, 2], { dtype: np.int32 }), np.zeros([1, 2])),
    );
    assert.equal(zero, 0);
  });

  test("gradient is (softmax − onehot) · mask / count, under jit", async () => {
    const p = randomProblem(6, 2, 3, 4);
    const ref = refNll(p);
    const a = arrays(p);
    const dLoss = jit(grad((logits: JaxArray, targets: JaxArray, mask: JaxArray) => tokenNll(logits, targets, mask)));
    const got = await readFloat32(dLoss(a.logits, a.targets, a.mask));
    const want: number[] = [];
    for (let i = 0; i < 6; i++) {
      const z = Array.from(p.logits.subarray(i * 4, (i + 1) * 4));
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((x, y) => x + y, 0);
      for (let v = 0; v < 4; v++) want.push(p.mask[i] ? (e[v]! / s - (v === p.targets[i] ? 1 : 0)) / ref.count : 0);
    }
    assertClose(got, want, 1e-6, "dNLL/dlogits");
    dLoss.dispose();
  });

  test("rejects mismatched shapes with a message naming both", () => {
    assert.throws(
      () => tokenLogProbs(np.zeros([2, 3, 4]), np.zeros([2, 4], { dtype: np.int32 })),
      /targets shape \[2,4\] must equal logits shape \[2,3,4\]/,
    );
  });

  test("logSumExp equals log Σ exp for moderate values and stays finite for large ones", async () => {
    const got = await readFloat32(
      logSumExp(
        np.array([
          [1, 2, 3],
          [1000, 1000, 1000],
        ]),
      ),
    );
    assertClose(got, [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)), 1000 + Math.log(3)], 1e-4, "lse");
  });
});

describe("cross-entropy and binary cross-entropy", () => {
  test("cross-entropy equals token NLL with an all-ones mask", async () => {
    const p = randomProblem(7, 4, 1, 6);
    const ones = { ...p, mask: new Float32Array(4).fill(1) };
    const ref = refNll(ones);
    const a = arrays(ones);
    a.mask.dispose();
    assertScalarClose(await readScalar(crossEntropy(a.logits, a.targets)), ref.mean, 1e-5, "CE");
  });

  test("BCE with logits matches −[y log σ + (1−y) log(1−σ)], also at |z| = 100", async () => {
    const z = [-100, -3, -0.5, 0, 0.7, 4, 100];
    const y = [0, 1, 0, 1, 1, 0, 1];
    const ref = z.map((zi, i) => {
      const logSig = -Math.log1p(Math.exp(-zi)); // fine in float64 for these values
      const log1mSig = -zi - Math.log1p(Math.exp(-zi));
      return -(y[i]! * logSig + (1 - y[i]!) * log1mSig);
    });
    const mean = ref.reduce((s, v) => s + v, 0) / ref.length;
    assertScalarClose(await readScalar(binaryCrossEntropyWithLogits(np.array(z), np.array(y))), mean, 1e-5, "BCE mean");
    const sum = ref.reduce((s, v) => s + v, 0);
    const got = await readScalar(binaryCrossEntropyWithLogits(np.array(z), np.array(y), { reduction: "sum" }));
    assertScalarClose(got, sum, 1e-4, "BCE sum");
    const masked = await readScalar(
      binaryCrossEntropyWithLogits(np.array(z), np.array(y), { mask: np.array([1, 1, 0, 0, 0, 0, 0]) }),
    );
    assertScalarClose(masked, (ref[0]! + ref[1]!) / 2, 1e-5, "BCE masked");
  });

  test("BCE gradient is (σ(z) − y) / n", async () => {
    const z = [-2, 0.3, 5];
    const y = [1, 0, 1];
    const dz = grad((logits: JaxArray) => binaryCrossEntropyWithLogits(logits, np.array(y)));
    const got = await readFloat32(dz(np.array(z)));
    assertClose(
      got,
      z.map((zi, i) => (1 / (1 + Math.exp(-zi)) - y[i]!) / 3),
      1e-6,
      "dBCE/dz",
    );
  });

  test("perplexity is exp of the mean NLL (uniform over V gives V)", () => {
    assertScalarClose(perplexity(Math.log(50)), 50, 1e-9, "ppl");
  });
});
