/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit.
 *
 *   <run>/checkpoints/step-N/
 *     params.safetensors      the trainable parameters (the whole model for full fine-tuning), F32
 *     optimizer.safetensors   optimizer state (engine/optim-state.ts)
 *     state.json              {format, step, dataPosition, rng, seed, extra, files} — written last;
 *                             `files` holds each other file's size and sha256
 *
 * Atomicity: a checkpoint is written into `checkpoints/.tmp-step-N`, then renamed to
 * `step-N` in one `rename` (atomic on one file system). A run killed mid-write leaves
 * only a `.tmp-*` folder, which `latestCheckpoint` ignores and the next save removes.
 * A checkpoint with a non-finite parameter is refused (CheckpointWriteError), so the
 * last checkpoint on disk is always a good one.
 *
 * Damage after the fact (a deleted or truncated file, flipped bytes, a disk that filled up):
 * `restoreCheckpoint` checks every file against the sizes and hashes in state.json before
 * loading it, and falls back to the newest checkpoint that is intact, saying which one it
 * skipped and why. So keep at least two (checkpoint.keep, default 2).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { disposeTree } from "../engine/memory.ts";
import type { Optimizer, OptimizerState } from "../engine/optim.ts";
import { loadOptimizerState, saveOptimizerState } from "../engine/optim-state.ts";
import type { Params } from "../engine/params.ts";
import type { RngState } from "../engine/rng.ts";
import { type HostTensor, readSafetensors, writeSafetensors } from "../engine/safetensors.ts";
import { arrayToHost, hostToArray } from "../engine/tensors.ts";

export const PARAMS_FILE = "params.safetensors";
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const STATE_FILE = "state.json";
const FORMAT = "stepwise.train-checkpoint";

export class CheckpointWriteError extends Error {
  override name = "CheckpointWriteError";
}

export interface TrainingState {
  /** Optimizer updates applied. */
  step: number;
  /** Position of the data loader: the next optimizer step's index (= step; kept explicit). */
  dataPosition: number;
  /** Host RNG state (engine/rng.ts Rng.state()). */
  rng: RngState;
  seed: number;
  /** Trainer-specific state (an RL run's sampler position, a DPO run's cache key, …). */
  extra?: Record<string, unknown>;
}

interface FileRecord {
  bytes: number;
  sha256: string;
}

async function fileRecord(path: string): Promise<FileRecord> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

export function checkpointsDir(runDir: string): string {
  return join(runDir, "checkpoints");
}

/** Write checkpoints/step-N atomically (see the header). Does not consume the trees. */
export async function saveCheckpoint(
  runDir: string,
  opts: { trainable: Params; optimizer: Optimizer; state: OptimizerState; training: TrainingState },
): Promise<string> {
  const root = checkpointsDir(runDir);
  await mkdir(root, { recursive: true });
  const name = `step-${opts.training.step}`;
  const tmp = join(root, `.tmp-${name}`);
  const final = join(root, name);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const tensors: Record<string, HostTensor> = {};
  for (const [key, x] of Object.entries(opts.trainable)) {
    const t = await arrayToHost(x.ref);
    const f = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
    const bad = f.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      await rm(tmp, { recursive: true, force: true });
      throw new CheckpointWriteError(
        `saveCheckpoint: parameter "${key}" holds ${f[bad]} at index ${bad} at step ${opts.training.step}; not writing ${final} (the last good checkpoint stays)`,
      );
    }
    tensors[key] = t;
  }
  await writeSafetensors(join(tmp, PARAMS_FILE), tensors, { format: FORMAT });
  await saveOptimizerState(join(tmp, OPTIMIZER_FILE), opts.optimizer, opts.state);
  const files: Record<string, FileRecord> = {};
  for (const f of [PARAMS_FILE, OPTIMIZER_FILE]) files[f] = await fileRecord(join(tmp, f));
  await writeFile(join(tmp, STATE_FILE), `${JSON.stringify({ format: FORMAT, ...opts.training, files })}\n`);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  return final;
}

/** The checkpoint folders of a run, newest first (complete or not). */
async function checkpointSteps(runDir: string): Promise<number[]> {
  const names = await readdir(checkpointsDir(runDir)).catch(() => [] as string[]);
  return names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}

/** The newest complete checkpoint (has state.json), or null. */
export async function latestCheckpoint(runDir: string): Promise<{ dir: string; step: number } | null> {
  for (const step of await checkpointSteps(runDir)) {
    const dir = join(checkpointsDir(runDir), `step-${step}`);
    try {
      await stat(join(dir, STATE_FILE));
      return { dir, step };
    } catch {
      /* incomplete: skip */
    }
  }
  return null;
}

/**
 * Why a checkpoint folder cannot be trusted, or null when every file is present with the size
 * and sha256 that state.json recorded (checkpoints written before hashes were recorded pass on
 * presence alone).
 */
export async function checkpointDamage(dir: string): Promise<string | null> {
  let raw: { format?: string; files?: Record<string, FileRecord> };
  try {
    raw = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8"));
  } catch (err) {
    return `${STATE_FILE} is missing or unreadable (${(err as Error).message.split("\n")[0]})`;
  }
  if (raw.format !== FORMAT) return `${STATE_FILE}: format is ${raw.format}, expected ${FORMAT}`;
  const expected = raw.files ?? { [PARAMS_FILE]: null, [OPTIMIZER_FILE]: null };
  for (const [name, rec] of Object.entries(expected)) {
    let got: FileRecord;
    try {
      got = await fileRecord(join(dir, name));
    } catch {
      return `${name} is missing`;
    }
    if (rec && got.bytes !== rec.bytes) return `${name} has ${got.bytes} bytes, state.json recorded ${rec.bytes}`;
    if (rec && got.sha256 !== rec.sha256) return `${name} does not match its recorded sha256 (the file is corrupt)`;
  }
  return null;
}

/**
 * Load the newest intact checkpoint of a run, falling back past damaged ones (each skip is
 * reported through `say`); null when the run has none. `like` names the trainable tensors.
 */
export async function restoreCheckpoint(
  runDir: string,
  optimizer: Optimizer,
  like: Params,
  say: (line: string) => void,
): Promise<{ dir: string; trainable: Params; state: OptimizerState; training: TrainingState } | null> {
  for (const step of await checkpointSteps(runDir)) {
    const dir = join(checkpointsDir(runDir), `step-${step}`);
    let why = await checkpointDamage(dir);
    if (why === null) {
      try {
        return { dir, ...(await loadCheckpoint(dir, optimizer, like)) };
      } catch (err) {
        why = (err as Error).message;
      }
    }
    say(`checkpoint ${dir} is damaged (${why}); falling back to the one before it`);
  }
  return null;
}

/** Keep the newest `keep` checkpoints (0 = all); remove stale temp folders. */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const root = checkpointsDir(runDir);
  const names = await readdir(root).catch(() => [] as string[]);
  for (const n of names) if (n.startsWith(".tmp-")) await rm(join(root, n), { recursive: true, force: true });
  if (keep <= 0) return;
  const steps = names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const s of steps.slice(keep)) await rm(join(root, `step-${s}`), { recursive: true, force: true });
}

/**
 * Read a checkpoint into arrays: the trainable params (their names and shapes must be
 * those of `like`, which is not consumed), the optimizer state and the training state.
 */
export async function loadCheckpoint(
  dir: string,
  optimizer: Optimizer,
  like: Params,
): Promise<{ trainable: Params; state: OptimizerState; training: TrainingState }> {
  const raw = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as TrainingState & { format?: string };
  if (raw.format !== FORMAT) throw new Error(`${dir}/${STATE_FILE}: format is ${raw.format}, expected ${FORMAT}`);
  const { tensors } = await readSafetensors(join(dir, PARAMS_FILE));
  const trainable: Params = {};
  const problems: string[] = [];
  for (const [name, p] of Object.entries(like)) {
    const t = tensors.get(name);
    if (!t) problems.push(`missing "${name}"`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
      problems.push(`"${name}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(p.shape)}`);
  }
  for (const name of tensors.keys()) if (!(name in like)) problems.push(`unexpected "${name}"`);
  if (problems.length) {
    throw new Error(`${dir}/${PARAMS_FILE}: does not match this run's parameters: ${problems.slice(0, 5).join("; ")}`);
  }
  for (const name of Object.keys(like)) trainable[name] = hostToArray(tensors.get(name)!, `${dir}: "${name}"`);
  try {
    const state = await loadOptimizerState(join(dir, OPTIMIZER_FILE), optimizer, trainable);
    return {
      trainable,
      state,
      training: {
        step: raw.step,
        dataPosition: raw.dataPosition,
        rng: raw.rng,
        seed: raw.seed,
        ...(raw.extra ? { extra: raw.extra } : {}),
      },
    };
  } catch (err) {
    disposeTree(trainable);
    throw err;
  }
}
