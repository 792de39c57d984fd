/**
 * A Web `Worker` for Node, built on `node:worker_threads`.
 *
 * jax-js's Wasm backend runs its kernels on a pool of Web Workers created from a
 * `blob:` URL (see `WasmWorkerPool` in jax-js `src/backend/wasm/parallel.ts`).
 * Node has no global `Worker`, so out of the box every kernel runs on the main
 * thread. This adapter provides just the surface that pool uses:
 *
 *   main side:   new Worker(blobUrl, { type: "module" }), postMessage, onmessage, onerror, terminate
 *   worker side: self.onmessage = (e) => ..., postMessage(data)
 *
 * The blob's source is read asynchronously (`buffer.resolveObjectURL`), so messages
 * posted before the thread exists are queued and flushed in order once it starts.
 * The pool's protocol is one reply per message (init → ready, kernel → done), so a
 * thread is kept referenced exactly while replies are outstanding: a busy pool keeps
 * the process alive (an `await` on a kernel result must not exit the process), an
 * idle pool never does.
 */
import { resolveObjectURL } from "node:buffer";
import { Worker as ThreadWorker } from "node:worker_threads";

/** Prelude evaluated inside each thread before the Web Worker source. */
const PRELUDE = `
const { parentPort } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (data) => parentPort.postMessage(data);
parentPort.on("message", (data) => {
  if (typeof self.onmessage === "function") self.onmessage({ data });
});
`;

export interface WorkerMessageEvent {
  data: unknown;
}

export class NodeWebWorker {
  /** Threads started in this process (for tests and diagnostics). */
  static started = 0;
  onmessage: ((e: WorkerMessageEvent) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #thread: ThreadWorker | null = null;
  #pending: unknown[] = [];
  #terminated = false;
  #outstanding = 0;

  constructor(url: string | URL, _options?: { type?: string }) {
    const href = String(url);
    const blob = href.startsWith("blob:") ? resolveObjectURL(href) : undefined;
    if (!blob) {
      throw new Error(`NodeWebWorker: only blob: URLs are supported, got "${href}"`);
    }
    blob.text().then(
      (source) => this.#start(source),
      (err: unknown) => this.#fail(err),
    );
  }

  #start(source: string): void {
    if (this.#terminated) return;
    // execArgv: [] so the thread does not inherit flags such as --input-type=module
    // (which would make this CommonJS prelude fail to parse) or loaders like tsx.
    const thread = new ThreadWorker(PRELUDE + source, { eval: true, execArgv: [] });
    NodeWebWorker.started++;
    thread.on("message", (data: unknown) => {
      this.#outstanding = Math.max(0, this.#outstanding - 1);
      this.#updateRef();
      this.onmessage?.({ data });
    });
    thread.on("error", (err: unknown) => this.#fail(err));
    this.#thread = thread;
    this.#updateRef();
    for (const msg of this.#pending) thread.postMessage(msg);
    this.#pending = [];
  }

  #updateRef(): void {
    if (this.#outstanding > 0) this.#thread?.ref();
    else this.#thread?.unref();
  }

  /**
   * A failed kernel thread is fatal. jax-js's pool swallows the rejection and its
   * later kernels silently never run, so results would be garbage; crash instead.
   */
  #fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.onerror?.({ message });
    process.nextTick(() => {
      throw new Error(
        `stepwise: a jax-js worker thread failed (${message}); results cannot be trusted. ` +
          "Set STEPWISE_THREADS=1 to run kernels on the main thread.",
      );
    });
  }

  postMessage(message: unknown): void {
    this.#outstanding++;
    this.#updateRef();
    if (this.#thread) this.#thread.postMessage(message);
    else this.#pending.push(message);
  }

  terminate(): void {
    this.#terminated = true;
    void this.#thread?.terminate();
  }
}
