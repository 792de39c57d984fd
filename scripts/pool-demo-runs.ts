/**
 * Pool finished demo runs (e.g. two seeds) into one chain-of-thought − direct comparison:
 * the held-out problems of all runs, each paired with itself across the two variants, and
 * the demo's own paired bootstrap (src/demo/stats.ts) over all of them.
 *
 *   node --import tsx scripts/pool-demo-runs.ts runs/demo runs/demo-seed2
 */
import { join } from "node:path";
import { interval, pct, signedPoints } from "../src/demo/format.ts";
import { readRows } from "../src/demo/stages.ts";
import { cotVsDirect } from "../src/demo/stats.ts";
import type { EvalExample } from "../src/eval/score.ts";
import { EXAMPLES_FILE } from "../src/runs/layout.ts";

const runs = process.argv.slice(2);
if (runs.length === 0)
  throw new Error("usage: pool-demo-runs.ts RUN_DIR [RUN_DIR ...] (folders written by stepwise demo)");
const direct: EvalExample[] = [];
const cot: EvalExample[] = [];
for (const run of runs) {
  const examples = (variant: string) => readRows<EvalExample>(join(run, variant, "eval", EXAMPLES_FILE));
  const [d, c] = [await examples("direct"), await examples("cot")];
  const accuracy = (xs: EvalExample[]) => pct(xs.filter((e) => e.correct_strict).length / xs.length);
  console.log(`${run}: ${d.length} problems, chain of thought ${accuracy(c)}, direct ${accuracy(d)}`);
  direct.push(...d);
  cot.push(...c);
}
const r = cotVsDirect(direct, cot);
console.log(
  `pooled over ${direct.length} problems: chain of thought − direct ${signedPoints(r.diff)} points ` +
    `(${interval(r)}, ${r.method}, ${r.resamples} resamples)`,
);
