import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { formatLocation } from "../data/errors.ts";
import { readJsonlRows } from "../data/readers.ts";
import { corpusBleu, sentenceBleu } from "../eval/bleu.ts";
import { rouge } from "../eval/rouge.ts";

/** One line of scores.jsonl: sentence BLEU (0–100, sacrebleu defaults) and ROUGE F-measures without / with stemming. */
export interface PairScores {
  bleu: number;
  rouge1: number;
  rouge2: number;
  rougeL: number;
  rouge1_stem: number;
  rouge2_stem: number;
  rougeL_stem: number;
}

/** Scores of one {hyp, ref} pair (ref a string or a non-empty list: multi-reference BLEU, best-F ROUGE). */
export function scorePair(hyp: string, refs: readonly string[]): PairScores {
  const plain = rouge(hyp, refs);
  const stem = rouge(hyp, refs, { stem: true });
  return {
    bleu: sentenceBleu(hyp, refs).score,
    rouge1: plain.rouge1.fmeasure,
    rouge2: plain.rouge2.fmeasure,
    rougeL: plain.rougeL.fmeasure,
    rouge1_stem: stem.rouge1.fmeasure,
    rouge2_stem: stem.rouge2.fmeasure,
    rougeL_stem: stem.rougeL.fmeasure,
  };
}

/** Read {hyp, ref} JSONL lines; a bad line is an error naming file:line. */
export async function readPairs(path: string): Promise<{ hyp: string; refs: string[] }[]> {
  const out: { hyp: string; refs: string[] }[] = [];
  for await (const r of readJsonlRows(path)) {
    if (!r.ok) throw new Error(`score: ${r.error.message}`);
    const where = formatLocation(r.loc);
    const v = r.value as { hyp?: unknown; ref?: unknown } | null;
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new Error(`score: ${where}: expected an object {hyp, ref}`);
    }
    if (typeof v.hyp !== "string") throw new Error(`score: ${where}: field "hyp": expected a string`);
    const refs = typeof v.ref === "string" ? [v.ref] : v.ref;
    if (!Array.isArray(refs) || refs.length === 0 || refs.some((x) => typeof x !== "string")) {
      throw new Error(`score: ${where}: field "ref": expected a string or a non-empty list of strings`);
    }
    out.push({ hyp: v.hyp, refs: refs as string[] });
  }
  return out;
}

/**
 * `stepwise score --input pairs.jsonl --out scores.jsonl`: one line of PairScores per {hyp, ref}
 * line; prints {"corpus_bleu": x} (sacrebleu corpus BLEU over all pairs) as the last stdout line.
 */
export function registerScore(program: Command): void {
  program
    .command("score")
    .description("Sentence BLEU and ROUGE-1/2/L (with and without stemming) of {hyp, ref} JSONL lines, and corpus BLEU")
    .requiredOption("--input <file>", "JSONL of {hyp, ref} (ref: a string or a list of strings)")
    .requiredOption("--out <file>", "write one JSON line of scores per pair here")
    .action(async (flags: { input: string; out: string }) => {
      const pairs = await readPairs(flags.input);
      const lines = pairs.map((p) => JSON.stringify(scorePair(p.hyp, p.refs)));
      await writeFile(flags.out, lines.length ? `${lines.join("\n")}\n` : "");
      const corpus = corpusBleu(
        pairs.map((p) => p.hyp),
        pairs.map((p) => p.refs),
      ).score;
      console.log(JSON.stringify({ corpus_bleu: corpus }));
    });
}
