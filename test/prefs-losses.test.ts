/**
 * Preference losses against float64 references written out here by hand: Bradley–Terry with
 * margin and centering, every DPO kind (sigmoid with label smoothing, robust, hinge, IPO with
 * its length averaging, RPO's NLL term) — values AND gradients — the limits β → 0 and
 * policy = reference, and the whole DPO objective through a tiny Llama against a float64
 * log-softmax of its own logits, with a finite-difference check of the gradient.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { type Array as Arr, grad, np, valueAndGrad } from "../src/engine/jax.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import type { Params } from "../src/engine/params.ts";
import { configFromSizes } from "../src/model/config.ts";
import { forward, initParams } from "../src/model/model.ts";
import type { PairBatch } from "../src/prefs/batch.ts";
import { type DpoObjectiveOptions, dpoLossFromLogProbs, dpoObjective } from "../src/prefs/dpo-objective.ts";
import { bradleyTerryLoss, DPO_LOSS_KINDS, type DpoLossKind } from "../src/prefs/losses.ts";

before(async () => {
  await initEngine();
});

const f32 = (xs: number[]) => np.array(new Float32Array(xs), { dtype: np.float32 });
const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe("Bradley–Terry", () => {
  test("value and gradient match −log σ(r_c − r_r − m) + λ(r_c + r_r)² by hand", async () => {
    const rc = [1.0, -0.5, 2.0];
    const rr = [0.2, 0.3, -1.0];
    const m = [0, 0.5, 1.0];
    const lam = 0.01;
    const f = (a: Arr, b: Arr) => np.sum(bradleyTerryLoss(a, b, f32(m), lam));
    const [[value], [ga, gb]] = [
      [await readScalar(f(f32(rc), f32(rr)))],
      grad(f, { argnums: [0, 1] })(f32(rc), f32(rr)) as unknown as [Arr, Arr],
    ];
    let want = 0;
    const wantA: number[] = [];
    const wantB: number[] = [];
    for (let i = 0; i < rc.length; i++) {
      const d = rc[i]! - rr[i]! - m[i]!;
      const s = rc[i]! + rr[i]!;
      want += -logSig(d) + lam * s * s;
      wantA.push(-(1 - sig(d)) + 2 * lam * s);
      wantB.push(1 - sig(d) + 2 * lam * s);
    }
    close(value!, want, 1e-6, "loss");
    const [a, b] = [await readFloat32(ga), await readFloat32(gb)];
    for (let i = 0; i < rc.length; i++) {
      close(a[i]!, wantA[i]!, 1e-6, `∂/∂r_c[${i}]`);
      close(b[i]!, wantB[i]!, 1e-6, `∂/∂r_r[${i}]`);
    }
  });
});

/** The float64 reference of dpoLossFromLogProbs: per-pair loss sum and ∂/∂logps. */
function dpoReference(
  logps: number[],
  ref: number[],
  lengths: number[],
  weight: number[],
  o: DpoObjectiveOptions,
): { sum: number; grad: number[]; chosenReward: number; accuracy: number } {
  const B = weight.length;
  const avg = o.kind === "ipo";
  const L = lengths.map((l) => Math.max(l, 1));
  const scale = L.map((l) => (avg ? 1 / l : 1)); // ∂pol/∂logps
  const pol = logps.map((x, r) => x * scale[r]!);
  const rf = ref.map((x, r) => x * scale[r]!);
  const { beta: b, labelSmoothing: e } = o;
  let sum = 0;
  let chosenReward = 0;
  let accuracy = 0;
  const g = new Array<number>(2 * B).fill(0);
  for (let i = 0; i < B; i++) {
    const h = pol[i]! - pol[B + i]! - (rf[i]! - rf[B + i]!);
    const bh = b * h;
    // ℓ(h) and dℓ/dh per kind, written out.
    const table: { [K in DpoLossKind]: [number, number] } = {
      sigmoid: [-(1 - e) * logSig(bh) - e * logSig(-bh), -(1 - e) * b * (1 - sig(bh)) + e * b * sig(bh)],
      robust: [
        (-(1 - e) * logSig(bh) + e * logSig(-bh)) / (1 - 2 * e),
        (-(1 - e) * b * (1 - sig(bh)) - e * b * sig(bh)) / (1 - 2 * e),
      ],
      hinge: [Math.max(0, 1 - bh), 1 - bh > 0 ? -b : 0],
      ipo: [(h - 1 / (2 * b)) ** 2, 2 * (h - 1 / (2 * b))],
    };
    let [l, dl] = table[o.kind];
    const w = weight[i]!;
    g[i]! += w * dl * scale[i]!;
    g[B + i]! -= w * dl * scale[B + i]!;
    if (o.rpoAlpha > 0) {
      l += o.rpoAlpha * (-logps[i]! / L[i]!);
      g[i]! += (w * -o.rpoAlpha) / L[i]!;
    }
    sum += w * l;
    const rC = b * (pol[i]! - rf[i]!);
    const rR = b * (pol[B + i]! - rf[B + i]!);
    chosenReward += w * rC;
    accuracy += w * (rC > rR ? 1 : 0);
  }
  return { sum, grad: g, chosenReward, accuracy };
}

const LOGPS = [-12.5, -30.25, -8.0, -14.0, -29.0, -9.5]; // [2B]: chosen 0..2, rejected 3..5
const REF = [-13.0, -29.5, -8.25, -13.5, -29.75, -9.0];
const LENGTHS = [10, 24, 6, 12, 20, 7];
const WEIGHT = [1, 1, 0]; // the last pair pads the batch

async function runDpo(logps: number[], ref: number[], o: DpoObjectiveOptions) {
  const f = (x: Arr) => {
    const out = dpoLossFromLogProbs(x, f32(ref), f32(LENGTHS), f32(WEIGHT), o);
    return [out.sum, out.aux] as [Arr, Record<string, Arr>];
  };
  const [[sum, aux], g] = valueAndGrad(f, { hasAux: true })(f32(logps));
  const auxValues: Record<string, number> = {};
  for (const [k, v] of Object.entries(aux)) auxValues[k] = await readScalar(v);
  return { sum: await readScalar(sum), grad: await readFloat32(g), aux: auxValues };
}

describe("DPO kinds: value and gradient against float64", () => {
  const cases: DpoObjectiveOptions[] = [
    { kind: "sigmoid", beta: 0.1, labelSmoothing: 0, rpoAlpha: 0 },
    { kind: "sigmoid", beta: 0.5, labelSmoothing: 0.1, rpoAlpha: 0 },
    { kind: "robust", beta: 0.3, labelSmoothing: 0.2, rpoAlpha: 0 },
    { kind: "hinge", beta: 0.4, labelSmoothing: 0, rpoAlpha: 0 },
    { kind: "ipo", beta: 0.1, labelSmoothing: 0, rpoAlpha: 0 },
    { kind: "sigmoid", beta: 0.1, labelSmoothing: 0, rpoAlpha: 1.0 },
  ];
  test("every registry kind is covered", () => {
    for (const k of DPO_LOSS_KINDS)
      assert.ok(
        cases.some((c) => c.kind === k),
        k,
      );
  });
  for (const o of cases) {
    test(`${o.kind} β=${o.beta} ε=${o.labelSmoothing} α=${o.rpoAlpha}`, async () => {
      const got = await runDpo(LOGPS, REF, o);
      const want = dpoReference(LOGPS, REF, LENGTHS, WEIGHT, o);
      close(got.sum, want.sum, 1e-5, "Σ loss");
      for (let r = 0; r < LOGPS.length; r++) close(got.grad[r]!, want.grad[r]!, 1e-5, `∂/∂logps[${r}]`);
      close(got.aux["rewards/chosen"]!, want.chosenReward, 1e-5, "rewards/chosen");
      assert.equal(got.aux["rewards/accuracies"], want.accuracy);
      assert.equal(got.grad[2], 0, "a padding pair (weight 0) has no gradient");
      assert.equal("nll_loss" in got.aux, o.rpoAlpha > 0);
    });
  }
});

describe("DPO limits", () => {
  test("policy = reference: h = 0, loss log 2 per pair, rewards 0, ∂ℓ/∂logπ_c = −β/2", async () => {
    const o: DpoObjectiveOptions = { kind: "sigmoid", beta: 0.2, labelSmoothing: 0, rpoAlpha: 0 };
    const got = await runDpo(REF, REF, o);
    close(got.sum, 2 * Math.LN2, 1e-6, "Σ loss over 2 real pairs");
    assert.equal(got.aux["rewards/chosen"], 0);
    assert.equal(got.aux["rewards/margins"], 0);
    assert.equal(got.aux["rewards/accuracies"], 0, "a tie is not a win");
    for (let i = 0; i < 2; i++) {
      close(got.grad[i]!, -o.beta / 2, 1e-6, "chosen");
      close(got.grad[3 + i]!, o.beta / 2, 1e-6, "rejected");
    }
  });
  test("β → 0: the loss tends to log 2 and the gradient to −(β/2)·∂h, whatever the log-probs", async () => {
    for (const beta of [1e-2, 1e-4, 1e-6]) {
      const got = await runDpo(LOGPS, REF, { kind: "sigmoid", beta, labelSmoothing: 0, rpoAlpha: 0 });
      close(got.sum / 2, Math.LN2, 10 * beta, `β=${beta}: mean loss`);
      // The gradient is β·(σ(βh) − 1) ≈ −β/2: divided by β it tends to −1/2.
      close(got.grad[0]! / beta, -0.5, 10 * beta, `β=${beta}: ∂/∂logπ_c ÷ β`);
      close(got.grad[3]! / beta, 0.5, 10 * beta, `β=${beta}: ∂/∂logπ_r ÷ β`);
    }
  });
});

describe("DPO through a tiny Llama", () => {
  const config = configFromSizes({
    arch: "llama",
    vocabSize: 13,
    hiddenSize: 16,
    numLayers: 1,
    numHeads: 2,
    maxPositionEmbeddings: 16,
  });
  const B = 2;
  const T = 6;
  // Row r's sequence; the completion is every position t with mask 1 (targets[t] = ids[t+1]).
  const seqs = [
    [1, 4, 5, 6, 2, 0],
    [1, 7, 8, 2, 0, 0],
    [1, 4, 9, 9, 2, 0],
    [1, 7, 3, 3, 3, 2],
  ];
  const lens = [5, 4, 5, 6];
  const promptLen = [2, 2, 2, 2];
  const batch: PairBatch = {
    pairs: B,
    seqLen: T,
    ids: new Int32Array(2 * B * T),
    targets: new Int32Array(2 * B * T),
    mask: new Float32Array(2 * B * T),
    last: new Float32Array(2 * B * T),
    weight: new Float32Array([1, 1]),
    margin: new Float32Array(B),
    lengths: new Float32Array(2 * B),
    refLogProbs: new Float32Array([-9.0, -7.5, -10.0, -13.0]),
    index: [0, 1],
  };
  seqs.forEach((s, r) => {
    for (let t = 0; t < T; t++) batch.ids[r * T + t] = s[t]!;
    for (let t = 0; t + 1 < lens[r]!; t++) {
      batch.targets[r * T + t] = s[t + 1]!;
      if (t + 1 >= promptLen[r]!) {
        batch.mask[r * T + t] = 1;
        batch.lengths[r]! += 1;
      }
    }
    batch.last[r * T + lens[r]! - 1] = 1;
  });

  test("loss equals a float64 log-softmax of the model's logits, and the gradient matches finite differences", async () => {
    const params = initParams(config, { seed: 3, std: 0.3 });
    const o: DpoObjectiveOptions = { kind: "sigmoid", beta: 0.5, labelSmoothing: 0, rpoAlpha: 0.5 };
    const obj = dpoObjective(config, o);
    // float64 reference from the logits.
    const ids = np.array(batch.ids, { shape: [2 * B, T], dtype: np.int32 });
    const logits = await readFloat32(forward(keepTree(params), config, ids).logits); // [2B, T, V]
    const V = config.vocabSize;
    const logps: number[] = [];
    for (let r = 0; r < 2 * B; r++) {
      let s = 0;
      for (let t = 0; t < T; t++) {
        if (batch.mask[r * T + t] === 0) continue;
        const z = Array.from(logits.subarray((r * T + t) * V, (r * T + t + 1) * V));
        const m = Math.max(...z);
        const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
        s += z[batch.targets[r * T + t]!]! - lse;
      }
      logps.push(s);
    }
    const want = dpoReference(logps, Array.from(batch.refLogProbs), Array.from(batch.lengths), [1, 1], o);
    const lossOf = (p: Params) => obj.loss(p, obj.toDevice(batch)).sum;
    const [value, g] = valueAndGrad(lossOf)(keepTree(params));
    close(await readScalar(value), want.sum, 1e-4, "objective Σ loss");
    // Directional derivative along a fixed direction d: (L(θ+εd) − L(θ−εd)) / 2ε vs ⟨∇L, d⟩.
    const eps = 1e-3;
    let dot = 0;
    const plus: Params = {};
    const minus: Params = {};
    let k = 0;
    for (const [name, x] of Object.entries(params)) {
      const host = await readFloat32(x.ref);
      const d = host.map((_, i) => Math.sin(1.7 * (i + 31 * k)));
      k++;
      const gh = await readFloat32(g[name]!.ref);
      for (let i = 0; i < d.length; i++) dot += gh[i]! * d[i]!;
      plus[name] = np.array(
        host.map((v, i) => v + eps * d[i]!),
        { shape: x.shape, dtype: np.float32 },
      );
      minus[name] = np.array(
        host.map((v, i) => v - eps * d[i]!),
        { shape: x.shape, dtype: np.float32 },
      );
    }
    const fd = ((await readScalar(lossOf(plus))) - (await readScalar(lossOf(minus)))) / (2 * eps);
    close(fd, dot, 2e-2, "directional derivative");
    disposeTree(g);
    disposeTree(params);
  });
});
