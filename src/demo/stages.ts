/**
 * The demo's two heavy stages, one variant at a time: fine-tune the base, and evaluate the
 * fine-tuned model on the held-out problems. Each reads and writes only files in the run
 * folder, so it can run in this process or in a child process of its own (src/engine/isolate.ts,
 * which says why: one process that trains three models and then generates with them can grow
 * jax-js's heap past its 4 GiB limit; a long run, `--steps 300`, did).
 */
import { join } from "node:path";
import { readRecords } from "../data/readers.ts";
import type { CoTRecord } from "../data/records.ts";
import { initEngine } from "../engine/device.ts";
import { writeDirAtomic } from "../engine/files.ts";
import type { StageIo } from "../engine/isolate.ts";
import { disposeTree } from "../engine/memory.ts";
import { writeEvalOutputs } from "../eval/report.ts";
import { evaluate } from "../eval/run.ts";
import { loadModel } from "../model/checkpoint.ts";
import { releaseCompiled } from "../model/generate.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseSftConfig, sftRecipeBlocks } from "../train/config.ts";
import { runSft } from "../train/sft.ts";
import type { DemoSettings } from "./settings.ts";
import type { Variant } from "./types.ts";

export class DemoError extends Error {
  override name = "DemoError";
}

/** One stage of one variant: everything it needs, as plain JSON (it crosses a process boundary). */
export interface StageJob {
  kind: "fine-tune" | "evaluate";
  variant: Variant;
  /**
   * Which held-out file an evaluation reads: the held-out problems as generated ("heldout",
   * into <variant>/eval/) or the same problems in held-out wordings ("wordings", into
   * <variant>/eval-wordings/).
   */
  set?: "heldout" | "wordings";
  /** The run folder. */
  out: string;
  settings: DemoSettings;
  /** The base model folder and the tokenizer folder. */
  baseDir: string;
  tokDir: string;
}

export const dataFiles = (out: string) => ({
  train: join(out, "data", "train.jsonl"),
  heldout: join(out, "data", "heldout.jsonl"),
  heldoutLoss: join(out, "data", "heldout-loss.jsonl"),
  /** The held-out problems again, in the wording pool's held-out wordings (problems.ts). */
  heldoutWordings: join(out, "data", "heldout-wordings.jsonl"),
  /** Held-out-split problems, none of the test ones, for choosing later runs' settings (problems.ts). */
  validation: join(out, "data", "validation.jsonl"),
});

/** Every row of a JSONL file the run wrote (records, metrics, evaluations); a bad row throws with its line. */
export async function readRows<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    out.push(r.value as T);
  }
  return out;
}

export type { StageIo };

/** Fine-tune the base on the training problems with this variant's targets; writes <out>/<variant>/. */
export async function fineTune(job: StageJob, io: StageIo): Promise<void> {
  const { out, settings: s, variant: v } = job;
  const files = dataFiles(out);
  const runDir = join(out, v);
  const config = parseSftConfig(
    {
      name: v,
      out: runDir,
      model: job.baseDir,
      data: {
        train: { files: [{ path: files.train, format: "cot" }] },
        eval: { files: [{ path: files.heldoutLoss, format: "cot" }] },
        template: "qa",
        directFraction: v === "direct" ? 1 : v === "mixed" ? s.mixedDirectFraction : 0,
      },
      ...sftRecipeBlocks(s),
      steps: s.steps,
      eval: { every: s.evalEvery, n: 0 },
      checkpoint: { every: s.checkpointEvery, keep: 2 },
      seed: s.seed,
      logEvery: Math.max(1, Math.round(s.steps / 20)),
    },
    `demo ${v}`,
  );
  const res = await runSft(config, { resume: true, ...(io.stream ? { stream: io.stream } : {}) });
  if (res.status.kind !== "done") throw new DemoError(`demo: fine-tuning ${v} stopped: ${res.status.message}`);
}

/** The folder an evaluation of `variant` on `set` writes. */
export const evalDirOf = (out: string, variant: Variant, set: StageJob["set"] = "heldout") =>
  join(out, variant, set === "wordings" ? "eval-wordings" : "eval");

/**
 * Greedy answers of the fine-tuned model to every held-out problem (or to the same problems in
 * held-out wordings); writes evalDirOf(out, variant, set).
 */
export async function evaluateVariant(job: StageJob, io: StageIo): Promise<void> {
  const { out, settings: s, variant: v } = job;
  const files = dataFiles(out);
  const heldout = await readRows<CoTRecord>(job.set === "wordings" ? files.heldoutWordings : files.heldout);
  const tokenizer = await Tokenizer.fromDir(job.tokDir);
  const evalDir = evalDirOf(out, v, job.set);
  await initEngine();
  const model = await loadModel(join(out, v, "final"));
  try {
    const res = await evaluate({
      model,
      tokenizer,
      records: heldout,
      prompting: v === "direct" ? "zero" : "zero-cot",
      maxNewTokens: s.maxNewTokens,
      batchSize: s.evalBatch,
      seed: s.seed,
      onProgress: (done, n) => io.log(`  ${v}: ${done}/${n} answered`),
    });
    await writeDirAtomic(evalDir, (tmp) => writeEvalOutputs(tmp, res));
  } finally {
    disposeTree(model.params);
    releaseCompiled(model.config);
  }
}

/** Run a job in this process. */
export function runStage(job: StageJob, io: StageIo): Promise<void> {
  return job.kind === "fine-tune" ? fineTune(job, io) : evaluateVariant(job, io);
}
