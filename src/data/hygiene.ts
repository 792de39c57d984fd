/**
 * Data hygiene: duplicates, train/test contamination, statistics.
 *
 *  - Exact duplicates: SHA-256 of the normalised text (NFKC, lower case, runs of
 *    white space → one space, trimmed); the first occurrence is kept.
 *  - Near duplicates: Jaccard similarity of word n-gram sets ("shingles", Broder
 *    1997), J(A, B) = |A ∩ B| / |A ∪ B|; an item is removed when J ≥ threshold with
 *    an earlier kept item. Candidates come from MinHash signatures (`numPerm`
 *    permutations) banded for locality-sensitive hashing (Leskovec et al., Mining of
 *    Massive Datasets §3.4); every candidate is then checked with the EXACT Jaccard
 *    of its shingle sets, so the threshold is exact and only recall is
 *    probabilistic. Bands are chosen so the LSH S-curve's midpoint (1/b)^(1/r) sits
 *    well below the threshold (≤ 0.6·threshold): for threshold 0.8 and 128
 *    permutations that is 32 bands of 4 rows, and a pair at J = 0.8 is missed with
 *    probability (1 − 0.8⁴)³² ≈ 5e-8.
 *  - Decontamination (GPT-3, Brown et al. 2020, appendix C): a train item is
 *    contaminated when it shares any n-gram (default 13) of lower-cased
 *    alphanumeric words with a test item; contaminated train items are removed and
 *    each reported with the test items and the first shared n-gram. Departure:
 *    GPT-3 shortened n for short benchmarks; here test items shorter than n words
 *    cannot match and are counted in `testTooShort` instead.
 *  - Statistics: counts per record kind, task and format, length histograms in
 *    characters (and tokens when a tokenizer is given).
 */
import { createHash } from "node:crypto";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { RECORD_SCHEMAS, type RecordKind } from "./records.ts";

// ---------------------------------------------------------------------------
// Text of a record.

/**
 * All the text of a record, its string fields (and message contents) joined by "\n" in
 * field order: question, chain, answer; instruction, input, output; prompt, target; …
 * `meta` and a formatted example's `kind` are not text.
 */
export function recordText(record: unknown): string {
  if (typeof record === "string") return record;
  if (typeof record !== "object" || record === null) return String(record);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(record as Record<string, unknown>)) {
    if (k === "meta" || k === "kind") continue;
    if (typeof v === "string") parts.push(v);
    else if (Array.isArray(v)) {
      for (const m of v) {
        if (typeof m === "string") parts.push(m);
        else if (typeof m === "object" && m !== null && typeof (m as { content?: unknown }).content === "string") {
          parts.push((m as { content: string }).content);
        }
      }
    }
  }
  return parts.join("\n");
}

/** NFKC, lower case, white space collapsed, trimmed. */
export function normalizeText(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/gu, " ").trim();
}

/** Lower-cased runs of letters and digits (punctuation and white space dropped). */
export function words(text: string): string[] {
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** Word n-grams joined by " "; a text of fewer than n words gives its words as one gram (or none when empty). */
export function wordNgrams(ws: readonly string[], n: number): string[] {
  if (ws.length === 0) return [];
  if (ws.length < n) return [ws.join(" ")];
  const out: string[] = [];
  for (let i = 0; i + n <= ws.length; i++) out.push(ws.slice(i, i + n).join(" "));
  return out;
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

// ---------------------------------------------------------------------------
// Duplicates.

export interface DuplicateReport {
  /** Indices of the items kept, in order. */
  kept: number[];
  /** Removed items: `index` duplicates the kept item `of` (Jaccard `similarity`, 1 for exact). */
  exact: { index: number; of: number }[];
  near: { index: number; of: number; similarity: number }[];
}

export interface DedupOptions {
  /** Text of an item; default recordText. */
  text?: (item: unknown) => string;
  /** Jaccard threshold for near duplicates in (0, 1]; null or undefined = exact only. */
  near?: number | null;
  /** Word n-gram size for near-duplicate shingles. Default 3. */
  shingle?: number;
  /** MinHash permutations. Default 128. */
  numPerm?: number;
}

/** FNV-1a over a string, seeded; 32 bits. */
function hash32(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** MinHash signature: for each of `numPerm` seeded hash functions, the minimum over the set. */
export function minhash(shingles: ReadonlySet<string>, numPerm: number): Uint32Array {
  const sig = new Uint32Array(numPerm).fill(0xffffffff);
  for (const s of shingles) {
    const h1 = hash32(s, 0x9e3779b9);
    const h2 = hash32(s, 0x7f4a7c15) | 1;
    for (let k = 0; k < numPerm; k++) {
      const h = (h1 + Math.imul(k, h2)) >>> 0; // double hashing: h_k = h1 + k·h2
      if (h < sig[k]!) sig[k] = h;
    }
  }
  return sig;
}

/** Bands b and rows r (b·r ≤ numPerm) with the S-curve midpoint (1/b)^(1/r) at most 0.6·threshold, r as large as possible. */
export function lshBands(numPerm: number, threshold: number): { bands: number; rows: number } {
  let best = { bands: numPerm, rows: 1 };
  for (let r = 1; r <= numPerm; r++) {
    const b = Math.floor(numPerm / r);
    if ((1 / b) ** (1 / r) <= 0.6 * threshold) best = { bands: b, rows: r };
  }
  return best;
}

/**
 * Remove exact duplicates (normalised text hash) and, with `near`, near duplicates
 * (exact Jaccard of word-shingle sets ≥ near, candidates by MinHash LSH). The first
 * of each group is kept.
 */
export function dedupe(items: readonly unknown[], opts: DedupOptions = {}): DuplicateReport {
  const textOf = opts.text ?? recordText;
  const near = opts.near ?? null;
  if (near !== null && !(near > 0 && near <= 1)) throw new RangeError(`dedupe: near must be in (0, 1], got ${near}`);
  const n = opts.shingle ?? 3;
  const numPerm = opts.numPerm ?? 128;
  const report: DuplicateReport = { kept: [], exact: [], near: [] };
  const seen = new Map<string, number>();
  const { bands, rows } = lshBands(numPerm, near ?? 1);
  const buckets = new Map<string, number[]>(); // band key → kept indices
  const shingles = new Map<number, Set<string>>(); // kept index → shingles
  items.forEach((item, i) => {
    const text = textOf(item);
    const key = createHash("sha256").update(normalizeText(text)).digest("hex");
    const first = seen.get(key);
    if (first !== undefined) {
      report.exact.push({ index: i, of: first });
      return;
    }
    seen.set(key, i);
    if (near === null) {
      report.kept.push(i);
      return;
    }
    const set = new Set(wordNgrams(words(text), n));
    const sig = minhash(set, numPerm);
    const keys: string[] = [];
    for (let b = 0; b < bands; b++) keys.push(`${b}:${Array.from(sig.subarray(b * rows, (b + 1) * rows)).join(",")}`);
    const checked = new Set<number>();
    let dup: { of: number; similarity: number } | null = null;
    for (const k of keys) {
      for (const j of buckets.get(k) ?? []) {
        if (checked.has(j)) continue;
        checked.add(j);
        const sim = jaccard(set, shingles.get(j)!);
        if (sim >= near && (dup === null || sim > dup.similarity)) dup = { of: j, similarity: sim };
      }
    }
    if (dup) {
      report.near.push({ index: i, ...dup });
      return;
    }
    report.kept.push(i);
    shingles.set(i, set);
    for (const k of keys) {
      const list = buckets.get(k);
      if (list) list.push(i);
      else buckets.set(k, [i]);
    }
  });
  return report;
}

// ---------------------------------------------------------------------------
// Decontamination.

export interface ContaminationHit {
  train: number;
  /** Test items sharing at least one n-gram with this train item. */
  tests: number[];
  /** The first shared n-gram found. */
  ngram: string;
}

export interface DecontaminationReport {
  n: number;
  /** Train indices kept, in order. */
  kept: number[];
  contaminated: ContaminationHit[];
  /** Test items with fewer than n words (they cannot be checked at this n). */
  testTooShort: number[];
}

export interface DecontaminateOptions {
  /** n-gram length in words; default 13 (GPT-3). */
  n?: number;
  /** Text of train items; default recordText. */
  trainText?: (item: unknown) => string;
  /** Text of test items; default recordText. */
  testText?: (item: unknown) => string;
}

/** Remove train items sharing an n-gram with any test item (see the file header). */
export function decontaminate(
  train: readonly unknown[],
  test: readonly unknown[],
  opts: DecontaminateOptions = {},
): DecontaminationReport {
  const n = opts.n ?? 13;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`decontaminate: n must be an integer ≥ 1, got ${n}`);
  const trainText = opts.trainText ?? recordText;
  const testText = opts.testText ?? recordText;
  const index = new Map<string, number[]>(); // n-gram → test indices
  const testTooShort: number[] = [];
  test.forEach((item, t) => {
    const ws = words(testText(item));
    if (ws.length < n) {
      testTooShort.push(t);
      return;
    }
    for (const g of new Set(wordNgrams(ws, n))) {
      const list = index.get(g);
      if (list) list.push(t);
      else index.set(g, [t]);
    }
  });
  const report: DecontaminationReport = { n, kept: [], contaminated: [], testTooShort };
  train.forEach((item, i) => {
    const ws = words(trainText(item));
    const tests = new Set<number>();
    let first: string | null = null;
    if (ws.length >= n) {
      for (const g of wordNgrams(ws, n)) {
        const hit = index.get(g);
        if (!hit) continue;
        first ??= g;
        for (const t of hit) tests.add(t);
      }
    }
    if (first === null) report.kept.push(i);
    else report.contaminated.push({ train: i, tests: [...tests].sort((a, b) => a - b), ngram: first });
  });
  return report;
}

// ---------------------------------------------------------------------------
// Statistics.

export interface Histogram {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  /** Power-of-two bins: counts[k] = #values in [edges[k], edges[k+1]); edges = 0, 1, 2, 4, 8, … */
  edges: number[];
  counts: number[];
}

/** Nearest-rank quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function histogram(values: readonly number[]): Histogram {
  const sorted = [...values].sort((a, b) => a - b);
  const max = sorted.length ? sorted[sorted.length - 1]! : 0;
  const edges = [0, 1];
  while (edges[edges.length - 1]! <= max) edges.push(edges[edges.length - 1]! * 2);
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of sorted) {
    let k = 0;
    while (v >= edges[k + 1]!) k++;
    counts[k]!++;
  }
  return {
    count: sorted.length,
    min: sorted[0] ?? 0,
    max,
    mean: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : 0,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    edges,
    counts,
  };
}

/** Record kind by schema; formatted examples ({prompt, target, kind}) are "formatted". */
export function kindOf(record: unknown): RecordKind | "formatted" | "unknown" {
  if (typeof record === "object" && record !== null && "target" in record && "prompt" in record) return "formatted";
  for (const k of Object.keys(RECORD_SCHEMAS) as RecordKind[]) {
    if (RECORD_SCHEMAS[k].safeParse(record).success) return k;
  }
  return "unknown";
}

/** Format of one record: cot (chain present), direct (empty chain), instruction, a formatted example's kind, … */
export function formatOf(record: unknown): string {
  const kind = kindOf(record);
  const r = record as Record<string, unknown>;
  if (kind === "formatted") return typeof r["kind"] === "string" ? r["kind"] : "unknown";
  if (kind === "cot") return String(r["chain_of_thought"]).trim() === "" ? "direct" : "cot";
  return kind;
}

export interface DatasetStats {
  records: number;
  byKind: Record<string, number>;
  /** meta.task, else meta.source, else "unknown". */
  byTask: Record<string, number>;
  byFormat: Record<string, number>;
  chars: Histogram;
  tokens?: Histogram;
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

/** Counts and length histograms of a list of records (characters of recordText; tokens with a tokenizer). */
export function datasetStats(records: readonly unknown[], opts: { tokenizer?: Tokenizer } = {}): DatasetStats {
  const byKind: Record<string, number> = {};
  const byTask: Record<string, number> = {};
  const byFormat: Record<string, number> = {};
  const chars: number[] = [];
  const tokens: number[] = [];
  for (const r of records) {
    bump(byKind, kindOf(r));
    bump(byFormat, formatOf(r));
    const meta = (typeof r === "object" && r !== null ? (r as { meta?: unknown }).meta : undefined) as
      | Record<string, unknown>
      | undefined;
    const task = meta?.["task"] ?? meta?.["source"];
    bump(byTask, typeof task === "string" ? task : "unknown");
    const text = recordText(r);
    chars.push([...text].length);
    if (opts.tokenizer) tokens.push(opts.tokenizer.encode(text, { addSpecialTokens: false }).length);
  }
  return {
    records: records.length,
    byKind,
    byTask,
    byFormat,
    chars: histogram(chars),
    ...(opts.tokenizer ? { tokens: histogram(tokens) } : {}),
  };
}
