/**
 * Hugging Face model folders as transformers' `save_pretrained` lays them out:
 * one model.safetensors, or model-0000i-of-0000n.safetensors shards and
 * model.safetensors.index.json, read with every index entry checked against its
 * shard and written with huggingface_hub's shard plan.
 */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { pathExists as exists } from "../files.ts";
import {
  byCodePoint,
  checkTensor,
  DEFAULT_MAX_SHARD_BYTES,
  describe,
  elementCount,
  entriesOf,
  type HostTensor,
  isRecord,
  reason,
  SafetensorsError,
  SHARD_NAME,
  WEIGHTS_INDEX_NAME,
  WEIGHTS_NAME,
} from "./format.ts";
import { readSafetensors, SafetensorsFile } from "./read.ts";
import { type Prepared, prepare, writeAtomic } from "./write.ts";

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
