/**
 * Summarise scored examples (score.ts) into the evaluation report and write it.
 *
 * Report fields: `n`, `accuracy_strict`, `accuracy_flexible` (fractions), per task the
 * same, and step checking of the generated chains:
 *   chains_with_claims  fraction of outputs with at least one checked arithmetic claim
 *   step_validity       among those, the fraction with no invalid step (null when none)
 * A chain with no claims is neither valid nor invalid: a random model writes none, and
 * counting it valid would make noise look like reasoning.
 *
 * Chain metrics (over the examples whose record has a non-empty chain_of_thought; the
 * generated chain is the output without its "#### N" answer line, see chainOf):
 *   chain_n             examples with a reference chain
 *   bleu                corpus BLEU (sacrebleu defaults, 0–100), null when chain_n = 0
 *   rouge1/rouge2/rougeL  mean ROUGE F-measure (rouge-score tokenisation, no stemming)
 *
 * Sampling metrics (k > 1 samples per problem): maj@k and pass@1 / pass@k (metrics.ts).
 *
 * Files (`writeEvalOutputs`): examples.jsonl (one EvalExample per line), summary.json (the
 * report), summary.md (the tables).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EXAMPLES_FILE, SUMMARY_FILE, TABLE_FILE } from "../runs/layout.ts";
import { corpusBleu } from "./bleu.ts";
import { meanPassAtK } from "./metrics.ts";
import { type ChainScores, chainOf, EvalError, type EvalExample } from "./score.ts";

export interface AccuracyBlock {
  n: number;
  accuracy_strict: number;
  accuracy_flexible: number;
  chains_with_claims: number;
  step_validity: number | null;
}

export interface ChainMetrics {
  chain_n: number;
  bleu: number | null;
  rouge1: number | null;
  rouge2: number | null;
  rougeL: number | null;
}

export interface SamplingMetrics {
  samples: number;
  maj_at_k_strict: number;
  maj_at_k_flexible: number;
  pass_at_1_strict: number;
  pass_at_1_flexible: number;
  pass_at_k_strict: number;
  pass_at_k_flexible: number;
}

export type EvalSummary = AccuracyBlock &
  ChainMetrics &
  Partial<SamplingMetrics> & { by_task: Record<string, AccuracyBlock> };

function block(examples: readonly EvalExample[]): AccuracyBlock {
  const n = examples.length;
  const frac = (k: number, of: number) => (of === 0 ? 0 : k / of);
  const withClaims = examples.filter((s) => s.steps.checkedClaims > 0);
  return {
    n,
    accuracy_strict: frac(examples.filter((s) => s.correct_strict).length, n),
    accuracy_flexible: frac(examples.filter((s) => s.correct_flexible).length, n),
    chains_with_claims: frac(withClaims.length, n),
    step_validity: withClaims.length === 0 ? null : withClaims.filter((s) => s.steps.valid).length / withClaims.length,
  };
}

/** Corpus BLEU and mean ROUGE F of the generated chains over the examples with a reference chain. */
export function chainMetrics(examples: readonly EvalExample[]): ChainMetrics {
  const withRef = examples.filter((e) => e.reference !== "" && e.chain_scores !== null);
  if (withRef.length === 0) return { chain_n: 0, bleu: null, rouge1: null, rouge2: null, rougeL: null };
  const mean = (f: (c: ChainScores) => number) => withRef.reduce((s, e) => s + f(e.chain_scores!), 0) / withRef.length;
  return {
    chain_n: withRef.length,
    bleu: corpusBleu(
      withRef.map((e) => chainOf(e.output).trim()),
      withRef.map((e) => [e.reference]),
    ).score,
    rouge1: mean((c) => c.rouge1),
    rouge2: mean((c) => c.rouge2),
    rougeL: mean((c) => c.rougeL),
  };
}

/** maj@k and pass@1/pass@k over the examples (all must carry k sampled answers); undefined when none do. */
export function samplingMetrics(examples: readonly EvalExample[]): SamplingMetrics | undefined {
  const sampled = examples.map((e) => e.sampled).filter((s) => s !== undefined);
  if (sampled.length === 0) return undefined;
  if (sampled.length !== examples.length) {
    throw new EvalError("samplingMetrics: some examples have sampled answers and some do not");
  }
  const k = sampled[0]!.k;
  if (sampled.some((s) => s.k !== k))
    throw new EvalError("samplingMetrics: examples have different numbers of samples");
  const n = sampled.length;
  const count = (xs: boolean[]) => xs.filter(Boolean).length;
  const strict = sampled.map((s) => ({ n: k, c: count(s.correct_strict) }));
  const flexible = sampled.map((s) => ({ n: k, c: count(s.correct_flexible) }));
  return {
    samples: k,
    maj_at_k_strict: sampled.filter((s) => s.maj_correct_strict).length / n,
    maj_at_k_flexible: sampled.filter((s) => s.maj_correct_flexible).length / n,
    pass_at_1_strict: meanPassAtK(strict, 1),
    pass_at_1_flexible: meanPassAtK(flexible, 1),
    pass_at_k_strict: meanPassAtK(strict, k),
    pass_at_k_flexible: meanPassAtK(flexible, k),
  };
}

/** Accuracy and step validity overall and per task (keys sorted), chain metrics, and sampling metrics when k > 1. */
export function summarize(examples: readonly EvalExample[]): EvalSummary {
  const byTask: Record<string, AccuracyBlock> = {};
  for (const task of [...new Set(examples.map((s) => s.task))].sort()) {
    byTask[task] = block(examples.filter((s) => s.task === task));
  }
  return { ...block(examples), ...chainMetrics(examples), ...(samplingMetrics(examples) ?? {}), by_task: byTask };
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
const num = (x: number | null | undefined, d: number) => (x === null || x === undefined ? "-" : x.toFixed(d));

/** A summary as Markdown: one row per task, then all; then chain metrics and, with k > 1, maj@k / pass@k. */
export function reportTable(summary: EvalSummary): string {
  const line = (name: string, b: AccuracyBlock) =>
    `| ${name} | ${b.n} | ${pct(b.accuracy_strict)} | ${pct(b.accuracy_flexible)} | ${pct(b.chains_with_claims)} | ${pct(b.step_validity)} |`;
  const parts = [
    [
      "| task | n | accuracy (strict) | accuracy (flexible) | chains with claims | step validity |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...Object.entries(summary.by_task).map(([task, b]) => line(task, b)),
      line("**all**", summary),
    ].join("\n"),
  ];
  if (summary.chain_n > 0) {
    parts.push(
      [
        "| chains vs reference | n | BLEU | ROUGE-1 F | ROUGE-2 F | ROUGE-L F |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        `| all | ${summary.chain_n} | ${num(summary.bleu, 2)} | ${num(summary.rouge1, 4)} | ${num(summary.rouge2, 4)} | ${num(summary.rougeL, 4)} |`,
      ].join("\n"),
    );
  }
  if (summary.samples !== undefined) {
    const k = summary.samples;
    parts.push(
      [
        `| sampling (k = ${k}) | maj@${k} | pass@1 | pass@${k} |`,
        "| --- | ---: | ---: | ---: |",
        `| strict | ${pct(summary.maj_at_k_strict)} | ${pct(summary.pass_at_1_strict)} | ${pct(summary.pass_at_k_strict)} |`,
        `| flexible | ${pct(summary.maj_at_k_flexible)} | ${pct(summary.pass_at_1_flexible)} | ${pct(summary.pass_at_k_flexible)} |`,
      ].join("\n"),
    );
  }
  return parts.join("\n\n");
}

/** Write examples.jsonl (one EvalExample per line), summary.json (the report) and summary.md (the tables) into `dir`. */
export async function writeEvalOutputs(
  dir: string,
  result: { report: EvalSummary; examples: readonly EvalExample[] },
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const examples = join(dir, EXAMPLES_FILE);
  const summary = join(dir, SUMMARY_FILE);
  const table = join(dir, TABLE_FILE);
  await writeFile(
    examples,
    result.examples.map((s) => JSON.stringify(s)).join("\n") + (result.examples.length ? "\n" : ""),
  );
  await writeFile(summary, `${JSON.stringify(result.report, null, 2)}\n`);
  await writeFile(table, `${reportTable(result.report)}\n`);
  return [examples, summary, table];
}
