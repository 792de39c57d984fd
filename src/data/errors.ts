/**
 * One error class for every malformed input the data layer meets, carrying where it
 * happened (file, line or Parquet row, field) and what was expected versus what was found.
 * The message is always ONE line, shaped like the compilers people already read:
 *
 *   data/x.jsonl:17: field "answer": expected a string, got number 42
 *   data/x.parquet:row 3: field "question": expected a non-empty string, got string ""
 *   data/x.jsonl: expected at least one record, got an empty file
 *
 * `reason` is a short code (`invalid-json`, `missing-field`, …) so `--skip-invalid` can
 * count what it skipped per kind of problem.
 */
import type { z } from "zod";

export const DATA_ERROR_REASONS = [
  "not-text", // binary garbage: invalid UTF-8 or NUL bytes
  "invalid-json", // a line / file that is not valid JSON
  "invalid-csv", // unterminated quote, wrong number of fields
  "invalid-parquet", // hyparquet could not read the file
  "empty-file", // no records at all
  "not-an-object", // a row that is a number, string, array, …
  "missing-field",
  "wrong-type",
  "invalid-value", // right type, wrong content (no "#### N", no \boxed{}, bad option letter)
  "unconvertible", // a record of one kind that cannot become the requested kind
] as const;
export type DataErrorReason = (typeof DATA_ERROR_REASONS)[number];

/** Where a row came from: a 1-based line of a text file, or a 1-based row of a Parquet file. */
export interface Location {
  file: string;
  /** 1-based; 0 when the problem concerns the whole file. */
  line: number;
  unit: "line" | "row";
}

export function formatLocation(loc: Location): string {
  if (loc.line <= 0) return loc.file;
  return loc.unit === "row" ? `${loc.file}:row ${loc.line}` : `${loc.file}:${loc.line}`;
}

export interface DataErrorInit {
  loc: Location;
  reason: DataErrorReason;
  /** Dotted path of the offending field (`messages.0.role`), if the problem is one field. */
  field?: string;
  /** What a valid value looks like, as a phrase: `a string`, `a solution ending in "#### N"`. */
  expected: string;
  /** What was found, as a phrase: `number 42`, `nothing (field missing)`. */
  got: string;
}

export class DataError extends Error {
  override readonly name = "DataError";
  readonly file: string;
  readonly line: number;
  readonly unit: "line" | "row";
  readonly field: string | undefined;
  readonly expected: string;
  readonly got: string;
  readonly reason: DataErrorReason;

  constructor(init: DataErrorInit) {
    const where = formatLocation(init.loc);
    const field = init.field === undefined ? "" : ` field "${init.field}":`;
    super(oneLine(`${where}:${field} expected ${init.expected}, got ${init.got}`));
    this.file = init.loc.file;
    this.line = init.loc.line;
    this.unit = init.loc.unit;
    this.field = init.field;
    this.expected = init.expected;
    this.got = init.got;
    this.reason = init.reason;
  }
}

/** Collapse any newline or control character so a message stays on one line. */
function oneLine(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return s.replace(/[\u0000-\u001f\u007f]+/g, " ");
}

/** A short, one-line description of a value for `got …`: `number 42`, `string "ab…"`, `array of 3`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing (field missing)";
  if (v === null) return "null";
  if (typeof v === "string") {
    const shown = v.length > 40 ? `${v.slice(0, 40)}…` : v;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (typeof v === "object") {
    const keys = Object.keys(v);
    return keys.length === 0 ? "empty object" : `object with keys ${keys.slice(0, 6).join(", ")}`;
  }
  return typeof v;
}

const ARTICLE: Record<string, string> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  array: "an array",
  object: "an object",
  int: "an integer",
};

/** Turn the first zod issue of a failed parse into a DataError at `loc`. Parse with `{ reportInput: true }`. */
export function fromZodError(error: z.ZodError, loc: Location, fieldPrefix = ""): DataError {
  const issue = error.issues[0]!;
  const path = issue.path.map(String).join(".");
  const field = fieldPrefix + path || undefined;
  const input = (issue as { input?: unknown }).input;
  const got = describeValue(input);
  switch (issue.code) {
    case "invalid_type": {
      const reason = input === undefined ? "missing-field" : "wrong-type";
      return new DataError({ loc, reason, field, expected: ARTICLE[issue.expected] ?? issue.expected, got });
    }
    case "too_small":
      if (issue.origin === "string")
        return new DataError({ loc, reason: "invalid-value", field, expected: "a non-empty string", got });
      if (issue.origin === "array")
        return new DataError({
          loc,
          reason: "invalid-value",
          field,
          expected: `an array of at least ${issue.minimum} item(s)`,
          got,
        });
      break;
    case "invalid_value":
      return new DataError({
        loc,
        reason: "invalid-value",
        field,
        expected: `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`,
        got,
      });
    case "invalid_union": {
      const kinds = issue.errors.map((errs) => {
        const first = errs[0];
        return first?.code === "invalid_type" ? (ARTICLE[first.expected] ?? first.expected) : "another shape";
      });
      const reason = input === undefined ? "missing-field" : "wrong-type";
      return new DataError({ loc, reason, field, expected: kinds.join(" or "), got });
    }
  }
  return new DataError({ loc, reason: "invalid-value", field, expected: `a valid value (${issue.message})`, got });
}
