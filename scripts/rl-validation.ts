/**
 * Builds the validation problems on which RL settings are chosen (README, "Validation problems"):
 * train-split problems of the demo's tasks drawn with generator seed 1, none of which is in the
 * demo's training file or its 300 test problems (compared by task and canonical form), the first
 * N in generation order. Never the test set: that is run once, at the end.
 *   node --import tsx scripts/rl-validation.ts [DEMO_DIR=runs/demo] [OUT=runs/rl-data/validation.jsonl] [N=300] [SEED=1] [EXCLUDE.jsonl ...]
 * Another SEED with the validation file as EXCLUDE draws training problems for a verifier or
 * for on-policy pairs that overlap neither the demo's files nor the validation problems.
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { writeJsonlAtomic } from "../src/data/writers.ts";
import { DEFAULT_SETTINGS } from "../src/demo/settings.ts";
import { readJsonl } from "../src/runs/jsonl.ts";

const [demo = "runs/demo", out = "runs/rl-data/validation.jsonl", nArg = "300", seedArg = "1", ...exclude] =
  process.argv.slice(2);
const n = Number(nArg);
const seed = Number(seedArg);
const rows = (p: string) => readJsonl<CoTRecord>(p);
const key = (r: CoTRecord) => `${String(r.meta?.task)}\u0000${String(r.meta?.canonical)}`;
const seen = new Set(
  (await Promise.all([`${demo}/data/train.jsonl`, `${demo}/data/heldout.jsonl`, ...exclude].map(rows))).flat().map(key),
);
const s = DEFAULT_SETTINGS;
const drawn = generateDataset({ tasks: s.tasks, options: s.taskOptions, n: 4 * n, seed, split: "train" });
const kept: CoTRecord[] = [];
for (const r of drawn) {
  if (kept.length === n) break;
  if (seen.has(key(r))) continue;
  seen.add(key(r));
  kept.push(r);
}
if (kept.length < n) throw new Error(`rl-validation: only ${kept.length} unseen problems, ${n} wanted`);
await mkdir(dirname(out), { recursive: true });
await writeJsonlAtomic(out, kept);
const byTask = new Map<string, number>();
for (const r of kept) byTask.set(String(r.meta?.task), (byTask.get(String(r.meta?.task)) ?? 0) + 1);
console.log(
  `rl-validation: ${kept.length} problems to ${out} (${[...byTask].map(([t, c]) => `${t} ${c}`).join(", ")})`,
);
