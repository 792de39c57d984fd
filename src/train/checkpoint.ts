/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit.
 *
 *   <run>/checkpoints/step-N/
 *     params.safetensors      the trainable parameters (the whole model for full fine-tuning), F32
 *     optimizer.safetensors   optimizer state (engine/optim-state.ts)
 *     state.json              {step, dataPosition, rng, seed, format} — written last
 *
 * Atomicity: a checkpoint is written into `checkpoints/.tmp-step-N`, then renamed to
 * `step-N` in one `rename` (atomic on one file system). A run killed mid-write leaves
 * only a `.tmp-*` folder, which `latestCheckpoint` ignores and the next save removes.
 * A checkpoint with a non-finite parameter is refused (CheckpointWriteError), so the
 * last checkpoint on disk is always a good one.
 */
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
  await writeFile(join(tmp, STATE_FILE), `${JSON.stringify({ format: FORMAT, ...opts.training })}\n`);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  return final;
}

/** The newest complete checkpoint (has state.json), or null. */
export async function latestCheckpoint(runDir: string): Promise<{ dir: string; step: number } | null> {
  const root = checkpointsDir(runDir);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return null;
  }
  const steps = names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  for (const step of steps) {
    const dir = join(root, `step-${step}`);
    try {
      await stat(join(dir, STATE_FILE));
      return { dir, step };
    } catch {
      /* incomplete: skip */
    }
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
      training: { step: raw.step, dataPosition: raw.dataPosition, rng: raw.rng, seed: raw.seed },
    };
  } catch (err) {
    disposeTree(trainable);
    throw err;
  }
}
