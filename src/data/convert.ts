/**
 * The `data convert` pipeline without the I/O: rows read from a file → adapted records of
 * the target kind, stopping at the first DataError or, with `skipInvalid`, counting skipped
 * rows per reason (and keeping the first error of each reason to show the user).
 */
import { type AdaptOptions, adapterOf, type FormatName, formatName, type KindName } from "./adapters.ts";
import { conversion, targetsOf } from "./conversions.ts";
import { DataError, type DataErrorReason } from "./errors.ts";
import type { ReadResult } from "./readers.ts";

export interface ConvertOptions extends AdaptOptions {
  /** Source format; `messages` and `conversation` name the same one. */
  from: FormatName;
  /** Target record kind; `messages` and `conversation` name the same one. */
  to: KindName;
  /** Skip malformed rows and count them, instead of stopping at the first. */
  skipInvalid?: boolean;
}

export interface ConvertStats {
  read: number;
  written: number;
  skipped: Partial<Record<DataErrorReason, number>>;
  /** The first error of each skipped reason, for the report. */
  examples: Partial<Record<DataErrorReason, string>>;
  /** The first FIRST_ERRORS skipped errors in file order, whatever their reason. */
  errors: string[];
}

/** How many skipped errors `ConvertStats.errors` keeps. */
export const FIRST_ERRORS = 5;

/** Reasons that concern the whole file; never skippable. */
const FATAL: ReadonlySet<DataErrorReason> = new Set(["empty-file", "invalid-parquet"]);

/** Check up front that `from` can become `to`; the error lists what it can become. */
export function checkConversion(from: FormatName, to: KindName): void {
  const kind = adapterOf(from).kind;
  if (conversion(kind, to) === undefined) {
    const [f, k, t] = [formatName(from), formatName(kind), formatName(to)];
    throw new Error(
      `cannot convert ${f} (${k} records) to ${t}; ${f} converts to: ${targetsOf(kind).map(formatName).join(", ")}`,
    );
  }
}

export function emptyStats(): ConvertStats {
  return { read: 0, written: 0, skipped: {}, examples: {}, errors: [] };
}

/** Adapt and convert every row; `stats` is filled in as the rows stream through. */
export async function* convertRows(
  rows: AsyncIterable<ReadResult>,
  opts: ConvertOptions,
  stats: ConvertStats,
): AsyncGenerator<unknown> {
  checkConversion(opts.from, opts.to);
  const adapter = adapterOf(opts.from);
  const convert = conversion(adapter.kind, opts.to)!;
  for await (const r of rows) {
    let error: DataError;
    if (r.ok) {
      stats.read++;
      try {
        const rec = convert(adapter.adapt(r.value, r.loc, opts), r.loc);
        stats.written++;
        yield rec;
        continue;
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        error = err;
      }
    } else {
      if (!FATAL.has(r.error.reason)) stats.read++;
      error = r.error;
    }
    if (!opts.skipInvalid || FATAL.has(error.reason)) throw error;
    stats.skipped[error.reason] = (stats.skipped[error.reason] ?? 0) + 1;
    stats.examples[error.reason] ??= error.message;
    if (stats.errors.length < FIRST_ERRORS) stats.errors.push(error.message);
  }
}

/** How many rows were skipped, all reasons together. */
export function countSkipped(stats: ConvertStats): number {
  return Object.values(stats.skipped).reduce((s, n) => s + n, 0);
}

/** "3 rows skipped: invalid-json 1, missing-field 2", or "" when none were. */
export function formatSkipped(stats: ConvertStats): string {
  const entries = Object.entries(stats.skipped);
  if (entries.length === 0) return "";
  const total = countSkipped(stats);
  return `${total} row(s) skipped: ${entries.map(([k, n]) => `${k} ${n}`).join(", ")}`;
}
