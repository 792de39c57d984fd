/**
 * sft_step: tokens/s of the training loop that `stepwise sft` runs (src/train/loop.ts),
 * on the reference config (batch 16 × sequence 128), on 1 thread and on all cores,
 * next to the same step in plain PyTorch (peers/llama.py, figures renamed sft_step).
 * train_step times one fused jit function; this times the loop as shipped (a
 * micro-step and an update, each awaited and checked for NaN/Inf).
 */
import { type ModelBenchSpec, modelBench } from "./model-bench.ts";
import { REFERENCE } from "./reference-config.ts";
import type { Bench } from "./types.ts";

const SPEC: ModelBenchSpec = {
  name: "sft_step",
  worker: "bench/sft-step-worker.ts",
  workerArgs: [],
  peerMode: "train",
  peerArgs: ["--batch", String(REFERENCE.batch), "--seq", String(REFERENCE.seq), "--bench-name", "sft_step"],
};

export const sftStep: Bench = async function* (ctx) {
  yield* modelBench(ctx, SPEC);
};
