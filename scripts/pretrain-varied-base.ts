/**
 * A base that has seen varied language (issue 18, build 3): the demo base (assets/demo-base),
 * trained on for one more phase on text written the many ways a user may write it, so that
 * the prompt format "Q: … A:" is not something only the fine-tunings teach:
 *
 *   node --import tsx scripts/pretrain-varied-base.ts      (12.5 min on 2 cores; resumable)
 *
 * The text: fresh TRAINING-split problems (a generated `train` source is always the training
 * split) of the demo's three families in the TRAINING part of the wording pool
 * (src/data/tasks/wordings.ts): no held-out wording, no held-out problem. Half are worked
 * solutions and half bare answers; half are written bare, as phases 1–4 were ("{question}\n"
 * → "{chain}\n#### {answer}"), half as "Q: … A:" prompts, half of those wrapped in an
 * instruction phrasing; 10% are instruction records (Alpaca). Loss on the answers only.
 * Writes assets/varied-base (F16, its config and curve beside it).
 */
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_SETTINGS } from "../src/demo/settings.ts";
import { pathExists } from "../src/engine/files.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { loadModel, saveModel } from "../src/model/checkpoint.ts";
import { parseSftConfig } from "../src/train/config.ts";
import { runSft } from "../src/train/sft.ts";

export const VARIED_BASE_DIR = "assets/varied-base";
const FROM = "assets/demo-base";
const RUN_DIR = "runs/varied-base-pretrain";
// Phases 1–4 of scripts/pretrain-demo-base.ts used seeds 1000–1030.
const SEED = 1040;
const INSTRUCTIONS = "../shared/data/alpaca_sample.json";

const s = DEFAULT_SETTINGS;
const gen = (n: number, seed: number) => ({
  generate: { tasks: s.tasks, options: s.taskOptions, n, seed, wordings: "train" as const },
});
const config = parseSftConfig(
  {
    name: "varied-base-pretrain",
    out: RUN_DIR,
    model: FROM,
    data: {
      train: gen(32000, SEED),
      // Held-out loss only (never trained on): a generated `eval` source is the test split.
      eval: gen(64, SEED + 1),
      template: "qa",
      directFraction: 0.5,
      phrasings: true,
      phrasingFraction: 0.5,
      bareFraction: 0.5,
      instructions: [{ path: INSTRUCTIONS, format: "alpaca" }],
      instructionFraction: 0.1,
    },
    batch: { microBatch: 32, seqLen: 128, padMultiple: 16 },
    optim: { lr: 3e-4, weightDecay: 0.01, clip: 1 },
    schedule: { kind: "cosine", warmupSteps: 50, minLr: 3e-5 },
    steps: 1000,
    eval: { every: 250, n: 0 },
    checkpoint: { every: 100, keep: 2 },
    logEvery: 25,
    seed: SEED,
  },
  "pretrain-varied-base",
);

if (!(await pathExists(join(RUN_DIR, "final", "config.json")))) {
  const res = await runSft(config, { resume: true });
  if (res.status.kind !== "done") throw new Error(`pretraining stopped: ${res.status.message}`);
}
const model = await loadModel(join(RUN_DIR, "final"));
await rm(VARIED_BASE_DIR, { recursive: true, force: true });
await mkdir(VARIED_BASE_DIR, { recursive: true });
await saveModel(VARIED_BASE_DIR, model, { dtype: "F16", tokenizerFrom: join(RUN_DIR, "final") });
disposeTree(model.params);
await cp(join(RUN_DIR, "config.yaml"), join(VARIED_BASE_DIR, "pretrain-config.yaml"));
const curve = (await readFile(join(RUN_DIR, "eval.jsonl"), "utf8"))
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as unknown);
await writeFile(join(VARIED_BASE_DIR, "pretrain-eval.json"), `${JSON.stringify({ from: FROM, curve }, null, 2)}\n`);
console.log(`varied base -> ${VARIED_BASE_DIR}`);
