/**
 * `stepwise dpo --config FILE.yaml`: Direct Preference Optimization of a causal LM on
 * preference pairs (dpo-objective.ts, loss kinds in losses.ts), full or LoRA / QLoRA
 * (train/finetune.ts), with the reference log-probabilities computed once and cached
 * (reference.ts), through the shared loop and run shell (trainer.ts). final/ is a Hugging Face
 * causal-LM folder (and final/adapter/ for LoRA), as `stepwise sft` leaves.
 *
 * Departures from TRL's DPOTrainer: the reference is always precomputed (no ref model kept in
 * memory during training); pairs longer than batch.seqLen are dropped, not truncated; the
 * per-pair normalisation is over the whole accumulated batch (losses.ts).
 */
import { optimizerOf } from "../config/blocks.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import { releaseCompiled } from "../model/generate.ts";
import { runDirOf } from "../runs/layout.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { disposeFineTune, exportFinal, setupFineTune, startingModel, weightsOf } from "../train/finetune.ts";
import type { DpoConfig } from "./config.ts";
import { dpoObjective } from "./dpo-objective.ts";
import { cachedReference, referenceLogProbs } from "./reference.ts";
import type { PrefsRunOptions } from "./rm-train.ts";
import { type PairTrainingResult, pairData, runPairTraining } from "./trainer.ts";

export async function runDpo(config: DpoConfig, opts: PrefsRunOptions = {}): Promise<PairTrainingResult> {
  await initEngine();
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  const runDir = runDirOf(config, "dpo");
  const tokenizer = await Tokenizer.fromDir(config.model);
  const data = await pairData(config, tokenizer, say, "dpo");
  const model = await startingModel(config, tokenizer, config.seed, config.batch.seqLen);
  const ft = await setupFineTune(config.lora, model, config.seed);
  try {
    return await runPairTraining({
      config,
      kind: "dpo",
      runDir,
      mode: opts.resume ? "resume" : opts.overwrite ? "overwrite" : "new",
      ...(opts.signals === undefined ? {} : { signals: opts.signals }),
      say,
      stream,
      data,
      objective: dpoObjective(model.config, config.loss),
      optimizer: optimizerOf(config.optim),
      trainable: ft.trainable,
      frozen: ft.frozen,
      ...(ft.materialize ? { materialize: ft.materialize } : {}),
      describe: `DPO ${config.loss.kind} β=${config.loss.beta}${config.loss.rpoAlpha > 0 ? ` + RPO α=${config.loss.rpoAlpha}` : ""}, ${ft.describe}`,
      async beforeTraining() {
        // The starting weights, before any restore: the reference (see reference.ts).
        const weights = weightsOf(ft, ft.trainable);
        try {
          const b = config.batch;
          const refs = await cachedReference(
            runDir,
            config.model,
            { train: data.train, held: data.held },
            (pairs) =>
              referenceLogProbs(weights, model.config, pairs, {
                size: b.microBatch,
                seqLen: b.seqLen,
                padMultiple: b.padMultiple,
                padId: data.padId,
              }),
            say,
          );
          return { train: refs.train!, held: refs.held! };
        } finally {
          if (weights !== ft.trainable) disposeTree(weights);
        }
      },
      exportFinal: (trainable) =>
        exportFinal(runDir, ft, model, trainable, { tokenizerFrom: config.model, baseModelNameOrPath: config.model }),
    });
  } finally {
    disposeFineTune(ft, model);
    releaseCompiled(model.config);
  }
}
