/**
 * One process of the sft_step bench: the training loop `stepwise sft` runs
 * (src/train/loop.ts: makeStepFunctions + trainLoop — micro-step with the summed
 * token NLL, gradient accumulation normalised by target tokens, clip, AdamW,
 * a finite-loss and finite-gradient check every step) on the reference config,
 * at the thread count this process was started with (STEPWISE_THREADS).
 *
 * tokens/s = target tokens of the timed steps / their wall time, with every
 * step's new parameters awaited at the end (jax-js runs queued kernels lazily,
 * so a per-step timer alone would shift work between steps; the total is exact).
 *
 *   STEPWISE_THREADS=2 node --import tsx bench/sft-step-worker.ts [--warmup 2] [--steps 4]
 */
import { parseArgs } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { blockUntilReady } from "../src/engine/jax.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { adamw } from "../src/engine/optim.ts";
import { Rng } from "../src/engine/rng.ts";
import { initParams } from "../src/model/model.ts";
import { makeStepFunctions, trainLoop } from "../src/train/loop.ts";
import { type MicroBatch, tokenNllObjective } from "../src/train/nll.ts";
import { REFERENCE, referenceConfig } from "./reference-config.ts";
import { CLIP_NORM, LEARNING_RATE, TRAIN_SEED } from "./train-step-core.ts";
import { formatFigure } from "./types.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { warmup: { type: "string", default: "2" }, steps: { type: "string", default: "4" } },
  });
  const warmup = Number(values.warmup);
  const steps = Number(values.steps);
  const { threads } = await initEngine();
  const config = referenceConfig();
  const { batch: B, seq: T, vocab: V } = REFERENCE;

  // A few fixed micro-batches of random tokens (the values do not change the work).
  const rng = new Rng(TRAIN_SEED);
  const batches: MicroBatch[] = Array.from({ length: 4 }, () => {
    const tokens = Int32Array.from({ length: B * (T + 1) }, () => rng.int(0, V - 1));
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      ids.set(tokens.subarray(b * (T + 1), b * (T + 1) + T), b * T);
      targets.set(tokens.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
    }
    return { rows: B, seqLen: T, ids, targets, mask: new Float32Array(B * T).fill(1), targetTokens: B * T };
  });

  const optimizer = adamw({ weightDecay: 0.01 });
  const fns = makeStepFunctions({ objective: tokenNllObjective(config), optimizer, clip: CLIP_NORM });
  let trainable = initParams(config, { seed: TRAIN_SEED });
  let state = optimizer.init(trainable);
  const run = async (from: number, to: number) => {
    const out = await trainLoop({
      fns,
      trainable,
      frozen: {},
      state,
      startStep: from,
      totalSteps: to,
      schedule: () => LEARNING_RATE,
      batchesFor: (step) => [batches[step % batches.length]!],
    });
    if (out.status.kind !== "done") throw new Error(`sft_step: ${out.status.message}`);
    trainable = out.trainable;
    state = out.state;
    await blockUntilReady([trainable, state]);
  };

  const t0 = performance.now();
  await run(0, warmup); // compiles, then lets V8 tier up the kernels
  const t1 = performance.now();
  await run(warmup, warmup + steps);
  const seconds = (performance.now() - t1) / 1e3;
  disposeTree([trainable, state]);
  fns.dispose();
  process.stdout.write(
    formatFigure({
      bench: "sft_step",
      impl: "stepwise",
      params: { batch: B, seq: T, threads },
      value: (steps * B * T) / seconds,
      unit: "tokens/s",
    }) + "\n",
  );
  process.stderr.write(
    `sft_step threads=${threads}: warm-up ${((t1 - t0) / 1e3).toFixed(1)} s, ${steps} steps in ${seconds.toFixed(2)} s\n`,
  );
}

await main();
