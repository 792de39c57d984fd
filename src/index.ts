/**
 * stepwise's public API. The sources are TypeScript; run them through a TypeScript
 * loader (tsx, as the `stepwise` binary does) or a bundler.
 */

export * as configBlocks from "./config/blocks.ts";
export * from "./config/load.ts";
export * from "./data/adapters.ts";
export * from "./data/answer/index.ts";
export * from "./data/conversions.ts";
export * from "./data/format.ts";
export * from "./data/readers.ts";
export * from "./data/records.ts";
export * from "./data/tasks/index.ts";
export * from "./data/tokenize.ts";
export * from "./data/writers.ts";
export * from "./engine/device.ts";
export * from "./engine/jax.ts";
export * from "./engine/losses.ts";
export * from "./engine/memory.ts";
export * from "./engine/optim.ts";
export * from "./engine/optim-state.ts";
export * from "./engine/params.ts";
export * from "./engine/rng.ts";
export * from "./engine/safetensors.ts";
export * from "./engine/schedules.ts";
export * from "./engine/tensors.ts";
export * from "./eval/bleu.ts";
export * from "./eval/extract.ts";
export * from "./eval/metrics.ts";
export * from "./eval/report.ts";
export * from "./eval/rouge.ts";
export * from "./eval/run.ts";
export * from "./eval/score.ts";
export * from "./eval/series.ts";
export * from "./guard/divergence.ts";
export * from "./model/checkpoint.ts";
export * from "./model/config.ts";
export * from "./model/generate.ts";
export * from "./model/model.ts";
export * from "./rl/advantages.ts";
export * from "./runs/jsonl.ts";
export * from "./runs/layout.ts";
export * from "./runs/lock.ts";
export * from "./runs/run.ts";
export * from "./runs/version.ts";
export * from "./tokenizer/chat.ts";
export * from "./tokenizer/tokenizer.ts";
export * from "./tokenizer/train-bpe.ts";
export * from "./train/checkpoint.ts";
export * from "./train/config.ts";
export * from "./train/finetune.ts";
export * from "./train/loop.ts";
export * from "./train/nll.ts";
export * from "./train/session.ts";
export * from "./train/sft.ts";
export * from "./train/sft-data.ts";
