/**
 * Reading safetensors: a whole file held in memory (parseSafetensors), or an
 * open file whose header is validated up front and whose tensors are loaded on
 * demand with positional reads (SafetensorsFile), so a 10 GB checkpoint never
 * needs 10 GB of memory. Nothing is allocated before the sizes have been checked
 * against the file.
 */
import { type FileHandle, open } from "node:fs/promises";
import {
  describe,
  type HostTensor,
  IO_CHUNK,
  reason,
  type SafetensorsContents,
  SafetensorsError,
  type TensorInfo,
} from "./format.ts";
import { type Header, headerLength, parseHeader } from "./header.ts";

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
