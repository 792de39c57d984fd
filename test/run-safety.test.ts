/**
 * Runs never lose work (issue 14): each rule of src/runs/ and train/session.ts, exercised
 * through the real CLI in child processes, as a user would hit them.
 *
 *   - a folder holding a run is refused without --resume/--overwrite; nothing in it changes;
 *   - a second process is refused while a live one writes the run, even with --resume;
 *   - after SIGKILL and --resume every step log (metrics, eval, samples) has each step once;
 *   - a damaged newest checkpoint falls back to the previous one, and the run still ends
 *     byte-identical to an uninterrupted one;
 *   - SIGINT checkpoints, exits 130 with the resume command, and --resume finishes the run.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { exists, exit, finalWeights, hashTree, range, steps, waitForCheckpoint } from "./run-helpers.ts";

const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
const STEPS = 24;
let dir = "";
let full = "";

const CONFIG = {
  init: { arch: "llama", hidden: 32, layers: 1, heads: 2, tokenizer: { vocabSize: 400 } },
  data: {
    train: { generate: { tasks: ["arithmetic"], n: 200, seed: 0 } },
    eval: { generate: { tasks: ["arithmetic"], n: 4, seed: 1 } },
  },
  batch: { microBatch: 4, seqLen: 160 },
  optim: { lr: 5e-3, clip: 1 },
  schedule: { kind: "cosine", warmupSteps: 3 },
  steps: STEPS,
  eval: { every: 4, n: 2, maxNewTokens: 8 },
  checkpoint: { every: 4, keep: 3 },
  seed: 3,
};

function sft(out: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [BIN, "sft", "--config", join(dir, "tiny.yaml"), "--set", `out=${out}`, ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-safety-"));
  await writeFile(join(dir, "tiny.yaml"), stringify(CONFIG));
  full = join(dir, "full");
  const r = await exit(sft(full));
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("a finished run is refused without --resume or --overwrite, and its files are untouched", async () => {
  const before = await hashTree(full);
  assert.ok(
    Object.keys(before).some((k) => k.startsWith("checkpoints/")),
    "the run has checkpoints",
  );
  const r = await exit(sft(full));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already holds a run/);
  assert.match(r.stderr, /--resume/);
  assert.match(r.stderr, /--overwrite/);
  assert.deepEqual(await hashTree(full), before, "every file byte-identical after the refusal");
  // --resume on a finished run does nothing and says so.
  const again = await exit(sft(full, ["--resume"]));
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await hashTree(full), before);
});

test("a second process is refused on a live run, even with --resume; SIGKILL then --resume leaves consistent logs", async () => {
  const run = join(dir, "locked");
  const first = sft(run);
  const firstExit = exit(first);
  await waitForCheckpoint(run, 4, first);
  // Freeze the writer (still alive, still holding the lock) so it cannot finish meanwhile.
  first.kill("SIGSTOP");
  const second = await exit(sft(run, ["--resume"]));
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /another process is writing this run \(pid \d+/);
  first.kill("SIGKILL");
  assert.equal((await firstExit).signal, "SIGKILL");
  assert.ok(!(await exists(join(run, "final"))), "killed before the end");

  // The dead holder's lock is stale: --resume takes it over.
  const resumed = await exit(sft(run, ["--resume"]));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*step-\d+/);
  assert.deepEqual(await steps(run, "metrics.jsonl"), range(1, STEPS), "metrics: each step once");
  assert.deepEqual(
    await steps(run, "eval.jsonl"),
    range(0, STEPS, 4),
    `eval: step 0 and each eval step once; ${resumed.stderr}`,
  );
  const samples = await steps(run, "samples.jsonl");
  assert.deepEqual([...new Set(samples)], range(0, STEPS, 4), "samples: from each eval step");
  assert.equal(samples.length, (STEPS / 4 + 1) * CONFIG.eval.n, "samples: n per eval step, no duplicates");
  assert.ok((await finalWeights(run)).equals(await finalWeights(full)), "same weights as the uninterrupted run");
});

test("a damaged newest checkpoint falls back to the one before it and ends byte-identical", async () => {
  const run = join(dir, "damaged");
  const child = sft(run);
  const done = exit(child);
  await waitForCheckpoint(run, 8, child);
  child.kill("SIGKILL");
  await done;
  const names = (await readdir(join(run, "checkpoints"))).filter((n) => /^step-\d+$/.test(n));
  const newest = names.sort((a, b) => Number(b.slice(5)) - Number(a.slice(5)))[0]!;
  // Flip one byte in the middle of its parameters: sizes agree, the recorded sha256 does not.
  const weights = join(run, "checkpoints", newest, "params.safetensors");
  const bytes = await readFile(weights);
  const mid = bytes.length >> 1;
  bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
  await writeFile(weights, bytes);

  const r = await exit(sft(run, ["--resume"]));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${newest} is damaged .*falling back`));
  assert.ok((await finalWeights(run)).equals(await finalWeights(full)), "same weights as the uninterrupted run");
  assert.deepEqual(await steps(run, "metrics.jsonl"), range(1, STEPS));
});

test("SIGINT checkpoints and prints the resume command; --resume finishes the run", async () => {
  const run = join(dir, "interrupted");
  const child = sft(run);
  const done = exit(child);
  await waitForCheckpoint(run, 4, child);
  child.kill("SIGINT");
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /stepwise sft .*--resume/);
  const summary = JSON.parse(await readFile(join(run, "summary.json"), "utf8")) as { status: string };
  assert.equal(summary.status, "stopped");
  const resumed = await exit(sft(run, ["--resume"]));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok((await finalWeights(run)).equals(await finalWeights(full)), "same weights as the uninterrupted run");
  assert.deepEqual(await steps(run, "metrics.jsonl"), range(1, STEPS));
  const after = JSON.parse(await readFile(join(run, "summary.json"), "utf8")) as { status: string };
  assert.equal(after.status, "finished");
});
