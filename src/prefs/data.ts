/**
 * Preference data in TRL's layout: one JSON object per row with `prompt`, `chosen` and
 * `rejected` strings (the "standard, explicit prompt" layout of TRL's DPOTrainer and
 * RewardTrainer), read and written as-is. Optional fields kept: `margin` (a number, TRL's
 * RewardTrainer margin column) and `meta` (a flat record: task, id, corruption kind, ...).
 *
 *   readPreferences(path)          every row validated; the first bad one is a DataError naming
 *                                  file:line, the field and what was expected
 *   writePreferences(path, pairs)  JSONL, atomically
 *
 * Departures from TRL: the conversational layout (lists of {role, content} messages) and the
 * implicit-prompt layout (prompt folded into chosen/rejected) are refused with an error that
 * says so, rather than guessed at; chosen and rejected must differ (an identical pair carries
 * no preference, and TRL silently trains on it).
 */
import type { DataError, Location } from "../data/errors.ts";
import { DataError as DataErrorClass, describeValue, fromZodError } from "../data/errors.ts";
import { readRecords } from "../data/readers.ts";
import { PreferenceRecordSchema } from "../data/records.ts";
import { writeJsonlAtomic } from "../data/writers.ts";

export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
  /** Bradley–Terry margin m (reward models only): ℓ = −log σ(r_c − r_r − m). */
  margin?: number;
  meta?: Record<string, string | number | boolean | null>;
}

/** Validate one row read from `loc` (see the header). */
export function parsePreference(row: unknown, loc: Location): PreferencePair | DataError {
  if (row !== null && typeof row === "object" && !Array.isArray(row)) {
    const r = row as Record<string, unknown>;
    for (const f of ["prompt", "chosen", "rejected"] as const) {
      if (Array.isArray(r[f])) {
        return new DataErrorClass({
          loc,
          reason: "wrong-type",
          field: f,
          expected: "a string (the conversational layout, lists of messages, is not read: render it to text first)",
          got: describeValue(r[f]),
        });
      }
    }
    if (!("prompt" in r) && "chosen" in r) {
      return new DataErrorClass({
        loc,
        reason: "missing-field",
        field: "prompt",
        expected:
          'a string (TRL\'s explicit-prompt layout; the implicit layout with the prompt inside "chosen" is not read)',
        got: "nothing (field missing)",
      });
    }
  }
  const parsed = PreferenceRecordSchema.safeParse(row, { reportInput: true });
  if (!parsed.success) return fromZodError(parsed.error, loc);
  const r = row as Record<string, unknown>;
  const out: PreferencePair = {
    prompt: parsed.data.prompt,
    chosen: parsed.data.chosen,
    rejected: parsed.data.rejected,
  };
  if (out.chosen === out.rejected) {
    return new DataErrorClass({
      loc,
      reason: "invalid-value",
      field: "rejected",
      expected: 'a completion different from "chosen"',
      got: "the same text",
    });
  }
  if (r.margin !== undefined) {
    if (typeof r.margin !== "number" || !Number.isFinite(r.margin)) {
      return new DataErrorClass({
        loc,
        reason: "wrong-type",
        field: "margin",
        expected: "a finite number",
        got: describeValue(r.margin),
      });
    }
    out.margin = r.margin;
  }
  if (parsed.data.meta) out.meta = parsed.data.meta;
  return out;
}

/** Every pair of a .jsonl / .json / .csv / .parquet file; throws the first bad row's DataError. */
export async function readPreferences(path: string): Promise<PreferencePair[]> {
  const out: PreferencePair[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    const p = parsePreference(r.value, r.loc);
    if (p instanceof Error) throw p;
    out.push(p);
  }
  return out;
}

/** Write pairs as TRL-layout JSONL (atomically). Returns the number written. */
export function writePreferences(path: string, pairs: Iterable<PreferencePair>): Promise<number> {
  return writeJsonlAtomic(path, pairs);
}
