/**
 * rl_step: one GRPO step of `stepwise rl` on the reference model (bench/rl-step-worker.ts has
 * the shape and the definitions): rollout tokens/s, update tokens/s and the rollout share of
 * the step, on 1 thread and on all cores, best of rounds.
 *
 * No PyTorch figure: peers/llama.py has a training step and a decoding loop, but not a GRPO
 * step (sampling with temperature, the rollout-time log-prob pass, the clipped surrogate at
 * fixed shapes), and summing its two figures would time a different program. bench/README.md
 * names the peer figures to set beside these (generate at batch 16, train_step).
 */
import { availableParallelism } from "node:os";
import { tsxChild } from "./child.ts";
import { childRounds } from "./rounds.ts";
import type { Bench } from "./types.ts";

export const rlStep: Bench = async function* (ctx) {
  const all = availableParallelism();
  const threadCounts = all > 1 ? [1, all] : [1];
  const rctx = { ...ctx, rounds: Math.min(ctx.rounds, 2) };
  ctx.log(
    `rl_step: GRPO steps on the reference model, threads ${threadCounts.join(" and ")}, at most ${rctx.rounds} round(s)`,
  );
  yield* await childRounds(
    rctx,
    "rl_step stepwise",
    threadCounts,
    (threads) =>
      tsxChild(`rl_step stepwise threads=${threads}`, "bench/rl-step-worker.ts", [], {
        ...process.env,
        STEPWISE_THREADS: String(threads),
      }),
    { budgetSeconds: 120 },
  );
};
