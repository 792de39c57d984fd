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
import { appendFile, type FileHandle, open, readFile } from "node:fs/promises";
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

/** A page of rows read from a byte offset (readJsonlFrom). */
export interface JsonlPage<T> {
  rows: T[];
  /** The byte offset just past the last whole line read: pass it back to read on. */
  next: number;
  /** True when `offset` lay past the end (the log was cut back, e.g. on resume) and reading restarted at 0. */
  restarted: boolean;
}

const CHUNK = 1 << 16;

/**
 * The rows of a JSONL file from byte `offset` on, at most `limit` of them, reading only what it
 * needs (a live reader polls with the `next` it got). A last line without its newline (still
 * being written) is not consumed: `next` stops before it. An absent file gives no rows.
 */
export async function readJsonlFrom<T = Record<string, unknown>>(
  path: string,
  offset = 0,
  limit = Number.POSITIVE_INFINITY,
): Promise<JsonlPage<T>> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch {
    return { rows: [], next: 0, restarted: offset > 0 };
  }
  try {
    const size = (await fh.stat()).size;
    const restarted = offset > size;
    let pos = restarted ? 0 : offset;
    const rows: T[] = [];
    let carry = Buffer.alloc(0);
    let lineStart = pos; // byte offset of carry[0]
    while (pos < size && rows.length < limit) {
      const buf = Buffer.alloc(Math.min(CHUNK, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let data = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let nl = data.indexOf(10);
      while (nl !== -1 && rows.length < limit) {
        const row = parseRow(data.toString("utf8", 0, nl));
        if (row !== null) rows.push(row as T);
        lineStart += nl + 1;
        data = data.subarray(nl + 1);
        nl = data.indexOf(10);
      }
      carry = Buffer.from(data);
    }
    return { rows, next: lineStart, restarted };
  } finally {
    await fh.close();
  }
}

/** The last well-formed row of a JSONL file (reads only its tail), or null. */
export async function lastJsonlRow<T = Record<string, unknown>>(path: string, tailBytes = CHUNK): Promise<T | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch {
    return null;
  }
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(0, size - tailBytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    const lines = buf.toString("utf8").split("\n");
    if (start > 0) lines.shift(); // a partial first line
    for (let i = lines.length - 1; i >= 0; i--) {
      const row = parseRow(lines[i]!);
      if (row !== null) return row as T;
    }
    return null;
  } finally {
    await fh.close();
  }
}
