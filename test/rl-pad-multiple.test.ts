/**
 * `batch.padMultiple` in `stepwise rl` (rollout.ts planMicroBatches): micro-batches of
 * length-sorted rows cut to the next multiple of m columns give the same log-probabilities, the
 * same loss and the same gradient as full-width rows, because rows are right-padded and
 * attention is causal. Checked on a tiny model: the scoring pass row by row, and one SGD step
 * (w − lr·g, so the weights compare the gradients themselves) with m = 0 against m = 16.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { readSafetensors, toFloat32 } from "../src/engine/safetensors.ts";
import { EXPLOIT_NAMES } from "../src/guard/exploits.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { type RlScored, runRl } from "../src/rl/grpo.ts";
import type { RewardFn } from "../src/rl/rewards.ts";
import { type PackedRows, packRows, planMicroBatches, scoreTokens } from "../src/rl/rollout.ts";
import { writeTinyEvalModel } from "./tiny.ts";

// Rewards that differ within a group, so the step has a gradient: the completion's share of digits.
const digits: RewardFn = (batch) =>
  batch.map(({ completion }) =>
    completion.length === 0 ? 0 : (completion.match(/\d/g) ?? []).length / completion.length,
  );

let dir = "";
before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-rl-pad-"));
  await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
    tasks: ["arithmetic"],
    n: 100,
    vocabSize: 300,
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
  });
  const recs = generateDataset({ tasks: ["arithmetic"], n: 40, seed: 0, split: "train" });
  await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

test("planMicroBatches: m = 0 keeps row order at full width; m > 0 sorts by length, widths are multiples of m holding every row", () => {
  const lengths = [5, 1, 9, 3, 7, 2, 8, 4];
  const rows = packRows(
    lengths.map((n, i) => ({ prompt: [1, 2], completion: Array.from({ length: n }, (_, k) => 10 + i + k) })),
    4,
    12,
    0,
  );
  assert.equal(rows.seqLen, 15);
  assert.deepEqual(planMicroBatches(rows, 4, 0), [
    { rows: [0, 1, 2, 3], seqLen: 15 },
    { rows: [4, 5, 6, 7], seqLen: 15 },
  ]);
  const plan = planMicroBatches(rows, 2, 4);
  assert.deepEqual(
    plan.map((s) => s.rows),
    [
      [1, 5],
      [3, 7],
      [0, 4],
      [6, 2],
    ],
  );
  // a row uses one column past its last target, completion + 1: 2, 3 | 4, 5 | 6, 8 | 9, 10 → widths 4, 8, 8, 12
  assert.deepEqual(
    plan.map((s) => s.seqLen),
    [4, 8, 8, 12],
  );
  assert.deepEqual(planMicroBatches(rows, 2, 7).at(-1)?.seqLen, 14);
  assert.deepEqual(planMicroBatches(rows, 2, 100).at(-1)?.seqLen, 15, "never wider than T");
  assert.throws(() => planMicroBatches(rows, 3, 4), /8 rows do not split into micro-batches of 3/);
});

function config(padMultiple: number, out: string) {
  return parseRlConfig({
    model: join(dir, "model"),
    out,
    data: {
      train: { files: [{ path: join(dir, "train.jsonl") }] },
      eval: { files: [{ path: join(dir, "train.jsonl") }] },
    },
    rollout: { prompts: 4, groupSize: 4, maxNewTokens: 16, promptColumns: 200, temperature: 1 },
    reward: { spec: "format:0" },
    // a loop test, not a reward test: the reward's known holes (guard/exploits.ts) are accepted
    guard: { acceptHoles: [...EXPLOIT_NAMES] },
    batch: { microBatch: 4, padMultiple },
    optim: { kind: "sgd", lr: 1, weightDecay: 0 },
    schedule: { kind: "constant" },
    steps: 1,
    eval: { every: 0, n: 2, maxNewTokens: 8 },
    seed: 3,
  });
}

async function oneStep(padMultiple: number) {
  const out = join(dir, `run-${padMultiple}`);
  const scored: RlScored[] = [];
  const res = await runRl(config(padMultiple, out), {
    signals: false,
    stream: { write: () => true } as never,
    onScored: (s) => scored.push(s),
    rewardFns: [{ name: "digits", weight: 1, fn: digits }],
  });
  assert.equal(res.status.kind, "done");
  const metrics = JSON.parse((await readFile(join(out, "metrics.jsonl"), "utf8")).trim());
  const { tensors } = await readSafetensors(join(out, "final", "model.safetensors"));
  const weights = new Map([...tensors].map(([k, t]) => [k, toFloat32(t)]));
  return { scored: scored[0]!, metrics, weights };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("padMultiple 16 against full width: the same log-probabilities, loss and gradient (one SGD step)", async () => {
  const full = await oneStep(0);
  const cut = await oneStep(16);
  const rows: PackedRows = full.scored.rows;
  assert.deepEqual(cut.scored.rows.ids, rows.ids, "the same rollout (same weights, same seed)");
  const plan = planMicroBatches(rows, 4, 16);
  assert.ok(
    plan.some((s) => s.seqLen < rows.seqLen),
    `some micro-batch is cut (widths ${plan.map((s) => s.seqLen)} of ${rows.seqLen})`,
  );
  const base = await loadModel(join(dir, "model"));
  const want = await scoreTokens(base.params, base.config, rows, 1, planMicroBatches(rows, 4, 0));
  const got = await scoreTokens(base.params, base.config, rows, 1, plan);
  assert.ok(maxAbsDiff(got, want) < 1e-5, `log-probabilities differ by ${maxAbsDiff(got, want)}`);
  assert.ok(maxAbsDiff(cut.scored.oldLogProbs, full.scored.oldLogProbs) < 1e-5);
  assert.ok(Math.abs(cut.metrics.loss - full.metrics.loss) < 1e-6, `loss ${cut.metrics.loss} vs ${full.metrics.loss}`);
  assert.ok(Math.abs(cut.metrics.grad_norm - full.metrics.grad_norm) < 1e-5 * Math.max(1, full.metrics.grad_norm));
  assert.ok(full.metrics.grad_norm > 0, "the step has a gradient to compare");
  // SGD with lr 1: the weights moved by −g, so their difference is the gradients' difference.
  for (const [name, w] of full.weights) {
    const d = maxAbsDiff(cut.weights.get(name)!, w);
    assert.ok(d < 1e-5, `${name}: the updated weights differ by ${d}`);
  }
});
