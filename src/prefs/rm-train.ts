/**
 * `stepwise rm --config FILE.yaml`: train an outcome reward model on preference pairs with the
 * Bradley–Terry loss (rm-objective.ts), full fine-tuning of the trunk and the head, through the
 * shared loop and run shell (trainer.ts). final/ is a *ForSequenceClassification folder
 * (reward-model.ts) that `stepwise rm eval`, RL rewards (`rm:DIR`) and transformers read.
 *
 * Departures from TRL's RewardTrainer: no LoRA for reward models yet (the head would have to
 * ride with the adapter through materialize); pairs too long for batch.seqLen are dropped, not
 * truncated (a truncated completion would move the token the reward is read at).
 */
import { rm as remove, rename } from "node:fs/promises";
import { join } from "node:path";
import { optimizerOf } from "../config/blocks.ts";
import { initEngine } from "../engine/device.ts";
import { loadModel } from "../model/checkpoint.ts";
import { FINAL_DIR, runDirOf } from "../runs/layout.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { RmConfig } from "./config.ts";
import { runProcessRewardModel } from "./prm-train.ts";
import { loadRewardModel, type RewardModel, rewardModelFrom, saveRewardModel } from "./reward-model.ts";
import { rewardObjective } from "./rm-objective.ts";
import { type PairTrainingResult, pairData, runPairTraining } from "./trainer.ts";

export interface PrefsRunOptions {
  resume?: boolean;
  overwrite?: boolean;
  stream?: NodeJS.WriteStream;
  signals?: boolean;
}

/** A causal LM gets a fresh head; a reward-model folder continues as it is. */
async function startingRewardModel(dir: string, seed: number): Promise<RewardModel> {
  try {
    return await loadRewardModel(dir);
  } catch (err) {
    if (!/not a reward model/.test((err as Error).message)) throw err;
    return rewardModelFrom(await loadModel(dir), seed);
  }
}

export async function runRewardModel(config: RmConfig, opts: PrefsRunOptions = {}): Promise<PairTrainingResult> {
  if (config.kind === "process") return runProcessRewardModel(config, opts);
  await initEngine();
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  const runDir = runDirOf(config, "rm");
  const tokenizer = await Tokenizer.fromDir(config.model);
  const data = await pairData(config, tokenizer, say, "rm");
  const rm = await startingRewardModel(config.model, config.seed);
  return runPairTraining({
    config,
    kind: "rm",
    runDir,
    mode: opts.resume ? "resume" : opts.overwrite ? "overwrite" : "new",
    ...(opts.signals === undefined ? {} : { signals: opts.signals }),
    say,
    stream,
    data,
    objective: rewardObjective(rm.config, { centerCoef: config.centerCoef }),
    optimizer: optimizerOf(config.optim),
    trainable: rm.params,
    frozen: {},
    describe: `outcome reward model, ${rm.config.modelType} trunk + score head, full fine-tuning`,
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
