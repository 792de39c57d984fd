/**
 * Writing safetensors as Python's `save_file` does: tensors ordered by descending
 * dtype alignment then name, compact JSON with `__metadata__` first, header padded
 * to 8 bytes. Files are written to a temp file, fsynced, renamed.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  byCodePoint,
  checkTensor,
  DTYPES,
  describe,
  entriesOf,
  type HostTensor,
  IO_CHUNK,
  isRecord,
  reason,
  SafetensorsError,
} from "./format.ts";
import { parseMetadata } from "./header.ts";

export interface Prepared {
  /** Length prefix and padded JSON header. */
  header: Uint8Array;
  /** Tensor data in file order. */
  chunks: Uint8Array[];
}

/** Validate everything and lay the file out; nothing touches the disk until this has succeeded. */
export function prepare(
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
export async function writeAtomic(path: string, chunks: readonly Uint8Array[]): Promise<void> {
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
