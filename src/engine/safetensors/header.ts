/**
 * The safetensors header, parsed and validated by the Rust library's rules
 * (safetensors/src/tensor.rs): a length prefix within the file and under
 * MAX_HEADER_BYTES, UTF-8 JSON, every entry well-typed with shape × dtype size
 * = end − begin, and the tensors, sorted by offset, covering the data buffer
 * exactly. Shared by the in-memory and the file readers.
 */
import {
  DTYPES,
  describe,
  elementCount,
  isCount,
  isDType,
  isRecord,
  MAX_HEADER_BYTES,
  reason,
  type SafetensorsDType,
  SafetensorsError,
} from "./format.ts";

export interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface Header {
  /** Sorted by offset, i.e. in file order. */
  entries: Entry[];
  metadata: Record<string, string>;
}

/** Validate the 8-byte length prefix against the file size; returns N. */
export function headerLength(prefix: Uint8Array, fileBytes: number, source: string): number {
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

export function parseMetadata(value: unknown, source: string): Record<string, string> {
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

export function parseHeader(bytes: Uint8Array, dataBytes: number, source: string): Header {
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
