/**
 * Readers for the four file formats data arrives in: JSONL (streamed line by line), JSON
 * arrays, CSV (RFC 4180) and Parquet (hyparquet). Every row comes out as a
 * plain value with its location (file:line for text, file:row for Parquet); every problem
 * comes out as a DataError item in the same stream, so callers decide whether to stop at
 * the first one or skip and count (`--skip-invalid`). Readers never throw on bad bytes.
 *
 * The parsing is pure (`parseJsonl`, `parseJsonArray`, `parseCsv` take bytes or text);
 * `readRecords` is the thin I/O shell around it. Writing JSONL is writers.ts.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DataError, describeValue, type Location } from "./errors.ts";

export const INPUT_FORMATS = ["jsonl", "json", "csv", "parquet"] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** One row read from a file, or the reason it could not be read. */
export type ReadResult = { ok: true; value: unknown; loc: Location } | { ok: false; error: DataError };

const EXTENSIONS: Record<string, InputFormat> = {
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".json": "json",
  ".csv": "csv",
  ".parquet": "parquet",
  ".pq": "parquet",
};

/** The file format from the extension, or an error that lists the known ones. */
export function detectFormat(path: string): InputFormat {
  const ext = extname(path).toLowerCase();
  const format = EXTENSIONS[ext];
  if (format === undefined) {
    throw new DataError({
      loc: { file: path, line: 0, unit: "line" },
      reason: "invalid-value",
      expected: `a file ending in ${Object.keys(EXTENSIONS).join(", ")} (or pass the format explicitly)`,
      got: ext === "" ? "no extension" : `"${ext}"`,
    });
  }
  return format;
}

// ---------------------------------------------------------------- text decoding

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** ASCII control bytes other than tab, LF, FF and CR: never in JSON, CSV or prose, always in binary. */
const isControl = (c: number) => c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d;

/**
 * Decode UTF-8 text, refusing binary: invalid UTF-8 or a control byte (NUL, 0x1a, …) is a
 * `not-text` DataError.
 * `line` is where the bytes start; the error points at the line of the first bad byte.
 */
export function decodeText(bytes: Uint8Array, file: string, line = 1): string {
  let text: string | undefined;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = undefined;
  }
  const bad = text === undefined ? firstBadByte(bytes) : bytes.findIndex(isControl);
  if (bad < 0) return stripBom(text!);
  let newlines = 0;
  for (let i = 0; i < bad; i++) if (bytes[i] === 0x0a) newlines++;
  const hex = bytes[bad]!.toString(16).padStart(2, "0");
  throw new DataError({
    loc: { file, line: line + newlines, unit: "line" },
    reason: "not-text",
    expected: "UTF-8 text",
    got: `binary data (byte 0x${hex} at offset ${bad})`,
  });
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (or is a control byte), -1 if none. */
function firstBadByte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (isControl(c)) return i;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    if (n > 0) {
      try {
        utf8.decode(b.subarray(i, i + n + 1));
      } catch {
        return i;
      }
    }
    i += n + 1;
  }
  return -1;
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

// ---------------------------------------------------------------- JSONL

/** Split at "\n": the complete lines (without the "\n") and the unterminated tail. */
export function splitAtNewlines(buf: Uint8Array): { lines: Uint8Array[]; rest: Uint8Array } {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, start)) {
    lines.push(buf.subarray(start, i));
    start = i + 1;
  }
  return { lines, rest: buf.subarray(start) };
}

/** One JSONL line (CR and, on line 1, BOM tolerated) → a row, an error, or null for a blank line. */
export function parseJsonlLine(bytes: Uint8Array, loc: Location): ReadResult | null {
  let text: string;
  try {
    text = decodeText(bytes, loc.file, loc.line);
  } catch (err) {
    return { ok: false, error: err as DataError };
  }
  if (text.trim() === "") return null;
  try {
    return { ok: true, value: JSON.parse(text), loc };
  } catch (err) {
    return { ok: false, error: jsonError(loc, text, err) };
  }
}

function jsonError(loc: Location, text: string, err: unknown): DataError {
  const why = err instanceof Error ? err.message.split("\n")[0]!.replace(/, ".*$/, "") : String(err);
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return new DataError({
    loc,
    reason: "invalid-json",
    expected: "a JSON value",
    got: `invalid JSON (${why}) in ${JSON.stringify(shown)}`,
  });
}

/** All rows of a JSONL file held in memory (pure; see `readJsonlRows` for streaming). */
export function parseJsonl(bytes: Uint8Array, file: string): ReadResult[] {
  const { lines, rest } = splitAtNewlines(bytes);
  if (rest.length > 0) lines.push(rest);
  const out: ReadResult[] = [];
  lines.forEach((l, i) => {
    const r = parseJsonlLine(l, { file, line: i + 1, unit: "line" });
    if (r !== null) out.push(r);
  });
  return out;
}

/** Stream a JSONL file line by line (1-based line numbers), never holding more than a chunk. */
export async function* readJsonlRows(path: string): AsyncGenerator<ReadResult> {
  let rest: Uint8Array = new Uint8Array(0);
  let line = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    const split = splitAtNewlines(buf);
    rest = split.rest;
    for (const bytes of split.lines) {
      const r = parseJsonlLine(bytes, { file: path, line: ++line, unit: "line" });
      if (r !== null) yield r;
    }
  }
  if (rest.length > 0) {
    const r = parseJsonlLine(rest, { file: path, line: ++line, unit: "line" });
    if (r !== null) yield r;
  }
}

// ---------------------------------------------------------------- JSON arrays

/**
 * A JSON array of records. The top level is scanned (strings and nesting tracked) to find
 * where each element starts, so each row gets its own line number and one broken element
 * does not hide the others.
 */
export function parseJsonArray(bytes: Uint8Array, file: string): ReadResult[] {
  let text: string;
  try {
    text = decodeText(bytes, file);
  } catch (err) {
    return [{ ok: false, error: err as DataError }];
  }
  const at = (line: number): Location => ({ file, line, unit: "line" });
  let i = 0;
  let line = 1;
  const skipSpace = () => {
    for (; i < text.length && /\s/.test(text[i]!); i++) if (text[i] === "\n") line++;
  };
  skipSpace();
  if (i === text.length) return [];
  if (text[i] !== "[") {
    let got: string;
    try {
      got = describeValue(JSON.parse(text));
    } catch (err) {
      return [{ ok: false, error: jsonError(at(line), text.slice(i), err) }];
    }
    return [fail(at(line), "invalid-json", "a JSON array of records", got)];
  }
  i++;
  const out: ReadResult[] = [];
  for (;;) {
    skipSpace();
    if (text[i] === "]" && out.length === 0) return out;
    const start = i;
    const startLine = line;
    let depth = 0;
    let openString = -1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === "\n") line++;
      if (openString >= 0) {
        if (c === "\\") i++;
        else if (c === '"') openString = -1;
      } else if (c === '"') openString = line;
      else if (c === "[" || c === "{") depth++;
      else if (c === "]" || c === "}") {
        if (depth === 0) break;
        depth--;
      } else if (c === "," && depth === 0) break;
    }
    if (i >= text.length) {
      const where = openString >= 0 ? openString : startLine;
      const got = openString >= 0 ? "an unterminated string" : "end of file";
      out.push(fail(at(where), "invalid-json", 'a complete JSON array (closing "]")', got));
      return out;
    }
    const slice = text.slice(start, i);
    try {
      out.push({ ok: true, value: JSON.parse(slice), loc: at(startLine) });
    } catch (err) {
      out.push({ ok: false, error: jsonError(at(startLine), slice.trim(), err) });
    }
    if (text[i] === "]") {
      i++;
      skipSpace();
      if (i < text.length) out.push(fail(at(line), "invalid-json", "end of file after the array", `"${text[i]}"`));
      return out;
    }
    if (text[i] !== ",") {
      out.push(fail(at(line), "invalid-json", '"," or "]"', `"${text[i]}"`));
      return out;
    }
    i++;
  }
}

function fail(loc: Location, reason: DataError["reason"], expected: string, got: string, field?: string): ReadResult {
  return { ok: false, error: new DataError({ loc, reason, expected, got, field }) };
}

// ---------------------------------------------------------------- CSV (RFC 4180)

/**
 * CSV with a header row: quoted fields, `""` escapes, commas and newlines inside quotes,
 * CRLF or LF line ends, a BOM, blank lines skipped. Each row becomes `{header: value}`
 * (all strings) located at the line where the row starts.
 */
export function parseCsv(text: string, file: string): ReadResult[] {
  text = stripBom(text);
  const out: ReadResult[] = [];
  let header: string[] | undefined;
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const columnName = (k: number) => header?.[k] ?? `column ${k + 1}`;
  const endRow = () => {
    fields.push(field);
    field = "";
    const row = fields;
    fields = [];
    if (row.length === 1 && row[0] === "") return; // blank line
    const loc: Location = { file, line: rowLine, unit: "line" };
    if (header === undefined) {
      header = row;
      return;
    }
    if (row.length !== header.length) {
      out.push(fail(loc, "invalid-csv", `${header.length} fields (${header.join(", ")})`, `${row.length}`));
      return;
    }
    const value: Record<string, string> = {};
    header.forEach((h, k) => {
      value[h] = row[k]!;
    });
    out.push({ ok: true, value, loc });
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' && field === "") {
      const openLine = line;
      i++;
      for (;;) {
        if (i >= text.length) {
          const name = columnName(fields.length);
          out.push(fail({ file, line: openLine, unit: "line" }, "invalid-csv", "a closing quote", "end of file", name));
          return out;
        }
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === "\n") line++;
        field += q;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== "," && next !== "\n" && !(next === "\r" && text[i + 1] === "\n")) {
        const name = columnName(fields.length);
        out.push(
          fail(
            { file, line, unit: "line" },
            "invalid-csv",
            '"," or a line end after a closing quote',
            `"${next}"`,
            name,
          ),
        );
        return out;
      }
      continue;
    }
    if (c === ",") {
      fields.push(field);
      field = "";
      i++;
    } else if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
      endRow();
      i += c === "\r" ? 2 : 1;
      line++;
      rowLine = line;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== "" || fields.length > 0) endRow();
  return out;
}

// ---------------------------------------------------------------- Parquet

/** Parquet rows as plain objects (BigInt → number when safe, else string), located by 1-based row. */
export async function parseParquet(bytes: Uint8Array, file: string): Promise<ReadResult[]> {
  let rows: Record<string, unknown>[];
  try {
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    rows = await parquetReadObjects({ file: ab, compressors });
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return [fail({ file, line: 0, unit: "row" }, "invalid-parquet", "a Parquet file", `an unreadable file (${why})`)];
  }
  return rows.map((r, k) => ({ ok: true, value: plainValue(r), loc: { file, line: k + 1, unit: "row" } }));
}

function plainValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  if (Array.isArray(v)) return v.map(plainValue);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainValue(x)]));
  }
  return v;
}

// ---------------------------------------------------------------- the shell

export interface ReadOptions {
  /** Overrides the format guessed from the extension. */
  format?: InputFormat;
}

/**
 * Every row of `path` in file order, each with its location, or a DataError item in its
 * place. An empty file (no rows at all) yields one `empty-file` error.
 */
export async function* readRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<ReadResult> {
  const format = opts.format ?? detectFormat(path);
  let n = 0;
  if (format === "jsonl") {
    for await (const r of readJsonlRows(path)) {
      n++;
      yield r;
    }
  } else {
    const bytes = await readFile(path);
    const rows =
      format === "json"
        ? parseJsonArray(bytes, path)
        : format === "csv"
          ? csvFromBytes(bytes, path)
          : await parseParquet(bytes, path);
    for (const r of rows) {
      n++;
      yield r;
    }
  }
  if (n === 0) {
    const unit = format === "parquet" ? "row" : "line";
    yield fail({ file: path, line: 0, unit }, "empty-file", "at least one record", "an empty file");
  }
}

function csvFromBytes(bytes: Uint8Array, file: string): ReadResult[] {
  try {
    return parseCsv(decodeText(bytes, file), file);
  } catch (err) {
    return [{ ok: false, error: err as DataError }];
  }
}
