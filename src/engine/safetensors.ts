/**
 * Safetensors: the tensor file of Hugging Face checkpoints, read and written on the host.
 *
 *   8 bytes   N, a little-endian uint64
 *   N bytes   UTF-8 JSON, padded with spaces to a multiple of 8:
 *             {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..}
 *   the rest  the byte buffer; offsets count from its start
 *
 * No npm package reads it correctly on Node 20 (DESIGN.md), and checkpoints come
 * from the internet, so the reader is defensive and applies the Rust library's
 * rules (safetensors/src/tensor.rs): header at most 100,000,000 bytes, every entry
 * well-typed, shape × dtype size = end − begin, and the tensors, sorted by offset,
 * cover the buffer exactly: first at 0, no gap, no overlap, last end = buffer
 * length. Anything else is a `SafetensorsError` naming the file and what was
 * expected; nothing is allocated before the sizes have been checked against the file.
 *
 * The writer produces what Python's `save_file` does: tensors ordered by
 * descending dtype alignment then name, compact JSON with `__metadata__` first,
 * header padded to 8 bytes. Files are written to a temp file, fsynced, renamed.
 *
 * `SafetensorsFile` reads only the header and loads each tensor with a positional
 * read, so a 10 GB checkpoint never needs 10 GB of memory. Sharded folders follow
 * transformers' `save_pretrained` (model-0000i-of-0000n.safetensors + index.json).
 *
 * Tensor bytes stay little-endian as in the file; conversions go through DataView.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pathExists as exists } from "./files.ts";

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
const DTYPES: Record<SafetensorsDType, { size: number; rank: number }> = {
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
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;
/** Largest single read or write we ask of the OS (Node caps one call below 2 GiB). */
const IO_CHUNK = 1 << 30;

export function isDType(x: unknown): x is SafetensorsDType {
  return typeof x === "string" && Object.hasOwn(DTYPES, x);
}

export function dtypeByteSize(dtype: SafetensorsDType): number {
  if (!isDType(dtype)) throw new SafetensorsError("dtypeByteSize", `unknown dtype ${describe(dtype)}`);
  return DTYPES[dtype].size;
}

// ---------------------------------------------------------------------------
// Small helpers.

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A non-negative integer that JSON numbers represent exactly. */
function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Short, quoted rendering of a value for an error message. */
function describe(x: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = Array.isArray(x) ? "an array" : typeof x; // e.g. nesting too deep to print
  }
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Number of elements, or null when it exceeds 2^53 (no real buffer is that large). */
function elementCount(shape: readonly number[]): number | null {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return null;
  }
  return n;
}

/** Compare by Unicode code point, as Rust and Python sort strings. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function entriesOf(tensors: Record<string, HostTensor> | Map<string, HostTensor>): [string, HostTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Check a tensor's dtype, shape and byte length agree; returns its byte length. */
function checkTensor(t: HostTensor, where: string, source: string): number {
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

// ---------------------------------------------------------------------------
// Header parsing and validation (shared by the in-memory and file readers).

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

interface Header {
  /** Sorted by offset, i.e. in file order. */
  entries: Entry[];
  metadata: Record<string, string>;
}

/** Validate the 8-byte length prefix against the file size; returns N. */
function headerLength(prefix: Uint8Array, fileBytes: number, source: string): number {
  if (fileBytes < 8) {
    throw new SafetensorsError(source, `file is ${fileBytes} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      source,
      `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`,
    );
  }
  if (8n + n > BigInt(fileBytes)) {
    throw new SafetensorsError(
      source,
      `header length ${n} runs past the end of the ${fileBytes}-byte file (truncated?)`,
    );
  }
  return Number(n);
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === null) return {}; // the Rust library reads null as "no metadata"
  if (!isRecord(value)) {
    throw new SafetensorsError(source, `"__metadata__" must be an object of strings, got ${describe(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(
        source,
        `"__metadata__" must map strings to strings; key ${describe(k)} holds ${describe(v)}`,
      );
    }
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function parseEntry(name: string, value: unknown, dataBytes: number, source: string): Entry {
  const fail = (detail: string) => new SafetensorsError(source, `tensor ${describe(name)}: ${detail}`);
  if (!isRecord(value)) throw fail(`expected an object {"dtype", "shape", "data_offsets"}, got ${describe(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") throw fail(`"dtype" must be a string such as "F32", got ${describe(dtype)}`);
  if (!isDType(dtype))
    throw fail(`unknown dtype ${describe(dtype)}, expected one of ${Object.keys(DTYPES).join(", ")}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`"shape" must be an array of non-negative integers, got ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(`"data_offsets" must be [begin, end] with non-negative integers, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`"data_offsets" [${begin}, ${end}] end before they begin`);
  if (end > dataBytes) {
    throw fail(`"data_offsets" [${begin}, ${end}] run past the end of the ${dataBytes}-byte data buffer`);
  }
  const count = elementCount(shape);
  if (count === null) throw fail(`shape ${describe(shape)} has more than 2^53 elements`);
  const bytes = count * DTYPES[dtype].size;
  if (bytes !== end - begin) {
    throw fail(
      `shape ${describe(shape)} of ${dtype} needs ${bytes} bytes but "data_offsets" [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

function parseHeader(bytes: Uint8Array, dataBytes: number, source: string): Header {
  let root: unknown;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse rejects it as the Rust library does.
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    try {
      root = JSON.parse(text);
    } catch (e) {
      throw new SafetensorsError(source, `header is not valid JSON (${reason(e)})`);
    }
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(source, "header is not valid UTF-8");
  }
  if (!isRecord(root)) {
    throw new SafetensorsError(source, `header must be a JSON object {"<name>": {...}}, got ${describe(root)}`);
  }
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === "__metadata__") metadata = parseMetadata(value, source);
    else entries.push(parseEntry(name, value, dataBytes, source));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = "";
  for (const e of entries) {
    if (e.begin !== cursor) {
      const what =
        e.begin < cursor
          ? `overlaps tensor ${describe(previous)}, which ends at ${cursor}`
          : `leaves a gap after byte ${cursor}`;
      throw new SafetensorsError(
        source,
        `tensor ${describe(e.name)}: "data_offsets" [${e.begin}, ${e.end}] ${what}; tensors must cover the data buffer contiguously from 0`,
      );
    }
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataBytes) {
    throw new SafetensorsError(
      source,
      `tensors cover ${cursor} bytes but the data buffer has ${dataBytes}; expected them to cover it exactly`,
    );
  }
  return { entries, metadata };
}

// ---------------------------------------------------------------------------
// Reading.

/** Parse a whole file held in memory. Tensor data are copies, not views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsContents {
  const n = headerLength(bytes, bytes.byteLength, source);
  const start = 8 + n;
  const header = parseHeader(bytes.subarray(8, start), bytes.byteLength - start, source);
  const tensors = new Map<string, HostTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.slice(start + e.begin, start + e.end) });
  }
  return { tensors, metadata: header.metadata };
}

/** Read exactly `length` bytes at `position`, in chunks. */
async function readAt(handle: FileHandle, position: number, length: number, path: string): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out = new Uint8Array(length);
  } catch (e) {
    throw new SafetensorsError(path, `cannot allocate ${length} bytes (${reason(e)})`, { cause: e });
  }
  let done = 0;
  while (done < length) {
    let got: number;
    try {
      ({ bytesRead: got } = await handle.read(out, done, Math.min(IO_CHUNK, length - done), position + done));
    } catch (e) {
      throw new SafetensorsError(path, `read failed at byte ${position + done} (${reason(e)})`, { cause: e });
    }
    if (got === 0) {
      throw new SafetensorsError(
        path,
        `file ended at byte ${position + done}, expected ${length - done} more bytes (changed since opened?)`,
      );
    }
    done += got;
  }
  return out;
}

/** An open safetensors file: the header is validated up front, tensors are read on demand. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  #handle: FileHandle | null;
  readonly #infos: Map<string, TensorInfo>;

  private constructor(path: string, handle: FileHandle, header: Header, dataStart: number) {
    this.path = path;
    this.metadata = header.metadata;
    this.#handle = handle;
    this.#infos = new Map(
      header.entries.map((e) => [
        e.name,
        { dtype: e.dtype, shape: e.shape, byteOffset: dataStart + e.begin, byteLength: e.end - e.begin },
      ]),
    );
  }

  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (e) {
      throw new SafetensorsError(path, `cannot open (${reason(e)})`, { cause: e });
    }
    try {
      const size = (await handle.stat()).size;
      const n = headerLength(await readAt(handle, 0, Math.min(8, size), path), size, path);
      const header = parseHeader(await readAt(handle, 8, n, path), size - 8 - n, path);
      return new SafetensorsFile(path, handle, header, 8 + n);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.#infos.keys()];
  }

  has(name: string): boolean {
    return this.#infos.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.#infos.get(name);
    if (!info) {
      const some = this.names().slice(0, 5).map(describe).join(", ");
      throw new SafetensorsError(
        this.path,
        `no tensor ${describe(name)} (the file holds ${this.#infos.size}: ${some}…)`,
      );
    }
    return { ...info, shape: [...info.shape] };
  }

  async read(name: string): Promise<HostTensor> {
    const info = this.info(name);
    if (!this.#handle) throw new SafetensorsError(this.path, `cannot read tensor ${describe(name)}: file is closed`);
    const data = await readAt(this.#handle, info.byteOffset, info.byteLength, this.path);
    return { dtype: info.dtype, shape: info.shape, data };
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close();
  }
}

export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  const file = await SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const name of file.names()) tensors.set(name, await file.read(name));
    return { tensors, metadata: file.metadata };
  } finally {
    await file.close();
  }
}

// ---------------------------------------------------------------------------
// Writing.

interface Prepared {
  /** Length prefix and padded JSON header. */
  header: Uint8Array;
  /** Tensor data in file order. */
  chunks: Uint8Array[];
}

/** Validate everything and lay the file out; nothing touches the disk until this has succeeded. */
function prepare(
  tensors: Record<string, HostTensor> | Map<string, HostTensor>,
  metadata: Record<string, string> | undefined,
  source: string,
): Prepared {
  const list = entriesOf(tensors).map(([name, t]) => {
    if (name === "__metadata__")
      throw new SafetensorsError(source, `"__metadata__" is reserved and cannot name a tensor`);
    checkTensor(t, `tensor ${describe(name)}`, source);
    return { name, t };
  });
  list.sort((a, b) => DTYPES[b.t.dtype].rank - DTYPES[a.t.dtype].rank || byCodePoint(a.name, b.name));
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isRecord(metadata)) throw new SafetensorsError(source, `metadata must be an object of strings`);
    parts.push(`"__metadata__":${JSON.stringify(parseMetadata(metadata, source))}`);
  }
  let offset = 0;
  for (const { name, t } of list) {
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, chunks: list.map(({ t }) => t.data) };
}

export function serializeSafetensors(
  tensors: Record<string, HostTensor> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, chunks } = prepare(tensors, metadata, "serializeSafetensors");
  const out = new Uint8Array(header.length + chunks.reduce((n, c) => n + c.byteLength, 0));
  out.set(header, 0);
  let at = header.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Write chunks to a temp file beside `path`, fsync, rename over `path`; on failure remove the temp file. */
async function writeAtomic(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, "wx");
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.byteLength; ) {
        const { bytesWritten } = await handle.write(chunk, at, Math.min(IO_CHUNK, chunk.byteLength - at));
        at += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw new SafetensorsError(path, `write failed (${reason(e)})`, { cause: e });
  }
  try {
    // Make the rename itself durable; not every platform lets a directory be fsynced.
    const dir = await open(dirname(path), "r");
    await dir.sync().finally(() => dir.close());
  } catch {}
}

/** Write a safetensors file atomically: `path` holds either its old contents or the complete new file. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, HostTensor> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, chunks } = prepare(tensors, metadata, path);
  await writeAtomic(path, [header, ...chunks]);
}

// ---------------------------------------------------------------------------
// Hugging Face folders: model.safetensors, or shards + model.safetensors.index.json.

/** Read and check model.safetensors.index.json; returns tensor name → shard file name. */
async function readIndex(indexPath: string): Promise<Map<string, string>> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, "utf8"));
  } catch (e) {
    throw new SafetensorsError(indexPath, `cannot read the index as JSON (${reason(e)})`, { cause: e });
  }
  const weightMap = isRecord(index) ? index["weight_map"] : undefined;
  if (!isRecord(weightMap)) {
    throw new SafetensorsError(indexPath, `expected {"metadata": {...}, "weight_map": {"<tensor>": "<shard file>"}}`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || shard === "" || shard === "." || shard === ".." || /[/\\]/.test(shard)) {
      throw new SafetensorsError(
        indexPath,
        `weight_map[${describe(name)}] must be a file name in this folder, got ${describe(shard)}`,
      );
    }
    map.set(name, shard);
  }
  return map;
}

/**
 * Read every tensor of a Hugging Face model folder. With an index, every tensor
 * it lists must be in its shard, and every tensor in a shard must be listed for it.
 */
export async function readSafetensorsFolder(dir: string): Promise<Map<string, HostTensor>> {
  const single = join(dir, WEIGHTS_NAME);
  if (await exists(single)) return (await readSafetensors(single)).tensors;
  const indexPath = join(dir, WEIGHTS_INDEX_NAME);
  if (!(await exists(indexPath))) {
    throw new SafetensorsError(dir, `no ${WEIGHTS_NAME} or ${WEIGHTS_INDEX_NAME} in this folder`);
  }
  const weightMap = await readIndex(indexPath);
  const shardNames = [...new Set(weightMap.values())];
  const files: SafetensorsFile[] = [];
  try {
    // Check every shard's header before reading any data, so a broken folder fails fast.
    for (const shard of shardNames) {
      const path = join(dir, shard);
      if (!(await exists(path))) {
        throw new SafetensorsError(indexPath, `weight_map lists shard ${describe(shard)}, but ${path} does not exist`);
      }
      const file = await SafetensorsFile.open(path);
      files.push(file);
      for (const [name, s] of weightMap) {
        if (s === shard && !file.has(name)) {
          throw new SafetensorsError(
            indexPath,
            `weight_map puts tensor ${describe(name)} in ${shard}, which does not hold it`,
          );
        }
      }
      for (const name of file.names()) {
        if (weightMap.get(name) !== shard) {
          const listed = weightMap.has(name) ? `assigns it to ${weightMap.get(name)}` : "does not list it";
          throw new SafetensorsError(
            indexPath,
            `shard ${shard} holds tensor ${describe(name)}, but the weight_map ${listed}`,
          );
        }
      }
    }
    const byShard = new Map(files.map((f, i) => [shardNames[i]!, f]));
    const tensors = new Map<string, HostTensor>();
    for (const [name, shard] of weightMap) tensors.set(name, await byShard.get(shard)!.read(name));
    return tensors;
  } finally {
    await Promise.all(files.map((f) => f.close()));
  }
}

/**
 * Split tensors into shards as huggingface_hub does: in order, start a new shard
 * when the next tensor would push the current one past maxShardBytes; a tensor
 * larger than the limit gets a shard of its own.
 */
export function planShards<T extends { data: Uint8Array }>(
  list: [string, T][],
  maxShardBytes: number,
): [string, T][][] {
  const shards: [string, T][][] = [];
  let current: [string, T][] = [];
  let size = 0;
  for (const item of list) {
    const bytes = item[1].data.byteLength;
    if (bytes > maxShardBytes) {
      shards.push([item]);
      continue;
    }
    if (size + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/** JSON as Python's json.dumps(indent=2, sort_keys=True) writes the index (ASCII only). */
function indexJson(totalParameters: number, totalSize: number, weightMap: [string, string][]): string {
  const str = (s: string) =>
    JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const rows = [...weightMap].sort(([a], [b]) => byCodePoint(a, b)).map(([k, v]) => `    ${str(k)}: ${str(v)}`);
  return [
    "{",
    '  "metadata": {',
    `    "total_parameters": ${totalParameters},`,
    `    "total_size": ${totalSize}`,
    "  },",
    '  "weight_map": {',
    rows.join(",\n"),
    "  }",
    "}",
    "",
  ].join("\n");
}

export interface WriteFolderOptions {
  /** Shard size limit in tensor bytes, like save_pretrained's max_shard_size (default 5 GB). */
  maxShardBytes?: number;
  /** `__metadata__` of every file; "format": "pt" is added unless given (transformers requires it). */
  metadata?: Record<string, string>;
}

/**
 * Write tensors as save_pretrained does: one model.safetensors if they fit in a
 * shard, else model-0000i-of-0000n.safetensors and model.safetensors.index.json.
 * Each file is written atomically, the index last; then files of an earlier save
 * that the new one does not use are removed. Returns the file names written.
 */
export async function writeSafetensorsFolder(
  dir: string,
  tensors: Record<string, HostTensor> | Map<string, HostTensor>,
  opts: WriteFolderOptions = {},
): Promise<string[]> {
  const max = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(Number.isSafeInteger(max) && max > 0)) {
    throw new SafetensorsError(dir, `maxShardBytes must be a positive integer, got ${describe(opts.maxShardBytes)}`);
  }
  const metadata = { format: "pt", ...opts.metadata };
  const list = entriesOf(tensors);
  for (const [name, t] of list) checkTensor(t, `tensor ${describe(name)}`, dir);
  const shards = planShards(list, max);
  const files: { name: string; prepared: Prepared }[] = [];
  if (shards.length <= 1) {
    files.push({ name: WEIGHTS_NAME, prepared: prepare(new Map(list), metadata, join(dir, WEIGHTS_NAME)) });
  } else {
    const pad = (i: number) => String(i).padStart(5, "0");
    shards.forEach((shard, i) => {
      const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
      files.push({ name, prepared: prepare(new Map(shard), metadata, join(dir, name)) });
    });
  }
  await mkdir(dir, { recursive: true });
  for (const { name, prepared } of files) await writeAtomic(join(dir, name), [prepared.header, ...prepared.chunks]);
  const written = files.map((f) => f.name);
  if (files.length > 1) {
    const weightMap = files.flatMap((f, i) => shards[i]!.map(([tensor]): [string, string] => [tensor, f.name]));
    const totalSize = list.reduce((n, [, t]) => n + t.data.byteLength, 0);
    const totalParameters = list.reduce((n, [, t]) => n + (elementCount(t.shape) ?? 0), 0);
    await writeAtomic(join(dir, WEIGHTS_INDEX_NAME), [
      new TextEncoder().encode(indexJson(totalParameters, totalSize, weightMap)),
    ]);
    written.push(WEIGHTS_INDEX_NAME);
  }
  for (const name of await readdir(dir)) {
    const ours = name === WEIGHTS_NAME || name === WEIGHTS_INDEX_NAME || SHARD_NAME.test(name);
    if (ours && !written.includes(name)) await rm(join(dir, name), { force: true });
  }
  return written;
}

// ---------------------------------------------------------------------------
// Conversions.

let f16Table: Uint32Array | null = null;

/** float32 bits of a float16: exact, including subnormals, infinities and NaN payloads. */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: mant × 2^-24. Shift the leading 1 into the implicit bit.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** float16 bits nearest to float32 `bits`, ties to even; overflow to ±inf; NaN stays NaN (quiet). */
function f32ToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13));
  if (exp >= 143) return sign | 0x7c00; // ≥ 2^16
  if (exp >= 113) {
    // Normal half: keep 10 mantissa bits, round on the 13 dropped (a carry may reach inf, as it should).
    const h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
  }
  if (exp < 102) return sign; // below 2^-25, half the smallest subnormal
  // Subnormal half: units of 2^-24 (may round up to the smallest normal, 0x0400).
  const m = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  const h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && h & 1) ? h + 1 : h);
}

/** bfloat16 bits nearest to float32 `bits`, ties to even; NaN stays NaN (quiet). */
function f32ToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Element values as float32 (floats decoded exactly; 64-bit integers beyond 2^24 round). */
export function toFloat32(t: HostTensor): Float32Array {
  checkTensor(t, `${t.dtype} tensor`, "toFloat32");
  const n = t.data.byteLength / DTYPES[t.dtype].size;
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer); // writing bits keeps NaN payloads
  switch (t.dtype) {
    case "F32":
      for (let i = 0; i < n; i++) bits[i] = v.getUint32(4 * i, true);
      break;
    case "F16": {
      if (!f16Table) f16Table = Uint32Array.from({ length: 65536 }, (_, h) => f16ToF32Bits(h));
      const table = f16Table;
      for (let i = 0; i < n; i++) bits[i] = table[v.getUint16(2 * i, true)]!;
      break;
    }
    case "BF16":
      for (let i = 0; i < n; i++) bits[i] = v.getUint16(2 * i, true) << 16;
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      break;
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(8 * i, true));
      break;
    case "U64":
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigUint64(8 * i, true));
      break;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = v.getInt32(4 * i, true);
      break;
    case "U32":
      for (let i = 0; i < n; i++) out[i] = v.getUint32(4 * i, true);
      break;
    case "I16":
      for (let i = 0; i < n; i++) out[i] = v.getInt16(2 * i, true);
      break;
    case "U16":
      for (let i = 0; i < n; i++) out[i] = v.getUint16(2 * i, true);
      break;
    case "I8":
      for (let i = 0; i < n; i++) out[i] = v.getInt8(i);
      break;
    case "U8":
      for (let i = 0; i < n; i++) out[i] = v.getUint8(i);
      break;
    case "BOOL":
      for (let i = 0; i < n; i++) out[i] = v.getUint8(i) === 0 ? 0 : 1;
      break;
  }
  return out;
}

/** Encode float32 values as F32, F16 or BF16 (round to nearest, ties to even). */
export function fromFloat32(data: Float32Array, shape: number[], dtype: "F32" | "F16" | "BF16" = "F32"): HostTensor {
  if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
    throw new SafetensorsError("fromFloat32", `dtype must be F32, F16 or BF16, got ${describe(dtype)}`);
  }
  if (!(data instanceof Float32Array)) throw new SafetensorsError("fromFloat32", "data must be a Float32Array");
  const size = DTYPES[dtype].size;
  const t: HostTensor = { dtype, shape: [...shape], data: new Uint8Array(data.length * size) };
  checkTensor(t, `Float32Array of ${data.length}`, "fromFloat32");
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const v = new DataView(t.data.buffer);
  if (dtype === "F32") for (let i = 0; i < bits.length; i++) v.setUint32(4 * i, bits[i]!, true);
  else if (dtype === "F16") for (let i = 0; i < bits.length; i++) v.setUint16(2 * i, f32ToF16Bits(bits[i]!), true);
  else for (let i = 0; i < bits.length; i++) v.setUint16(2 * i, f32ToBf16Bits(bits[i]!), true);
  return t;
}

export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

function nativeDType(data: TypedData): SafetensorsDType {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int8Array) return "I8";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof Uint16Array) return "U16";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof BigUint64Array) return "U64";
  return "U8";
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Wrap a typed array as a HostTensor (copying its bytes). `dtype` defaults to the
 * array's own type; another dtype of the same element size reinterprets the bits
 * (Uint16Array of F16/BF16 bits, Uint8Array as BOOL).
 */
export function fromTyped(data: TypedData, shape: number[], dtype: SafetensorsDType = nativeDType(data)): HostTensor {
  if (!isDType(dtype)) throw new SafetensorsError("fromTyped", `unknown dtype ${describe(dtype)}`);
  const size = DTYPES[dtype].size;
  if (size !== data.BYTES_PER_ELEMENT) {
    throw new SafetensorsError(
      "fromTyped",
      `${dtype} has ${size}-byte elements but ${data.constructor.name} has ${data.BYTES_PER_ELEMENT}-byte ones` +
        (size === 2 ? " (use fromFloat32 to convert to F16/BF16)" : ""),
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (!LITTLE_ENDIAN && size > 1) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  const t: HostTensor = { dtype, shape: [...shape], data: bytes };
  checkTensor(t, `${data.constructor.name} of ${data.length}`, "fromTyped");
  return t;
}
