/**
 * Re-grade a finished demo's saved generations with today's scoring, without generating
 * again: every `<run>/<variant>/eval/examples.jsonl` line is scored anew from its `output`
 * (extraction, the answer module's answersMatch, the step checker, BLEU/ROUGE) against the
 * held-out record it was made for (`<run>/data/heldout.jsonl`, the task checkers' problems
 * rebuilt from it as the demo's evaluate stage does), and compared with what was saved.
 *
 *   node --import tsx scripts/regrade-demo.ts [RUN_DIR]      (default runs/demo)
 *
 * Prints, per variant, the saved and the re-graded accuracy, then every example whose
 * verdict moved (answer correctness, step validity or first invalid step, checker) and, apart,
 * those whose only change is the wording of a step reason. Exits 1 when an accuracy moved.
 * The run folder is only read.
 */
import { join } from "node:path";
import type { CoTRecord } from "../src/data/records.ts";
import { problemFromRecord } from "../src/data/tasks/index.ts";
import { pct } from "../src/demo/format.ts";
import { readRows } from "../src/demo/stages.ts";
import { VARIANTS } from "../src/demo/types.ts";
import { summarize } from "../src/eval/report.ts";
import { type EvalExample, scoreOutput } from "../src/eval/score.ts";
import { EXAMPLES_FILE } from "../src/runs/layout.ts";

/** The fields whose change is a change of verdict. */
const VERDICT_FIELDS = ["extracted_strict", "extracted_flexible", "correct_strict", "correct_flexible"] as const;
const STEP_FIELDS = ["valid", "firstInvalid", "checker", "checkedClaims"] as const;

interface Moved {
  id: string;
  changes: string[];
}

/** Re-score saved examples against their records; the moved verdicts and the reworded reasons. */
export function regrade(
  records: readonly CoTRecord[],
  saved: readonly EvalExample[],
): { regraded: EvalExample[]; moved: Moved[]; reworded: Moved[] } {
  const regraded: EvalExample[] = [];
  const moved: Moved[] = [];
  const reworded: Moved[] = [];
  for (const old of saved) {
    const record = records[old.index];
    if (record === undefined) throw new Error(`regrade: example ${old.index} has no held-out record`);
    const problem = problemFromRecord(record) ?? undefined;
    const now = scoreOutput(record, old.output, {
      index: old.index,
      prompt: old.prompt,
      finishReason: old.finish_reason,
      newTokens: old.new_tokens,
      ...(problem ? { problem } : {}),
    });
    regraded.push(now);
    const id = old.id ?? String(old.index);
    const show = (x: unknown) => JSON.stringify(x);
    const changes = [
      ...VERDICT_FIELDS.filter((f) => old[f] !== now[f]).map((f) => `${f} ${show(old[f])} → ${show(now[f])}`),
      ...STEP_FIELDS.filter((f) => old.steps[f] !== now.steps[f]).map(
        (f) => `steps.${f} ${show(old.steps[f])} → ${show(now.steps[f])}`,
      ),
    ];
    if (changes.length > 0) moved.push({ id, changes });
    else if (old.steps.reason !== now.steps.reason) {
      reworded.push({ id, changes: [`steps.reason ${show(old.steps.reason)} → ${show(now.steps.reason)}`] });
    }
  }
  return { regraded, moved, reworded };
}

const run = process.argv[2] ?? "runs/demo";
const records = await readRows<CoTRecord>(join(run, "data", "heldout.jsonl"));
let accuracyMoved = false;
for (const variant of VARIANTS) {
  const saved = await readRows<EvalExample>(join(run, variant, "eval", EXAMPLES_FILE));
  const { regraded, moved, reworded } = regrade(records, saved);
  const [before, after] = [summarize(saved), summarize(regraded)];
  const same = before.accuracy_strict === after.accuracy_strict && before.accuracy_flexible === after.accuracy_flexible;
  accuracyMoved ||= !same;
  console.log(
    `${variant}: ${saved.length} problems, accuracy strict ${pct(before.accuracy_strict)} → ${pct(after.accuracy_strict)}, ` +
      `flexible ${pct(before.accuracy_flexible)} → ${pct(after.accuracy_flexible)}, ` +
      `step validity ${pct(before.step_validity ?? 0)} → ${pct(after.step_validity ?? 0)}; ` +
      `${moved.length} verdicts moved, ${reworded.length} step reasons reworded`,
  );
  for (const m of moved) console.log(`  moved ${m.id}: ${m.changes.join("; ")}`);
  for (const m of reworded) console.log(`  reworded ${m.id}: ${m.changes.join("; ")}`);
}
if (accuracyMoved) process.exitCode = 1;
