/**
 * Every selection over one `stepwise eval --samples K --select … --out DIR` folder: majority,
 * best-of-K and the verifier-weighted majority from the same samples, side by side. The
 * verifier's scores are those examples.jsonl keeps, or, with a verifier spec, scored now by it
 * (so samples drawn with --select majority can be judged by a reward model trained later). For
 * choosing the selection method on validation problems without sampling again; the test set is
 * then run once with the choice.
 *
 *   node --import tsx scripts/select-compare.ts EVAL_DIR [rm:DIR | prm:DIR@prod | …]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { initEngine } from "../src/engine/device.ts";
import { answerTaskOf } from "../src/eval/score.ts";
import { parseSelect, selectionReport, selectionTable } from "../src/eval/select.ts";
import type { SelectedExample } from "../src/eval/select-run.ts";
import { releaseVerifiers, verifierScores } from "../src/prefs/verifier.ts";
import { EXAMPLES_FILE } from "../src/runs/layout.ts";

const [dir, spec] = process.argv.slice(2);
if (!dir) throw new Error("usage: select-compare.ts EVAL_DIR [rm:DIR|prm:DIR]");
const rows = (await readFile(join(dir, EXAMPLES_FILE), "utf8"))
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as SelectedExample);
let kind = "rm";
let scores = rows.map((e) => e.verifier_scores);
if (spec !== undefined) {
  const s = parseSelect(spec);
  if (s.kind !== "best") throw new Error(`select-compare: give the verifier as rm:DIR or prm:DIR, got "${spec}"`);
  kind = s.verifier.kind;
  await initEngine();
  const t0 = performance.now();
  const k = rows[0]!.outputs!.length;
  const flat = await verifierScores(
    s.verifier,
    rows.flatMap((e) => e.outputs!.map(() => e.prompt)),
    rows.flatMap((e) => e.outputs!),
  );
  scores = rows.map((_, i) => flat.slice(i * k, (i + 1) * k));
  console.log(`select-compare: scored ${flat.length} chains in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await releaseVerifiers();
}
if (scores.some((s) => s === undefined)) throw new Error(`${dir}: no verifier scores; give rm:DIR or prm:DIR`);
const problems = rows.map((e, i) => ({
  gold: e.gold,
  task: answerTaskOf({ question: e.question, chain_of_thought: "", answer: e.gold, meta: { task: e.task } }),
  greedyCorrect: e.greedy_correct,
  candidates: { answers: e.sampled!.extracted_strict, correct: e.sampled!.correct_strict, scores: scores[i]! },
}));
// Labelled with the spec given, so the tables say which aggregation scored the chains.
const best = spec ?? `${kind}:V`;
for (const how of ["majority", best, `weighted:${best}`]) {
  const { report } = selectionReport(problems, parseSelect(how));
  console.log(`\n## ${how}\n\n${selectionTable(report)}`);
  console.log(JSON.stringify({ how, ...report }));
}
