/**
 * Tiny models and configs that several test files build the same way: one place,
 * so every test trains and evaluates the same kind of tiny model.
 */
import type { TaskName } from "../src/data/tasks/index.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { saveModel } from "../src/model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../src/model/config.ts";
import { initParams } from "../src/model/model.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

/** A tiny SFT config (llama, hidden 32, 1 layer) on generated arithmetic; tests override fields. */
export const TINY_SFT = {
  name: "tiny",
  init: { arch: "llama", hidden: 32, layers: 1, heads: 2, tokenizer: { vocabSize: 400 } },
  data: {
    train: { generate: { tasks: ["arithmetic"], n: 200, seed: 0 } },
    eval: { generate: { tasks: ["arithmetic"], n: 16, seed: 1 } },
  },
  batch: { microBatch: 8, gradAccum: 1, seqLen: 160 },
  optim: { lr: 1e-2, clip: 1 },
  schedule: { kind: "constant", warmupSteps: 2 },
  steps: 30,
  eval: { every: 0, n: 0 },
  checkpoint: { every: 0 },
  seed: 0,
};

export interface TinyEvalModelOptions {
  tasks: TaskName[];
  /** Generated training problems the tokenizer is trained on. */
  n: number;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
}

/**
 * Write a randomly initialised GPT-2-layout model folder to `modelDir`, with a BPE
 * tokenizer trained (in `tokDir`) on generated problems in the evaluator's Q/A layout.
 */
export async function writeTinyEvalModel(modelDir: string, tokDir: string, o: TinyEvalModelOptions): Promise<void> {
  const corpus = generateDataset({ tasks: o.tasks, n: o.n, seed: 1, split: "train" }).map(
    (r) => `Q: ${r.question}\nA: ${r.chain_of_thought}\n#### ${r.answer}`,
  );
  await saveTokenizer(tokDir, trainBpe(corpus, { vocabSize: o.vocabSize }));
  const tok = await Tokenizer.fromDir(tokDir);
  const config = configFromSizes({
    arch: "gpt2",
    vocabSize: tok.vocabSize,
    hiddenSize: o.hiddenSize,
    numLayers: o.numLayers,
    numHeads: o.numHeads,
    maxPositionEmbeddings: 512,
    bosTokenId: tok.bosId,
    eosTokenIds: tok.eosId !== null ? [tok.eosId] : [],
    padTokenId: tok.padId,
  });
  const params = initParams(config, { seed: 0, std: 0.2 });
  await saveModel(modelDir, { config, params, hfConfig: toHfConfig(config) }, { tokenizerFrom: tokDir });
  disposeTree(params);
}
