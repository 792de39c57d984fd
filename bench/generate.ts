/**
 * generate: KV-cached greedy decoding on the reference config
 * (reference-config.ts) at batch 1 and 16: a 16-token prompt, then 64 new
 * tokens per row (EOS ignored), in tokens/s = batch · 64 / median time of the
 * whole call, prefill included (params.prefill = "included"), on 1 thread and
 * on all cores. stepwise runs src/model/generate.ts's `generate()` (host-side
 * sampling and log-probs included); PyTorch (peers/llama.py) runs the same
 * model with a preallocated cache and argmax on the logits.
 *
 * Figures: generate per impl, batch and thread count; the all-cores / 1-thread
 * speedups; the stepwise/pytorch ratios.
 */
import { type ModelBenchSpec, modelBench } from "./model-bench.ts";
import type { Bench } from "./types.ts";

export const GENERATE_BATCHES: readonly number[] = [1, 16];
export const PROMPT_TOKENS = 16;
export const NEW_TOKENS = 64;

const shape = [
  "--batches",
  GENERATE_BATCHES.join(","),
  "--prompt",
  String(PROMPT_TOKENS),
  "--new-tokens",
  String(NEW_TOKENS),
];

const SPEC: ModelBenchSpec = {
  name: "generate",
  worker: "bench/generate-worker.ts",
  workerArgs: shape,
  peerMode: "generate",
  peerArgs: shape,
};

export const generateBench: Bench = async function* (ctx) {
  yield* modelBench(ctx, SPEC);
};
