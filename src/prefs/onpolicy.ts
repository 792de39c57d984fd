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
 */
import { formatLocation } from "../data/errors.ts";
import { readRecords } from "../data/readers.ts";
import type { PreferencePair } from "./data.ts";

/** The fields of one examples.jsonl row this module reads. */
export interface SampledExample {
  id?: string | null;
  task?: string;
  prompt: string;
  outputs: string[];
  sampled: { correct_strict: boolean[]; correct_flexible: boolean[] };
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
        meta: {
          ...(row.task === undefined ? {} : { task: row.task }),
          ...(row.id === undefined || row.id === null ? {} : { id: row.id }),
          source: "on-policy",
        },
      });
    }
  }
  stats.pairs = pairs.length;
  return { pairs, stats };
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
