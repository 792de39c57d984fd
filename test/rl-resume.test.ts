/**
 * `stepwise rl` resumes exactly (issue 15, "SIGKILL then resume, bitwise"): a tiny run killed
 * after a checkpoint and continued with --resume ends with the same final weights and the same
 * metrics.jsonl, samples.jsonl and eval.jsonl as an uninterrupted run. Only the wall-clock
 * fields (`seconds*`) may differ, so the logs are compared with those removed and everything
 * else byte for byte. Sampling seeds and prompt draws are pure functions of (seed, rollout
 * index) and the optimizer state is in the checkpoint (src/rl/grpo.ts header); this checks it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { generateDataset } from "../src/data/tasks/index.ts";
import { EXPLOIT_NAMES } from "../src/guard/exploits.ts";
import { exists, exit, finalWeights, range, steps, waitForCheckpoint } from "./run-helpers.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
const STEPS = 8;
let dir = "";
let full = "";

function rl(out: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [BIN, "rl", "--config", join(dir, "tiny-rl.yaml"), "--set", `out=${out}`, ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** A JSONL log with the wall-clock fields removed, one canonical line per row. */
async function withoutTimes(run: string, file: string): Promise<string> {
  const text = await readFile(join(run, file), "utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !/seconds/.test(k)))))
    .join("\n");
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-rl-resume-"));
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
  const config = {
    model: join(dir, "model"),
    data: {
      train: { files: [{ path: join(dir, "train.jsonl") }] },
      eval: { files: [{ path: join(dir, "train.jsonl") }] },
    },
    rollout: { prompts: 2, groupSize: 4, maxNewTokens: 8, promptColumns: 200, temperature: 1 },
    // repetition and format vary across samples of this untrained model, so advantages are non-zero
    reward: { spec: "format:1,repetition:1" },
    // a loop test, not a reward test: the reward's known holes (guard/exploits.ts) are accepted
    guard: { acceptHoles: [...EXPLOIT_NAMES] },
    // β > 0: the reference pass and the KL term are part of what must resume exactly;
    // μ = 2: a resume starts on a fresh rollout, regenerated from (seed, rollout index)
    loss: { beta: 0.05 },
    iterations: 2,
    // length-sorted micro-batches cut to multiples of 16 columns (planMicroBatches) resume alike
    batch: { microBatch: 4, padMultiple: 16 },
    optim: { lr: 3e-2, weightDecay: 0 },
    schedule: { kind: "cosine", warmupSteps: 2 },
    steps: STEPS,
    eval: { every: 4, n: 2, maxNewTokens: 8 },
    checkpoint: { every: 2, keep: 3 },
    samplesPerStep: 2,
    seed: 5,
  };
  await writeFile(join(dir, "tiny-rl.yaml"), stringify(config));
  full = join(dir, "full");
  const r = await exit(rl(full));
  assert.equal(r.code, 0, r.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

test("SIGKILL mid-run, then --resume: final weights and every log identical to an uninterrupted run", async () => {
  const run = join(dir, "killed");
  const child = rl(run);
  const done = exit(child);
  await waitForCheckpoint(run, 4, child);
  child.kill("SIGKILL");
  assert.equal((await done).signal, "SIGKILL");
  assert.ok(!(await exists(join(run, "final"))), "killed before the end");

  const resumed = await exit(rl(run, ["--resume"]));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /rl: resuming from .*step-\d+ \(step \d+\/8\)/);
  assert.deepEqual(await steps(run, "metrics.jsonl"), range(1, STEPS), "metrics: each step once");
  assert.ok((await finalWeights(run)).equals(await finalWeights(full)), "final weights byte-identical");
  for (const file of ["metrics.jsonl", "samples.jsonl", "eval.jsonl"]) {
    assert.equal(await withoutTimes(run, file), await withoutTimes(full, file), `${file} identical but for seconds`);
  }
  const metrics = await withoutTimes(full, "metrics.jsonl");
  assert.match(metrics, /"kl":[-\d.e]+/, "the KL to the reference was computed");
  const summary = JSON.parse(await readFile(join(run, "summary.json"), "utf8")) as { status: string };
  assert.equal(summary.status, "finished");
});
