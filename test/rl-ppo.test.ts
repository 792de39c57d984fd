/**
 * PPO with a value head (rl/value.ts, rl/ppo.ts, advantages.ts tokenGae): GAE against a plain
 * loop, the clipped value loss at and beyond its clip boundary by hand, explained variance on
 * known arrays, the config switch, and a tiny end-to-end run whose explained variance rises.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { np } from "../src/engine/jax.ts";
import { readFloat32 } from "../src/engine/memory.ts";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { tokenGae } from "../src/rl/advantages.ts";
import { parseRlConfig, RlConfigError } from "../src/rl/config.ts";
import { runRl } from "../src/rl/grpo.ts";
import { gaeTargets, maskedExplainedVariance, tokenRewards } from "../src/rl/ppo.ts";
import type { RewardFn } from "../src/rl/rewards.ts";
import { clippedValueLoss, clippedValueLossHost, VALUE_BIAS, VALUE_HEAD_FILE, VALUE_WEIGHT } from "../src/rl/value.ts";
import { assertClose } from "./helpers.ts";
import { writeTinyEvalModel } from "./tiny.ts";

/** verl's compute_gae_advantage_return written out as a plain loop over one row's valid tokens. */
function gaeLoop(r: number[], v: number[], gamma: number, lam: number): { adv: number[]; ret: number[] } {
  const L = r.length;
  const adv = new Array<number>(L).fill(0);
  let last = 0;
  for (let t = L - 1; t >= 0; t--) {
    const next = t < L - 1 ? v[t + 1]! : 0;
    const delta = r[t]! + gamma * next - v[t]!;
    last = delta + gamma * lam * last;
    adv[t] = last;
  }
  return { adv, ret: adv.map((a, t) => a + v[t]!) };
}

describe("ppo: GAE over completion tokens", () => {
  test("by hand: one row of 3 tokens, γ = 0.9, λ = 0.5", () => {
    // r = [0, 0, 1], V = [0.2, 0.4, 0.8]
    // δ_2 = 1 − 0.8 = 0.2;  δ_1 = 0 + 0.9·0.8 − 0.4 = 0.32;  δ_0 = 0 + 0.9·0.4 − 0.2 = 0.16
    // Â_2 = 0.2;  Â_1 = 0.32 + 0.45·0.2 = 0.41;  Â_0 = 0.16 + 0.45·0.41 = 0.3445
    const out = tokenGae(
      { rows: 1, seqLen: 5, rewards: [0, 0, 0, 1, 0], values: [9, 0.2, 0.4, 0.8, 9], mask: [0, 1, 1, 1, 0] },
      0.9,
      0.5,
    );
    assertClose(out.advantages, [0, 0.3445, 0.41, 0.2, 0], 1e-12, "Â");
    assertClose(out.returns, [0, 0.5445, 0.81, 1.0, 0], 1e-12, "R = Â + V");
  });

  test("matches the plain loop on random rows with varied masks; λ = γ = 1 gives R = the reward", () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const B = 5;
    const T = 9;
    for (const [gamma, lam] of [
      [1, 0.95],
      [0.9, 0.7],
      [1, 1],
    ] as const) {
      const rewards = new Float64Array(B * T);
      const values = new Float64Array(B * T);
      const mask = new Float64Array(B * T);
      const starts = [2, 0, 4, 8, 9]; // row 4: no valid token
      for (let b = 0; b < B; b++) {
        for (let t = starts[b]!; t < T; t++) {
          mask[b * T + t] = 1;
          rewards[b * T + t] = rand() - 0.5;
          values[b * T + t] = rand();
        }
      }
      const out = tokenGae({ rows: B, seqLen: T, rewards, values, mask }, gamma, lam);
      for (let b = 0; b < B; b++) {
        const idx = Array.from({ length: T }, (_, t) => b * T + t).filter((i) => mask[i]);
        const ref = gaeLoop(
          idx.map((i) => rewards[i]!),
          idx.map((i) => values[i]!),
          gamma,
          lam,
        );
        assertClose(
          idx.map((i) => out.advantages[i]!),
          ref.adv,
          1e-12,
          `Â row ${b} γ=${gamma} λ=${lam}`,
        );
        assertClose(
          idx.map((i) => out.returns[i]!),
          ref.ret,
          1e-12,
          `R row ${b}`,
        );
        if (gamma === 1 && lam === 1) {
          const G = idx.map((_, k) => idx.slice(k).reduce((s, i) => s + rewards[i]!, 0));
          assertClose(
            idx.map((i) => out.returns[i]!),
            G,
            1e-12,
            `λ = 1: R is the return-to-go, row ${b}`,
          );
        }
      }
      for (let i = 0; i < B * T; i++) if (!mask[i]) assert.equal(out.advantages[i], 0, `off-mask position ${i}`);
    }
  });

  test("per-token rewards: the sequence reward on the last valid token, −β k1 on every valid token", () => {
    const mask = [0, 1, 1, 0, /* row 1 */ 1, 1, 1, 1];
    const lp = [0, -1, -2, 0, -1, -1, -1, -1];
    const ref = [0, -1.5, -1, 0, -1, -1, -1, -0.5];
    const r = tokenRewards([2, 3], mask, 4, { beta: 0.1, logProbs: lp, refLogProbs: ref });
    assertClose(r, [0, -0.05, 0.1 + 2, 0, 0, 0, 0, 3 + 0.05], 1e-12, "r_t");
    assertClose(tokenRewards([2, 3], mask, 4), [0, 0, 2, 0, 0, 0, 0, 3], 0, "no KL");
  });

  test("gaeTargets whitens over valid tokens only and keeps R unwhitened", () => {
    const batch = { rows: 1, seqLen: 4, rewards: [0, 0, 0, 1], values: [5, 0, 0, 0], mask: [0, 1, 1, 1] };
    const t = gaeTargets(batch, { estimator: "gae", gamma: 1, lam: 1, whiten: true, eps: 1e-8 });
    assertClose(t.returns, [0, 1, 1, 1], 1e-7, "R");
    // Â = R − V = [1, 1, 1] on valid tokens: whitening a constant gives 0
    assertClose(t.advantages, [0, 0, 0, 0], 1e-6, "Â whitened");
    assert.equal(t.metrics.explained_variance, null, "Var(R) = 0: EV undefined");
  });
});

describe("ppo: the clipped value loss", () => {
  // V_old = 1, ε_v = 0.2, R = 2:
  //   V = 1.1 (inside):        ½ max((1.1−2)², (1.1−2)²) = 0.405, not clipped
  //   V = 1.2 (at 1 + ε):      V_clip = 1.2, both 0.64 → 0.32, not clipped (equal is not greater)
  //   V = 1.5 (beyond, towards R): V_clip = 1.2; (1.5−2)² = 0.25 < (1.2−2)² = 0.64 → 0.32, clipped
  //   V = 0.5 (beyond, away from R): V_clip = 0.8; (0.5−2)² = 2.25 > 1.44 → 1.125, not clipped
  //   V = 2.5 (beyond R, overshoot): V_clip = 1.2; 0.25 vs 0.64 → 0.32, clipped
  const cases = [
    { v: 1.1, loss: 0.405, clipped: false },
    { v: 1.2, loss: 0.32, clipped: false },
    { v: 1.5, loss: 0.32, clipped: true },
    { v: 0.5, loss: 1.125, clipped: false },
    { v: 2.5, loss: 0.32, clipped: true },
  ];
  test("host reference against hand values", () => {
    for (const c of cases) {
      const h = clippedValueLossHost(c.v, 1, 2, 0.2);
      assertClose([h.loss], [c.loss], 1e-12, `V = ${c.v}`);
      assert.equal(h.clipped, c.clipped, `clipped at V = ${c.v}`);
    }
  });

  test("device loss equals the hand values", async () => {
    await initEngine();
    const n = cases.length;
    const f32 = (xs: number[]) => np.array(new Float32Array(xs), { shape: [1, n], dtype: np.float32 });
    const out = clippedValueLoss(f32(cases.map((c) => c.v)), f32(cases.map(() => 1)), f32(cases.map(() => 2)), 0.2);
    assertClose(
      await readFloat32(out.loss),
      cases.map((c) => c.loss),
      1e-6,
      "ℓ^V",
    );
    assert.deepEqual(
      [...(await readFloat32(out.clipped))],
      cases.map((c) => (c.clipped ? 1 : 0)),
    );
  });
});

describe("ppo: explained variance over valid tokens", () => {
  test("known arrays", () => {
    // valid R = [1, 2, 3, 4] (Var 1.25), V = R: EV 1
    const mask = [1, 1, 0, 1, 1];
    assertClose([maskedExplainedVariance([1, 2, 99, 3, 4], [1, 2, -5, 3, 4], mask)!], [1], 1e-12, "perfect");
    // V constant: Var(R − V) = Var(R): EV 0
    assertClose([maskedExplainedVariance([7, 7, 0, 7, 7], [1, 2, 0, 3, 4], mask)!], [0], 1e-12, "constant");
    // V = R + [0.5, −0.5, 0.5, −0.5]: Var(R − V) = 0.25, EV = 1 − 0.25/1.25 = 0.8
    assertClose([maskedExplainedVariance([1.5, 1.5, 0, 3.5, 3.5], [1, 2, 0, 3, 4], mask)!], [0.8], 1e-12, "0.8");
    // V = −R + 5: R − V = 2R − 5, Var = 4·1.25: EV = −3
    assertClose([maskedExplainedVariance([4, 3, 0, 2, 1], [1, 2, 0, 3, 4], mask)!], [-3], 1e-12, "worse than constant");
    assert.equal(maskedExplainedVariance([1, 2], [1, 2], [0, 0]), null, "no valid tokens");
  });
});

const base = (dir: string) => ({
  model: join(dir, "model"),
  data: {
    train: { files: [{ path: join(dir, "train.jsonl") }] },
    eval: { files: [{ path: join(dir, "train.jsonl") }] },
  },
  optim: { lr: 1e-3 },
  steps: 2,
});

describe("ppo: config", () => {
  test("algorithm: ppo selects gae; a contradiction is refused with the fix", () => {
    const c = parseRlConfig({ ...base("/x"), algorithm: "ppo", batch: { microBatch: 8 } });
    assert.equal(c.advantage.estimator, "gae");
    assert.equal(c.value.coef, 0.1);
    assert.equal(c.advantage.lam, 0.95);
    assert.equal(parseRlConfig({ ...base("/x"), batch: { microBatch: 8 } }).advantage.estimator, "grpo");
    assert.throws(
      () =>
        parseRlConfig({ ...base("/x"), algorithm: "ppo", advantage: { estimator: "rloo" }, batch: { microBatch: 8 } }),
      (e: Error) => e instanceof RlConfigError && /advantage\.estimator.*ppo uses gae/.test(e.message),
    );
    assert.throws(
      () => parseRlConfig({ ...base("/x"), value: { coef: 1, clp: 1 }, batch: { microBatch: 8 } }),
      (e: Error) => /value.*clp/.test(e.message),
    );
  });
});

// A reward the value head can learn from the prompt alone (1 for an arithmetic problem, whose
// question has digits; 0 for a logic one, which has none; the data alternate the two) plus a
// small one the policy can learn (digits in the completion). R varies mostly across prompts,
// which V(s_t) sees through attention, so explained variance must rise if the head learns;
// with a head that does not learn (value.coef 0, or its gradient lost) it stays near 0 or below.
const taskAndDigits: RewardFn = (batch) =>
  batch.map(({ record, completion }) => {
    const digits = completion.length === 0 ? 0 : (completion.match(/\d/g) ?? []).length / completion.length;
    return (/\d/.test(record.question) ? 1 : 0) + 0.2 * digits;
  });

test("tiny PPO run: explained variance rises above 0.3; value head in final/ and restored exactly on --resume", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rl-ppo-"));
  try {
    await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
      tasks: ["arithmetic", "logic"],
      n: 100,
      vocabSize: 300,
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
    });
    const recs = generateDataset({ tasks: ["arithmetic", "logic"], n: 40, seed: 0, split: "train" });
    await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const steps = 20;
    const config = parseRlConfig({
      ...base(dir),
      out: join(dir, "run"),
      algorithm: "ppo",
      rollout: { prompts: 16, groupSize: 2, maxNewTokens: 8, promptColumns: 200, temperature: 1 },
      reward: { spec: "format:0" },
      // The reward is gameable on purpose (it only checks that the value head learns): accept its holes.
      guard: {
        acceptHoles: [
          "empty_chain",
          "answer_only",
          "enumerate",
          "many_lines",
          "prompt_copy",
          "scattered_digits",
          "overlong",
          "repeated",
          "form_words",
          "form_latex",
          "form_units",
          "form_trailing",
          "stop_short",
          "format_only",
        ],
      },
      advantage: { gamma: 1, lam: 1 },
      value: { coef: 1, clip: 1, lrScale: 10 },
      // the value pass and the update on length-sorted micro-batches cut to multiples of 16 columns
      batch: { microBatch: 8, padMultiple: 16 },
      optim: { lr: 3e-3, weightDecay: 0 },
      schedule: { kind: "constant" },
      steps,
      eval: { n: 4, maxNewTokens: 8, every: 0 },
      checkpoint: { every: 10, keep: 2 },
      seed: 0,
    });
    const quiet = { write: () => true } as never;
    const opts = { signals: false, rewardFns: [{ name: "dollars", weight: 1, fn: taskAndDigits }], stream: quiet };
    const res = await runRl(config, opts);
    assert.equal(res.status.kind, "done");
    const rows = (await readFile(join(dir, "run", "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, steps);
    for (const k of ["explained_variance", "value_loss", "vf_clipfrac", "values/mean", "returns/mean"])
      assert.ok(k in rows[0], `metrics.jsonl has ${k}`);
    const ev = rows.map((r) => r.explained_variance as number | null);
    assert.ok(
      ev.every((e) => e !== null),
      `explained variance defined at every step: ${JSON.stringify(ev)}`,
    );
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean((ev as number[]).slice(0, 3));
    const last = mean((ev as number[]).slice(-3));
    assert.ok(first < 0.3, `explained variance starts low: first 3 steps ${first.toFixed(3)}`);
    assert.ok(
      last > 0.3,
      `explained variance rises above 0.3: last 3 steps ${last.toFixed(3)} (all: ${(ev as number[]).map((e) => e.toFixed(2)).join(" ")})`,
    );

    // The head is saved in final/, and not inside the policy's model.safetensors.
    const headPath = join(dir, "run", "final", VALUE_HEAD_FILE);
    const head = (await readSafetensors(headPath)).tensors;
    assert.deepEqual(head.get(VALUE_WEIGHT)!.shape, [1, 32]);
    assert.deepEqual(head.get(VALUE_BIAS)!.shape, [1]);
    const model = (await readSafetensors(join(dir, "run", "final", "model.safetensors"))).tensors;
    assert.ok(![...model.keys()].some((k) => k.startsWith("value_head")), "the policy folder holds no value head");

    // Resume from step 10 in a copy (the step-16 checkpoint and final/ removed, the run marked
    // stopped): the value head and the policy must come out bitwise equal to the uninterrupted run.
    const copy = join(dir, "resumed");
    await cp(join(dir, "run"), copy, { recursive: true });
    await rm(join(copy, "checkpoints", `step-${steps}`), { recursive: true });
    await rm(join(copy, "final"), { recursive: true });
    const summary = JSON.parse(await readFile(join(copy, "summary.json"), "utf8"));
    await writeFile(join(copy, "summary.json"), JSON.stringify({ ...summary, status: "stopped" }));
    await stat(join(copy, "checkpoints", "step-10"));
    const res2 = await runRl({ ...config, out: copy }, { ...opts, resume: true });
    assert.equal(res2.status.kind, "done");
    const head2 = (await readSafetensors(join(copy, "final", VALUE_HEAD_FILE))).tensors;
    for (const name of [VALUE_WEIGHT, VALUE_BIAS]) {
      assert.deepEqual(
        Buffer.from(head2.get(name)!.data),
        Buffer.from(head.get(name)!.data),
        `${name} bitwise after --resume`,
      );
    }
    const model2 = (await readSafetensors(join(copy, "final", "model.safetensors"))).tensors;
    for (const [name, t] of model)
      assert.deepEqual(Buffer.from(model2.get(name)!.data), Buffer.from(t.data), `${name} after --resume`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
