/**
 * The safetensors format's vocabulary, shared by the reader, the writer and the
 * conversions: dtypes (sizes and the Rust library's sort order), the host tensor
 * type, limits and file names, the error class, and the checks every part applies.
 */
export type SafetensorsDType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "U16"
  | "U32"
  | "U64"
  | "BOOL";

/** A tensor on the host: raw little-endian bytes in C order. */
export interface HostTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

/** Where a tensor lives in an open file (byteOffset is absolute). */
export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  /** The file (or in-memory source, or function) the problem is about. */
  readonly file: string;
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.file = file;
  }
}

/** Bytes per element, and the Rust library's dtype order (the writer sorts by it, descending). */
export const DTYPES: Record<SafetensorsDType, { size: number; rank: number }> = {
  BOOL: { size: 1, rank: 0 },
  U8: { size: 1, rank: 1 },
  I8: { size: 1, rank: 2 },
  I16: { size: 2, rank: 5 },
  U16: { size: 2, rank: 6 },
  F16: { size: 2, rank: 7 },
  BF16: { size: 2, rank: 8 },
  I32: { size: 4, rank: 9 },
  U32: { size: 4, rank: 10 },
  F32: { size: 4, rank: 11 },
  F64: { size: 8, rank: 12 },
  I64: { size: 8, rank: 13 },
  U64: { size: 8, rank: 14 },
};

/** Header size limit of the Python/Rust library. */
export const MAX_HEADER_BYTES = 100_000_000;
export const WEIGHTS_NAME = "model.safetensors";
export const WEIGHTS_INDEX_NAME = "model.safetensors.index.json";
/** transformers' default `max_shard_size` ("5GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;
export const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;
/** Largest single read or write we ask of the OS (Node caps one call below 2 GiB). */
export const IO_CHUNK = 1 << 30;

export function isDType(x: unknown): x is SafetensorsDType {
  return typeof x === "string" && Object.hasOwn(DTYPES, x);
}

export function dtypeByteSize(dtype: SafetensorsDType): number {
  if (!isDType(dtype)) throw new SafetensorsError("dtypeByteSize", `unknown dtype ${describe(dtype)}`);
  return DTYPES[dtype].size;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A non-negative integer that JSON numbers represent exactly. */
export function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Short, quoted rendering of a value for an error message. */
export function describe(x: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = Array.isArray(x) ? "an array" : typeof x; // e.g. nesting too deep to print
  }
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

export function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Number of elements, or null when it exceeds 2^53 (no real buffer is that large). */
export function elementCount(shape: readonly number[]): number | null {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return null;
  }
  return n;
}

/** Compare by Unicode code point, as Rust and Python sort strings. */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

export function entriesOf(tensors: Record<string, HostTensor> | Map<string, HostTensor>): [string, HostTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Check a tensor's dtype, shape and byte length agree; returns its byte length. */
export function checkTensor(t: HostTensor, where: string, source: string): number {
  if (!isRecord(t)) throw new SafetensorsError(source, `${where}: expected {dtype, shape, data}, got ${describe(t)}`);
  if (!isDType(t.dtype)) throw new SafetensorsError(source, `${where}: unknown dtype ${describe(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isCount)) {
    throw new SafetensorsError(source, `${where}: shape must be non-negative integers, got ${describe(t.shape)}`);
  }
  if (!(t.data instanceof Uint8Array)) throw new SafetensorsError(source, `${where}: data must be a Uint8Array`);
  const count = elementCount(t.shape);
  const bytes = count === null ? null : count * DTYPES[t.dtype].size;
  if (bytes !== t.data.byteLength) {
    throw new SafetensorsError(
      source,
      `${where}: shape ${describe(t.shape)} of ${t.dtype} needs ${bytes ?? "over 2^53"} bytes, data has ${t.data.byteLength}`,
    );
  }
  return bytes;
}
