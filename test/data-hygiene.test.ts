/**
 * Hygiene (src/data/hygiene.ts) and its commands (`data stats`, `data dedup`):
 * exact duplicates up to case and white space; near duplicates removed at the
 * Jaccard threshold and kept just below it, and MinHash-LSH agreeing with a
 * brute-force all-pairs reference; decontamination finding a planted 13-gram and
 * not a 12-gram; statistics on a small hand-counted set.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  datasetStats,
  decontaminate,
  dedupe,
  histogram,
  jaccard,
  lshBands,
  recordText,
  wordNgrams,
  words,
} from "../src/data/hygiene.ts";
import { Rng } from "../src/engine/rng.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

/** n distinct words w{start}..w{start+n-1}. */
const ws = (start: number, n: number) => Array.from({ length: n }, (_, i) => `w${start + i}`);
const shingles = (t: string, n = 3) => new Set(wordNgrams(words(t), n));

describe("exact and near duplicates", () => {
  test("exact duplicates up to case, white space and NFKC; first kept", () => {
    const items = ["Hello  World", "hello world\n", "Ｈｅｌｌｏ World", "Hello there", "HELLO WORLD"];
    const r = dedupe(items);
    assert.deepEqual(r.kept, [0, 3]);
    assert.deepEqual(r.exact, [
      { index: 1, of: 0 },
      { index: 2, of: 0 },
      { index: 4, of: 0 },
    ]);
  });

  test("near duplicates: removed at J = 8/10 = 0.8 (threshold 0.8), kept at J = 7/9 ≈ 0.778", () => {
    // 11 distinct words → 9 word 3-grams; changing the last word swaps 1 of them: J = 8/10.
    const a = ws(0, 11).join(" ");
    const b = [...ws(0, 10), "other"].join(" ");
    // 10 words → 8 3-grams; changing the last word: J = 7/9.
    const c = ws(100, 10).join(" ");
    const d = [...ws(100, 9), "other"].join(" ");
    assert.equal(jaccard(shingles(a), shingles(b)), 0.8);
    assert.equal(jaccard(shingles(c), shingles(d)), 7 / 9);
    const r = dedupe([a, b, c, d], { near: 0.8 });
    assert.deepEqual(r.kept, [0, 2, 3]);
    assert.deepEqual(r.near, [{ index: 1, of: 0, similarity: 0.8 }]);
    // At a lower threshold the second pair goes too; exact-only mode keeps all four.
    assert.deepEqual(dedupe([a, b, c, d], { near: 0.75 }).kept, [0, 2]);
    assert.deepEqual(dedupe([a, b, c, d]).kept, [0, 1, 2, 3]);
  });

  test("MinHash LSH agrees with brute-force all-pairs Jaccard on 400 texts with 40 planted near-duplicates", () => {
    const rng = new Rng(3);
    const base = Array.from({ length: 360 }, () => Array.from({ length: 30 }, () => `v${rng.int(0, 999)}`));
    const planted = Array.from({ length: 40 }, (_, k) => {
      const copy = [...base[k * 9]!];
      copy[rng.int(0, 29)] = `changed${k}`; // one word changed: J ≥ 25/31 ≈ 0.806
      return copy;
    });
    const texts = rng.shuffle([...base, ...planted]).map((w) => w.join(" "));
    const threshold = 0.8;
    // Reference: greedy over input order, all pairs, exact Jaccard.
    const sets = texts.map((t) => shingles(t));
    const kept: number[] = [];
    for (let i = 0; i < texts.length; i++)
      if (!kept.some((j) => jaccard(sets[i]!, sets[j]!) >= threshold)) kept.push(i);
    const r = dedupe(texts, { near: threshold });
    assert.equal(r.near.length, 40);
    assert.deepEqual(r.kept, kept);
    assert.deepEqual(lshBands(128, 0.8), { bands: 32, rows: 4 });
  });
});

describe("decontamination", () => {
  const testItem = { question: ws(0, 20).join(" "), chain_of_thought: "", answer: "1" };

  test("finds a planted 13-gram (through case and punctuation) and not a 12-gram", () => {
    const train = [
      {
        question: `Intro words here. ${ws(3, 13).join(", ").toUpperCase()} and more.`,
        chain_of_thought: "x",
        answer: "2",
      },
      { question: `Intro words here. ${ws(3, 12).join(" ")} and more.`, chain_of_thought: "x", answer: "2" },
      { question: "Something else entirely with no overlap at all.", chain_of_thought: "y", answer: "3" },
    ];
    const r = decontaminate(train, [testItem]);
    assert.equal(r.n, 13);
    assert.deepEqual(r.kept, [1, 2]);
    assert.deepEqual(r.contaminated, [{ train: 0, tests: [0], ngram: ws(3, 13).join(" ") }]);
    // With n = 12 the 12-gram counts too.
    assert.deepEqual(decontaminate(train, [testItem], { n: 12 }).kept, [2]);
  });

  test("reports which test items contaminated which train items; short test items are counted", () => {
    const t2 = { question: ws(50, 15).join(" "), chain_of_thought: "", answer: "1" };
    const short = { question: "too short", chain_of_thought: "", answer: "1" };
    const train = [{ instruction: "copy", output: `${ws(0, 14).join(" ")} ${ws(50, 13).join(" ")}` }];
    const r = decontaminate(train, [testItem, short, t2]);
    assert.deepEqual(
      r.contaminated.map((c) => [c.train, c.tests]),
      [[0, [0, 2]]],
    );
    assert.deepEqual(r.testTooShort, [1]);
  });
});

describe("statistics", () => {
  const set = [
    { question: "1+1?", chain_of_thought: "1+1=2.", answer: "2", meta: { task: "arith" } }, // 4+6+1 + 2 joins = 13 chars
    { question: "2+2?", chain_of_thought: "", answer: "4", meta: { task: "arith" } }, // 4+0+1 + 2 = 7
    { question: "Is A before B?", chain_of_thought: "Yes.", answer: "yes", meta: { task: "logic" } }, // 14+4+3+2 = 23
    { instruction: "Say hi.", output: "Hi" }, // 7+2+1 = 10
    { prompt: "Q", target: "A", kind: "direct" }, // 1+1 + 1 join = 3
  ];

  test("counts per kind, task and format; character histogram", () => {
    const s = datasetStats(set);
    assert.equal(s.records, 5);
    assert.deepEqual(s.byKind, { cot: 3, instruction: 1, formatted: 1 });
    assert.deepEqual(s.byTask, { arith: 2, logic: 1, unknown: 2 });
    assert.deepEqual(s.byFormat, { cot: 2, direct: 2, instruction: 1 });
    assert.equal(s.chars.count, 5);
    assert.equal(s.chars.min, 3);
    assert.equal(s.chars.max, 23);
    assert.equal(s.chars.mean, (13 + 7 + 23 + 10 + 3) / 5);
    assert.equal(s.chars.p50, 10);
    // Bins [0,1) [1,2) [2,4) [4,8) [8,16) [16,32): 3 → [2,4), 7 → [4,8), 10 13 → [8,16), 23 → [16,32).
    assert.deepEqual(s.chars.edges, [0, 1, 2, 4, 8, 16, 32]);
    assert.deepEqual(s.chars.counts, [0, 0, 1, 1, 2, 1]);
    assert.equal(s.tokens, undefined);
  });

  test("histogram quantiles by nearest rank", () => {
    const h = histogram(Array.from({ length: 100 }, (_, i) => i + 1));
    assert.deepEqual([h.p50, h.p90, h.p99, h.max], [50, 90, 99, 100]);
    assert.deepEqual(histogram([]).counts, [0]);
  });
});

describe("commands: data stats, data dedup", () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 60_000 });
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "stepwise-hygiene-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("stats prints counts and histograms; --json and --tokenizer add token lengths", async () => {
    const file = join(dir, "set.jsonl");
    await writeFile(
      file,
      set()
        .map((r) => JSON.stringify(r))
        .join("\n") + "\n",
    );
    const { stdout } = await cli("data", "stats", file);
    assert.match(stdout, /5 records/);
    assert.match(stdout, /arith\s+2\s+40\.0%/);
    assert.match(stdout, /characters: min 3 {2}mean 11\.2 {2}p50 10/);
    const tokDir = join(dir, "tok");
    await saveTokenizer(tokDir, trainBpe(["1+1=2. Say hi. Is A before B? yes"], { vocabSize: 300 }));
    const { stdout: json } = await cli("data", "stats", file, "--json", "--tokenizer", tokDir);
    const s = JSON.parse(json);
    assert.equal(s.records, 5);
    const tok = await Tokenizer.fromDir(tokDir);
    const lengths = set().map((r) => tok.encode(recordText(r), { addSpecialTokens: false }).length);
    assert.equal(s.tokens.count, 5);
    assert.equal(s.tokens.max, Math.max(...lengths));
    assert.equal(s.tokens.min, Math.min(...lengths));
  });

  test("dedup writes the kept train records and reports exact, near and contaminated ones", async () => {
    const train = join(dir, "train.jsonl");
    const testFile = join(dir, "test.jsonl");
    const out = join(dir, "clean.jsonl");
    const report = join(dir, "report.json");
    const rec = (q: string) => JSON.stringify({ question: q, chain_of_thought: "ok", answer: "1" });
    await writeFile(
      train,
      [
        rec(ws(0, 30).join(" ")),
        rec(ws(0, 30).join(" ").toUpperCase()), // exact duplicate of line 1
        rec(["other", ...ws(1, 29)].join(" ")), // near duplicate of line 1: 32 words, 1 of 30 3-grams swapped, J = 29/31
        rec(`prefix ${ws(200, 13).join(" ")}`), // contaminated by test line 1
        rec(ws(400, 11).join(" ")),
      ].join("\n") + "\n",
    );
    await writeFile(testFile, `${rec(ws(200, 20).join(" "))}\n`);
    const { stdout } = await cli(
      "data",
      "dedup",
      "--train",
      train,
      "--test",
      testFile,
      "--out",
      out,
      "--near",
      "0.8",
      "--report",
      report,
    );
    assert.match(stdout, /5 records; kept 2/);
    assert.match(stdout, /exact duplicates removed: 1/);
    assert.match(stdout, /near duplicates removed: {2}1/);
    assert.match(stdout, /contaminated removed: {5}1 \(13-grams/);
    assert.match(stdout, /train\.jsonl:4 ← .*test\.jsonl:1/);
    const kept = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).question);
    assert.deepEqual(kept, [ws(0, 30).join(" "), ws(400, 11).join(" ")]);
    const rep = JSON.parse(await readFile(report, "utf8"));
    assert.deepEqual(rep.exact, [{ line: 2, of: 1 }]);
    assert.deepEqual(rep.near, [{ line: 3, of: 1, similarity: 29 / 31 }]);
    assert.deepEqual(rep.contaminated[0].testLines, [1]);
  });

  test("a bad flag is a clear error", async () => {
    await assert.rejects(
      cli("data", "dedup", "--train", "x.jsonl", "--out", "y.jsonl", "--near", "2"),
      /data dedup: --near must be a number in \[0, 1\], got "2"/,
    );
  });

  function set() {
    return [
      { question: "1+1?", chain_of_thought: "1+1=2.", answer: "2", meta: { task: "arith" } },
      { question: "2+2?", chain_of_thought: "", answer: "4", meta: { task: "arith" } },
      { question: "Is A before B?", chain_of_thought: "Yes.", answer: "yes", meta: { task: "logic" } },
      { instruction: "Say hi.", output: "Hi" },
      { prompt: "Q", target: "A", kind: "direct" },
    ];
  }
});
