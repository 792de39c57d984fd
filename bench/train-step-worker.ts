/**
 * One process of the train_step bench: times the jit-compiled training step of
 * train-step-core.ts on the reference config at the thread count this process
 * was started with (STEPWISE_THREADS), and prints one figure line:
 *
 *   {"bench":"train_step","impl":"stepwise","params":{"batch":16,"seq":128,"threads":2},"value":…,"unit":"tokens/s"}
 *
 * tokens/s = batch · seq / median step time. The first warm-up step compiles
 * (its time is reported on stderr), the second lets V8 tier up the Wasm kernels.
 *
 *   STEPWISE_THREADS=2 node --import tsx bench/train-step-worker.ts [--min-reps 3] [--min-seconds 1]
 *
 * Run by bench/train-step.ts; usable alone to probe one configuration.
 */
import { parseArgs } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { measure } from "./measure.ts";
import { REFERENCE } from "./reference-config.ts";
import { TrainBench } from "./train-step-core.ts";
import { formatFigure } from "./types.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      warmup: { type: "string", default: "2" },
      "min-reps": { type: "string", default: "3" },
      "min-seconds": { type: "string", default: "1" },
      attempts: { type: "string", default: "1" },
      "quiet-seconds": { type: "string", default: "10" },
    },
  });
  const { threads } = await initEngine();
  const bench = new TrainBench();

  const t0 = performance.now();
  const first = await bench.step(); // compiles the step
  const compileSeconds = (performance.now() - t0) / 1e3;
  let last = first;
  const m = await measure(
    async () => {
      last = await bench.step();
    },
    {
      warmup: Math.max(0, Number(values.warmup) - 1),
      minReps: Number(values["min-reps"]),
      minSeconds: Number(values["min-seconds"]),
      attempts: Number(values.attempts),
      quietSeconds: Number(values["quiet-seconds"]),
    },
  );
  bench.dispose();
  process.stdout.write(
    formatFigure({
      bench: "train_step",
      impl: "stepwise",
      params: { batch: REFERENCE.batch, seq: REFERENCE.seq, threads },
      value: bench.tokensPerStep / m.median,
      unit: "tokens/s",
    }) + "\n",
  );
  const others = m.otherCores === null ? "" : `, others used ${m.otherCores.toFixed(2)} cores`;
  const retried = m.attempts > 1 ? ` after ${m.attempts} attempts` : "";
  process.stderr.write(
    `train_step threads=${threads}: first step (compile) ${compileSeconds.toFixed(1)} s, loss ${first.toFixed(4)} → ${last.toFixed(4)};` +
      ` median ${(m.median * 1e3).toFixed(0)} ms over ${m.times.length} steps (best ${(m.min * 1e3).toFixed(0)} ms${others}${retried})\n`,
  );
}

await main();
