/**
 * The `data convert` pipeline without the I/O: rows read from a file → adapted records of
 * the target kind, stopping at the first DataError or, with `skipInvalid`, counting skipped
 * rows per reason (and keeping the first error of each reason to show the user).
 */
import { ADAPTERS, type AdaptOptions, conversion, type SourceFormat, targetsOf } from "./adapters.ts";
import { DataError, type DataErrorReason } from "./errors.ts";
import type { ReadResult } from "./readers.ts";
import type { RecordKind } from "./records.ts";

export interface ConvertOptions extends AdaptOptions {
  from: SourceFormat;
  to: RecordKind;
  /** Skip malformed rows and count them, instead of stopping at the first. */
  skipInvalid?: boolean;
}

export interface ConvertStats {
  read: number;
  written: number;
  skipped: Partial<Record<DataErrorReason, number>>;
  /** The first error of each skipped reason, for the report. */
  examples: Partial<Record<DataErrorReason, string>>;
}

/** Reasons that concern the whole file; never skippable. */
const FATAL: ReadonlySet<DataErrorReason> = new Set(["empty-file", "invalid-parquet"]);

/** Check up front that `from` can become `to`; the error lists what it can become. */
export function checkConversion(from: SourceFormat, to: RecordKind): void {
  const kind = ADAPTERS[from].kind;
  if (conversion(kind, to) === undefined) {
    throw new Error(
      `cannot convert ${from} (${kind} records) to ${to}; ${from} converts to: ${targetsOf(kind).join(", ")}`,
    );
  }
}

export function emptyStats(): ConvertStats {
  return { read: 0, written: 0, skipped: {}, examples: {} };
}

/** Adapt and convert every row; `stats` is filled in as the rows stream through. */
export async function* convertRows(
  rows: AsyncIterable<ReadResult>,
  opts: ConvertOptions,
  stats: ConvertStats,
): AsyncGenerator<unknown> {
  checkConversion(opts.from, opts.to);
  const adapter = ADAPTERS[opts.from];
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
  }
}

/** "3 rows skipped: invalid-json 1, missing-field 2", or "" when none were. */
export function formatSkipped(stats: ConvertStats): string {
  const entries = Object.entries(stats.skipped);
  if (entries.length === 0) return "";
  const total = entries.reduce((s, [, n]) => s + n, 0);
  return `${total} row(s) skipped: ${entries.map(([k, n]) => `${k} ${n}`).join(", ")}`;
}
