/**
 * Kill-and-resume: `stepwise sft` killed with SIGKILL after its first checkpoint and
 * run again with --resume ends with final weights bitwise equal (safetensors bytes)
 * to an uninterrupted run with the same seed.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";

const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
let dir = "";

const CONFIG = {
  init: { arch: "llama", hidden: 32, layers: 1, heads: 2, tokenizer: { vocabSize: 400 } },
  data: {
    train: { generate: { tasks: ["arithmetic"], n: 200, seed: 0 } },
    eval: { generate: { tasks: ["arithmetic"], n: 8, seed: 1 } },
  },
  batch: { microBatch: 4, gradAccum: 2, seqLen: 160 },
  optim: { lr: 5e-3, clip: 1 },
  schedule: { kind: "cosine", warmupSteps: 3 },
  steps: 40,
  eval: { every: 0, n: 0 },
  checkpoint: { every: 4, keep: 2 },
  seed: 7,
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-resume-"));
  await writeFile(join(dir, "tiny.yaml"), stringify(CONFIG));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sft(out: string, extra: string[] = []): ChildProcess {
  return spawn(process.execPath, [BIN, "sft", "--config", join(dir, "tiny.yaml"), "--set", `out=${out}`, ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

function exit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

test("SIGKILL after a checkpoint, then --resume: final weights bitwise equal to an uninterrupted run", async () => {
  const full = join(dir, "full");
  const r1 = await exit(sft(full));
  assert.equal(r1.code, 0, r1.stderr);

  const killed = join(dir, "killed");
  const child = sft(killed);
  const done = exit(child);
  // Wait for the first complete checkpoint, then kill without warning.
  for (;;) {
    const names = await readdir(join(killed, "checkpoints")).catch(() => [] as string[]);
    if (names.some((n) => /^step-\d+$/.test(n))) break;
    if (child.exitCode !== null) assert.fail("the run ended before it could be killed");
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  const r2 = await done;
  assert.equal(r2.signal, "SIGKILL");
  assert.ok(!(await exists(join(killed, "final"))), "killed before the end");

  const r3 = await exit(sft(killed, ["--resume"]));
  assert.equal(r3.code, 0, r3.stderr);
  assert.match(r3.stderr, /resuming from .*step-\d+/);
  const a = await readFile(join(full, "final", "model.safetensors"));
  const b = await readFile(join(killed, "final", "model.safetensors"));
  assert.ok(a.equals(b), "final/model.safetensors differs between the uninterrupted and the resumed run");
  // metrics.jsonl: one line per step, as if never interrupted.
  const steps = (await readFile(join(killed, "metrics.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { step: number }).step);
  assert.deepEqual(
    steps,
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
});
