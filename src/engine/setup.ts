/**
 * Process set-up that must run before `@jax-js/jax` is first imported.
 * Import it for its side effects only; `engine/jax.ts` does so.
 *
 * 1. Iterator helpers (`iter.map`, …) that jax-js uses exist natively from Node 22;
 *    on Node 20 core-js provides them.
 * 2. jax-js builds its Wasm backend, and decides whether it gets a worker pool,
 *    at import time: it needs a global `Worker` and `SharedArrayBuffer`, and sizes
 *    the pool from `navigator.hardwareConcurrency`. We provide both here.
 *
 * 3. Relaxed SIMD (`f32x4.relaxed_madd`, a fused multiply-add in jax-js's matmul
 *    kernels) is behind `--experimental-wasm-relaxed-simd` on Node 20 and on by
 *    default from Node 22. V8's flags are process-wide, so setting it here, before
 *    jax-js probes for the feature, turns it on for the main thread and every
 *    worker thread. A runtime without the flag ignores it; jax-js's probe then
 *    finds no relaxed SIMD and its kernels use mul + add. `STEPWISE_RELAXED_SIMD=0`
 *    turns it off (also on Node 22+), for comparing the two: fused multiply-adds
 *    round once, so the two differ in the last bits.
 *
 * Thread count: `STEPWISE_THREADS` (an integer ≥ 1), default all cores.
 * `STEPWISE_THREADS=1` installs no worker: kernels run on the main thread,
 * exactly as jax-js does in a plain Node process.
 */
import "core-js/actual/iterator/index.js";
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { NodeWebWorker } from "./node-worker.ts";

function readThreads(): number {
  const raw = process.env.STEPWISE_THREADS;
  if (raw === undefined || raw === "") return availableParallelism();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`STEPWISE_THREADS must be an integer >= 1, got "${raw}"`);
  }
  return n;
}

setFlagsFromString(
  process.env.STEPWISE_RELAXED_SIMD === "0"
    ? "--no-experimental-wasm-relaxed-simd"
    : "--experimental-wasm-relaxed-simd",
);

/** Number of threads jax-js kernels run on in this process. */
export const threads: number = readThreads();

const g = globalThis as Record<string, unknown>;
if (typeof g.navigator === "undefined") {
  g.navigator = { hardwareConcurrency: threads, userAgent: `Node.js/${process.version}` };
} else {
  const nav = g.navigator as Record<string, unknown>;
  Object.defineProperty(nav, "hardwareConcurrency", { value: threads, configurable: true });
}
if (threads > 1 && typeof g.Worker === "undefined") {
  g.Worker = NodeWebWorker;
}
