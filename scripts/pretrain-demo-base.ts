/**
 * Rebuild the demo's pre-trained base (assets/demo-base): a tiny Llama-style model trained
 * from scratch with next-token loss on generated text, shipped in the repository so that
 * `npm start` can spend its 15 minutes on the comparison itself.
 *
 *   node --import tsx scripts/pretrain-demo-base.ts          (≈ 2 h 30 min on 2 cores; resumable)
 *
 * The text: problems of the demo's domains from the TRAINING split only (the held-out split
 * is a hash of each problem, so no held-out problem can be in it), drawn with their own seed,
 * half written as worked solutions ("{question}\n{steps}\n#### {answer}") and half as bare
 * answers ("{question}\n#### {answer}"), every token carrying loss. Neither the demo's prompt
 * format ("Q: … A:") nor its trigger ("Let's think step by step.") appears: the base has seen
 * both ways of answering equally often, and the fine-tunings teach the format and the mode.
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_SETTINGS } from "../src/demo/settings.ts";
import { pathExists as exists } from "../src/engine/files.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { loadModel, saveModel } from "../src/model/checkpoint.ts";
import { parseSftConfig } from "../src/train/config.ts";
import { runSft } from "../src/train/sft.ts";

export const BASE_DIR = "assets/demo-base";
const RUN_DIR = "runs/demo-base-pretrain";
const SEED = 1000;

const s = DEFAULT_SETTINGS;
// Phases 1–3 were trained when ordering puzzles were written with transitive chains (the
// logic generator's default until it became "eliminate"); pinned, so that this script still
// rebuilds exactly them. Phase 4 uses the demo's own options (elimination chains).
const transitive = {
  tasks: s.tasks,
  options: { ...s.taskOptions, logic: { ...s.taskOptions.logic, orderingChain: "transitive" } },
};
const data = (seed: number, n = 24000, gen: { tasks: typeof s.tasks; options: object } = transitive) => ({
  train: { generate: { ...gen, n, seed } },
  // Held-out loss only (never trained on), on problems of another seed: a generated `eval` source is the test split.
  eval: { generate: { ...gen, n: 64, seed: seed + 1 } },
  template: "raw" as const,
  directFraction: 0.5,
});
const common = {
  batch: { microBatch: 32, seqLen: 128, padMultiple: 16 },
  eval: { every: 250, n: 0 },
  checkpoint: { every: 100, keep: 2 },
  logEvery: 25,
};

// Phase 1: from random initialisation, 2000 steps, warm-up + cosine 3e-3 → 3e-4.
const phase1 = parseSftConfig(
  {
    ...common,
    name: "demo-base-pretrain",
    out: RUN_DIR,
    init: {
      arch: "llama",
      hidden: 128,
      layers: 3,
      heads: 4,
      kvHeads: 4,
      intermediate: 384,
      maxPositions: 512,
      tokenizer: { vocabSize: 768, splitDigits: true },
    },
    data: data(SEED),
    optim: { lr: 3e-3, weightDecay: 0.01, clip: 1 },
    schedule: { kind: "cosine", warmupSteps: 100, minLr: 3e-4 },
    steps: 2000,
    seed: SEED,
  },
  "pretrain-demo-base phase 1",
);
/**
 * Phase k ≥ 2 continues from phase k − 1's final weights on fresh problems: run folder
 * runs/demo-base-pretrain-k, seed SEED + 10(k − 1) for both the draws and the batches.
 */
const continued = (
  k: number,
  o: { n?: number; gen?: Parameters<typeof data>[2]; lr: number; minLr: number; steps: number },
) => {
  const seed = SEED + 10 * (k - 1);
  return parseSftConfig(
    {
      ...common,
      name: `demo-base-pretrain-${k}`,
      out: `${RUN_DIR}-${k}`,
      model: join(k === 2 ? RUN_DIR : `${RUN_DIR}-${k - 1}`, "final"),
      data: data(seed, o.n, o.gen),
      optim: { lr: o.lr, weightDecay: 0.01, clip: 1 },
      schedule: { kind: "cosine", warmupSteps: 50, minLr: o.minLr },
      steps: o.steps,
      seed,
    },
    `pretrain-demo-base phase ${k}`,
  );
};
const phases = [
  phase1,
  // Phase 2: fresh problems (another seed), 1200 steps, cosine 1e-3 → 1e-4.
  continued(2, { lr: 1e-3, minLr: 1e-4, steps: 1200 }),
  // Phase 3: 60k fresh draws (algebra's training split holds only ~25k distinct problems, so
  // its share repeats), 3000 steps, cosine 1e-3 → 5e-5.
  continued(3, { n: 60000, lr: 1e-3, minLr: 5e-5, steps: 3000 }),
  // Phase 4: 48k fresh draws written with the demo's task options (ordering puzzles as
  // elimination chains, which quote each given fact in turn), 2000 steps, cosine 5e-4 → 5e-5.
  continued(4, { n: 48000, gen: { tasks: s.tasks, options: s.taskOptions }, lr: 5e-4, minLr: 5e-5, steps: 2000 }),
];

const RUNS = phases.map((config) => config.out!);
const results = [];
for (const config of phases) {
  if (config.out && (await exists(join(config.out, "final", "config.json")))) continue;
  const res = await runSft(config, { resume: true });
  if (res.status.kind !== "done") throw new Error(`pretraining stopped: ${res.status.message}`);
  results.push({ phase: config.name, steps: res.step, seconds: res.seconds, heldOutLoss: res.evals });
}
const last = RUNS[RUNS.length - 1]!;
const model = await loadModel(join(last, "final"));
await rm(BASE_DIR, { recursive: true, force: true });
await mkdir(BASE_DIR, { recursive: true });
await saveModel(BASE_DIR, model, { dtype: "F16", tokenizerFrom: join(last, "final") });
disposeTree(model.params);
const evals = async (dir: string) =>
  (await readFile(join(dir, "eval.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as unknown);
const curves: Record<string, unknown> = {};
for (const [i, dir] of RUNS.entries()) {
  await cp(join(dir, "config.yaml"), join(BASE_DIR, `pretrain-config-phase${i + 1}.yaml`));
  curves[`phase${i + 1}`] = await evals(dir);
}
await writeFile(join(BASE_DIR, "pretrain-eval.json"), `${JSON.stringify({ ...curves, thisRun: results }, null, 2)}\n`);
console.log(`pretrained base -> ${BASE_DIR}`);
