/**
 * matmul: float32 square C = A·B, sizes 256/512/1024, on 1 thread and on all
 * cores, in GFLOP/s (2·n³ / seconds / 1e9), for stepwise (jax-js Wasm) and for
 * PyTorch as the peer.
 *
 * Each (impl, thread count) runs in its own process (see child.ts), one after
 * another so they never compete for cores, in interleaved rounds (1 thread,
 * all, 1 thread, all, ...); each figure is its best round's median (rounds.ts).
 *
 * Derived figures: the all-cores / 1-thread speedup per impl and size, and the
 * stepwise/pytorch throughput ratio per size and thread count.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { findTorchPython, PEER_INSTALL_HINT, peerEnv, ROOT, tsxChild } from "./child.ts";
import { peerRatios, threadSpeedups } from "./derive.ts";
import { childRounds } from "./rounds.ts";
import type { Bench } from "./types.ts";

export const MATMUL_SIZES: readonly number[] = [256, 512, 1024];

export const matmul: Bench = async function* (ctx) {
  const all = availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const sizes = MATMUL_SIZES.join(",");
  ctx.log(`matmul: sizes ${sizes}, threads ${threadCounts.join(" and ")}, at most ${ctx.rounds} round(s)`);

  const figures = await childRounds(ctx, "matmul stepwise", threadCounts, (threads) =>
    tsxChild(`stepwise threads=${threads}`, "bench/matmul-worker.ts", ["--sizes", sizes], {
      ...process.env,
      STEPWISE_THREADS: String(threads),
    }),
  );
  yield* figures;

  const py = findTorchPython();
  if (!py.ok) {
    ctx.log(`pytorch unavailable: ${py.reason}; ${PEER_INSTALL_HINT}. Continuing with stepwise figures only.`);
  } else {
    ctx.log(`matmul: peer pytorch ${py.version} (${py.python})`);
    try {
      const peer = await childRounds(ctx, "matmul pytorch", threadCounts, (threads) => ({
        label: `pytorch threads=${threads}`,
        command: py.python,
        args: [join(ROOT, "bench/peers/matmul.py"), "--sizes", sizes, "--threads", String(threads)],
        env: peerEnv(threads),
      }));
      figures.push(...peer);
      yield* peer;
    } catch (err) {
      ctx.log(`pytorch peer failed, continuing without it: ${(err as Error).message}`);
    }
  }

  yield* threadSpeedups(figures, { impl: "stepwise", all });
  yield* threadSpeedups(figures, { impl: "pytorch", all });
  yield* peerRatios(figures, "pytorch");
};
