/**
 * The main job (`stepwise demo`, `npm start`): does training on chains of thought beat
 * training on direct answers, for the same base model, problems and number of steps?
 *
 *   1. data       generated problems of several domains (src/data/tasks): a training set and a
 *                 held-out set (the split is a hash of each problem, so they never share one),
 *                 and validation problems for later runs' settings (problems.ts: how each is drawn)
 *   2. tokenizer  byte-level BPE with one token per digit, trained on the training texts
 *   3. base       a Llama-style model initialised from the seed: THE base of all three runs
 *   4. fine-tune  three full fine-tunings of that base on the same problems, same steps, same
 *                 data order, differing only in the targets (types.ts: direct, cot, mixed)
 *   5. evaluate   greedy answers to every held-out problem: strict and flexible accuracy, step
 *                 validity (task checkers), BLEU / ROUGE-L of the chains against the references;
 *                 then to the same problems asked in held-out wordings (src/data/tasks/wordings.ts),
 *                 which no variant trained on: does the reasoning survive a question asked differently?
 *   6. report     summary.json and a self-contained report.html
 *
 * Resumable: every stage writes its outputs atomically into the run folder and is skipped
 * when they are there; a fine-tuning stopped midway continues from its newest checkpoint
 * (runSft --resume reads exactly the batches the uninterrupted run would have read). The
 * settings are stored in settings.json: a folder made with other settings is refused
 * rather than mixed.
 */

import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CoTRecord } from "../data/records.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { initEngine } from "../engine/device.ts";
import { pathExists as exists, writeDirAtomic, writeTextAtomic } from "../engine/files.ts";
import { disposeTree } from "../engine/memory.ts";
import type { EvalExample } from "../eval/score.ts";
import { saveModel } from "../model/checkpoint.ts";
import { createModel } from "../model/model.ts";
import { EVAL_FILE, EXAMPLES_FILE, FINAL_DIR, METRICS_FILE, SUMMARY_FILE } from "../runs/layout.ts";
import { openRun, readSummary } from "../runs/run.ts";
import { machine, versions } from "../runs/version.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../tokenizer/train-bpe.ts";
import { qaExample } from "../train/sft-data.ts";
import { setName } from "./format.ts";
import { runStageInChild } from "./isolate.ts";
import { LABELS } from "./labels.ts";
import { heldoutProblems, takeFitting, trainCandidates, VALIDATION_PROBLEMS } from "./problems.ts";
import { renderReport } from "./report.ts";
import type { DemoSettings } from "./settings.ts";
import { DemoError, dataFiles, evalDirOf, readRows, runStage, type StageIo, type StageJob } from "./stages.ts";
import { cotVsDirect, majorityBaseline, wordingDrop } from "./stats.ts";
import {
  type CurvePoint,
  type DemoSummary,
  type HeldOutPoint,
  VARIANTS,
  type Variant,
  type VariantReport,
  type VariantResult,
} from "./types.ts";

export interface DemoOptions {
  /** The run folder (default runs/demo). */
  out: string;
  settings: DemoSettings;
  /** Delete the run folder first instead of resuming. */
  fresh?: boolean;
  /** Progress lines (default stderr). */
  log?: (line: string) => void;
  /** Where runSft writes its own progress (default stderr). */
  stream?: NodeJS.WriteStream;
  /**
   * Run each fine-tuning and evaluation in a child process of its own (stages.ts says why);
   * `stepwise demo` does. Results are the same either way.
   */
  isolate?: boolean;
}

export interface DemoResult {
  summary: DemoSummary;
  summaryPath: string;
  reportPath: string;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** The first key whose value differs between two settings objects, or null. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return k;
  }
  return null;
}

/**
 * Settings added after folders were written without them, each with the value that computes what
 * those folders hold, so such a folder is resumed (gaining only the newer stages) rather than refused.
 */
const ADDED_SETTINGS: Partial<Record<keyof DemoSettings, unknown>> = { wordings: "default" };

/** Stage timings, accumulated across resumed runs (stages.json). */
type Stages = Record<string, number>;

/** The training texts of one problem in both formats, as sft formats them (for the tokenizer). */
function texts(r: CoTRecord): string[] {
  return [qaExample(r, true), qaExample(r, false)].map((e) => e.prompt + e.target);
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** One row of the results table from an evaluation's examples (see types.ts for each field). */
export function variantResult(
  examples: readonly EvalExample[],
  report: { accuracy_strict: number; accuracy_flexible: number; bleu: number | null; rougeL: number | null },
  trainTokens: number,
  seconds: number,
  /** The same problems in held-out wordings, when they were evaluated. */
  reworded?: readonly EvalExample[],
): VariantResult {
  const n = examples.length;
  const strict = (xs: readonly EvalExample[]) =>
    xs.length === 0 ? 0 : xs.filter((e) => e.correct_strict).length / xs.length;
  return {
    accuracy_strict: report.accuracy_strict,
    accuracy_flexible: report.accuracy_flexible,
    ...(reworded ? { accuracy_heldout_wordings: strict(reworded), wording_drop: wordingDrop(examples, reworded) } : {}),
    // Over ALL held-out outputs: an answer without a valid chain (a direct answer) counts as not valid.
    step_validity: n === 0 ? 0 : examples.filter((e) => e.steps.valid).length / n,
    bleu: report.bleu ?? 0,
    rougeL: report.rougeL ?? 0,
    train_tokens: trainTokens,
    seconds,
  };
}

/** Run (or resume) the demo; see the file header. */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const { out, settings: s } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (opts.fresh) await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const settingsPath = join(out, "settings.json");
  if (await exists(settingsPath)) {
    const before: Record<string, unknown> = {
      ...ADDED_SETTINGS,
      ...(await readJson<Record<string, unknown>>(settingsPath)),
    };
    const key = firstDifference(before, s as unknown as Record<string, unknown>);
    if (key !== null) {
      throw new DemoError(
        `demo: ${out} was started with different settings (${key}: ${JSON.stringify(before[key])} there, ` +
          `${JSON.stringify((s as unknown as Record<string, unknown>)[key])} now); pass --fresh to start over, or --out another folder`,
      );
    }
  } else await writeTextAtomic(settingsPath, `${JSON.stringify(s, null, 2)}\n`);
  // The demo is a run like any other (runs/run.ts): locked while it runs, always resumed, and
  // its summary.json carries the common head (kind "demo", status, model, figures) that the
  // dashboard reads, with the demo's own fields beside it.
  const run = await openRun({
    dir: out,
    kind: "demo",
    name: basename(out),
    mode: "resume",
    model: s.base.kind === "pretrained" ? s.base.dir : `scratch (initialised from seed ${s.seed})`,
    data: [join(out, "data")],
  });
  try {
    const summary = await demoStages(opts, log);
    const results = summary.results;
    const finished = await run.finish("finished", {
      figures: Object.fromEntries(
        VARIANTS.flatMap((v) => [
          [`${v}_accuracy`, results[v].accuracy_strict],
          [`${v}_heldout_wordings_accuracy`, results[v].accuracy_heldout_wordings ?? null],
        ]),
      ),
      outputs: {
        report: "report.html",
        ...Object.fromEntries(VARIANTS.map((v) => [v, join(v, FINAL_DIR)])),
      },
      extra: summary as unknown as Record<string, unknown>,
    });
    return {
      summary: finished as unknown as DemoSummary,
      summaryPath: join(out, SUMMARY_FILE),
      reportPath: join(out, "report.html"),
    };
  } catch (err) {
    await run.finish("failed", { message: (err as Error).message });
    throw err;
  }
}

/** Steps 1–6 of the header inside the locked run folder; returns the demo's own summary fields. */
async function demoStages(opts: DemoOptions, log: (line: string) => void): Promise<DemoSummary> {
  const { out, settings: s } = opts;
  const stagesPath = join(out, "stages.json");
  const stages: Stages = (await exists(stagesPath)) ? await readJson<Stages>(stagesPath) : {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    stages[name] = (stages[name] ?? 0) + (performance.now() - t0) / 1000;
    await writeTextAtomic(stagesPath, `${JSON.stringify(stages, null, 2)}\n`);
    return r;
  };
  const engine = await initEngine();
  const total = 4 + 2 * VARIANTS.length; // data, tokenizer, base, 3 × fine-tune, 3 × evaluate (both wordings), report
  let stageNo = 0;
  const stage = (what: string) => log(`demo [${++stageNo}/${total}] ${what}`);

  // 1–3. Problems, the base model (one for every variant) and its tokenizer, then the data
  // files: only problems whose worked solution fits in seqLen tokens, so every variant trains
  // on exactly the same problems (nothing is dropped for being long in one format only).
  const dataDir = join(out, "data");
  const {
    train: trainPath,
    heldout: heldoutPath,
    heldoutLoss: lossPath,
    validation: validationPath,
    heldoutWordings: wordingsPath,
  } = dataFiles(out);
  const haveData = await exists(lossPath);
  stage(
    haveData
      ? `data: reusing ${dataDir}`
      : `data: generating ${s.trainProblems} training and ${s.heldout} held-out problems (${s.tasks.join(", ")})`,
  );
  // Candidates: twice what is needed, for the length filter; deterministic and cheap, so drawn again on resume.
  const candidates = trainCandidates(s);
  const { baseDir, tokDir } = await prepareBase(out, s, candidates, { stage, timed });
  const tokenizer = await Tokenizer.fromDir(tokDir);
  if (!haveData) {
    await timed("data", async () => {
      await mkdir(dataDir, { recursive: true });
      const train = takeFitting(s, tokenizer, candidates, s.trainProblems, "training", log);
      const held = heldoutProblems(s, tokenizer, s.evalSet, log);
      await writeJsonlAtomic(trainPath, train);
      await writeJsonlAtomic(heldoutPath, held);
      await writeJsonlAtomic(lossPath, held.slice(0, s.heldOutLossProblems));
    });
  }
  // The validation problems of later runs (recipes/grpo-demo.yaml and the other RL recipes choose
  // their settings on these): written apart from the stage above, so a finished folder gains them too.
  if (!(await exists(validationPath))) {
    const n = Math.max(s.heldout, VALIDATION_PROBLEMS);
    await writeJsonlAtomic(validationPath, heldoutProblems(s, tokenizer, "validation", undefined, n));
  }
  // The held-out problems again, each question in a held-out wording of its kind's pool.
  if (!(await exists(wordingsPath))) {
    await writeJsonlAtomic(wordingsPath, heldoutProblems(s, tokenizer, s.evalSet, undefined, s.heldout, "heldout"));
  }
  const heldout = await readRows<CoTRecord>(heldoutPath);

  // 4–5. Fine-tune the base three times, then evaluate each fine-tuned model on every
  // held-out problem (stages.ts; each in a child process of its own when `isolate`).
  const io: StageIo = { log, ...(opts.stream ? { stream: opts.stream } : {}) };
  const run = (job: StageJob) => (opts.isolate ? runStageInChild(job, io) : runStage(job, io));
  const job = (kind: StageJob["kind"], variant: Variant, set: StageJob["set"] = "heldout"): StageJob => ({
    kind,
    variant,
    set,
    out,
    settings: s,
    baseDir,
    tokDir,
  });
  for (const v of VARIANTS) {
    const runDir = join(out, v);
    if ((await readSummary(runDir))?.status === "finished") {
      stage(`fine-tune ${v}: reusing ${runDir}`);
      continue;
    }
    stage(`fine-tune ${v}: ${s.steps} steps of ${s.microBatch} problems (${LABELS[v].description})`);
    await timed(`train-${v}`, () => run(job("fine-tune", v)));
  }
  for (const v of VARIANTS) {
    const evalDir = evalDirOf(out, v);
    const wordingsDir = evalDirOf(out, v, "wordings");
    if ((await exists(join(evalDir, SUMMARY_FILE))) && (await exists(join(wordingsDir, SUMMARY_FILE)))) {
      stage(`evaluate ${v}: reusing ${evalDir} and ${wordingsDir}`);
      continue;
    }
    stage(
      `evaluate ${v}: ${heldout.length} ${setName(s.evalSet)} problems, greedy, as generated and in held-out wordings`,
    );
    if (!(await exists(join(evalDir, SUMMARY_FILE)))) await timed(`eval-${v}`, () => run(job("evaluate", v)));
    if (!(await exists(join(wordingsDir, SUMMARY_FILE))))
      await timed(`eval-wordings-${v}`, () => run(job("evaluate", v, "wordings")));
  }

  // 6. Summary and report.
  stage("report: summary.json and report.html");
  const reports: VariantReport[] = [];
  for (const v of VARIANTS) {
    const dir = join(out, v);
    const metrics = await readRows<{ step: number; loss: number; tokens: number }>(join(dir, METRICS_FILE));
    const heldOut = await readRows<HeldOutPoint>(join(dir, EVAL_FILE));
    const examples = await readRows<EvalExample>(join(evalDirOf(out, v), EXAMPLES_FILE));
    const report = await readJson<{
      accuracy_strict: number;
      accuracy_flexible: number;
      bleu: number | null;
      rougeL: number | null;
    }>(join(evalDirOf(out, v), SUMMARY_FILE));
    const reworded = await readRows<EvalExample>(join(evalDirOf(out, v, "wordings"), EXAMPLES_FILE));
    const curve: CurvePoint[] = metrics.map((m) => ({ step: m.step, loss: m.loss }));
    reports.push({
      variant: v,
      ...LABELS[v],
      result: variantResult(examples, report, sum(metrics.map((m) => m.tokens)), stages[`train-${v}`] ?? 0, reworded),
      curve,
      heldOut,
      examples,
    });
  }
  const examplesOf = (v: Variant) => reports.find((r) => r.variant === v)!.examples;
  const byTask: Record<string, Record<Variant, number>> = {};
  for (const r of reports) {
    const groups = new Map<string, EvalExample[]>();
    for (const e of r.examples) groups.set(e.task, [...(groups.get(e.task) ?? []), e]);
    for (const [task, xs] of groups) {
      byTask[task] ??= { direct: 0, cot: 0, mixed: 0 };
      byTask[task][r.variant] = xs.filter((e) => e.correct_strict).length / xs.length;
    }
  }
  const summary: DemoSummary = {
    heldout: heldout.length,
    eval_set: s.evalSet,
    seed: s.seed,
    results: Object.fromEntries(reports.map((r) => [r.variant, r.result])) as Record<Variant, VariantResult>,
    chance_accuracy: majorityBaseline(await readRows<CoTRecord>(trainPath), heldout),
    cot_minus_direct: cotVsDirect(examplesOf("direct"), examplesOf("cot")),
    by_task: byTask,
    seeds: {
      train_problems: s.seed,
      heldout_problems: s.seed + (s.evalSet === "validation" ? 2 : 1),
      init: s.seed,
      data_order: s.seed,
      format_mix: s.seed,
      evaluation: s.seed,
    },
    versions: versions(),
    machine: machine(engine.threads),
    settings: s as unknown as Record<string, unknown>,
    total_seconds: sum(Object.values(stages)),
    finished: new Date().toISOString(),
  };
  await writeTextAtomic(join(out, "report.html"), renderReport(summary, reports));
  return summary;
}

interface StageHooks {
  stage: (what: string) => void;
  timed: <T>(name: string, f: () => Promise<T>) => Promise<T>;
}

/**
 * The base and its tokenizer: a pre-trained folder as it is, or (scratch) a byte-level BPE
 * tokenizer with one token per digit trained on the training texts and a model initialised
 * from the seed, saved in the run folder.
 */
async function prepareBase(
  out: string,
  s: DemoSettings,
  train: readonly CoTRecord[],
  { stage, timed }: StageHooks,
): Promise<{ baseDir: string; tokDir: string }> {
  const b = s.base;
  if (b.kind === "pretrained") {
    if (!(await exists(join(b.dir, "config.json")))) {
      throw new DemoError(
        `demo: the pre-trained base ${b.dir} is missing (no config.json); rebuild it with ` +
          "node --import tsx scripts/pretrain-demo-base.ts",
      );
    }
    stage(`tokenizer: the pre-trained base's (${b.dir})`);
    const model = JSON.parse(await readFile(join(b.dir, "config.json"), "utf8")) as Record<string, unknown>;
    stage(
      `base: pre-trained ${String(model.model_type)} from ${b.dir}, hidden ${String(model.hidden_size)}, ` +
        `${String(model.num_hidden_layers)} layers (scripts/pretrain-demo-base.ts rebuilds it)`,
    );
    return { baseDir: b.dir, tokDir: b.dir };
  }
  const tokDir = join(out, "tokenizer");
  if (await exists(join(tokDir, "tokenizer.json"))) stage(`tokenizer: reusing ${tokDir}`);
  else {
    stage(`tokenizer: byte-level BPE, ${b.vocabSize} tokens, one token per digit`);
    await timed("tokenizer", async () => {
      await writeDirAtomic(tokDir, (tmp) =>
        saveTokenizer(tmp, trainBpe(train.flatMap(texts), { vocabSize: b.vocabSize, splitDigits: true })),
      );
    });
  }
  const tokenizer = await Tokenizer.fromDir(tokDir);
  const baseDir = join(out, "base");
  if (await exists(join(baseDir, "config.json"))) stage(`base: reusing ${baseDir}`);
  else {
    const m = b.model;
    stage(
      `base: Llama-style, hidden ${m.hidden}, ${m.layers} layers, ${m.heads} heads, initialised from seed ${s.seed}`,
    );
    await timed("base", async () => {
      const model = createModel(
        {
          arch: "llama",
          vocabSize: tokenizer.vocabSize,
          hiddenSize: m.hidden,
          numLayers: m.layers,
          numHeads: m.heads,
          numKvHeads: m.kvHeads,
          intermediateSize: m.intermediate,
          maxPositionEmbeddings: 2 * (s.seqLen + s.maxNewTokens),
        },
        tokenizer,
        { seed: s.seed },
      );
      try {
        await writeDirAtomic(baseDir, (tmp) => saveModel(tmp, model, { tokenizerFrom: tokDir }));
      } finally {
        disposeTree(model.params);
      }
    });
  }
  return { baseDir, tokDir };
}

export { DemoError } from "./stages.ts";
