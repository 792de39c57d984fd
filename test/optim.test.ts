import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { adamw, clipByGlobalNorm, type Optimizer, type OptimizerState, sgd } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import { makeSchedule } from "../src/engine/schedules.ts";
import { assertClose, assertScalarClose } from "./helpers.ts";

before(async () => {
  await initEngine();
});

type HostParams = Record<string, { shape: number[]; data: Float64Array }>;

function randomHost(rng: Rng): HostParams {
  return {
    "layer.weight": { shape: [3, 4], data: Float64Array.from({ length: 12 }, () => rng.normal()) },
    "layer.bias": { shape: [4], data: Float64Array.from({ length: 4 }, () => rng.normal()) },
    "norm.weight": { shape: [4], data: Float64Array.from({ length: 4 }, () => 1 + 0.1 * rng.normal()) },
  };
}

const toArrays = (h: HostParams): Params =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, np.array(Float32Array.from(v.data), { shape: v.shape })]));

async function toHost(p: Params): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(p)) out[k] = await readFloat32(v);
  return out;
}

/** float64 AdamW exactly as torch.optim.AdamW writes it. */
function refAdamW(
  params: HostParams,
  gradsSeq: HostParams[],
  lrs: number[],
  o: { b1: number; b2: number; eps: number; wd: number },
) {
  const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v.data)]));
  const m = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float64Array(v.data.length)]));
  const v2 = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float64Array(v.data.length)]));
  gradsSeq.forEach((grads, s) => {
    const t = s + 1;
    const lr = lrs[s]!;
    for (const k of Object.keys(p)) {
      const decay = params[k]!.shape.length >= 2 ? o.wd : 0;
      for (let i = 0; i < p[k]!.length; i++) {
        const g = grads[k]!.data[i]!;
        p[k]![i]! *= 1 - lr * decay;
        m[k]![i] = o.b1 * m[k]![i]! + (1 - o.b1) * g;
        v2[k]![i] = o.b2 * v2[k]![i]! + (1 - o.b2) * g * g;
        const mHat = m[k]![i]! / (1 - o.b1 ** t);
        const vHat = v2[k]![i]! / (1 - o.b2 ** t);
        p[k]![i]! -= (lr * mHat) / (Math.sqrt(vHat) + o.eps);
      }
    }
  });
  return p;
}

/** float64 SGD with momentum / Nesterov and coupled weight decay, as torch.optim.SGD. */
function refSgd(params: HostParams, gradsSeq: HostParams[], lr: number, mu: number, nesterov: boolean, wd: number) {
  const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v.data)]));
  const buf = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, new Float64Array(v.data.length)]));
  for (const grads of gradsSeq) {
    for (const k of Object.keys(p)) {
      const decay = params[k]!.shape.length >= 2 ? wd : 0;
      for (let i = 0; i < p[k]!.length; i++) {
        const g = grads[k]!.data[i]! + decay * p[k]![i]!;
        buf[k]![i] = mu * buf[k]![i]! + g;
        p[k]![i]! -= lr * (nesterov ? g + mu * buf[k]![i]! : buf[k]![i]!);
      }
    }
  }
  return p;
}

async function runOptimizer(opt: Optimizer, init: HostParams, gradsSeq: HostParams[], lrs: number[], useJit: boolean) {
  let params = toArrays(init);
  let state = opt.init(params);
  const update = (p: Params, g: Params, s: OptimizerState, lr: JaxArray) => {
    const r = opt.update(p, g, s, lr);
    return { params: r.params, state: r.state };
  };
  const step = useJit ? jit(update) : update;
  for (let s = 0; s < gradsSeq.length; s++) {
    const out = step(params, toArrays(gradsSeq[s]!), state, np.array(lrs[s]!));
    params = out.params;
    state = out.state;
  }
  assert.equal(await readScalar(state.count), gradsSeq.length, "count = number of updates");
  disposeTree(state.slots);
  return toHost(params);
}

describe("AdamW", () => {
  test("matches a float64 reference over 5 steps (decay on matrices only), eager and jit", async () => {
    const rng = new Rng(11);
    const init = randomHost(rng);
    const gradsSeq = Array.from({ length: 5 }, () => randomHost(rng));
    const lrs = [1e-2, 2e-2, 3e-2, 2e-2, 1e-2];
    const cfg = { b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.1 };
    const want = refAdamW(init, gradsSeq, lrs, cfg);
    for (const useJit of [false, true]) {
      const got = await runOptimizer(
        adamw({ beta1: cfg.b1, beta2: cfg.b2, eps: cfg.eps, weightDecay: cfg.wd }),
        init,
        gradsSeq,
        lrs,
        useJit,
      );
      for (const k of Object.keys(want)) assertClose(got[k]!, want[k]!, 2e-6, `${k} (jit=${useJit})`);
    }
  });

  test("first step by hand: θ1 = θ0 − η·g/(|g| + ε) − η·λ·θ0", async () => {
    // With bias correction, m̂1 = g and v̂1 = g², so the step is η·sign(g) (up to ε).
    const opt = adamw({ weightDecay: 0.5, eps: 1e-8 });
    const params = { w: np.array([[1, -2]]), b: np.array([3]) };
    const state = opt.init(params);
    const out = opt.update(params, { w: np.array([[0.5, -4]]), b: np.array([-1e-3]) }, state, 0.1);
    const w = await readFloat32(out.params.w!);
    const b = await readFloat32(out.params.b!);
    assertClose(w, [1 - 0.1 - 0.1 * 0.5 * 1, -2 + 0.1 - 0.1 * 0.5 * -2], 1e-6, "w (decayed)");
    assertClose(b, [3 + 0.1 * (1e-3 / (1e-3 + 1e-8))], 1e-6, "b (not decayed: a vector)");
    disposeTree(out.state);
  });

  test("a custom decay mask decides which parameters decay", async () => {
    const opt = adamw({ weightDecay: 1, decayMask: (name) => name === "b" });
    const params = { w: np.array([[2]]), b: np.array([2]) };
    const out = opt.update(params, { w: np.array([[0]]), b: np.array([0]) }, opt.init(params), 0.1);
    assertClose(await readFloat32(out.params.w!), [2], 0, "w untouched (zero grad, no decay)");
    assertClose(await readFloat32(out.params.b!), [2 - 0.1 * 2], 1e-6, "b decayed");
    disposeTree(out.state);
  });

  test("rejects invalid hyperparameters and mismatched gradients", () => {
    assert.throws(() => adamw({ beta1: 1 }), /beta1 must be in \[0, 1\)/);
    assert.throws(() => adamw({ eps: 0 }), /eps must be > 0/);
    const opt = adamw();
    const params = { w: np.zeros([2]) };
    const state = opt.init(params);
    assert.throws(() => opt.update(params, { v: np.zeros([2]) }, state, 0.1), /gradient for unknown parameter "v"/);
    disposeTree([params, state]);
  });
});

describe("SGD", () => {
  for (const [mu, nesterov, wd] of [
    [0, false, 0],
    [0.9, false, 0.01],
    [0.9, true, 0.01],
  ] as const) {
    test(`matches a float64 reference (momentum ${mu}, nesterov ${nesterov}, weight decay ${wd})`, async () => {
      const rng = new Rng(21);
      const init = randomHost(rng);
      const gradsSeq = Array.from({ length: 4 }, () => randomHost(rng));
      const want = refSgd(init, gradsSeq, 0.05, mu, nesterov, wd);
      const got = await runOptimizer(
        sgd({ momentum: mu, nesterov, weightDecay: wd }),
        init,
        gradsSeq,
        [0.05, 0.05, 0.05, 0.05],
        true,
      );
      for (const k of Object.keys(want)) assertClose(got[k]!, want[k]!, 1e-6, k);
    });
  }
});

describe("convergence on a quadratic (table-driven)", () => {
  // f(θ) = ½ Σ a_i (θ_i − c_i)², minimum at c.
  const a = [1, 3, 0.5, 2];
  const c = [1, -2, 0.5, 3];
  const cases: [string, () => Optimizer, number, number][] = [
    ["sgd", () => sgd(), 0.3, 200],
    ["sgd+momentum", () => sgd({ momentum: 0.9 }), 0.05, 300],
    ["sgd+nesterov", () => sgd({ momentum: 0.9, nesterov: true }), 0.05, 300],
    ["adamw (no decay)", () => adamw({ weightDecay: 0 }), 0.05, 600],
  ];
  for (const [name, make, lr, steps] of cases) {
    test(`${name} reaches the minimum`, async () => {
      const opt = make();
      const loss = (p: Params) => np.sum(np.multiply(np.square(np.subtract(p.x!, np.array(c))), np.array(a))).mul(0.5);
      const step = jit((p: Params, s: OptimizerState, eta: JaxArray) => {
        const [value, grads] = valueAndGrad(loss)(keepTree(p));
        const next = opt.update(p, grads, s, eta);
        return { params: next.params, state: next.state, value };
      });
      let params: Params = { x: np.zeros([4]) };
      let state = opt.init(params);
      for (let i = 0; i < steps; i++) {
        const out = step(params, state, np.array(lr));
        params = out.params;
        state = out.state;
        await readScalar(out.value);
      }
      assertClose(await readFloat32(params.x!), c, 2e-3, `${name} minimiser`);
      disposeTree(state);
      step.dispose();
    });
  }
});

describe("global-norm clipping", () => {
  test("scales to maxNorm when above, leaves gradients alone when below, and reports the norm", async () => {
    const grads = { a: np.array([3, 0]), b: np.array([[0, 4]]) }; // ‖g‖ = 5
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    assertScalarClose(await readScalar(norm), 5, 1e-6, "norm");
    const a = await readFloat32(clipped.a!);
    const b = await readFloat32(clipped.b!);
    assertClose([...a, ...b], [0.6, 0, 0, 0.8], 1e-6, "clipped");
    const small = clipByGlobalNorm({ a: np.array([0.3, 0.4]) }, 1);
    assertClose(await readFloat32(small.grads.a!), [0.3, 0.4], 1e-6, "unclipped");
    assertScalarClose(await readScalar(small.norm), 0.5, 1e-6, "small norm");
    assert.throws(() => clipByGlobalNorm({}, 0), /maxNorm must be > 0/);
  });
});

describe("schedules", () => {
  test("constant with warm-up", () => {
    const s = makeSchedule({ kind: "constant", lr: 1, warmupSteps: 4 });
    assert.deepEqual([0, 1, 2, 3, 4, 100].map(s), [0.25, 0.5, 0.75, 1, 1, 1]);
  });
  test("warm-up + cosine: peak after warm-up, half-way at the middle, minLr at the end and after", () => {
    const s = makeSchedule({ kind: "cosine", lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
    assertScalarClose(s(0), 0.1, 1e-12, "first warm-up step");
    assertScalarClose(s(10), 1, 1e-12, "peak");
    assertScalarClose(s(60), 0.55, 1e-12, "middle");
    assertScalarClose(s(110), 0.1, 1e-12, "end");
    assertScalarClose(s(500), 0.1, 1e-12, "after end");
  });
  test("linear decay", () => {
    const s = makeSchedule({ kind: "linear", lr: 2, totalSteps: 10 });
    assert.deepEqual([0, 5, 10, 11].map(s), [2, 1, 0, 0]);
  });
  test("invalid configurations are rejected with the field named", () => {
    assert.throws(() => makeSchedule({ kind: "cosine", lr: 1 }), /totalSteps must be a positive integer/);
    assert.throws(() => makeSchedule({ kind: "linear", lr: 1, totalSteps: 5, warmupSteps: 6 }), /warmupSteps/);
    assert.throws(() => makeSchedule({ kind: "constant", lr: Number.NaN }), /lr must be a finite number/);
    assert.throws(() => makeSchedule({ kind: "step" as "constant", lr: 1 }), /unknown kind "step"/);
  });
});
