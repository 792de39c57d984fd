/**
 * Samples for the dashboard's browser: a training run's samples.jsonl (what the model wrote
 * at step s, with each reward's value) and an eval's examples.jsonl (prompt, output, gold,
 * extracted answer, step verdicts), read into one view so the page draws both the same way.
 *
 * Field names vary by writer (eval: question/output/extracted_strict/correct_strict/steps;
 * TRL-style RL samples: prompt/completion/rewards), so sampleView reads each concept from the
 * names in use, and keeps any other numeric field whose name starts with "reward" as a reward.
 * Filtering streams the file (streamJsonl) on every request: it is never read whole.
 */
import { splitSteps } from "../data/tasks/types.ts";
import { streamJsonl } from "../runs/jsonl.ts";

export interface StepsView {
  /** The chain's steps (lines, answer line removed), as the step checkers count them. */
  lines: string[];
  valid: boolean | null;
  /** Index into `lines` of the first invalid step, or null. */
  firstInvalid: number | null;
  reason: string | null;
}

export interface SampleView {
  /** Row number in the file (0-based). */
  row: number;
  step: number | null;
  task: string | null;
  prompt: string;
  completion: string;
  gold: string | null;
  extracted: string | null;
  correct: boolean | null;
  rewards: Record<string, number | null>;
  steps: StepsView | null;
  finishReason: string | null;
}

export interface SampleFilter {
  correct: "any" | "correct" | "incorrect";
  task: string | null;
  step: number | null;
}

export interface SamplePage {
  /** Rows matching the filter. */
  total: number;
  /** Rows in the file. */
  rows: number;
  offset: number;
  items: SampleView[];
  /** Every task and step seen in the file, for the filter menus. */
  tasks: string[];
  steps: number[];
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const first = (r: Json, keys: readonly string[]): unknown => keys.map((k) => r[k]).find((v) => v !== undefined);

const CORRECT = ["correct", "correct_strict", "is_correct"] as const;

/** One row of samples.jsonl or examples.jsonl as the page shows it. */
export function sampleView(r: Json, row: number): SampleView {
  const completion = str(first(r, ["completion", "output", "response"])) ?? "";
  const correct = first(r, CORRECT);
  const rewards: Record<string, number | null> = {};
  const rw = r["rewards"];
  if (rw && typeof rw === "object" && !Array.isArray(rw)) {
    for (const [k, v] of Object.entries(rw as Json)) rewards[k] = num(v);
  }
  for (const [k, v] of Object.entries(r))
    if (k.startsWith("reward") && k !== "rewards" && num(v) !== null) rewards[k] = num(v);
  return {
    row,
    step: num(r["step"]),
    task: str(r["task"]),
    prompt: str(first(r, ["prompt", "question"])) ?? "",
    completion,
    gold: str(first(r, ["gold", "answer", "solution"])),
    extracted: str(first(r, ["extracted", "extracted_strict", "prediction"])),
    correct: typeof correct === "boolean" ? correct : null,
    rewards,
    steps: stepsView(r["steps"], completion),
    finishReason: str(first(r, ["finish_reason", "finishReason"])),
  };
}

function stepsView(v: unknown, completion: string): StepsView | null {
  if (!v || typeof v !== "object" || Array.isArray(v)) return null;
  const s = v as Json;
  return {
    lines: splitSteps(completion),
    valid: typeof s["valid"] === "boolean" ? s["valid"] : null,
    firstInvalid: num(s["firstInvalid"]),
    reason: str(s["reason"]),
  };
}

function matches(s: FilterFields, f: SampleFilter): boolean {
  if (f.correct === "correct" && s.correct !== true) return false;
  if (f.correct === "incorrect" && s.correct !== false) return false;
  if (f.task !== null && s.task !== f.task) return false;
  if (f.step !== null && s.step !== f.step) return false;
  return true;
}

/** The `limit` samples matching `filter` from the `offset`-th match on, streaming the file once. */
export async function pageSamples(
  path: string,
  filter: SampleFilter,
  offset: number,
  limit: number,
): Promise<SamplePage> {
  const items: SampleView[] = [];
  const tasks = new Set<string>();
  const steps = new Set<number>();
  let total = 0;
  let row = 0;
  for await (const r of streamJsonl(path)) {
    // Only the fields the filter reads; the full view is built for the rows on the page.
    const head = filterFields(r);
    if (head.task !== null) tasks.add(head.task);
    if (head.step !== null) steps.add(head.step);
    if (matches(head, filter)) {
      if (total >= offset && items.length < limit) items.push(sampleView(r, row));
      total++;
    }
    row++;
  }
  return {
    total,
    rows: row,
    offset,
    items,
    tasks: [...tasks].sort(),
    steps: [...steps].sort((a, b) => a - b),
  };
}

type FilterFields = Pick<SampleView, "correct" | "task" | "step">;

function filterFields(r: Json): FilterFields {
  const correct = first(r, CORRECT);
  return { correct: typeof correct === "boolean" ? correct : null, task: str(r["task"]), step: num(r["step"]) };
}
