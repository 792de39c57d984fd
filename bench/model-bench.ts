/**
 * The shape shared by the model-level benches (train_step, generate): the
 * reference config (reference-config.ts) measured by a stepwise worker process
 * and by the PyTorch peer peers/llama.py, on 1 thread and on all cores, in
 * rounds (rounds.ts), then the derived figures (derive.ts).
 *
 * A model-level process takes tens of seconds (a training step is seconds on
 * this hardware, and compiling it ~10 s on 1 thread), so to keep both benches
 * near 5 minutes: at most MODEL_MAX_ROUNDS rounds whatever `--rounds` allows;
 * no third round once the first two took MODEL_ROUND_BUDGET_S; and no worker
 * (stepwise or PyTorch) re-measures a disturbed run: the rounds are the retry,
 * and each process still logs how many cores its neighbours used.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { findTorchPython, PEER_INSTALL_HINT, peerEnv, ROOT, tsxChild } from "./child.ts";
import { peerRatios, threadSpeedups } from "./derive.ts";
import { referenceArgs } from "./reference-config.ts";
import { childRounds } from "./rounds.ts";
import type { BenchContext, Figure } from "./types.ts";

export const MODEL_MAX_ROUNDS = 3;
export const MODEL_ROUND_BUDGET_S = 75;

export interface ModelBenchSpec {
  /** The bench name, as in the figures ("train_step"). */
  name: string;
  /** The stepwise worker, relative to the repository root. */
  worker: string;
  workerArgs: string[];
  /** peers/llama.py's mode and its arguments besides the model shape and threads. */
  peerMode: "train" | "generate";
  peerArgs: string[];
}

/**
 * The PyTorch peer's environment: peerEnv (OpenBLAS and OpenMP pinned to
 * `threads`) plus OMP_WAIT_POLICY=PASSIVE. Debian's torch runs its elementwise
 * ops on an OpenMP pool and its matmuls on OpenBLAS's own pthread pool; both
 * spin while idle, so on 2 cores a model step has 4 spinning threads fighting
 * for 2 cores, and PyTorch's all-core figure came out 1.5-3x below its 1-thread
 * one. Passive OpenMP waiting removes that; it does not change 1-thread runs.
 */
export function llamaPeerEnv(threads: number): NodeJS.ProcessEnv {
  return { ...peerEnv(threads), OMP_WAIT_POLICY: "PASSIVE" };
}

/** Measure both implementations and yield their figures, then the derived ones. Returns every figure. */
export async function* modelBench(ctx: BenchContext, spec: ModelBenchSpec): AsyncGenerator<Figure, Figure[]> {
  const all = availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const rctx: BenchContext = { ...ctx, rounds: Math.min(ctx.rounds, MODEL_MAX_ROUNDS) };
  ctx.log(
    `${spec.name}: reference config, threads ${threadCounts.join(" and ")}, at most ${rctx.rounds} round(s)` +
      ` (model benches cap rounds at ${MODEL_MAX_ROUNDS})`,
  );

  const figures = await childRounds(
    rctx,
    `${spec.name} stepwise`,
    threadCounts,
    (threads) =>
      tsxChild(`${spec.name} stepwise threads=${threads}`, spec.worker, spec.workerArgs, {
        ...process.env,
        STEPWISE_THREADS: String(threads),
      }),
    { budgetSeconds: MODEL_ROUND_BUDGET_S },
  );
  yield* figures;

  const py = findTorchPython();
  if (!py.ok) {
    ctx.log(`pytorch unavailable: ${py.reason}; ${PEER_INSTALL_HINT}. Continuing with stepwise figures only.`);
  } else {
    ctx.log(`${spec.name}: peer pytorch ${py.version} (${py.python})`);
    try {
      const peer = await childRounds(
        rctx,
        `${spec.name} pytorch`,
        threadCounts,
        (threads) => ({
          label: `${spec.name} pytorch threads=${threads}`,
          command: py.python,
          args: [
            join(ROOT, "bench/peers/llama.py"),
            spec.peerMode,
            "--threads",
            String(threads),
            ...referenceArgs(),
            ...spec.peerArgs,
          ],
          env: llamaPeerEnv(threads),
        }),
        { budgetSeconds: MODEL_ROUND_BUDGET_S },
      );
      figures.push(...peer);
      yield* peer;
    } catch (err) {
      ctx.log(`pytorch peer failed, continuing without it: ${(err as Error).message}`);
    }
  }

  const derived = [
    ...threadSpeedups(figures, { impl: "stepwise", all }),
    ...threadSpeedups(figures, { impl: "pytorch", all }),
    ...peerRatios(figures, "pytorch"),
  ];
  yield* derived;
  return [...figures, ...derived];
}
