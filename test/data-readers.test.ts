/**
 * Readers and writers: JSONL (streamed), JSON arrays, CSV (RFC 4180) and Parquet give the
 * same rows for the same data, with the right line / row numbers; edge cases (BOM, CRLF,
 * blank lines, quotes and newlines in CSV fields); binary garbage and random bytes only
 * ever produce DataErrors; JSONL writes are atomic.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { parquetWriteBuffer } from "hyparquet-writer";
import { adaptRow } from "../src/data/conversions.ts";
import { DataError } from "../src/data/errors.ts";
import {
  decodeText,
  parseCsv,
  parseJsonArray,
  parseJsonl,
  parseParquet,
  type ReadResult,
  readRecords,
} from "../src/data/readers.ts";
import { InstructionRecordSchema } from "../src/data/records.ts";
import { toJsonl, writeJsonlAtomic } from "../src/data/writers.ts";
import { NO_SHARED_DATA, sharedFile } from "./shared-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "stepwise-data-readers-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);

async function collect(gen: AsyncIterable<ReadResult>): Promise<ReadResult[]> {
  const out: ReadResult[] = [];
  for await (const r of gen) out.push(r);
  return out;
}
const values = (rs: ReadResult[]) => rs.map((r) => (r.ok ? r.value : r.error.message));
const lines = (rs: ReadResult[]) => rs.map((r) => (r.ok ? r.loc.line : -r.error.line));

/** Rows with the characters that break naive readers: commas, quotes, newlines, CRLF, unicode. */
const ROWS = [
  { instruction: "Add 2 and 3.", input: "", output: "5" },
  { instruction: 'Quote "this", please', input: "a,b,c", output: 'He said ""hi""' },
  { instruction: "Two\nlines", input: "x\r\ny", output: "naïve café — 東京 🚀" },
  { instruction: "Trailing space ", input: " leading", output: "" },
];

/** RFC 4180 writer for the test: every field quoted, quotes doubled, CRLF line ends. */
function toCsv(rows: Record<string, string>[]): string {
  const keys = Object.keys(rows[0]!);
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return [keys.map(q).join(","), ...rows.map((r) => keys.map((k) => q(r[k]!)).join(","))].join("\r\n") + "\r\n";
}

describe("readers agree across formats", () => {
  test("JSONL, JSON array, CSV and Parquet give the same 4 records", async () => {
    writeFileSync(join(tmp, "rows.jsonl"), toJsonl(ROWS));
    writeFileSync(join(tmp, "rows.json"), JSON.stringify(ROWS, null, 2));
    writeFileSync(join(tmp, "rows.csv"), toCsv(ROWS));
    const columnData = (["instruction", "input", "output"] as const).map((name) => ({
      name,
      data: ROWS.map((r) => r[name]),
      type: "STRING" as const,
    }));
    writeFileSync(join(tmp, "rows.parquet"), new Uint8Array(parquetWriteBuffer({ columnData })));
    for (const ext of ["jsonl", "json", "csv", "parquet"]) {
      const rs = await collect(readRecords(join(tmp, `rows.${ext}`)));
      assert.ok(
        rs.every((r) => r.ok),
        `${ext}: ${values(rs)}`,
      );
      assert.deepEqual(values(rs), ROWS, ext);
    }
    // Locations: JSONL by line, JSON by the line each element starts on, CSV by the line each
    // row starts on (row 3 spans three lines from its two quoted newlines), Parquet by row.
    assert.deepEqual(lines(await collect(readRecords(join(tmp, "rows.jsonl")))), [1, 2, 3, 4]);
    assert.deepEqual(lines(await collect(readRecords(join(tmp, "rows.json")))), [2, 7, 12, 17]);
    assert.deepEqual(lines(await collect(readRecords(join(tmp, "rows.csv")))), [2, 3, 4, 7]);
    const pq = await collect(readRecords(join(tmp, "rows.parquet")));
    assert.deepEqual(
      pq.map((r) => r.ok && `${r.loc.unit} ${r.loc.line}`),
      ["row 1", "row 2", "row 3", "row 4"],
    );
  });

  test("an explicit format overrides the extension", async () => {
    writeFileSync(join(tmp, "rows.txt"), toJsonl(ROWS));
    assert.deepEqual(values(await collect(readRecords(join(tmp, "rows.txt"), { format: "jsonl" }))), ROWS);
    await assert.rejects(collect(readRecords(join(tmp, "rows.txt"))), /rows\.txt: expected a file ending in \.jsonl/);
  });

  test("JSONL streaming across chunk boundaries equals the in-memory parse (3,000 multibyte rows)", async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ i, s: "é東🚀 step ".repeat(i % 40) }));
    const text = toJsonl(rows);
    assert.ok(text.length > 200_000, "more than a few 64 KiB stream chunks");
    writeFileSync(join(tmp, "big.jsonl"), text);
    const streamed = await collect(readRecords(join(tmp, "big.jsonl")));
    assert.deepEqual(values(streamed), rows);
    assert.deepEqual(values(parseJsonl(enc(text), "big.jsonl")), rows);
    assert.deepEqual(lines(streamed).at(-1), 3000);
  });
});

describe("text edge cases", () => {
  test("JSONL: BOM, CRLF, blank lines, no final newline; line numbers stay 1-based", () => {
    const rs = parseJsonl(enc('\uFEFF{"a":1}\r\n\r\n  \n{"a":2}\r\n{"a":3}'), "f.jsonl");
    assert.deepEqual(values(rs), [{ a: 1 }, { a: 2 }, { a: 3 }]);
    assert.deepEqual(lines(rs), [1, 4, 5]);
  });

  test("CSV: quoted commas, doubled quotes, embedded LF and CRLF, BOM, blank lines, unquoted fields", () => {
    const text = '\uFEFFq,a\r\n"x, y","say ""hi"""\r\n\r\nplain,"multi\nline\r\nfield"\nlast,\n';
    const rs = parseCsv(text, "f.csv");
    assert.deepEqual(values(rs), [
      { q: "x, y", a: 'say "hi"' },
      { q: "plain", a: "multi\nline\r\nfield" },
      { q: "last", a: "" },
    ]);
    assert.deepEqual(lines(rs), [2, 4, 7]);
  });

  test("CSV: unterminated quote names file, line where the quote opened, and the column", () => {
    const rs = parseCsv('question,answer\nq1,a1\nq2,"never closed\nmore\n', "bad.csv");
    assert.equal(rs.length, 2);
    assert.deepEqual(values(rs)[0], { question: "q1", answer: "a1" });
    const err = !rs[1]!.ok && rs[1]!.error;
    assert.ok(err instanceof DataError);
    assert.equal(err.message, 'bad.csv:3: field "answer": expected a closing quote, got end of file');
    assert.equal(err.reason, "invalid-csv");
  });

  test("CSV: a row with the wrong number of fields is one error; the others still come through", () => {
    const rs = parseCsv("a,b\n1,2\n3\n4,5\n", "n.csv");
    assert.deepEqual(values(rs), [{ a: "1", b: "2" }, "n.csv:3: expected 2 fields (a, b), got 1", { a: "4", b: "5" }]);
  });

  test("JSON array: each element located; a broken element is one error, not the file", () => {
    const rs = parseJsonArray(enc('[\n  {"a": 1},\n  {"a": tru},\n  {"a": "x]"}\n]\n'), "f.json");
    assert.deepEqual(lines(rs), [2, -3, 4]);
    assert.deepEqual(values(rs)[2], { a: "x]" });
    assert.match(
      values(rs)[1] as string,
      /^f\.json:3: expected a JSON value, got invalid JSON \(.+\) in "\{\\"a\\": tru\}"$/,
    );
    assert.deepEqual(values(parseJsonArray(enc('{"a":1}'), "o.json")), [
      "o.json:1: expected a JSON array of records, got object with keys a",
    ]);
    assert.deepEqual(values(parseJsonArray(enc('[{"a":1},\n{"a": "unterminated}]'), "u.json")), [
      { a: 1 },
      'u.json:2: expected a complete JSON array (closing "]"), got an unterminated string',
    ]);
  });

  test("binary: a PNG header is refused as not-text at its line", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
    assert.throws(
      () => decodeText(png, "img.json"),
      (e: unknown) =>
        e instanceof DataError &&
        e.reason === "not-text" &&
        e.message === "img.json:1: expected UTF-8 text, got binary data (byte 0x89 at offset 0)",
    );
    const rs = parseJsonl(png, "img.jsonl");
    assert.deepEqual(values(rs), [
      "img.jsonl:1: expected UTF-8 text, got binary data (byte 0x89 at offset 0)",
      "img.jsonl:2: expected UTF-8 text, got binary data (byte 0x1a at offset 0)",
      "img.jsonl:3: expected UTF-8 text, got binary data (byte 0x00 at offset 0)",
    ]);
  });

  test("empty file and unreadable Parquet are single file-level errors", async () => {
    writeFileSync(join(tmp, "empty.jsonl"), "\n\n");
    writeFileSync(join(tmp, "empty.csv"), "");
    writeFileSync(join(tmp, "junk.parquet"), "not parquet at all");
    const [e1] = values(await collect(readRecords(join(tmp, "empty.jsonl"))));
    assert.equal(e1, `${join(tmp, "empty.jsonl")}: expected at least one record, got an empty file`);
    const [e2] = values(await collect(readRecords(join(tmp, "empty.csv"))));
    assert.equal(e2, `${join(tmp, "empty.csv")}: expected at least one record, got an empty file`);
    const [e3] = values(await collect(readRecords(join(tmp, "junk.parquet"))));
    assert.match(e3 as string, /junk\.parquet: expected a Parquet file, got an unreadable file \(.+\)$/);
  });
});

describe("real data", { skip: NO_SHARED_DATA }, () => {
  test("Alpaca sample (JSON array) → 1,000 valid InstructionRecords", async () => {
    const rs = await collect(readRecords(sharedFile("alpaca_sample.json")));
    assert.equal(rs.length, 1000);
    const recs = rs.map((r) => {
      assert.ok(r.ok);
      return adaptRow("alpaca", "instruction", r.value, r.loc);
    });
    assert.equal(recs.filter((r) => InstructionRecordSchema.safeParse(r).success).length, 1000);
    assert.equal((recs[0] as { instruction: string }).instruction, "Give three tips for staying healthy.");
  });
});

describe("writers", () => {
  test("writeJsonlAtomic writes all records, and on failure leaves the old file and no temp file", async () => {
    const path = join(tmp, "out.jsonl");
    assert.equal(await writeJsonlAtomic(path, ROWS), 4);
    assert.deepEqual(values(parseJsonl(readFileSync(path), path)), ROWS);
    const before = readFileSync(path, "utf8");
    async function* failing() {
      yield ROWS[0];
      yield ROWS[1];
      throw new Error("boom at row 3");
    }
    await assert.rejects(writeJsonlAtomic(path, failing()), /boom at row 3/);
    assert.equal(readFileSync(path, "utf8"), before, "old file untouched");
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.endsWith(".tmp")),
      [],
    );
    const fresh = join(tmp, "never.jsonl");
    await assert.rejects(writeJsonlAtomic(fresh, failing()));
    assert.equal(existsSync(fresh), false, "no half-written new file");
  });
});

describe("properties", () => {
  const record = fc.record({
    question: fc.string({ unit: "grapheme", minLength: 1 }),
    chain_of_thought: fc.string({ unit: "binary" }),
    answer: fc.string({ minLength: 1 }),
    meta: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))), {
      nil: undefined,
    }),
  });

  test("random records written as JSONL read back identical (200 runs)", () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (recs) => {
        const clean = recs.map((r) => JSON.parse(JSON.stringify(r)));
        const back = parseJsonl(enc(toJsonl(clean)), "p.jsonl");
        assert.deepEqual(values(back), clean);
        assert.deepEqual(
          lines(back),
          clean.map((_, i) => i + 1),
        );
      }),
      { numRuns: 200, seed: 42 },
    );
  });

  test("random bytes never throw from the text readers; every error is a one-line DataError (500 runs)", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.string({ unit: "binary" }).map(enc),
      fc.constantFrom(...['{"a":', "[", '"', "[1,", 'a,"b\n', "\uFEFF", "\n\n"]).map(enc),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const results = [...parseJsonl(b, "r.jsonl"), ...parseJsonArray(b, "r.json")];
        try {
          results.push(...parseCsv(decodeText(b, "r.csv"), "r.csv"));
        } catch (err) {
          assert.ok(err instanceof DataError, String(err));
        }
        for (const r of results) {
          if (!r.ok) {
            assert.ok(r.error instanceof DataError);
            assert.ok(!/[\n\r]/.test(r.error.message), r.error.message);
          }
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  test("random bytes as Parquet give one invalid-parquet DataError (100 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (b) => {
        const rs = await parseParquet(b, "r.parquet");
        assert.equal(rs.length, 1);
        assert.ok(!rs[0]!.ok && rs[0]!.error.reason === "invalid-parquet");
      }),
      { numRuns: 100, seed: 3 },
    );
  });
});
