import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { grad, np } from "../src/engine/jax.ts";
import { Rng } from "../src/engine/rng.ts";
import {
  AdvantageError,
  GROUP_ADVANTAGES,
  grpoAdvantages,
  reinforcePpAdvantages,
  rlooAdvantages,
  zeroStdGroups,
} from "../src/rl/advantages.ts";
import { categoricalKl, KL_DEVICE, KL_ESTIMATORS, KL_HOST } from "../src/rl/kl.ts";
import {
  AGGREGATE,
  AGGREGATE_HOST,
  AGGREGATIONS,
  type ClipConfig,
  clippedSurrogateHost,
  POLICY_LOSSES,
} from "../src/rl/policy-loss.ts";
import { temperedLogProbs } from "../src/rl/rollout.ts";
import { assertClose } from "./helpers.ts";

await initEngine();

const near = (a: number, b: number, tol: number) => assertClose([a], [b], tol);

const OPTS = { groupSize: 4, scaling: "group" as const, eps: 0, groupBaseline: false };
// two groups of G = 4
const R = [1, 0, 0, 1, 1, 1, 1, 0];

/** Plain-loop references, written from the papers' equations independently of src/. */
function sampleStd(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

describe("group advantage estimators", () => {
  test("grpo group scaling: (r − mean_group) / std_group (ddof 1), by hand", () => {
    // group 1: mean 0.5, std sqrt(1/3); group 2: mean 0.75, std 0.5
    const a = grpoAdvantages(R, OPTS);
    const s1 = Math.sqrt(1 / 3);
    assertClose([...a], [0.5 / s1, -0.5 / s1, -0.5 / s1, 0.5 / s1, 0.5, 0.5, 0.5, -1.5], 1e-12);
  });
  test("grpo batch scaling divides by the batch std; none (Dr. GRPO) only centres", () => {
    const sb = sampleStd(R);
    const batch = grpoAdvantages(R, { ...OPTS, scaling: "batch" });
    const none = GROUP_ADVANTAGES.dr_grpo(R, OPTS);
    const centred = [0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75];
    assertClose([...none], centred, 1e-12);
    assertClose(
      [...batch],
      centred.map((c) => c / sb),
      1e-12,
    );
  });
  test("rloo: baseline is the mean of the other G − 1 rewards, plain loop", () => {
    const rng = new Rng(3);
    const r = Array.from({ length: 12 }, () => rng.float());
    const G = 3;
    const want = r.map((x, i) => {
      const g = Math.floor(i / G);
      const others = r.slice(g * G, (g + 1) * G).filter((_, j) => g * G + j !== i);
      return x - others.reduce((a, b) => a + b, 0) / (G - 1);
    });
    assertClose([...rlooAdvantages(r, { groupSize: G })], want, 1e-12);
    // = G/(G−1) · Dr. GRPO's centred reward
    const dr = GROUP_ADVANTAGES.dr_grpo(r, { ...OPTS, groupSize: G });
    assertClose(
      [...rlooAdvantages(r, { groupSize: G })],
      [...dr].map((d) => (d * G) / (G - 1)),
      1e-12,
    );
  });
  test("reinforce_pp: batch whitening, with and without the group baseline", () => {
    const plain = reinforcePpAdvantages(R, { ...OPTS, groupBaseline: false });
    const m = R.reduce((a, b) => a + b, 0) / R.length;
    assertClose(
      [...plain],
      R.map((x) => (x - m) / sampleStd(R)),
      1e-12,
    );
    const based = reinforcePpAdvantages(R, { ...OPTS, groupBaseline: true });
    const centred = [0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75];
    const cm = centred.reduce((a, b) => a + b, 0) / centred.length;
    assertClose(
      [...based],
      centred.map((c) => (c - cm) / sampleStd(centred)),
      1e-12,
    );
  });
  test("zero-std groups are flagged and get advantage 0 from every estimator", () => {
    const r = [1, 1, 1, 1, 0, 1, 0, 1];
    assert.deepEqual(zeroStdGroups(r, 4), [true, false]);
    for (const kind of ["grpo", "dr_grpo", "rloo"] as const) {
      const a = GROUP_ADVANTAGES[kind](r, { ...OPTS, eps: 1e-4 });
      assertClose([...a.slice(0, 4)], [0, 0, 0, 0], 1e-12);
    }
  });
  test("bad input names the estimator and the problem", () => {
    assert.throws(() => rlooAdvantages([1, 2, 3], { groupSize: 2 }), AdvantageError);
    assert.throws(() => grpoAdvantages([1, Number.NaN], { ...OPTS, groupSize: 2 }), /reward 1 is NaN/);
  });
});

const CLIP: ClipConfig = { clipLow: 0.2, clipHigh: 0.28, dualClip: 0 };

async function devicePolicyLoss(
  kind: "clip" | "reinforce",
  lp: number[],
  old: number[],
  adv: number[],
  cfg: ClipConfig,
) {
  const a = (x: number[]) => np.array(Float32Array.from(x), { shape: [1, x.length], dtype: np.float32 });
  const out = POLICY_LOSSES[kind](a(lp), a(old), a(adv), cfg);
  return { loss: [...(await out.loss.data())], clipped: [...(await out.clipped.data())] };
}

describe("policy loss", () => {
  test("clip-higher at the boundary: clipped strictly outside [1 − ε_low, 1 + ε_high], device = host", async () => {
    // ratios just inside / outside each bound, for positive and negative advantages
    const ratios = [0.79, 0.81, 1.27, 1.29, 0.79, 0.81, 1.27, 1.29];
    const adv = [1, 1, 1, 1, -1, -1, -1, -1];
    const old = ratios.map(() => -1);
    const lp = ratios.map((r) => Math.log(r) - 1);
    const host = ratios.map((_, i) => clippedSurrogateHost(lp[i]!, old[i]!, adv[i]!, CLIP));
    // A > 0: only the upper bound binds (1.29 clipped to 1.28); A < 0: only the lower (0.79 → 0.8)
    assert.deepEqual(
      host.map((h) => h.clipped),
      [false, false, false, true, true, false, false, false],
    );
    near(host[3]!.loss, -1.28, 1e-9);
    near(host[4]!.loss, 0.8, 1e-9);
    near(host[2]!.loss, -1.27, 1e-9); // inside the range: the ratio itself
    const dev = await devicePolicyLoss("clip", lp, old, adv, CLIP);
    assertClose(
      dev.loss,
      host.map((h) => h.loss),
      1e-5,
    );
    assert.deepEqual(
      dev.clipped,
      host.map((h) => (h.clipped ? 1 : 0)),
    );
  });
  test("dual clip caps the loss of a negative advantage at −Â c", async () => {
    const cfg = { ...CLIP, dualClip: 3 };
    const lp = [Math.log(5), Math.log(5)];
    const old = [0, 0];
    const adv = [-1, 1];
    const host = lp.map((l, i) => clippedSurrogateHost(l, old[i]!, adv[i]!, cfg).loss);
    assertClose(host, [3, -1.28], 1e-9); // without dual clip the first would be 5
    assertClose((await devicePolicyLoss("clip", lp, old, adv, cfg)).loss, host, 1e-5);
  });
  test("at ratio 1 without clipping, ∇ loss = the REINFORCE gradient −Â ∇ log π (finite differences)", async () => {
    // a policy over V = 5 tokens at T = 3 positions with logits θ; sampled tokens and advantages fixed
    const rng = new Rng(7);
    const V = 5;
    const T = 3;
    const theta = Array.from({ length: T * V }, () => rng.normal());
    const targets = [1, 4, 2];
    const adv = [0.7, -1.3, 0.4];
    const logSoftmax = (z: number[], t: number) => {
      const row = z.slice(t * V, (t + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      return row[targets[t]!]! - lse;
    };
    // REINFORCE objective J(θ) = −(1/T) Σ_t Â_t log π_θ(y_t): its gradient by central differences
    const J = (z: number[]) => -adv.reduce((s, a, t) => s + a * logSoftmax(z, t), 0) / T;
    const h = 1e-5;
    const fd = theta.map((_, i) => {
      const up = theta.slice();
      const down = theta.slice();
      up[i]! += h;
      down[i]! -= h;
      return (J(up) - J(down)) / (2 * h);
    });
    const old = targets.map((_, t) => logSoftmax(theta, t)); // rollout log-probs = current: ρ = 1
    for (const kind of ["clip", "reinforce"] as const) {
      const loss = (z: ReturnType<typeof np.array>) => {
        const { logProbs, all } = temperedLogProbs(
          np.reshape(z, [1, T, V]),
          np.array(Int32Array.from(targets), { shape: [1, T], dtype: np.int32 }),
          1,
        );
        all.dispose();
        const f = (x: number[]) => np.array(Float32Array.from(x), { shape: [1, T], dtype: np.float32 });
        const pg = POLICY_LOSSES[kind](logProbs, f(old), f(adv), CLIP);
        pg.clipped.dispose();
        return AGGREGATE["token-mean"](pg.loss, f([1, 1, 1]), T).sum.div(T);
      };
      const g = await grad(loss)(np.array(Float32Array.from(theta), { shape: [T * V], dtype: np.float32 })).data();
      assertClose([...g], fd, 2e-4);
    }
  });
});

describe("aggregation modes", () => {
  // two completions: 3 and 1 tokens, L_max = 4
  const x = [
    [1, 2, 3, 9],
    [4, 9, 9, 9],
  ];
  const mask = [
    [1, 1, 1, 0],
    [1, 0, 0, 0],
  ];
  const want = {
    "token-mean": (1 + 2 + 3 + 4) / 4, // DAPO: every token weighs the same
    "seq-mean-token-mean": (6 / 3 + 4 / 1) / 2, // GRPO: every sequence weighs the same
    "seq-mean-token-sum-norm": (6 + 4) / 4 / 2, // Dr. GRPO: token sums over a constant L_max, per sequence
  } as const;
  for (const mode of AGGREGATIONS) {
    test(`${mode}: host by hand and device = host`, async () => {
      const h = AGGREGATE_HOST[mode](x, mask, 4);
      near(h.sum / h.count, want[mode], 1e-12);
      const a = (m: number[][]) => np.array(Float32Array.from(m.flat()), { shape: [2, 4], dtype: np.float32 });
      const d = AGGREGATE[mode](a(x), a(mask), 4);
      near((await d.sum.data())[0]! / (await d.count.data())[0]!, want[mode], 1e-6);
    });
  }
  test("token-mean over micro-batches (Σ sums / Σ counts) equals one batch", () => {
    const whole = AGGREGATE_HOST["token-mean"](x, mask, 4);
    const a = AGGREGATE_HOST["token-mean"]([x[0]!], [mask[0]!], 4);
    const b = AGGREGATE_HOST["token-mean"]([x[1]!], [mask[1]!], 4);
    near((a.sum + b.sum) / (a.count + b.count), whole.sum / whole.count, 1e-12);
  });
});

describe("KL estimators against the exact KL of small categoricals", () => {
  const p = [0.5, 0.3, 0.15, 0.05]; // π_θ (samples come from it)
  const q = [0.25, 0.25, 0.3, 0.2]; // π_ref
  const exact = categoricalKl(p, q);
  const expect = (k: (typeof KL_ESTIMATORS)[number]) =>
    p.reduce((s, pi, i) => s + pi * KL_HOST[k](Math.log(pi), Math.log(q[i]!)), 0);
  test("k1 and k3 are unbiased: E_p[k] = KL(p‖q) exactly", () => {
    near(expect("k1"), exact, 1e-12);
    near(expect("k3"), exact, 1e-12);
  });
  test("k2 is biased but close for nearby distributions; k2 and k3 are never negative, k1 can be", () => {
    assert.ok(Math.abs(expect("k2") - exact) > 1e-4, "k2 is biased here");
    const near = p.map((pi, i) => 0.9 * pi + 0.1 * q[i]!);
    const exactNear = categoricalKl(p, near);
    const k2Near = p.reduce((s, pi, i) => s + pi * KL_HOST.k2(Math.log(pi), Math.log(near[i]!)), 0);
    assert.ok(Math.abs(k2Near - exactNear) / exactNear < 0.1, `k2 ${k2Near} vs ${exactNear}`);
    const values = (k: (typeof KL_ESTIMATORS)[number]) => p.map((pi, i) => KL_HOST[k](Math.log(pi), Math.log(q[i]!)));
    assert.ok(values("k1").some((v) => v < 0));
    assert.ok(values("k2").every((v) => v >= 0) && values("k3").every((v) => v >= 0));
  });
  test("Monte-Carlo mean of k3 converges to the exact KL; device = host", async () => {
    const rng = new Rng(11);
    let s = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = rng.float();
      let k = 0;
      for (let c = p[0]!; k < p.length - 1 && u >= c; c += p[k]!) k++;
      s += KL_HOST.k3(Math.log(p[k]!), Math.log(q[k]!));
    }
    near(s / n, exact, 0.02);
    const a = (xs: number[]) => np.array(Float32Array.from(xs), { shape: [1, xs.length], dtype: np.float32 });
    for (const k of KL_ESTIMATORS) {
      const dev = await KL_DEVICE[k](a(p.map(Math.log)), a(q.map(Math.log))).data();
      assertClose(
        [...dev],
        p.map((pi, i) => KL_HOST[k](Math.log(pi), Math.log(q[i]!))),
        1e-5,
      );
    }
  });
});
