/** Helpers for tests that drive a training command in a child process (run-safety, rl-resume). */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";

export type Exit = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** The child's exit, with everything it wrote to stderr. */
export function exit(child: ChildProcess): Promise<Exit> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
}

export const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Wait until the run has written checkpoint step-n (complete: its state.json is the last file). */
export async function waitForCheckpoint(run: string, n: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (await exists(join(run, "checkpoints", `step-${n}`, "state.json"))) return;
    if (child.exitCode !== null || child.signalCode !== null) assert.fail(`the run ended before step-${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** sha256 of every file under `root`, keyed by relative path. */
export async function hashTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[relative(root, p)] = createHash("sha256")
      .update(await readFile(p))
      .digest("hex");
  }
  return out;
}

/** The `step` of every line of a run's JSONL log. */
export async function steps(run: string, file: string): Promise<number[]> {
  const text = await readFile(join(run, file), "utf8");
  return text
    .trim()
    .split("\n")
    .filter((l) => l)
    .map((l) => (JSON.parse(l) as { step: number }).step);
}

export const finalWeights = (run: string) => readFile(join(run, "final", "model.safetensors"));

export const range = (from: number, to: number, by = 1) =>
  Array.from({ length: Math.floor((to - from) / by) + 1 }, (_, i) => from + i * by);
