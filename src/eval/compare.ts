/**
 * `stepwise eval compare RUN_A RUN_B`: per-metric differences (B − A) between two eval output
 * folders, each with a paired bootstrap 95% interval (bootstrap.ts documents the method).
 *
 * Examples are read from each folder's examples.jsonl and matched by key: `id:<meta.id>` when
 * the example has an id, else `q:<question>` (whitespace collapsed); the n-th repeat of a key gets
 * "#n" appended. The two runs must hold exactly the same keys, else compareRuns refuses with an
 * error naming how many examples are only in A / only in B and the first of each. Pairs are
 * taken in A's order.
 *
 * Per-example values: accuracy_strict / accuracy_flexible → 1 or 0 (correct_*); step_validity →
 * 1 or 0 when the chain had at least one checked claim, else null (left out, as in summary.json);
 * maj_at_k_strict / _flexible when both runs sampled (sampled.maj_correct_*).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { EXAMPLES_FILE } from "../runs/layout.ts";
import { type BootstrapResult, pairedBootstrap } from "./bootstrap.ts";
import type { EvalExample } from "./score.ts";

export class CompareError extends Error {
  override name = "CompareError";
}

export interface MetricComparison extends BootstrapResult {
  metric: string;
}

export interface Comparison {
  run_a: string;
  run_b: string;
  n: number;
  resamples: number;
  seed: number;
  method: string;
  metrics: MetricComparison[];
}

export const COMPARE_METHOD =
  "paired bootstrap: example indices resampled with replacement (same indices for A and B), " +
  "difference B - A of the per-example mean, 2.5th/97.5th percentiles";

/** The examples of an eval output folder (its examples.jsonl); errors name file:line. */
export async function readRun(dir: string): Promise<EvalExample[]> {
  const file = join(dir, EXAMPLES_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new CompareError(`eval compare: ${file} not found; is ${dir} an eval --out folder?`);
  }
  const out: EvalExample[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new CompareError(`eval compare: ${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const ex = v as Partial<EvalExample>;
    if (
      typeof ex.question !== "string" ||
      typeof ex.correct_strict !== "boolean" ||
      typeof ex.correct_flexible !== "boolean"
    ) {
      throw new CompareError(
        `eval compare: ${file}:${i + 1}: expected an example with question, correct_strict, correct_flexible`,
      );
    }
    out.push(ex as EvalExample);
  });
  if (out.length === 0) throw new CompareError(`eval compare: ${file} has no examples`);
  return out;
}

/** Matching keys of examples, in order (see the file header). */
export function exampleKeys(examples: readonly Pick<EvalExample, "id" | "question">[]): string[] {
  const seen = new Map<string, number>();
  return examples.map((e) => {
    const base = e.id !== null && e.id !== undefined ? `id:${e.id}` : `q:${e.question.replace(/\s+/g, " ").trim()}`;
    const c = (seen.get(base) ?? 0) + 1;
    seen.set(base, c);
    return c === 1 ? base : `${base}#${c}`;
  });
}

const stepValue = (e: EvalExample): number | null =>
  e.steps && e.steps.checkedClaims > 0 ? (e.steps.valid ? 1 : 0) : null;

/** Compare two runs' examples (B − A per metric). */
export function compareExamples(
  a: readonly EvalExample[],
  b: readonly EvalExample[],
  opts: { resamples?: number; seed?: number; runA?: string; runB?: string } = {},
): Comparison {
  const ka = exampleKeys(a);
  const kb = exampleKeys(b);
  const byKeyB = new Map(kb.map((k, i) => [k, b[i]!]));
  const setA = new Set(ka);
  const onlyA = ka.filter((k) => !byKeyB.has(k));
  const onlyB = kb.filter((k) => !setA.has(k));
  if (onlyA.length > 0 || onlyB.length > 0) {
    const first = (xs: string[]) => (xs.length ? ` (first: ${JSON.stringify(xs[0]!.slice(0, 80))})` : "");
    throw new CompareError(
      `eval compare: the runs' example sets differ: ${onlyA.length} only in A${first(onlyA)}, ` +
        `${onlyB.length} only in B${first(onlyB)}; compare runs on the same examples`,
    );
  }
  const pb = ka.map((k) => byKeyB.get(k)!);
  const resamples = opts.resamples ?? 1000;
  const seed = opts.seed ?? 0;
  const metric = (name: string, f: (e: EvalExample) => number | null): MetricComparison => ({
    metric: name,
    ...pairedBootstrap(a.map(f), pb.map(f), { resamples, seed }),
  });
  const metrics = [
    metric("accuracy_strict", (e) => (e.correct_strict ? 1 : 0)),
    metric("accuracy_flexible", (e) => (e.correct_flexible ? 1 : 0)),
    metric("step_validity", stepValue),
  ];
  if (a.every((e) => e.sampled) && pb.every((e) => e.sampled)) {
    metrics.push(metric("maj_at_k_strict", (e) => (e.sampled!.maj_correct_strict ? 1 : 0)));
    metrics.push(metric("maj_at_k_flexible", (e) => (e.sampled!.maj_correct_flexible ? 1 : 0)));
  }
  return {
    run_a: opts.runA ?? "A",
    run_b: opts.runB ?? "B",
    n: a.length,
    resamples,
    seed,
    method: COMPARE_METHOD,
    metrics,
  };
}

/** Read two eval output folders and compare them. */
export async function compareRuns(
  dirA: string,
  dirB: string,
  opts: { resamples?: number; seed?: number } = {},
): Promise<Comparison> {
  const [a, b] = await Promise.all([readRun(dirA), readRun(dirB)]);
  return compareExamples(a, b, { ...opts, runA: dirA, runB: dirB });
}

const f4 = (x: number | null) => (x === null ? "-" : x.toFixed(4));
const signed = (x: number | null) => (x === null ? "-" : `${x >= 0 ? "+" : ""}${x.toFixed(4)}`);

/** A comparison as a Markdown table. */
export function comparisonTable(c: Comparison): string {
  return [
    `A = ${c.run_a}, B = ${c.run_b}, n = ${c.n} paired examples, ${c.resamples} bootstrap resamples (seed ${c.seed})`,
    "",
    "| metric | A | B | B − A | 95% CI |",
    "| --- | ---: | ---: | ---: | --- |",
    ...c.metrics.map(
      (m) =>
        `| ${m.metric} | ${f4(m.a)} | ${f4(m.b)} | ${signed(m.diff)} | ${m.ci ? `[${signed(m.ci.lo)}, ${signed(m.ci.hi)}]` : "-"} |`,
    ),
  ].join("\n");
}
