/**
 * Validation problems for a demo run: held-out-split problems drawn as the demo draws its
 * validation set (seed + 2, the demo's tasks and task options), none of the held-out test ones
 * (by task and canonical form), kept only if the worked solution fits in the demo's seqLen.
 * Settings (sampling temperature, selection method) are chosen on these, never on heldout.jsonl.
 *
 *   node --import tsx scripts/demo-validation.ts RUN_DIR N OUT.jsonl     (e.g. runs/demo 100 runs/val.jsonl)
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset, type TaskName } from "../src/data/tasks/index.ts";
import { writeJsonlAtomic } from "../src/data/writers.ts";
import { readRows } from "../src/demo/stages.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { qaExample } from "../src/train/sft-data.ts";

const [runDir = "runs/demo", nText = "100", out = "runs/validation.jsonl"] = process.argv.slice(2);
const n = Number(nText);
const s = JSON.parse(await readFile(join(runDir, "settings.json"), "utf8")) as {
  seed: number;
  tasks: TaskName[];
  taskOptions: Record<string, Record<string, unknown>>;
  seqLen: number;
};
const key = (r: CoTRecord) => `${String(r.meta?.task)}\u0000${String(r.meta?.canonical)}`;
const test = new Set((await readRows<CoTRecord>(join(runDir, "data", "heldout.jsonl"))).map(key));
const tokenizer = await Tokenizer.fromDir(join(runDir, "cot", "final"));
const fits = (r: CoTRecord) => {
  const { prompt, target } = qaExample(r, false);
  const len =
    tokenizer.encode(prompt, { addSpecialTokens: true }).length +
    tokenizer.encode(target, { addSpecialTokens: false }).length +
    1;
  return len <= s.seqLen + 1;
};
const drawn = generateDataset({ tasks: s.tasks, options: s.taskOptions, n: 4 * n, seed: s.seed + 2, split: "test" });
const kept = drawn.filter((r) => !test.has(key(r)) && fits(r)).slice(0, n);
if (kept.length < n) throw new Error(`demo-validation: only ${kept.length} of ${drawn.length} drawn problems qualify`);
await writeJsonlAtomic(out, kept);
console.log(`demo-validation: ${kept.length} problems (none of ${test.size} held-out) -> ${out}`);
