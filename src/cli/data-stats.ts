/**
 * `stepwise data stats FILE [--tokenizer DIR] [--json]`: counts per kind, task and
 * format, and length histograms (characters; tokens with a tokenizer).
 *
 * `stepwise data dedup --train A [--test B] --out FILE [--near 0.8] [--ngram 13] [--shingle 3] [--report R.json]`:
 * drop exact duplicates, near duplicates (word-shingle Jaccard ≥ --near) and train
 * items sharing an --ngram word n-gram with any test item; write the kept train
 * records to --out and say what was removed and why (src/data/hygiene.ts).
 */
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { datasetStats, decontaminate, dedupe, type Histogram } from "../data/hygiene.ts";
import { readRecords } from "../data/readers.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";

/** Every record of a file with its line, or the first read error thrown (it names file:line and field). */
async function readAll(path: string): Promise<{ records: unknown[]; lines: number[] }> {
  const records: unknown[] = [];
  const lines: number[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    records.push(r.value);
    lines.push(r.loc.line);
  }
  return { records, lines };
}

function table(title: string, counts: Record<string, number>, total: number): string[] {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const w = Math.max(...rows.map(([k]) => k.length), 4);
  return [
    `${title}:`,
    ...rows.map(
      ([k, n]) => `  ${k.padEnd(w)}  ${String(n).padStart(7)}  ${((100 * n) / Math.max(total, 1)).toFixed(1)}%`,
    ),
  ];
}

function histLines(title: string, h: Histogram): string[] {
  const out = [
    `${title}: min ${h.min}  mean ${h.mean.toFixed(1)}  p50 ${h.p50}  p90 ${h.p90}  p99 ${h.p99}  max ${h.max}`,
  ];
  const peak = Math.max(...h.counts, 1);
  h.counts.forEach((c, k) => {
    if (c === 0) return;
    const range = `[${h.edges[k]}, ${h.edges[k + 1]})`;
    out.push(`  ${range.padEnd(16)} ${String(c).padStart(7)}  ${"#".repeat(Math.ceil((40 * c) / peak))}`);
  });
  return out;
}

export function registerDataStats(data: Command): Command {
  return data
    .command("stats <file>")
    .description("Counts per kind, task and format, and length histograms of a data file")
    .option("--tokenizer <dir>", "also histogram token lengths with this tokenizer folder")
    .option("--json", "print the statistics as JSON")
    .action(async (file: string, flags: { tokenizer?: string; json?: boolean }) => {
      const { records } = await readAll(file);
      const tokenizer = flags.tokenizer ? await Tokenizer.fromDir(flags.tokenizer) : undefined;
      const stats = datasetStats(records, tokenizer ? { tokenizer } : {});
      if (flags.json) {
        console.log(JSON.stringify(stats, null, 2));
        return;
      }
      const lines = [
        `${file}: ${stats.records} records`,
        ...table("kind", stats.byKind, stats.records),
        ...table("task", stats.byTask, stats.records),
        ...table("format", stats.byFormat, stats.records),
        ...histLines("characters", stats.chars),
        ...(stats.tokens ? histLines("tokens", stats.tokens) : []),
      ];
      console.log(lines.join("\n"));
    });
}

interface DedupFlags {
  train: string;
  test?: string;
  out: string;
  near?: string;
  ngram: string;
  shingle: string;
  report?: string;
}

export function registerDataDedup(data: Command): Command {
  return data
    .command("dedup")
    .description("Remove exact and near duplicates, and train items that overlap the test set")
    .requiredOption("--train <file>", "training records")
    .option("--test <file>", "test records to decontaminate against")
    .requiredOption("--out <file>", "where to write the kept training records (JSONL)")
    .option("--near <jaccard>", "also remove near duplicates with word-shingle Jaccard ≥ this, in (0, 1]")
    .option("--ngram <n>", "decontamination n-gram length in words", "13")
    .option("--shingle <n>", "word n-gram size of near-duplicate shingles", "3")
    .option("--report <file>", "write the full report (every removed item and why) as JSON")
    .action(async (flags: DedupFlags) => {
      const near = flags.near === undefined ? null : parseNumberFlag("data dedup: --near", flags.near, 0, 1);
      if (near === 0) throw new Error('data dedup: --near must be in (0, 1], got "0"');
      const n = parseIntFlag("data dedup: --ngram", flags.ngram, 1);
      const shingle = parseIntFlag("data dedup: --shingle", flags.shingle, 1);
      const train = await readAll(flags.train);
      const dup = dedupe(train.records, { near, shingle });
      const afterDup = dup.kept.map((i) => train.records[i]);
      const test = flags.test ? await readAll(flags.test) : null;
      const contam = test ? decontaminate(afterDup, test.records, { n }) : null;
      const keptIdx = contam ? contam.kept.map((k) => dup.kept[k]!) : dup.kept;
      const written = await writeJsonlAtomic(
        flags.out,
        keptIdx.map((i) => train.records[i]),
      );
      const at = (i: number) => `${flags.train}:${train.lines[i]}`;
      const lines = [
        `${flags.train}: ${train.records.length} records; kept ${written} → ${flags.out}`,
        `  exact duplicates removed: ${dup.exact.length}`,
        `  near duplicates removed:  ${near === null ? "(not checked; --near)" : dup.near.length}`,
        `  contaminated removed:     ${contam ? `${contam.contaminated.length} (${n}-grams shared with ${flags.test})` : "(no --test)"}`,
      ];
      for (const d of dup.exact.slice(0, 5)) lines.push(`    exact  ${at(d.index)} = ${at(d.of)}`);
      for (const d of dup.near.slice(0, 5))
        lines.push(`    near   ${at(d.index)} ~ ${at(d.of)} (Jaccard ${d.similarity.toFixed(3)})`);
      if (contam && test) {
        for (const c of contam.contaminated.slice(0, 10)) {
          const tests = c.tests.map((t) => `${flags.test}:${test.lines[t]}`).join(", ");
          lines.push(`    contaminated ${at(dup.kept[c.train]!)} ← ${tests}: "${c.ngram}"`);
        }
        if (contam.testTooShort.length > 0)
          lines.push(`  test items shorter than ${n} words (not checkable): ${contam.testTooShort.length}`);
      }
      console.log(lines.join("\n"));
      if (flags.report) {
        const report = {
          train: flags.train,
          test: flags.test ?? null,
          kept: written,
          exact: dup.exact.map((d) => ({ line: train.lines[d.index], of: train.lines[d.of] })),
          near: dup.near.map((d) => ({ line: train.lines[d.index], of: train.lines[d.of], similarity: d.similarity })),
          contaminated: (contam?.contaminated ?? []).map((c) => ({
            line: train.lines[dup.kept[c.train]!],
            testLines: c.tests.map((t) => test!.lines[t]),
            ngram: c.ngram,
          })),
          testTooShort: (contam?.testTooShort ?? []).map((t) => test!.lines[t]),
        };
        await writeFile(flags.report, `${JSON.stringify(report, null, 2)}\n`);
      }
    });
}
