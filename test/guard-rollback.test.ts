import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { EXPLOIT_NAMES } from "../src/guard/exploits.ts";
import { rollbackOnce } from "../src/guard/rollback.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { runRl } from "../src/rl/grpo.ts";
import { readJsonl } from "../src/runs/jsonl.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const quiet = { write: () => true } as never;
const stateOf = async (run: string, step: number) =>
  JSON.parse(await readFile(join(run, "checkpoints", `step-${step}`, "state.json"), "utf8")) as {
    files: Record<string, { sha256: string }>;
  };

test("rollback: returns to the healthy checkpoint bitwise; with β unchanged the replayed step is bitwise the first attempt's", async () => {
  const dir = await mkdtemp(join(tmpdir(), "guard-rollback-"));
  try {
    await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
      tasks: ["arithmetic"],
      n: 60,
      vocabSize: 300,
      hiddenSize: 16,
      numLayers: 1,
      numHeads: 2,
    });
    const recs = generateDataset({ tasks: ["arithmetic"], n: 20, seed: 0, split: "train" });
    await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const run = join(dir, "run");
    // A monitor set to fire on every run at step 2 (threshold 0), so the test does not depend on learning.
    const config = parseRlConfig({
      model: join(dir, "model"),
      out: run,
      data: {
        train: { files: [{ path: join(dir, "train.jsonl") }] },
        eval: { files: [{ path: join(dir, "train.jsonl") }] },
      },
      rollout: { prompts: 2, groupSize: 2, maxNewTokens: 6, promptColumns: 200 },
      reward: { spec: "format:1" },
      loss: { beta: 0.1 },
      batch: { microBatch: 4 },
      optim: { lr: 1e-2, weightDecay: 0 },
      schedule: { kind: "constant" },
      steps: 4,
      eval: { n: 0 },
      checkpoint: { every: 1, keep: 0 },
      guard: {
        monitors: {
          repetition: { action: "rollback", options: { window: 1, baseline: 1, rate: 0, minRise: -1, patience: 1 } },
        },
        rollback: { klFactor: 1, klMin: 0.01, maxRollbacks: 1 },
        acceptHoles: [...EXPLOIT_NAMES], // the test's reward is a stand-in, not under test
      },
    });
    const first = await runRl(config, { signals: false, stream: quiet });
    assert.equal(first.status.kind, "stopped");
    assert.equal(first.guard?.action, "rollback");
    assert.equal(first.guard?.alert.step, 2);
    const healthy = await stateOf(run, 1);
    const firstStep2 = await stateOf(run, 2);
    const rowsFirst = await readJsonl(join(run, "metrics.jsonl"));

    const next = await rollbackOnce(first, config, 0, () => {});
    assert.ok(next);
    assert.equal(next.record.toStep, 1);
    assert.equal(next.config.loss.beta, 0.1, "klFactor 1 keeps β, so the replay must be identical");
    const again = await runRl(next.config, { signals: false, stream: quiet, resume: true });
    assert.equal(again.guard?.alert.step, 2, "the monitor's state was replayed from the kept logs");
    // The checkpoint rolled back to is untouched, and training from it reproduces step 2 bitwise:
    // the restored weights and optimizer state are bitwise those of step 1.
    assert.deepEqual((await stateOf(run, 1)).files, healthy.files);
    assert.deepEqual((await stateOf(run, 2)).files, firstStep2.files);
    const rowsAgain = await readJsonl(join(run, "metrics.jsonl"));
    assert.deepEqual(
      rowsAgain.map((r) => [r.step, r.loss, r.grad_norm]),
      rowsFirst.map((r) => [r.step, r.loss, r.grad_norm]),
    );
    const alerts = await readJsonl<{ step: number; action: string; evidence: Record<string, unknown> }>(
      join(run, "alerts.jsonl"),
    );
    assert.deepEqual(
      alerts.map((a) => [a.step, a.action]),
      [
        [1, "rollback"],
        [2, "rollback"],
      ],
    );
    assert.equal(alerts[0]!.evidence.fired_step, 2);
    assert.equal(await rollbackOnce(again, next.config, 1, () => {}), null, "maxRollbacks 1 is used up");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
