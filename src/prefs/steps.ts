/**
 * Step-labelled chains for the process reward model, in TRL's stepwise-supervision layout
 * (the PRMTrainer's dataset): one JSON object per row,
 *
 *   {"prompt": "Q: …\nA: Let's think step by step.", "completions": ["step 1", "step 2", …],
 *    "labels": [true, true, false, …], "meta": {…}}
 *
 * Labels come from the task's own step checker (checkRecordSteps), as issue 16 asks: a step is
 * valid (true) up to the first invalid one and invalid (false) from it on, whatever the later
 * steps say by themselves (Lightman et al. 2023 label a solution's steps up to its first
 * mistake; everything after it is downstream of an error). A chain the checker finds complete
 * and correct is all true; one that stops short of the answer with every given step right
 * (firstInvalid = steps.length) is all true too: no step of it is wrong.
 *
 * From the generators each problem gives its gold chain (all true) and one corrupted copy
 * (pairs.ts corruptSteps, kept only when the checker rejects it at a step it names).
 * `firstError(labels)` is the index of the first false label, or null.
 */
import type { DataError, Location } from "../data/errors.ts";
import { DataError as DataErrorClass, fromZodError } from "../data/errors.ts";
import { readRecords } from "../data/readers.ts";
import { type CoTRecord, StepwiseRecordSchema } from "../data/records.ts";
import { checkRecordSteps, splitSteps } from "../data/tasks/index.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { qaExample } from "../train/sft-data.ts";
import { type Corruption, corruptSteps } from "./pairs.ts";

export interface StepRow {
  prompt: string;
  /** The steps of the completion, in order (no answer line). */
  completions: string[];
  /** One per step: is it valid (see the header). */
  labels: boolean[];
  meta?: Record<string, string | number | boolean | null>;
}

/** Labels of a chain of `n` steps whose first invalid step is `first` (null or ≥ n: none). */
export function stepLabels(n: number, first: number | null | undefined): boolean[] {
  return Array.from({ length: n }, (_, k) => first === null || first === undefined || k < first);
}

/** The first false label's index, or null when every step is valid. */
export function firstError(labels: readonly boolean[]): number | null {
  const k = labels.indexOf(false);
  return k < 0 ? null : k;
}

export interface GeneratorStepOptions {
  kinds: readonly Corruption[];
  seed: number;
  /** Also emit each problem's gold chain, all steps valid (default true). */
  gold?: boolean;
  tries?: number;
}

/** Per record: the gold chain (all valid) and one checker-rejected corruption labelled from its first invalid step. */
export function generatorStepRows(records: readonly CoTRecord[], opts: GeneratorStepOptions): StepRow[] {
  if (opts.kinds.length === 0) throw new Error("generatorStepRows: kinds is empty");
  const out: StepRow[] = [];
  records.forEach((record, n) => {
    const gold = splitSteps(record.chain_of_thought);
    const { prompt } = qaExample(record, false);
    const base = {
      ...(record.meta?.task === undefined ? {} : { task: record.meta.task }),
      ...(record.meta?.id === undefined ? {} : { id: record.meta.id }),
      ...(typeof record.meta?.canonical === "string" ? { canonical: record.meta.canonical } : {}),
    };
    if (opts.gold ?? true) {
      out.push({
        prompt,
        completions: gold,
        labels: stepLabels(gold.length, null),
        meta: { ...base, corruption: "none" },
      });
    }
    const rng = new Rng(deriveSeed(opts.seed, "steps", n));
    for (let t = 0; t < (opts.tries ?? 8); t++) {
      const kind = opts.kinds[(n + t) % opts.kinds.length]!;
      const bad = corruptSteps(gold, kind, rng);
      if (!bad) continue;
      const verdict = checkRecordSteps(record, bad);
      if (!verdict || verdict.valid || verdict.firstInvalid === undefined || verdict.firstInvalid >= bad.length)
        continue;
      out.push({
        prompt,
        completions: bad,
        labels: stepLabels(bad.length, verdict.firstInvalid),
        meta: { ...base, corruption: kind, firstInvalid: verdict.firstInvalid },
      });
      return;
    }
  });
  return out;
}

/** Validate one row read from `loc`. */
export function parseStepRow(row: unknown, loc: Location): StepRow | DataError {
  const parsed = StepwiseRecordSchema.safeParse(row, { reportInput: true });
  if (!parsed.success) return fromZodError(parsed.error, loc);
  const { prompt, completions, labels, meta } = parsed.data;
  if (labels.length !== completions.length) {
    return new DataErrorClass({
      loc,
      reason: "invalid-value",
      field: "labels",
      expected: `one label per step (${completions.length})`,
      got: `${labels.length} labels`,
    });
  }
  return { prompt, completions, labels, ...(meta ? { meta } : {}) };
}

/** True when a row looks like a step-labelled chain (has `completions` and `labels`), not a pair. */
export function isStepRow(row: unknown): boolean {
  return row !== null && typeof row === "object" && "completions" in row && "labels" in row;
}

/** Every step row of a file; throws the first bad row's DataError. */
export async function readStepRows(path: string): Promise<StepRow[]> {
  const out: StepRow[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    const s = parseStepRow(r.value, r.loc);
    if (s instanceof Error) throw s;
    out.push(s);
  }
  return out;
}

export function writeStepRows(path: string, rows: Iterable<StepRow>): Promise<number> {
  return writeJsonlAtomic(path, rows);
}
