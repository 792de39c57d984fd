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
 * Thread count: `STEPWISE_THREADS` (an integer ≥ 1), default all cores.
 * `STEPWISE_THREADS=1` installs no worker: kernels run on the main thread,
 * exactly as jax-js does in a plain Node process.
 */
import "core-js/actual/iterator/index.js";
import { availableParallelism } from "node:os";
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
