/**
 * Opening a run folder for writing, with the rules that make runs never lose work:
 *
 *   - a folder that already holds a run is refused unless the caller resumes it or
 *     explicitly overwrites it (RunExistsError names what is there and both flags);
 *   - a folder that a live process is writing is refused to a second process, even with
 *     --resume (lock.ts); the lock is taken BEFORE anything is read or deleted;
 *   - a finished run is never overwritten by --resume: it is reported as finished;
 *   - summary.json is written when the run opens (status "running") and rewritten when it
 *     ends — "finished", "stopped" (a signal), "diverged" or "failed" — so every run folder
 *     says what it is, what it was trained from and on, and its headline figures.
 *
 *   const run = await openRun({dir, kind, name, mode: "resume", model, data});
 *   await run.append(METRICS_FILE, row); … await run.finish("finished", {figures});
 */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { writeTextAtomic } from "../engine/files.ts";
import { appendJsonl, truncateJsonl } from "./jsonl.ts";
import { CONFIG_FILE, LOCK_FILE, type RunKind, runContents, STEP_LOGS, SUMMARY_FILE } from "./layout.ts";
import { lockRun, type RunLock } from "./lock.ts";
import { type Machine, machine, versions } from "./version.ts";

export class RunExistsError extends Error {
  override name = "RunExistsError";
}

export type RunStatus = "running" | "finished" | "stopped" | "diverged" | "failed";

/** summary.json: the same head for every kind of run; kinds add their own keys beside it. */
export interface RunSummary {
  format: "stepwise.run";
  kind: RunKind;
  name: string;
  status: RunStatus;
  /** Why it stopped, diverged or failed; how to resume. */
  message?: string;
  /** The model it started from: a folder, or a description of a fresh initialisation. */
  model: string | null;
  /** What it trained or evaluated on: file paths, or a description of generated problems. */
  data: string[];
  steps: { done: number; total: number } | null;
  /** Headline figures (final loss, accuracy, reward, …); null where not measured. */
  figures: Record<string, number | null>;
  /** Folders and files it produced (final model, adapter, report), relative to the run folder. */
  outputs: Record<string, string>;
  started: string;
  ended: string | null;
  seconds: number | null;
  versions: Record<string, string>;
  machine: Machine;
  command: string;
}

/** How to treat a folder that already holds a run. */
export type OpenMode = "new" | "resume" | "overwrite";

export interface OpenRunOptions {
  dir: string;
  kind: RunKind;
  name: string;
  mode: OpenMode;
  model: string | null;
  data: string[];
  /** The flag spelled in errors (default "--resume" / "--overwrite"). */
  flags?: { resume: string; overwrite: string };
}

export interface Run {
  readonly dir: string;
  readonly kind: RunKind;
  /** True when the folder held this run's earlier work and it is continued. */
  readonly resumed: boolean;
  /** The summary of a run that had already finished (resume mode): nothing is written then. */
  readonly alreadyFinished: RunSummary | null;
  /** Append a row to one of the run's JSONL logs. */
  append(file: string, row: unknown): Promise<void>;
  /** Cut every step-indexed log back to `step` (null: empty them); see jsonl.ts. */
  truncateLogs(step: number | null): Promise<void>;
  /** Write config.yaml (the resolved config). */
  writeConfig(config: unknown): Promise<void>;
  /** Rewrite summary.json with the run's end state; releases the lock. */
  finish(status: Exclude<RunStatus, "running">, fields?: Partial<SummaryFields>): Promise<RunSummary>;
  /** Release the lock without touching the summary (errors before any work). */
  close(): Promise<void>;
}

type SummaryFields = Pick<RunSummary, "message" | "steps" | "figures" | "outputs"> & { extra: Record<string, unknown> };

/** Read a run folder's summary.json, or null. */
export async function readSummary(dir: string): Promise<RunSummary | null> {
  try {
    return JSON.parse(await readFile(join(dir, SUMMARY_FILE), "utf8")) as RunSummary;
  } catch {
    return null;
  }
}

/** Open (and lock) a run folder for writing under the rules in the header. */
export async function openRun(opts: OpenRunOptions): Promise<Run> {
  const flags = opts.flags ?? { resume: "--resume", overwrite: "--overwrite" };
  await mkdir(opts.dir, { recursive: true });
  const lock: RunLock = await lockRun(opts.dir);
  let previous: RunSummary | null = null;
  try {
    const held = await runContents(opts.dir);
    previous = await readSummary(opts.dir);
    if (held.length > 0 && opts.mode === "new") {
      throw new RunExistsError(
        `${opts.dir} already holds a run (${held.join(", ")}${previous ? `; status ${previous.status}` : ""}). ` +
          `Pass ${flags.resume} to continue it, ${flags.overwrite} to delete it and start again, or choose another name/out`,
      );
    }
    if (held.length > 0 && opts.mode === "overwrite") {
      for (const n of await readdir(opts.dir))
        if (n !== LOCK_FILE) await rm(join(opts.dir, n), { recursive: true, force: true });
      previous = null;
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
  const alreadyFinished = opts.mode === "resume" && previous?.status === "finished" ? previous : null;
  const started = previous && opts.mode === "resume" ? previous.started : new Date().toISOString();
  const t0 = performance.now();
  let summary: RunSummary = {
    format: "stepwise.run",
    kind: opts.kind,
    name: opts.name,
    status: "running",
    model: opts.model,
    data: opts.data,
    steps: previous?.steps ?? null,
    figures: previous?.figures ?? {},
    outputs: previous?.outputs ?? {},
    started,
    ended: null,
    seconds: null,
    versions: versions(),
    machine: machine(),
    command: process.argv.slice(1).join(" "),
  };
  const writeSummary = async (s: RunSummary) =>
    writeTextAtomic(join(opts.dir, SUMMARY_FILE), `${JSON.stringify(s, null, 2)}\n`);
  if (!alreadyFinished) await writeSummary(summary);
  const priorSeconds = opts.mode === "resume" ? (previous?.seconds ?? 0) : 0;
  return {
    dir: opts.dir,
    kind: opts.kind,
    resumed: opts.mode === "resume" && previous !== null,
    alreadyFinished,
    append: (file, row) => appendJsonl(join(opts.dir, file), row),
    truncateLogs: async (step) => {
      for (const f of STEP_LOGS) await truncateJsonl(join(opts.dir, f), step);
    },
    writeConfig: (config) => writeTextAtomic(join(opts.dir, CONFIG_FILE), toYaml(config)),
    finish: async (status, fields = {}) => {
      const { extra, ...rest } = fields;
      summary = {
        ...summary,
        ...rest,
        ...(extra ?? {}),
        status,
        ended: new Date().toISOString(),
        seconds: priorSeconds + (performance.now() - t0) / 1000,
      };
      await writeSummary(summary);
      await lock.release();
      return summary;
    },
    close: () => lock.release(),
  };
}
