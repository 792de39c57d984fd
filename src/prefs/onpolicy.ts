/**
 * On-policy preference pairs: a model's own samples, judged by the answer module.
 *
 * Input: the examples.jsonl of `stepwise eval --samples K` (eval/run.ts), whose rows carry the
 * prompt, the K sampled outputs and, per sample, the answer module's verdict (score.ts: the
 * extracted answer against gold with `answersMatch(predicted, gold, {task})`). For each prompt:
 *
 *   chosen   a sample whose strict answer ("#### …" line) matches gold (correct_strict)
 *   rejected a sample whose answer does not match gold even flexibly (¬correct_flexible)
 *
 * so a sample that is right but badly formatted is neither (it says nothing clear about which
 * chain to prefer). Up to `perPrompt` pairs per prompt, distinct texts paired in the order
 * sampled (the j-th correct with the j-th incorrect); a prompt whose samples are all right or
 * all wrong gives none (as in iterative DPO / RPO's on-policy pairs, Pang et al. 2024).
 *
 * On-policy step rows (`onPolicyStepRows`) label the same samples step by step for the process
 * reward model, as Lightman et al. 2023 label a generator's own solutions, but with the task's
 * step checker in place of human raters: valid up to the checker's first invalid step, invalid
 * from it on (steps.ts stepLabels). The checker needs the generated problem behind each prompt,
 * so the eval's data file is read alongside (its records carry meta.structured); examples join
 * it by `index` and must repeat its question. Departure: a sample whose every step passes but
 * whose answer is wrong (it may stop short) is dropped (`unlabelled`), as is one with no steps:
 * the checker cannot say which step is at fault, and labelling all of it valid would teach the
 * model a wrong chain.
 *
 * With `labels: "outcome"` every step of a sample is labelled with whether its strict answer is
 * right instead: Cobbe et al. 2021's verifier, trained to predict the solution's correctness at
 * every token, here at every step separator; P(step k) then estimates P(correct | the first k
 * steps). No checker is needed, and a chain the checker rejects but whose answer is right counts
 * as right.
 */
import { formatLocation } from "../data/errors.ts";
import { readRecords } from "../data/readers.ts";
import type { CoTRecord } from "../data/records.ts";
import { checkRecordSteps, splitSteps } from "../data/tasks/index.ts";
import type { PreferencePair } from "./data.ts";
import { type StepRow, stepLabels } from "./steps.ts";

/** The fields of one examples.jsonl row this module reads. */
export interface SampledExample {
  id?: string | null;
  task?: string;
  prompt: string;
  outputs: string[];
  sampled: { correct_strict: boolean[]; correct_flexible: boolean[] };
  /** Position of the example's record in the eval's data file. */
  index?: number;
  question?: string;
}

export interface OnPolicyStats {
  prompts: number;
  /** Prompts with at least one pair. */
  used: number;
  allCorrect: number;
  allWrong: number;
  pairs: number;
}

export function onPolicyPairs(
  rows: readonly SampledExample[],
  perPrompt = 1,
): { pairs: PreferencePair[]; stats: OnPolicyStats } {
  const pairs: PreferencePair[] = [];
  const stats: OnPolicyStats = { prompts: rows.length, used: 0, allCorrect: 0, allWrong: 0, pairs: 0 };
  for (const row of rows) {
    const good: string[] = [];
    const bad: string[] = [];
    row.outputs.forEach((out, j) => {
      if (row.sampled.correct_strict[j]) {
        if (!good.includes(out)) good.push(out);
      } else if (!row.sampled.correct_flexible[j] && !bad.includes(out)) bad.push(out);
    });
    if (bad.length === 0 && good.length > 0) stats.allCorrect++;
    if (good.length === 0) stats.allWrong++;
    const n = Math.min(perPrompt, good.length, bad.length);
    if (n > 0) stats.used++;
    for (let j = 0; j < n; j++) {
      pairs.push({
        prompt: row.prompt,
        chosen: good[j]!,
        rejected: bad[j]!,
        meta: metaOf(row),
      });
    }
  }
  stats.pairs = pairs.length;
  return { pairs, stats };
}

/** The meta of a row built from an example: its task and id, the record's canonical form when given. */
function metaOf(row: SampledExample, record?: CoTRecord): Record<string, string> {
  return {
    ...(row.task === undefined ? {} : { task: row.task }),
    ...(row.id === undefined || row.id === null ? {} : { id: row.id }),
    ...(typeof record?.meta?.canonical === "string" ? { canonical: record.meta.canonical } : {}),
    source: "on-policy",
  };
}

/** The rows of an `eval --samples K` examples.jsonl; an error names the line when samples are missing. */
export async function readSampledExamples(path: string): Promise<SampledExample[]> {
  const out: SampledExample[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    const v = r.value as Partial<SampledExample>;
    if (
      typeof v.prompt !== "string" ||
      !Array.isArray(v.outputs) ||
      !v.sampled ||
      !Array.isArray(v.sampled.correct_strict) ||
      !Array.isArray(v.sampled.correct_flexible)
    ) {
      throw new Error(
        `${formatLocation(r.loc)}: expected an \`stepwise eval --samples K\` example (prompt, outputs, sampled.correct_strict/correct_flexible); run eval with --samples 2 or more`,
      );
    }
    out.push(v as SampledExample);
  }
  return out;
}

export interface OnPolicyStepStats {
  prompts: number;
  /** Distinct samples seen (duplicates of a prompt's earlier sample are skipped). */
  samples: number;
  rows: number;
  /** Rows whose every step is valid / with a first invalid step. */
  allValid: number;
  withError: number;
  /** Samples the checker could not label (no steps, or every step valid but the answer wrong). */
  unlabelled: number;
}

/** The checker's labels of sample `j` (see the header); null when it cannot say which step is at fault. */
function checkerLabels(record: CoTRecord, row: SampledExample, steps: string[], j: number): boolean[] | null {
  const verdict = checkRecordSteps(record, steps);
  if (verdict === null)
    throw new Error(`on-policy step rows: record ${row.index} is not a generated problem (no meta.structured)`);
  // firstInvalid = steps.length: every step given is right but the chain stops short (steps.ts).
  const at = verdict.valid ? null : (verdict.firstInvalid ?? 0);
  const first = at === null || at >= steps.length ? null : at;
  if (first === null && !row.sampled.correct_flexible[j]) return null;
  return stepLabels(steps.length, first);
}

/** Step-labelled rows of every distinct sample (see the header); `records` is the eval's data file, in order. */
export function onPolicyStepRows(
  rows: readonly SampledExample[],
  records: readonly CoTRecord[],
  labels: "checker" | "outcome" = "checker",
): { rows: StepRow[]; stats: OnPolicyStepStats } {
  const out: StepRow[] = [];
  const stats: OnPolicyStepStats = {
    prompts: rows.length,
    samples: 0,
    rows: 0,
    allValid: 0,
    withError: 0,
    unlabelled: 0,
  };
  rows.forEach((row, n) => {
    const record = row.index === undefined ? undefined : records[row.index];
    if (!record || (row.question !== undefined && record.question !== row.question))
      throw new Error(
        `on-policy step rows: example ${n + 1} (index ${row.index}) has no matching record in the data file; ` +
          "give the file the eval read (--data), unchanged",
      );
    const seen = new Set<string>();
    row.outputs.forEach((output, j) => {
      if (seen.has(output)) return;
      seen.add(output);
      stats.samples++;
      const steps = splitSteps(output);
      if (steps.length === 0) {
        stats.unlabelled++;
        return;
      }
      const right = row.sampled.correct_strict[j] ?? false;
      const stepwise = labels === "outcome" ? steps.map(() => right) : checkerLabels(record, row, steps, j);
      if (stepwise === null) {
        stats.unlabelled++;
        return;
      }
      if (stepwise.every(Boolean)) stats.allValid++;
      else stats.withError++;
      out.push({
        prompt: row.prompt,
        completions: steps,
        labels: stepwise,
        meta: { ...metaOf(row, record), correct: right },
      });
    });
  });
  stats.rows = out.length;
  return { rows: out, stats };
}
