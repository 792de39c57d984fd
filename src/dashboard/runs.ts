/**
 * What the dashboard knows of a folder of runs: which sub-folders are runs, and for each its
 * kind, status, model, steps and headline figures, all from the run's own files, read through
 * src/runs/ (layout names, readSummary, lastJsonlRow). Nothing here writes.
 *
 * A folder is a run when it holds any file only a run writes (layout.ts runContents) or an
 * eval's examples.jsonl. Runs may nest (the demo's runs/demo/ holds cot/, direct/, mixed/);
 * checkpoints/, final/, tokenizer/ and a run's eval/ folder are parts of a run, not runs, and
 * symbolic links are never followed while discovering.
 *
 * Kinds and statuses come from summary.json (format "stepwise.run"). Folders written before
 * that format (the demo's) get a kind inferred from what they hold and inherit their parent's
 * status; a kind or status that cannot be told is "unknown", never guessed from the name.
 */
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { lastJsonlRow } from "../runs/jsonl.ts";
import {
  CHECKPOINTS_DIR,
  EVAL_DIR,
  EXAMPLES_FILE,
  FINAL_DIR,
  METRICS_FILE,
  runContents,
  STEP_LOGS,
  SUMMARY_FILE,
  TOKENIZER_DIR,
} from "../runs/layout.ts";
import { readSummary } from "../runs/run.ts";

export interface RunEntry {
  /** Folder relative to the runs root, "/"-separated ("" for the root itself). */
  path: string;
  name: string;
  kind: string;
  status: string;
  model: string | null;
  steps: { done: number; total: number | null } | null;
  figures: Record<string, number | null>;
  /** The step-indexed logs present (metrics.jsonl, eval.jsonl, samples.jsonl, alerts.jsonl). */
  logs: string[];
  /** Folder (relative to the run) holding an eval's examples.jsonl and summary.json, or null. */
  evalDir: string | null;
  started: string | null;
}

const PARTS = new Set([CHECKPOINTS_DIR, FINAL_DIR, TOKENIZER_DIR, "node_modules"]);
const MAX_DEPTH = 4;

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Every run under `root` (itself included), parents before children, siblings by name. */
export async function discoverRuns(root: string): Promise<RunEntry[]> {
  const out: RunEntry[] = [];
  await walk(root, root, 0, null, out);
  return out;
}

async function walk(root: string, dir: string, depth: number, parent: RunEntry | null, out: RunEntry[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  // Only plain files and folders count: a link is never followed here (the server refuses any that leads out).
  const names = new Set(entries.filter((e) => e.isFile() || e.isDirectory()).map((e) => e.name));
  const held = await runContents(dir);
  let self: RunEntry | null = null;
  if (held.length > 0 || names.has(EXAMPLES_FILE)) {
    self = await describeRun(root, dir, names, parent);
    out.push(self);
  }
  if (depth >= MAX_DEPTH) return;
  const subdirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith(".") && !PARTS.has(e.name))
    .filter((e) => !(self && e.name === EVAL_DIR))
    .map((e) => e.name)
    .sort();
  for (const n of subdirs) await walk(root, join(dir, n), depth + 1, self ?? parent, out);
}

async function describeRun(root: string, dir: string, names: Set<string>, parent: RunEntry | null): Promise<RunEntry> {
  const path = relative(root, dir).split(sep).join("/");
  const summary = names.has(SUMMARY_FILE) ? ((await readSummary(dir)) as unknown as Json | null) : null;
  const isRun = summary?.["format"] === "stepwise.run";
  const evalDir = names.has(EXAMPLES_FILE) ? "" : (await hasExamples(join(dir, EVAL_DIR))) ? EVAL_DIR : null;
  const logs = STEP_LOGS.filter((f) => names.has(f));
  const last = logs.includes(METRICS_FILE) ? await lastJsonlRow(join(dir, METRICS_FILE)) : null;
  const figures: Record<string, number | null> = {};
  if (isRun && isRecord(summary["figures"])) {
    for (const [k, v] of Object.entries(summary["figures"])) figures[k] = num(v);
  }
  // An eval folder (its own or the run's eval/): its accuracy is a headline figure.
  const evalSummary = evalDir === null ? null : ((await readSummary(join(dir, evalDir))) as unknown as Json | null);
  if (evalSummary && num(evalSummary["accuracy_strict"]) !== null && !("accuracy" in figures)) {
    figures["accuracy"] = num(evalSummary["accuracy_strict"]);
  }
  // The demo's summary: one accuracy per arm.
  if (!isRun && summary && isRecord(summary["results"])) {
    for (const [arm, r] of Object.entries(summary["results"])) {
      if (isRecord(r)) figures[`${arm}/accuracy`] = num(r["accuracy_strict"]);
    }
  }
  if (last && num(last["loss"]) !== null && !("loss" in figures)) figures["loss"] = num(last["loss"]);
  const steps = isRun && isRecord(summary["steps"]) ? summary["steps"] : null;
  const lastStep = last ? num(last["step"]) : null;
  return {
    path,
    name: (isRun && typeof summary["name"] === "string" ? summary["name"] : null) ?? (path.split("/").pop() || "."),
    kind: isRun ? String(summary["kind"]) : inferKind(summary, names, evalDir),
    status: isRun
      ? String(summary["status"])
      : summary && summary["finished"] !== undefined
        ? "finished"
        : (parent?.status ?? "unknown"),
    model: isRun && typeof summary["model"] === "string" ? summary["model"] : null,
    steps: steps
      ? { done: num(steps["done"]) ?? 0, total: num(steps["total"]) }
      : lastStep !== null
        ? { done: lastStep, total: null }
        : null,
    figures,
    logs,
    evalDir,
    started: isRun && typeof summary["started"] === "string" ? summary["started"] : null,
  };
}

/** A kind for folders without a stepwise.run summary: from what they hold. */
function inferKind(summary: Json | null, names: Set<string>, evalDir: string | null): string {
  if (summary && isRecord(summary["results"]) && isRecord(summary["settings"])) return "demo";
  if (names.has(METRICS_FILE)) return "sft";
  if (evalDir === "") return "eval";
  return "unknown";
}

async function hasExamples(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.some((e) => e.name === EXAMPLES_FILE && e.isFile());
}
