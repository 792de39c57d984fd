/**
 * The task registry and dataset generation with a held-out split.
 *
 * Split rule: a problem belongs to "test" iff hash(task + canonical form) mod 10_000 is
 * below `testFraction` × 10_000, else to "train". The split depends only on the problem,
 * never on the seed or on which other problems were drawn, so the same problem can never
 * land in both splits, and its split is stable across runs. `generateDataset` draws from
 * the seeded generator, keeps the problems of the requested split, drops repeats, and
 * stops at exactly n.
 *
 * Wordings: with `wordings: "train"` or `"heldout"`, each kept problem's question is rewritten
 * in a template of that wording split (wordings.ts), picked from a stream of its own, so the
 * problems drawn are exactly those of the default run and only their questions change.
 * Without it (`"default"`), every question is the generator's own wording, as before.
 */
import { deriveSeed, hashString, Rng } from "../../engine/rng.ts";
import type { CoTRecord } from "../records.ts";
import { algebra } from "./algebra.ts";
import { arithmetic } from "./arithmetic.ts";
import { codeTrace } from "./code-trace.ts";
import { logic } from "./logic.ts";
import { longArith } from "./long-arith.ts";
import type { Problem, StepVerdict, TaskGenerator } from "./types.ts";
import { splitSteps, toRecord } from "./types.ts";
import { units } from "./units.ts";
import {
  DEFAULT_WORDING_HELDOUT,
  fill,
  WORDING_CHOICES,
  type WordingChoice,
  type WordingSplit,
  wordingIndices,
  wordingSplitOf,
} from "./wordings.ts";

export const TASK_NAMES = ["arithmetic", "long-arith", "units", "algebra", "logic", "code-trace"] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export const TASKS: { [K in TaskName]: TaskGenerator } = {
  arithmetic,
  "long-arith": longArith,
  units,
  algebra,
  logic,
  "code-trace": codeTrace,
};

export type Split = "train" | "test";

/** Default share of the problem space that is held out for test. */
export const DEFAULT_TEST_FRACTION = 0.2;

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/** The split a problem belongs to; a pure function of the problem's task and canonical form. */
export function splitOf(problem: Pick<Problem, "task" | "canonical">, testFraction = DEFAULT_TEST_FRACTION): Split {
  return hashString(`${problem.task}\u0000${problem.canonical}`) % 10_000 < testFraction * 10_000 ? "test" : "train";
}

export interface DatasetOptions {
  /** One task, or several mixed round-robin. */
  tasks: TaskName[];
  n: number;
  seed: number;
  split: Split;
  testFraction?: number;
  /** Give up after this many draws per requested record (default 200). */
  maxDrawsPerRecord?: number;
  /** Difficulty options per task (each generator's `defaults` names the keys), e.g. {"code-trace": {maxLines: 4}}. */
  options?: Partial<Record<TaskName, Record<string, unknown>>>;
  /** Question wordings: the generator's own ("default"), or the train / held-out part of its pool. */
  wordings?: WordingChoice;
  /** Share of each kind's wording pool held out (default 0.25). */
  wordingHeldOut?: number;
}

/** The problem with its question written in template `index` of its kind's pool. */
export function reword(problem: Problem, index: number, wordingHeldOut = DEFAULT_WORDING_HELDOUT): Problem {
  const w = TASKS[problem.task as TaskName].wordings;
  const kind = w.kindOf(problem.structured);
  const template = w.pools[kind]?.[index];
  if (template === undefined) throw new Error(`reword: ${problem.task} ${kind} has no wording ${index}`);
  const split = wordingSplitOf(problem.task, w.pools, kind, index, wordingHeldOut);
  return { ...problem, question: fill(template, w.slots(problem.structured)), wording: { kind, index, split } };
}

/** The wording indices of a problem's kind in one split. */
export function wordingsFor(problem: Problem, split: WordingSplit, wordingHeldOut = DEFAULT_WORDING_HELDOUT): number[] {
  const w = TASKS[problem.task as TaskName].wordings;
  return wordingIndices(problem.task, w.pools, w.kindOf(problem.structured), split, wordingHeldOut);
}

/** Check a task's difficulty options against its generator's defaults: known keys, same value types. */
export function checkTaskOptions(task: TaskName, options: Record<string, unknown>): void {
  const defaults = TASKS[task].defaults as Record<string, unknown>;
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(defaults, key)) {
      const known = Object.keys(defaults);
      throw new Error(
        `generateDataset: options.${task}: unknown option "${key}"; ${task} takes ${known.length ? known.join(", ") : "no options"}`,
      );
    }
    const want = Array.isArray(defaults[key]) ? "array" : typeof defaults[key];
    const got = Array.isArray(value) ? "array" : typeof value;
    if (want !== got) throw new Error(`generateDataset: options.${task}.${key}: expected a ${want}, got ${got}`);
  }
}

/** Problems of one split, deduplicated, in draw order; meta = {task, split, id}. */
export function generateProblems(opts: DatasetOptions): Problem[] {
  const { tasks, n, seed, split } = opts;
  if (tasks.length === 0)
    throw new Error("generateDataset: tasks is empty; pass at least one of " + TASK_NAMES.join(", "));
  for (const t of tasks) {
    if (!isTaskName(t)) throw new Error(`generateDataset: unknown task "${t}"; known: ${TASK_NAMES.join(", ")}`);
  }
  for (const [t, o] of Object.entries(opts.options ?? {})) {
    if (!isTaskName(t))
      throw new Error(`generateDataset: options: unknown task "${t}"; known: ${TASK_NAMES.join(", ")}`);
    checkTaskOptions(t, o ?? {});
  }
  if (!Number.isInteger(n) || n < 0) throw new Error(`generateDataset: n must be an integer >= 0, got ${n}`);
  const testFraction = opts.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new Error(`generateDataset: testFraction must be in (0, 1), got ${testFraction}`);
  }
  const wordings = opts.wordings ?? "default";
  if (!WORDING_CHOICES.includes(wordings))
    throw new Error(`generateDataset: wordings must be one of ${WORDING_CHOICES.join(", ")}, got "${wordings}"`);
  // One stream per task, so adding a task to the mix does not change the others' draws.
  const rngs = tasks.map((t) => new Rng(deriveSeed(seed, "tasks", t)));
  // Wording picks have streams of their own, so they never change which problems are drawn.
  const wordingRngs = tasks.map((t) => new Rng(deriveSeed(seed, "wordings", t)));
  const seen = new Set<string>();
  const out: Problem[] = [];
  const maxDraws = Math.max(1000, n * (opts.maxDrawsPerRecord ?? 200));
  for (let draws = 0; out.length < n; draws++) {
    if (draws >= maxDraws) {
      throw new Error(
        `generateDataset: found only ${out.length} of ${n} distinct ${split} problems for ${tasks.join(",")} in ${draws} draws; ` +
          "ask for fewer, or widen the generators' ranges",
      );
    }
    const k = out.length % tasks.length;
    const task = tasks[k]!;
    const problem = TASKS[task].generate(rngs[k]!, opts.options?.[task]);
    const key = `${task}\u0000${problem.canonical}`;
    if (splitOf(problem, testFraction) !== split || seen.has(key)) continue;
    seen.add(key);
    if (wordings === "default") out.push(problem);
    else {
      const choices = wordingsFor(problem, wordings, opts.wordingHeldOut);
      out.push(reword(problem, wordingRngs[k]!.pick(choices), opts.wordingHeldOut));
    }
  }
  return out;
}

/**
 * The record for the i-th problem of a dataset: meta = {task, split, id, structured, canonical},
 * with id = "<task>-<split>-<seed>-<i>", `structured` the problem's structured form as JSON and
 * `canonical` its split key, so `problemFromRecord` can rebuild the problem and its checkers
 * can grade a model's chain.
 */
export function datasetRecord(problem: Problem, opts: Pick<DatasetOptions, "split" | "seed">, i: number): CoTRecord {
  const id = `${problem.task}-${opts.split}-${opts.seed}-${i}`;
  const structured = JSON.stringify(problem.structured);
  const meta: Record<string, string | number | boolean | null> = {
    task: problem.task,
    split: opts.split,
    id,
    structured,
    canonical: problem.canonical,
  };
  if (problem.wording) {
    meta["wording"] = `${problem.wording.kind}/${problem.wording.index}`;
    meta["wording_split"] = problem.wording.split;
  }
  return { ...toRecord(problem), meta };
}

/**
 * Rebuild the problem behind a generated record (meta.task and meta.structured), or null if
 * the record was not generated here. The gold steps come from the record's chain.
 */
export function problemFromRecord(record: CoTRecord): Problem | null {
  const task = record.meta?.["task"];
  const structured = record.meta?.["structured"];
  const canonical = record.meta?.["canonical"];
  if (typeof task !== "string" || !isTaskName(task) || typeof structured !== "string") return null;
  if (typeof canonical !== "string") return null;
  return {
    task,
    question: record.question,
    steps: splitSteps(record.chain_of_thought),
    answer: record.answer,
    structured: JSON.parse(structured) as unknown,
    canonical,
  };
}

/** Grade a chain against a generated record with its task's step checker; null if the record is not generated. */
export function checkRecordSteps(record: CoTRecord, steps: string[]): StepVerdict | null {
  const problem = problemFromRecord(record);
  return problem && TASKS[problem.task as TaskName].checkSteps(problem, steps);
}

/** `n` CoTRecords of one split (see `generateProblems`). */
export function generateDataset(opts: DatasetOptions): CoTRecord[] {
  return generateProblems(opts).map((p, i) => datasetRecord(p, opts, i));
}

export type { Problem, StepVerdict, TaskGenerator } from "./types.ts";
export { ANSWER_LINE, ANSWER_PREFIX, answerLine, renderTarget, splitSteps, toRecord } from "./types.ts";
export { DEFAULT_WORDING_HELDOUT, WORDING_CHOICES, type WordingChoice, type WordingSplit } from "./wordings.ts";
