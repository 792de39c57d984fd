/**
 * Living with jax-js's reference counting.
 *
 * jax-js arrays follow move semantics: passing an array to an operation consumes
 * it, `.ref` adds a reference that the next consumer takes, reading values with
 * `data()`/`js()`/`item()` consumes too. These helpers keep that discipline in
 * one place:
 *
 *   readScalar(x)     await a scalar and release it       (the loss every step)
 *   readFloat32(x)    await values as a Float32Array and release it
 *   disposeTree(t)    release every array in a parameter tree
 *   keepTree(t)       add a reference to every array in a tree (tree.ref)
 *   trackBuffers()    count live device buffers, to prove a loop leaks nothing
 *
 * Dispatch is asynchronous: a loop that never awaits queues kernels until the
 * 4 GiB Wasm memory is exhausted. Await a value (readScalar) every step, or
 * every few steps, to bound memory.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Array, type JsTree, tree } from "./jax.ts";

/** Await a one-element array's value and release the array. */
export async function readScalar(x: Array): Promise<number> {
  if (x.size !== 1) {
    const shape = JSON.stringify(x.shape);
    x.dispose();
    throw new RangeError(`readScalar: expected one element, got shape ${shape}`);
  }
  const data = await x.data();
  return Number(data[0]);
}

/** Await an array's values as float32 (converting other dtypes) and release it. */
export async function readFloat32(x: Array): Promise<Float32Array> {
  const data = await x.data();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

/** Release every array in a tree (params, grads, optimizer state). */
export function disposeTree(t: JsTree<Array> | null | undefined): void {
  tree.dispose(t);
}

/** Add one reference to every array in a tree; the returned tree is the same object. */
export function keepTree<T extends JsTree<Array>>(t: T): T {
  return tree.ref(t);
}

/** Number of arrays in a tree and their total element count. */
export function treeSize(t: JsTree<Array>): { arrays: number; elements: number } {
  const leaves = tree.leaves(t) as Array[];
  return { arrays: leaves.length, elements: leaves.reduce((n, a) => n + a.size, 0) };
}

// ---------------------------------------------------------------------------
// Buffer tracking.
//
// jax-js keeps its backends private. Its bundle does contain `getBackend`, in a
// chunk that the package's export map hides; we locate that chunk from the
// public entry's import line and pick the function by its (unminified) name.
// If a future jax-js renames it, `trackBuffers` throws a clear error instead
// of silently counting nothing.

interface SlotBackend {
  malloc(size: number, initialData?: Uint8Array): number;
  incRef(slot: number): void;
  decRef(slot: number): void;
}

type GetBackend = (device?: string) => SlotBackend;
let getBackendFn: GetBackend | null = null;

async function findGetBackend(): Promise<GetBackend> {
  if (getBackendFn) return getBackendFn;
  const entry = fileURLToPath(import.meta.resolve("@jax-js/jax"));
  const source = readFileSync(entry, "utf8");
  const chunks = [...source.matchAll(/from "\.\/(backend-[\w-]+\.js)"/g)].map((m) => m[1]!);
  for (const chunk of new Set(chunks)) {
    const mod = (await import(pathToFileURL(join(dirname(entry), chunk)).href)) as Record<string, unknown>;
    const fn = Object.values(mod).find((v) => typeof v === "function" && v.name === "getBackend");
    if (fn) {
      getBackendFn = fn as GetBackend;
      return getBackendFn;
    }
  }
  throw new Error(`trackBuffers: could not find jax-js's getBackend in ${entry}; the jax-js bundle layout changed`);
}

export interface BufferTracker {
  /** Device buffers allocated since tracking began and not yet freed. */
  live(): number;
  /** Total allocations seen. */
  allocations(): number;
  /** Restore the backend's own methods. */
  stop(): void;
}

/**
 * Count live buffers on a device (default: the default device). Wraps the
 * backend's malloc/incRef/decRef with counters; costs a Map update per call.
 * Buffers that existed before tracking began are not counted.
 */
export async function trackBuffers(device?: string): Promise<BufferTracker> {
  const backend = (await findGetBackend())(device);
  const refs = new Map<number, number>();
  let allocations = 0;
  const own = Object.getOwnPropertyNames(backend);
  const saved = { malloc: backend.malloc, incRef: backend.incRef, decRef: backend.decRef };
  const malloc = saved.malloc.bind(backend);
  const incRef = saved.incRef.bind(backend);
  const decRef = saved.decRef.bind(backend);
  backend.malloc = (size, initialData) => {
    const slot = malloc(size, initialData);
    refs.set(slot, 1);
    allocations++;
    return slot;
  };
  backend.incRef = (slot) => {
    incRef(slot);
    const r = refs.get(slot);
    if (r !== undefined) refs.set(slot, r + 1);
  };
  backend.decRef = (slot) => {
    decRef(slot);
    const r = refs.get(slot);
    if (r === undefined) return;
    if (r <= 1) refs.delete(slot);
    else refs.set(slot, r - 1);
  };
  return {
    live: () => refs.size,
    allocations: () => allocations,
    stop: () => {
      for (const k of ["malloc", "incRef", "decRef"] as const) {
        if (own.includes(k)) backend[k] = saved[k] as never;
        else delete (backend as unknown as Record<string, unknown>)[k];
      }
    },
  };
}

/** Let pending worker-pool completions (which release retained slots) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}
