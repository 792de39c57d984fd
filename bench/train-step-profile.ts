/**
 * What limits the train_step bench: the step of train-step-core.ts taken apart.
 *
 *   STEPWISE_THREADS=1 node --import tsx bench/train-step-profile.ts
 *
 * Times, each jit-compiled and awaited to completion (blockUntilReady on every
 * output), by the bench protocol (measure.ts):
 *
 *   forward      forward + token NLL (the loss only)
 *   fwd+bwd      valueAndGrad of the loss (loss and every gradient)
 *   update       clipByGlobalNorm + AdamW on fixed gradients
 *   step         the whole step, as the bench runs it
 *
 * and, from the least disturbed of three traced runs of each with jax-js's
 * profiler (profiler.startTrace: one performance.measure entry per kernel
 * dispatch), the number of kernels, their summed time (median minus that is
 * the host's share: tracing, dispatch, allocation) and
 * where their time goes: matmul-shaped kernels (a sum over a product of two
 * inputs; FLOPs 2·outputs·reduction), other reductions, elementwise kernels and
 * routines (e.g. the scatter-add of the embedding gradient). Kernel times are
 * execution times only on 1 thread: with a worker pool a dispatch returns before
 * the kernel runs, so on more threads the trace gives counts, not times.
 *
 * Prints a report for humans on stdout; not part of `npm run bench`.
 */

import { initEngine } from "../src/engine/device.ts";
import { blockUntilReady, type Array as JaxArray, jit, valueAndGrad } from "../src/engine/jax.ts";
import { keepTree } from "../src/engine/memory.ts";
import { clipByGlobalNorm, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { measure } from "./measure.ts";
import { CLIP_NORM, lossOf, makeStep, TrainBench } from "./train-step-core.ts";

type Category = "matmul" | "reduction" | "elementwise" | "routine";
const CATEGORIES: readonly Category[] = ["matmul", "reduction", "elementwise", "routine"];

interface KernelStats {
  count: number;
  ms: number;
  flops: number;
  /** Slowest kernel of the category with ≥ 50 MFLOP, in GFLOP/s (matmul only). */
  worstGflops: number;
}

type Breakdown = Record<Category, KernelStats>;

/** Sort one jax-js trace entry into a category (see the file comment). */
function classify(entry: PerformanceEntry): { category: Category; flops: number } {
  const detail = (entry as PerformanceMeasure).detail as
    | { devtools?: { properties?: [string, string][] } }
    | null
    | undefined;
  const props = Object.fromEntries(detail?.devtools?.properties ?? []);
  if (!entry.name.startsWith("Kernel[")) return { category: "routine", flops: 0 };
  const reduction = props.reduction as string | undefined;
  if (!reduction) return { category: "elementwise", flops: 0 };
  const [op, sizeRaw] = reduction.split(":");
  const redSize = Number(sizeRaw);
  const outSize = Number(props.size);
  const exp = String(props.exp ?? "");
  // a matmul or einsum: Add over a product of two different inputs
  const inputs = new Set([...exp.matchAll(/GV_(\d+)</g)].map((m) => m[1]));
  if (op === "Add" && redSize >= 16 && inputs.size >= 2 && exp.includes(" * ")) {
    return { category: "matmul", flops: 2 * outSize * redSize };
  }
  return { category: "reduction", flops: 0 };
}

// Not re-exported by src/engine/jax.ts; imported once that module has set the process up (see main).
let profiler: { startTrace(): void; stopTrace(): void };

/** Run `fn` once under the profiler and sum the kernel entries by category. */
async function traced(fn: () => Promise<void>): Promise<Breakdown> {
  performance.clearMeasures();
  profiler.startTrace();
  try {
    await fn();
  } finally {
    profiler.stopTrace();
  }
  const out = Object.fromEntries(
    CATEGORIES.map((c) => [c, { count: 0, ms: 0, flops: 0, worstGflops: Infinity }]),
  ) as Breakdown;
  for (const e of performance.getEntriesByType("measure")) {
    const { category, flops } = classify(e);
    const s = out[category];
    s.count++;
    s.ms += e.duration;
    s.flops += flops;
    if (flops >= 50e6 && e.duration > 0) s.worstGflops = Math.min(s.worstGflops, flops / 1e6 / e.duration);
  }
  performance.clearMeasures();
  return out;
}

interface Phase {
  name: string;
  run: () => Promise<void>;
}

async function main(): Promise<void> {
  const { threads } = await initEngine();
  ({ profiler } = await import("@jax-js/jax"));
  const bench = new TrainBench();
  const { config, opt } = bench;
  const loss = lossOf(config);

  const forwardFn = jit((p: Params, ids: JaxArray, targets: JaxArray, mask: JaxArray) => loss(p, ids, targets, mask));
  const gradFn = jit((p: Params, ids: JaxArray, targets: JaxArray, mask: JaxArray) => {
    const [value, grads] = valueAndGrad(loss)(p, ids, targets, mask);
    return { value, grads };
  });
  const updateFn = jit((p: Params, s: OptimizerState, g: Params, lr: JaxArray) => {
    const { grads, norm } = clipByGlobalNorm(g, CLIP_NORM);
    const next = opt.update(p, grads, s, lr);
    return { params: next.params, state: next.state, norm };
  });
  const stepFn = makeStep(config, opt);

  // fixed gradients for the update phase
  const b0 = bench.batch();
  const fixed = gradFn(keepTree(bench.params), b0.ids, b0.targets, b0.mask);
  await blockUntilReady(fixed);
  fixed.value.dispose();
  const grads = fixed.grads;

  const phases: Phase[] = [
    {
      name: "forward (loss)",
      run: async () => {
        const b = bench.batch();
        (await blockUntilReady(forwardFn(keepTree(bench.params), b.ids, b.targets, b.mask))).dispose();
      },
    },
    {
      name: "forward + backward",
      run: async () => {
        const b = bench.batch();
        const out = await blockUntilReady(gradFn(keepTree(bench.params), b.ids, b.targets, b.mask));
        out.value.dispose();
        for (const g of Object.values(out.grads)) g.dispose();
      },
    },
    {
      name: "clip + AdamW update",
      run: async () => {
        const out = await blockUntilReady(updateFn(bench.params, bench.state, keepTree(grads), bench.lr.ref));
        bench.params = out.params;
        bench.state = out.state;
        out.norm.dispose();
      },
    },
    {
      name: "whole step",
      run: async () => {
        const b = bench.batch();
        const out = await blockUntilReady(
          stepFn(bench.params, bench.state, b.ids, b.targets, b.mask, bench.lr.ref) as {
            params: Params;
            state: OptimizerState;
            loss: JaxArray;
          },
        );
        bench.params = out.params;
        bench.state = out.state;
        out.loss.dispose();
      },
    },
  ];

  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(`train_step profile, reference config, threads=${threads}${threads > 1 ? " (kernel times need threads=1)" : ""}`);
  say("");
  say(
    "| phase | compile s | median ms | kernels (matmul) | kernel ms | matmul ms | GFLOP | GFLOP/s (slowest kernel) | other reductions ms | elementwise ms | routines ms |",
  );
  say("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const phase of phases) {
    const t0 = performance.now();
    await phase.run(); // compiles
    const compile = (performance.now() - t0) / 1e3;
    const m = await measure(phase.run, { warmup: 1, minReps: 3, minSeconds: 1, attempts: 2 });
    // the least disturbed of 3 traced runs (the one with the least kernel time)
    let k = await traced(phase.run);
    for (let i = 0; i < 2; i++) {
      const again = await traced(phase.run);
      const total = (b: Breakdown) => CATEGORIES.reduce((t, c) => t + b[c].ms, 0);
      if (total(again) < total(k)) k = again;
    }
    const count = CATEGORIES.reduce((n, c) => n + k[c].count, 0);
    const kernelMs = CATEGORIES.reduce((t, c) => t + k[c].ms, 0);
    const mm = k.matmul;
    const others = m.otherCores === null ? "" : ` (others ${m.otherCores.toFixed(2)} cores)`;
    const ms = (x: number) => (threads === 1 ? x.toFixed(0) : "-");
    const rate = threads === 1 && mm.ms > 0 ? (mm.flops / 1e6 / mm.ms).toFixed(1) : "-";
    const worst = threads === 1 && Number.isFinite(mm.worstGflops) ? mm.worstGflops.toFixed(1) : "-";
    say(
      `| ${phase.name} | ${compile.toFixed(1)} | ${(m.median * 1e3).toFixed(0)}${others} | ${count} (${mm.count}) |` +
        ` ${ms(kernelMs)} | ${ms(mm.ms)} | ${(mm.flops / 1e9).toFixed(1)} | ${rate} (${worst}) |` +
        ` ${ms(k.reduction.ms)} | ${ms(k.elementwise.ms)} | ${ms(k.routine.ms)} (${k.routine.count}) |`,
    );
  }
  for (const g of Object.values(grads)) g.dispose();
  for (const f of [forwardFn, gradFn, updateFn, stepFn]) f.dispose();
  bench.dispose();
}

await main();
