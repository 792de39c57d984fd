/**
 * The run folder: one layout for every run stepwise writes (SFT, RL, reward models, DPO,
 * evaluations, the demo, experiments). Trainers write through src/runs/, and the demo and the
 * dashboard read through it, so a file name is spelled in one place.
 *
 *   runs/NAME/
 *     config.yaml          the resolved config (every default filled in), plus `derived`
 *     metrics.jsonl        one object per optimizer step: {step, loss, lr, ...}
 *     eval.jsonl           held-out figures every N steps: {step, loss, accuracy, ...}
 *     samples.jsonl        generations: {step, question|prompt, output|completion, ...}
 *     alerts.jsonl         guard alerts: {step, monitor, severity, message, evidence}
 *     checkpoints/step-N/  everything a resume needs (train/checkpoint.ts)
 *     final/               the Hugging Face folder at the end (final/adapter/ for LoRA)
 *     summary.json         written at the end of every run, finished or not (summary.ts)
 *     eval/                an evaluation (eval/report.ts writeEvalOutputs): examples.jsonl, summary.json, summary.md
 *     .lock                held while a process writes the run (lock.ts)
 *
 * Every JSONL row of a step-indexed log carries `step`, so a resumed run can cut each log
 * back to its checkpoint (jsonl.ts truncateJsonl).
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";

export const CONFIG_FILE = "config.yaml";
export const METRICS_FILE = "metrics.jsonl";
export const EVAL_FILE = "eval.jsonl";
export const SAMPLES_FILE = "samples.jsonl";
export const ALERTS_FILE = "alerts.jsonl";
export const SUMMARY_FILE = "summary.json";
export const CHECKPOINTS_DIR = "checkpoints";
export const FINAL_DIR = "final";
/** The PEFT adapter of a LoRA / QLoRA run, inside final/. */
export const ADAPTER_DIR = "adapter";
export const LOCK_FILE = ".lock";
/** An evaluation's folder inside a run (the demo's cot/eval/). */
export const EVAL_DIR = "eval";
/** A tokenizer a run trained for itself (SFT's init.tokenizer: {vocabSize}). */
export const TOKENIZER_DIR = "tokenizer";
/** An evaluation's scored examples, one per line (beside its SUMMARY_FILE report and TABLE_FILE tables). */
export const EXAMPLES_FILE = "examples.jsonl";
/** An evaluation's report as Markdown tables. */
export const TABLE_FILE = "summary.md";

/** The step-indexed logs, cut back together on resume. */
export const STEP_LOGS = [METRICS_FILE, EVAL_FILE, SAMPLES_FILE, ALERTS_FILE] as const;

/** Every kind of run folder stepwise writes; the dashboard lists them by this. */
export const RUN_KINDS = ["sft", "rl", "rm", "dpo", "eval", "demo", "experiment", "teach"] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/** The folder of a named run: `out` when given, else runs/<name>. */
export function runDirOf(config: { name?: string | undefined; out?: string | undefined }, fallback: string): string {
  return config.out ?? join("runs", config.name ?? fallback);
}

/**
 * What a folder holds of a run: the entries that only a run writes (a config, a log, a
 * checkpoint, a final model or a summary). An empty or absent folder holds nothing.
 */
export async function runContents(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const marks = new Set<string>([CONFIG_FILE, ...STEP_LOGS, SUMMARY_FILE, CHECKPOINTS_DIR, FINAL_DIR, TOKENIZER_DIR]);
  return names.filter((n) => marks.has(n)).sort();
}
