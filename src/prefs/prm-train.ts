/**
 * `stepwise rm --config FILE.yaml` with `kind: process`: a process reward model trained with
 * per-step binary cross-entropy at the step separators (process-model.ts), full fine-tuning of
 * the trunk and the head, through the shared loop and run shell (trainer.ts, with step
 * batches instead of pair batches). final/ is the reward-model folder of reward-model.ts with
 * `stepwise_reward.kind: "process"`; processScorer(final) reads it.
 *
 * Data: TRL stepwise-supervision files (prompt/completions/labels, steps.ts) or `generate`
 * (each problem's gold chain and one checker-rejected corruption, labelled by the checker).
 */
import { rm as remove, rename } from "node:fs/promises";
import { join } from "node:path";
import { optimizerOf } from "../config/blocks.ts";
import { initEngine } from "../engine/device.ts";
import { loadModel } from "../model/checkpoint.ts";
import { FINAL_DIR, runDirOf } from "../runs/layout.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { PairSourceConfig, RmConfig } from "./config.ts";
import {
  processObjective,
  type StepBatch,
  stepBatchesInOrder,
  stepSeqLen,
  type TokenizedSteps,
  tokenizeStepRows,
  toStepBatch,
} from "./process-model.ts";
import { loadRewardModel, type RewardModel, rewardKindOf, rewardModelFrom, saveRewardModel } from "./reward-model.ts";
import type { PrefsRunOptions } from "./rm-train.ts";
import { generatorStepRows, readStepRows, type StepRow } from "./steps.ts";
import { type Batching, generatedProblems, type PairTrainingResult, runPairTraining } from "./trainer.ts";

/** The step-labelled chains of a source. */
export async function loadStepRows(src: PairSourceConfig): Promise<StepRow[]> {
  if (src.generate) {
    const g = src.generate;
    return generatorStepRows(generatedProblems(g), { kinds: g.corruptions, seed: g.seed });
  }
  const out: StepRow[] = [];
  for (const f of src.files ?? []) out.push(...(await readStepRows(f)));
  return out;
}

/** A causal LM gets a fresh head; a process-model folder continues as it is. */
async function startingProcessModel(dir: string, seed: number): Promise<RewardModel> {
  try {
    const rm = await loadRewardModel(dir);
    if (rewardKindOf(rm.hfConfig) !== "process") {
      for (const x of Object.values(rm.params)) x.dispose();
      throw new Error(
        `rm: ${dir} is an outcome reward model; start a process model from a causal LM or a process model`,
      );
    }
    return rm;
  } catch (err) {
    if (!/not a reward model/.test((err as Error).message)) throw err;
    return rewardModelFrom(await loadModel(dir), seed, 0.02, "process");
  }
}

export async function runProcessRewardModel(config: RmConfig, opts: PrefsRunOptions = {}): Promise<PairTrainingResult> {
  await initEngine();
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  const runDir = runDirOf(config, "rm");
  const tokenizer = await Tokenizer.fromDir(config.model);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const { microBatch, seqLen, padMultiple } = config.batch;
  const tok = async (src: PairSourceConfig, what: string): Promise<TokenizedSteps[]> => {
    const raw = await loadStepRows(src);
    const t = tokenizeStepRows(tokenizer, raw, seqLen);
    if (t.dropped) say(`rm: dropped ${t.dropped}/${raw.length} ${what} chains longer than batch.seqLen = ${seqLen}`);
    return t.rows;
  };
  const train = await tok(config.data.train, "training");
  if (train.length === 0) throw new Error(`rm: no training chain fits batch.seqLen = ${seqLen} tokens`);
  const held = config.data.eval ? await tok(config.data.eval, "held-out") : [];
  const batching: Batching<StepBatch> = {
    trainCount: train.length,
    heldCount: held.length,
    train(idx) {
      const rows = idx.map((i) => train[i]!);
      return toStepBatch(rows, microBatch, stepSeqLen(rows, seqLen, padMultiple), padId);
    },
    held: stepBatchesInOrder(held, microBatch, seqLen, padMultiple, padId),
    headline: "steps/accuracy",
    unit: "steps",
  };
  const rm = await startingProcessModel(config.model, config.seed);
  return runPairTraining({
    config,
    kind: "rm",
    runDir,
    mode: opts.resume ? "resume" : opts.overwrite ? "overwrite" : "new",
    ...(opts.signals === undefined ? {} : { signals: opts.signals }),
    say,
    stream,
    batching,
    objective: processObjective(rm.config),
    optimizer: optimizerOf(config.optim),
    trainable: rm.params,
    frozen: {},
    describe: `process reward model, ${rm.config.modelType} trunk + score head at step separators, full fine-tuning`,
    async exportFinal(trainable) {
      const finalDir = join(runDir, FINAL_DIR);
      const tmp = join(runDir, `.tmp-${FINAL_DIR}`);
      await remove(tmp, { recursive: true, force: true });
      await saveRewardModel(tmp, { ...rm, params: trainable }, { tokenizerFrom: config.model });
      await remove(finalDir, { recursive: true, force: true });
      await rename(tmp, finalDir);
      return finalDir;
    },
  });
}
