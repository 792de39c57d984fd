/**
 * train_step: one jit-compiled training step (forward + mean token NLL +
 * backward + global-norm clip + AdamW update, train-step-core.ts) on the
 * reference config (reference-config.ts: batch 16 × sequence 128), in tokens/s
 * = 2048 / median step time, on 1 thread and on all cores, for stepwise and for
 * PyTorch (peers/llama.py: the same model and step written in plain PyTorch).
 *
 * Figures: train_step per impl and thread count; the all-cores / 1-thread
 * speedups; the stepwise/pytorch ratios (derive.ts); and `train_step_ratio`
 * (impl "stepwise", unit "x"): stepwise / PyTorch tokens/s per thread count,
 * and once more with `threads: "best"`, each impl at its faster thread count.
 */
import { type ModelBenchSpec, modelBench } from "./model-bench.ts";
import { REFERENCE } from "./reference-config.ts";
import type { Bench, Figure } from "./types.ts";

const SPEC: ModelBenchSpec = {
  name: "train_step",
  worker: "bench/train-step-worker.ts",
  workerArgs: [],
  peerMode: "train",
  peerArgs: ["--batch", String(REFERENCE.batch), "--seq", String(REFERENCE.seq)],
};

/** The train_step_ratio figures named by the issue, from the measured train_step figures. */
export function trainStepRatios(figures: readonly Figure[]): Figure[] {
  const out: Figure[] = [];
  for (const f of figures) {
    if (f.bench === "train_step" && f.impl === "stepwise/pytorch" && f.unit === "x") {
      out.push({ bench: "train_step_ratio", impl: "stepwise", params: f.params, value: f.value, unit: "x" });
    }
  }
  const best = (impl: "stepwise" | "pytorch") =>
    figures
      .filter((f) => f.bench === "train_step" && f.impl === impl && f.unit === "tokens/s")
      .reduce<Figure | null>((b, f) => (b === null || f.value > b.value ? f : b), null);
  const ours = best("stepwise");
  const theirs = best("pytorch");
  if (ours && theirs) {
    const { threads: _, ...rest } = ours.params;
    out.push({
      bench: "train_step_ratio",
      impl: "stepwise",
      params: {
        ...rest,
        threads: "best",
        stepwise_threads: ours.params.threads ?? "",
        pytorch_threads: theirs.params.threads ?? "",
      },
      value: ours.value / theirs.value,
      unit: "x",
    });
  }
  return out;
}

export const trainStep: Bench = async function* (ctx) {
  const figures = yield* modelBench(ctx, SPEC);
  yield* trainStepRatios(figures);
};
