/**
 * Run folders for the dashboard's tests and bench, written the way trainers write them
 * (src/runs/ layout names, one JSON object per line). Sizes are parameters so the bench can
 * make a 10,000-step run with 5,000 samples from the same code.
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ALERTS_FILE,
  EVAL_DIR,
  EVAL_FILE,
  EXAMPLES_FILE,
  METRICS_FILE,
  SAMPLES_FILE,
  SUMMARY_FILE,
} from "../src/runs/layout.ts";

const lines = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

function summary(kind: string, name: string, status: string, done: number, total: number) {
  return {
    format: "stepwise.run",
    kind,
    name,
    status,
    model: "tiny-fixture",
    data: ["generated"],
    steps: { done, total },
    figures: { loss: 0.5 },
    outputs: {},
    started: "2026-12-02T10:00:00.000Z",
    ended: status === "running" ? null : "2026-12-02T10:05:00.000Z",
    seconds: null,
    versions: {},
    machine: {},
    command: "fixture",
  };
}

export interface FixtureSizes {
  steps: number;
  samples: number;
}

const TASKS = ["algebra", "logic"] as const;

/** One SFT-like run: metrics, eval, samples (half correct, two tasks, 4 sample steps), one alert, eval examples. */
export async function writeRun(
  dir: string,
  opts: { kind: string; name: string; status: string; sizes: FixtureSizes; lossScale?: number },
): Promise<void> {
  const { steps, samples } = opts.sizes;
  const scale = opts.lossScale ?? 1;
  await mkdir(join(dir, EVAL_DIR), { recursive: true });
  await writeFile(join(dir, SUMMARY_FILE), JSON.stringify(summary(opts.kind, opts.name, opts.status, steps, steps)));
  const metrics = Array.from({ length: steps }, (_, i) => ({
    step: i + 1,
    loss: scale * (2 / (1 + i / 10) + 0.05),
    lr: 1e-3 * Math.min(1, (i + 1) / 10),
    grad_norm: 1 + 1 / (i + 1),
    tokens: 512,
  }));
  await writeFile(join(dir, METRICS_FILE), lines(metrics));
  const evalEvery = Math.max(1, Math.floor(steps / 3));
  const evals = [evalEvery, 2 * evalEvery, 3 * evalEvery].map((s, i) => ({
    step: s,
    loss: scale * (1 - 0.2 * i),
    perplexity: Math.exp(scale * (1 - 0.2 * i)),
    accuracy: 0.3 + 0.1 * i,
  }));
  await writeFile(join(dir, EVAL_FILE), lines(evals));
  const sampleSteps = [1, 2, 3, 4].map((k) => Math.max(1, Math.round((k * steps) / 4)));
  const rows = Array.from({ length: samples }, (_, i) => sampleRow(i, sampleSteps[i % 4]!));
  await writeFile(join(dir, SAMPLES_FILE), lines(rows));
  await writeFile(
    join(dir, ALERTS_FILE),
    lines([
      {
        step: Math.max(1, Math.floor(steps / 2)),
        monitor: "divergence",
        severity: "warn",
        message: "loss spike",
        evidence: {},
      },
    ]),
  );
  const examples = Array.from({ length: 12 }, (_, i) => ({
    index: i,
    id: `ex-${i}`,
    task: TASKS[i % 2],
    question: `What is ${i} + ${i}?`,
    gold: String(2 * i),
    output: ` ${i} + ${i} = ${2 * i}.\n#### ${2 * i}`,
    extracted_strict: String(2 * i),
    correct_strict: i % (scale + 2) !== 0,
    correct_flexible: i % (scale + 2) !== 0,
    steps: { valid: true, firstInvalid: null, reason: null, checker: "generic", checkedClaims: 1 },
  }));
  await writeFile(join(dir, EVAL_DIR, EXAMPLES_FILE), lines(examples));
}

function sampleRow(i: number, step: number) {
  const correct = i % 2 === 0;
  const a = i % 7;
  const wrong = correct ? a + 3 : a + 4;
  return {
    step,
    task: TASKS[Math.floor(i / 2) % 2],
    prompt: `Q: ${a} + 3 = ?\nA:`,
    completion: `${a} + 1 = ${a + 1}.\n${a + 1} + 2 = ${wrong}.\n#### ${wrong}`,
    gold: String(a + 3),
    extracted: String(wrong),
    correct,
    rewards: { correctness: correct ? 1 : 0, format: 0.5 },
    steps: { valid: correct, firstInvalid: correct ? null : 1, reason: correct ? null : "step 2: 2 + 2 != 5" },
    finish_reason: "eos",
  };
}

/** A run of a kind the page has never heard of, with metric names of its own, still running. */
export async function writeLiveRun(dir: string, steps: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SUMMARY_FILE), JSON.stringify(summary("rl", "live", "running", steps, 100)));
  await writeFile(join(dir, METRICS_FILE), lines(Array.from({ length: steps }, (_, i) => liveRow(i + 1))));
}

export const liveRow = (step: number) => ({
  step,
  reward: step / 10,
  "rewards/format/mean": 0.5,
  kl: 0.01 * step,
  clip_ratio: 0.1,
  "completions/mean_length": 40 + step,
});

/**
 * The tests' runs folder: sft-a (20 steps), sft-b (30), live (an rl run, 10 rows, running),
 * `escape`, a symbolic link to a run OUTSIDE the folder, and `leaky`, whose metrics.jsonl links
 * to a file outside (the server must refuse both).
 */
export async function writeFixtureRuns(base: string): Promise<{ root: string; outside: string }> {
  const root = join(base, "runs");
  const outside = join(base, "outside");
  await writeRun(join(root, "sft-a"), {
    kind: "sft",
    name: "sft-a",
    status: "finished",
    sizes: { steps: 40, samples: 20 },
  });
  await writeRun(join(root, "sft-b"), {
    kind: "sft",
    name: "sft-b",
    status: "finished",
    sizes: { steps: 30, samples: 8 },
    lossScale: 2,
  });
  await writeLiveRun(join(root, "live"), 10);
  await writeRun(outside, { kind: "sft", name: "secret", status: "finished", sizes: { steps: 5, samples: 2 } });
  await symlink(outside, join(root, "escape"));
  // A run whose metrics.jsonl is a link to a file outside the folder.
  await mkdir(join(root, "leaky"), { recursive: true });
  await symlink(join(outside, METRICS_FILE), join(root, "leaky", METRICS_FILE));
  return { root, outside };
}
