/**
 * JSONL logs of a run: append one object per line, read them back (a torn last line from a
 * killed process is skipped, never an error), and cut a log back to a checkpoint's step.
 *
 * Resume rule (lock-step with train/session.ts): a trainer writes every row of step s —
 * metrics, eval, samples, alerts — BEFORE it writes checkpoints/step-s. So a resume from
 * step s keeps exactly the rows with step ≤ s, and the resumed run writes s+1, s+2, … again:
 * no duplicates, no gaps. A resume with no checkpoint keeps no row (the run restarts).
 */
import { createReadStream } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { writeTextAtomic } from "../engine/files.ts";

/** Append one object as a line. */
export async function appendJsonl(path: string, row: unknown): Promise<void> {
  await appendFile(path, `${JSON.stringify(row)}\n`);
}

/** Every well-formed object row of a JSONL file ([] when it is absent); malformed lines are skipped. */
export async function readJsonl<T = Record<string, unknown>>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  return parseJsonlText<T>(text);
}

/** The object rows of JSONL text; blank, torn or non-object lines are skipped. */
export function parseJsonlText<T = Record<string, unknown>>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split("\n")) {
    const row = parseRow(line);
    if (row !== null) rows.push(row as T);
  }
  return rows;
}

function parseRow(line: string): Record<string, unknown> | null {
  if (line.trim() === "") return null;
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Stream the rows of a large JSONL file without reading it whole (the dashboard's pager). */
export async function* streamJsonl<T = Record<string, unknown>>(path: string): AsyncGenerator<T> {
  const lines = createInterface({
    input: createReadStream(path, { encoding: "utf8" }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    const row = parseRow(line);
    if (row !== null) yield row as T;
  }
}

/**
 * Keep the rows with `step` ≤ `step` (rows without a numeric step, and torn lines, are
 * dropped); `step` null keeps none. Rewritten atomically; an absent file stays absent.
 * Returns how many rows were dropped.
 */
export async function truncateJsonl(path: string, step: number | null): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return 0;
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const kept = lines.filter((l) => {
    const row = parseRow(l);
    return step !== null && row !== null && typeof row.step === "number" && row.step <= step;
  });
  await writeTextAtomic(path, kept.map((l) => `${l}\n`).join(""));
  return lines.length - kept.length;
}
