/**
 * The generalization experiment's two heavy stages: fine-tune one arm, and evaluate one model
 * on some of the experiment's sets. Each reads and writes only files in the experiment folder
 * and takes a plain-JSON job, so it runs in this process or in a child process of its own
 * (src/engine/isolate.ts says why: one process that trained three models and then generates
 * with four grew jax-js's heap past its 4 GiB limit).
 */
import { join } from "node:path";
import type { DataFileConfig } from "../config/blocks.ts";
import type { CoTRecord } from "../data/records.ts";
import { readRows } from "../demo/stages.ts";
import { initEngine } from "../engine/device.ts";
import { pathExists, writeDirAtomic } from "../engine/files.ts";
import { runInChild, type StageIo } from "../engine/isolate.ts";
import { disposeTree } from "../engine/memory.ts";
import { writeEvalOutputs } from "../eval/report.ts";
import { evaluate } from "../eval/run.ts";
import type { EvalExample } from "../eval/score.ts";
import { loadModel } from "../model/checkpoint.ts";
import { releaseCompiled } from "../model/generate.ts";
import { EXAMPLES_FILE, SUMMARY_FILE } from "../runs/layout.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseSftConfig, sftRecipeBlocks } from "../train/config.ts";
import { runSft } from "../train/sft.ts";
import type { GeneralizationSettings } from "./generalization-settings.ts";

export class GeneralizationError extends Error {
  override name = "GeneralizationError";
}

/** The experiment's data files (DIR/data/), and every evaluation set's file by name. */
export interface GeneralizationFiles {
  single: string;
  pool: string;
  instructions: string;
  sets: Record<string, string>;
}

export type GeneralizationJob =
  | {
      kind: "fine-tune";
      arm: "single" | "pool" | "mixed";
      runDir: string;
      baseDir: string;
      files: GeneralizationFiles;
      settings: GeneralizationSettings;
    }
  | {
      kind: "evaluate";
      /** What the log calls the model. */
      name: string;
      modelDir: string;
      /** The tokenizer's folder (the base's). */
      tokDir: string;
      /** One folder per set under it: `evalRoot/<set>/` (examples.jsonl, summary.json). */
      evalRoot: string;
      sets: string[];
      files: GeneralizationFiles;
      settings: GeneralizationSettings;
    };

/** Fine-tune one arm from the base (resumes a stopped run). */
async function fineTuneArm(job: Extract<GeneralizationJob, { kind: "fine-tune" }>, io: StageIo): Promise<void> {
  const { arm, files, settings: s } = job;
  const instructionFiles: DataFileConfig[] = [{ path: files.instructions, format: "alpaca" }];
  const config = parseSftConfig(
    {
      name: arm,
      out: job.runDir,
      model: job.baseDir,
      data: {
        train: { files: [{ path: arm === "single" ? files.single : files.pool, format: "cot" }] },
        eval: { files: [{ path: files.sets["default"]!, format: "cot" }] },
        template: "qa",
        ...(arm === "mixed"
          ? {
              directFraction: s.mixed.directFraction,
              phrasings: true,
              phrasingFraction: s.mixed.phrasingFraction,
              bareFraction: s.mixed.bareFraction,
              instructions: instructionFiles,
              instructionFraction: s.mixed.instructionFraction,
            }
          : {}),
      },
      ...sftRecipeBlocks(s),
      steps: s.steps,
      eval: { every: s.steps, n: 0 },
      checkpoint: { every: Math.max(1, Math.round(s.steps / 3)), keep: 1 },
      seed: s.seed,
      logEvery: Math.max(1, Math.round(s.steps / 10)),
    },
    `experiment generalization ${arm}`,
  );
  const res = await runSft(config, { resume: true, ...(io.stream ? { stream: io.stream } : {}) });
  if (res.status.kind !== "done")
    throw new GeneralizationError(`experiment generalization: fine-tuning ${arm} stopped: ${res.status.message}`);
}

/** Evaluate one model greedily with the zero-shot CoT prompt on each set not yet evaluated. */
async function evaluateSets(job: Extract<GeneralizationJob, { kind: "evaluate" }>, io: StageIo): Promise<void> {
  const { settings: s } = job;
  const todo: string[] = [];
  for (const set of job.sets) if (!(await pathExists(join(job.evalRoot, set, SUMMARY_FILE)))) todo.push(set);
  if (todo.length === 0) return;
  const tokenizer = await Tokenizer.fromDir(job.tokDir);
  const model = await loadModel(job.modelDir);
  try {
    for (const set of todo) {
      const dir = join(job.evalRoot, set);
      const records = await readRows<CoTRecord>(job.files.sets[set]!);
      io.log(`evaluate ${job.name} on ${set}: ${records.length} problems, greedy`);
      const res = await evaluate({
        model,
        tokenizer,
        records,
        prompting: "zero-cot",
        maxNewTokens: s.maxNewTokens,
        batchSize: s.evalBatch,
        seed: s.seed,
      });
      await writeDirAtomic(dir, (tmp) => writeEvalOutputs(tmp, res));
    }
  } finally {
    disposeTree(model.params);
    releaseCompiled(model.config);
  }
}

/** Run one stage here (the child process calls this too). */
export async function runGeneralizationStage(job: GeneralizationJob, io: StageIo): Promise<void> {
  await initEngine();
  if (job.kind === "fine-tune") await fineTuneArm(job, io);
  else await evaluateSets(job, io);
}

/** Run one stage in a child process of its own. */
export function runGeneralizationStageInChild(job: GeneralizationJob, io: StageIo): Promise<void> {
  const what = job.kind === "fine-tune" ? `fine-tuning ${job.arm}` : `evaluating ${job.name}`;
  return runInChild(
    { module: import.meta.url, fn: "runGeneralizationStage", job },
    io,
    (how, tail) =>
      new GeneralizationError(
        `experiment generalization: the child process ${what} ${how}; run the experiment again to resume.\n${tail.join("\n")}`,
      ),
  );
}

export interface SetResult {
  n: number;
  accuracy: number;
  step_validity: number;
}

/**
 * One evaluated set: its strict accuracy and step validity, and per problem (in file order)
 * whether the strict answer was right (for intervals).
 */
export async function readSet(dir: string): Promise<{ result: SetResult; correct: boolean[] }> {
  const examples = await readRows<EvalExample>(join(dir, EXAMPLES_FILE));
  const n = examples.length;
  const correct = examples.map((e) => e.correct_strict);
  return {
    result: {
      n,
      accuracy: n ? correct.filter(Boolean).length / n : 0,
      step_validity: n ? examples.filter((e) => e.steps.valid).length / n : 0,
    },
    correct,
  };
}
