/**
 * `stepwise experiment generalization`: does chain of thought learnt by instruction tuning
 * survive a question asked differently, and reach a task family it never trained on?
 *
 * One base, three fine-tunings on the same problems, the same number of steps and the same
 * data order, differing only in how the questions are written:
 *   single   each generator's one wording per problem kind (what the demo trains on);
 *   pool     the training part of the wording pool (src/data/tasks/wordings.ts);
 *   mixed    the pool, plus questions wrapped in instruction phrasings, real instruction data
 *            (Alpaca) at a fixed share, and a mixture of direct and step-by-step targets.
 * Each fine-tuned model answers the same held-out problems (the problem split's test side),
 * greedily with the zero-shot CoT prompt, written four ways:
 *   (i)   in the wordings it trained on (single: the default; pool and mixed: the pool's
 *         training wordings), and for reference in the other of those two;
 *   (ii)  in the held-out wordings, which no fine-tuning ever saw;
 *   (iii) a held-out task family none of them fine-tuned on, zero-shot, with its chance level;
 *   (iv)  any extra record files given with `--also`.
 * Writes DIR/{single,pool,mixed}/ (sft runs: final/, metrics, and one eval/<set>/ per set),
 * DIR/data/, DIR/summary.json (src/runs/, kind "experiment") and DIR/report.html.
 * Resumable: a finished fine-tune or evaluation is reused; a stopped fine-tune resumes.
 */
import { mkdir, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { COT_PHRASINGS } from "../data/format.ts";
import type { CoTRecord, InstructionRecord } from "../data/records.ts";
import { generateDataset, problemFromRecord } from "../data/tasks/index.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { readRows } from "../demo/stages.ts";
import { initEngine } from "../engine/device.ts";
import { pathExists, writeDirAtomic, writeTextAtomic } from "../engine/files.ts";
import { disposeTree } from "../engine/memory.ts";
import { pairedBootstrap } from "../eval/bootstrap.ts";
import { wilsonInterval } from "../eval/metrics.ts";
import { saveModel } from "../model/checkpoint.ts";
import { createModel } from "../model/model.ts";
import { FINAL_DIR } from "../runs/layout.ts";
import { openRun, readSummary } from "../runs/run.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../tokenizer/train-bpe.ts";
import { readFiles } from "../train/sft-data.ts";
import { renderGeneralizationReport } from "./generalization-report.ts";
import type { GeneralizationSettings } from "./generalization-settings.ts";
import {
  GeneralizationError,
  type GeneralizationJob,
  readSet,
  runGeneralizationStage,
  runGeneralizationStageInChild,
  type SetResult,
} from "./generalization-stages.ts";

export {
  GENERALIZATION_DEFAULTS,
  GENERALIZATION_QUICK,
  type GeneralizationSettings,
  GeneralizationSettingsSchema,
} from "./generalization-settings.ts";
export { GeneralizationError, type SetResult } from "./generalization-stages.ts";

export const ARMS = ["single", "pool", "mixed"] as const;
export type Arm = (typeof ARMS)[number];

/** The evaluation sets: the same held-out problems in three wordings, the held-out family, and --also files. */
export type EvalSetName = "default" | "pool" | "heldout" | "family" | `also-${number}`;

export interface GeneralizationSummary {
  settings: GeneralizationSettings;
  also: string[];
  /** Chance level of the held-out family (mean over its problems of 1 / number of possible answers). */
  family_chance: number;
  /** The base before any fine-tuning, per set (all of them): what each arm kept or lost (absent in older summaries). */
  base?: Record<string, SetResult>;
  /** Per arm, per set. */
  results: Record<Arm, Record<string, SetResult>>;
  /** Per arm: (i) its trained wordings, (ii) held-out wordings, and the drop (i) − (ii), in points. */
  headline: Record<
    Arm,
    {
      trained: number;
      heldout: number;
      drop_points: number;
      /** 95% paired-bootstrap interval of the drop (absent in older summaries). */
      drop_ci_points?: { lo: number; hi: number } | null;
      family: number;
      /** 95% Wilson interval of the family's accuracy (absent in older summaries). */
      family_ci?: { lo: number; hi: number };
    }
  >;
  seconds: Record<string, number>;
}

/** 1 / the number of possible answers of a problem of `task`, or null when the answer is open (a number). */
export function chanceOf(record: CoTRecord): number | null {
  const p = problemFromRecord(record);
  if (!p) return null;
  const s = p.structured as { kind?: string; order?: string[] };
  if (p.task === "logic" && s.kind === "boolean") return 1 / 2;
  if (p.task === "logic" && s.kind === "ordering" && s.order) return 1 / s.order.length;
  return null;
}

/** Which wording set an arm trained on. */
const trainedSet = (arm: Arm): EvalSetName => (arm === "single" ? "default" : "pool");

export interface GeneralizationOptions {
  out: string;
  settings: GeneralizationSettings;
  also?: string[];
  log?: (line: string) => void;
  stream?: NodeJS.WriteStream;
  /** Run each fine-tune and each model's evaluation in a child process of its own (default true). */
  isolate?: boolean;
}

/** Run (or resume) the experiment. */
export async function runGeneralization(
  opts: GeneralizationOptions,
): Promise<{ summary: GeneralizationSummary; reportPath: string }> {
  const { out, settings: s } = opts;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const also = opts.also ?? [];
  if (s.tasks.includes(s.heldOutTask))
    throw new GeneralizationError(`experiment generalization: the held-out family ${s.heldOutTask} is also trained on`);
  const run = await openRun({
    dir: out,
    kind: "experiment",
    name: basename(out),
    mode: "resume",
    model: s.base.kind === "pretrained" ? s.base.dir : `scratch (initialised from seed ${s.seed})`,
    data: [join(out, "data")],
  });
  if (run.alreadyFinished) {
    // A finished experiment is never redone or rewritten: its summary is the answer.
    log(`experiment generalization: ${out} is finished; reusing it`);
    await run.close();
    return { summary: run.alreadyFinished as unknown as GeneralizationSummary, reportPath: join(out, "report.html") };
  }
  try {
    const summary = await stages(opts, s, also, log);
    await run.finish("finished", {
      figures: Object.fromEntries(
        ARMS.flatMap((a) => [
          [`${a}_trained`, summary.headline[a].trained],
          [`${a}_heldout`, summary.headline[a].heldout],
          [`${a}_family`, summary.headline[a].family],
        ]),
      ),
      outputs: { report: "report.html", ...Object.fromEntries(ARMS.map((a) => [a, join(a, FINAL_DIR)])) },
      extra: { experiment: "generalization", ...summary } as unknown as Record<string, unknown>,
    });
    return { summary, reportPath: join(out, "report.html") };
  } catch (err) {
    await run.finish("failed", { message: (err as Error).message });
    throw err;
  }
}

async function stages(
  opts: GeneralizationOptions,
  s: GeneralizationSettings,
  also: string[],
  log: (l: string) => void,
): Promise<GeneralizationSummary> {
  const { out } = opts;
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>) => {
    const t0 = performance.now();
    const r = await f();
    seconds[name] = (performance.now() - t0) / 1000;
    return r;
  };
  const dataDir = join(out, "data");
  await mkdir(dataDir, { recursive: true });

  // The base (one for all three arms) and its tokenizer.
  const baseDir = s.base.kind === "pretrained" ? s.base.dir : join(out, "base");
  const gen = { tasks: s.tasks, options: s.taskOptions };
  if (s.base.kind === "scratch" && !(await pathExists(join(baseDir, "config.json")))) {
    const texts = generateDataset({ ...gen, n: 200, seed: s.seed, split: "train", wordings: "train" }).map(
      (r) => `Q: ${r.question}\nA: ${r.chain_of_thought}\n#### ${r.answer}`,
    );
    // The only model this process builds itself; fine-tunes and evaluations run in their stages.
    await initEngine();
    const tokDir = join(out, "base-tokenizer");
    await rm(tokDir, { recursive: true, force: true });
    await saveTokenizer(tokDir, trainBpe(texts, { vocabSize: s.base.vocabSize, splitDigits: true }));
    const tok = await Tokenizer.fromDir(tokDir);
    const b = s.base;
    const model = createModel(
      {
        arch: "llama",
        vocabSize: tok.vocabSize,
        hiddenSize: b.hidden,
        numLayers: b.layers,
        numHeads: b.heads,
        numKvHeads: b.heads,
        intermediateSize: b.intermediate,
        maxPositionEmbeddings: 2 * (s.seqLen + s.maxNewTokens),
      },
      tok,
      { seed: s.seed },
    );
    try {
      await writeDirAtomic(baseDir, (tmp) => saveModel(tmp, model, { tokenizerFrom: tokDir }));
    } finally {
      disposeTree(model.params);
    }
  }
  const tokenizer = await Tokenizer.fromDir(baseDir);
  const fits = (prompt: string, target: string) =>
    tokenizer.encode(prompt, { addSpecialTokens: true }).length +
      tokenizer.encode(target, { addSpecialTokens: false }).length +
      1 <=
    s.seqLen + 1;
  const longest = COT_PHRASINGS.reduce((a, b) => (b.length > a.length ? b : a));
  // A problem is kept only if its longest training form fits, so every arm trains on the same problems.
  const cotFits = (r: CoTRecord, wrap = "") =>
    fits(`Q: ${wrap}${r.question.trim()}\nA: Let's think step by step.`, ` ${r.chain_of_thought}\n#### ${r.answer}`);

  const files = {
    single: join(dataDir, "train-single.jsonl"),
    pool: join(dataDir, "train-pool.jsonl"),
    instructions: join(dataDir, "instructions.jsonl"),
    sets: {} as Record<string, string>,
  };
  const evalSets: EvalSetName[] = ["default", "pool", "heldout", "family", ...also.map((_, i) => `also-${i}` as const)];
  for (const name of ["default", "pool", "heldout", "family"]) files.sets[name] = join(dataDir, `eval-${name}.jsonl`);
  also.forEach((p, i) => {
    files.sets[`also-${i}`] = p;
  });
  if (!(await pathExists(files.sets["family"]!))) {
    await timed("data", async () => {
      const n = s.trainProblems;
      const single = generateDataset({ ...gen, n: 4 * n, seed: s.seed, split: "train" });
      const pool = generateDataset({ ...gen, n: 4 * n, seed: s.seed, split: "train", wordings: "train" });
      const keep = single.flatMap((r, i) => (cotFits(r) && cotFits(pool[i]!, `${longest} `) ? [i] : []));
      if (keep.length < n)
        throw new GeneralizationError(
          `experiment generalization: only ${keep.length} of ${4 * n} training problems fit in seqLen ${s.seqLen}; ` +
            "raise seqLen or lower trainProblems",
        );
      await writeJsonlAtomic(
        files.single,
        keep.slice(0, n).map((i) => single[i]!),
      );
      await writeJsonlAtomic(
        files.pool,
        keep.slice(0, n).map((i) => pool[i]!),
      );
      // Held-out problems (the problem split's test side), the same ones in each wording.
      const seed = s.evalSet === "test" ? s.seed + 1 : s.seed + 2;
      const m = 3 * s.evalProblems;
      const worded = (wordings: "default" | "train" | "heldout", tasks = s.tasks) =>
        generateDataset({ tasks, options: s.taskOptions, n: m, seed, split: "test", wordings });
      let d = worded("default");
      let p = worded("train");
      let h = worded("heldout");
      if (s.evalSet === "validation") {
        // None of the test problems.
        const test = new Set(
          generateDataset({ ...gen, n: m, seed: s.seed + 1, split: "test" }).map((r) => String(r.meta?.canonical)),
        );
        const ok = d.map((r) => !test.has(String(r.meta?.canonical)));
        const keepOk = (xs: CoTRecord[]) => xs.filter((_, i) => ok[i]);
        [d, p, h] = [keepOk(d), keepOk(p), keepOk(h)];
      }
      const idx = d.flatMap((r, i) => (cotFits(r) && cotFits(p[i]!) && cotFits(h[i]!) ? [i] : []));
      const pick = (xs: CoTRecord[]) => idx.slice(0, s.evalProblems).map((i) => xs[i]!);
      await writeJsonlAtomic(files.sets["default"]!, pick(d));
      await writeJsonlAtomic(files.sets["pool"]!, pick(p));
      await writeJsonlAtomic(files.sets["heldout"]!, pick(h));
      const inst = (await readFiles([{ path: s.instructions, format: "alpaca" }], "instruction")).filter((r) =>
        fits(`Q: ${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}\nA:`, ` ${r.output}`),
      );
      await writeJsonlAtomic(files.instructions, inst as unknown as InstructionRecord[]);
      log(`  data: ${n} training problems, ${Math.min(idx.length, s.evalProblems)} held-out per set`);
      log(`  data: ${inst.length} instruction records of ${s.instructions} fit in ${s.seqLen} tokens`);
      const family = generateDataset({
        tasks: [s.heldOutTask],
        options: s.taskOptions,
        n: 3 * s.evalProblems,
        seed,
        split: "test",
      }).filter((r) => cotFits(r));
      await writeJsonlAtomic(files.sets["family"]!, family.slice(0, s.evalProblems));
    });
  }

  // Fine-tune the three arms, each in a child process of its own unless `isolate` is false.
  const io = { log, ...(opts.stream ? { stream: opts.stream } : {}) };
  const run = (job: GeneralizationJob) =>
    opts.isolate === false ? runGeneralizationStage(job, io) : runGeneralizationStageInChild(job, io);
  for (const arm of ARMS) {
    const runDir = join(out, arm);
    if ((await readSummary(runDir))?.status === "finished") {
      log(`fine-tune ${arm}: reusing ${runDir}`);
      continue;
    }
    log(`fine-tune ${arm}: ${s.steps} steps of ${s.microBatch}`);
    await timed(`train-${arm}`, () => run({ kind: "fine-tune", arm, runDir, baseDir, files, settings: s }));
  }

  // Evaluate the base (for reference: what each fine-tuning kept or lost) and every arm.
  const family = await readRows<CoTRecord>(files.sets["family"]!);
  const chances = family.map(chanceOf).filter((c): c is number => c !== null);
  const familyChance = chances.length ? chances.reduce((a, b) => a + b, 0) / chances.length : 0;
  /** Per problem, whether each evaluated set's answer was right, by the set's folder. */
  const correct = new Map<string, boolean[]>();
  const evaluateOn = async (name: string, modelDir: string, evalRoot: string, sets: readonly string[]) => {
    await timed(`eval-${name}`, () =>
      run({ kind: "evaluate", name, modelDir, tokDir: baseDir, evalRoot, sets: [...sets], files, settings: s }),
    );
    const byset: Record<string, SetResult> = {};
    for (const set of sets) {
      const r = await readSet(join(evalRoot, set));
      byset[set] = r.result;
      correct.set(join(evalRoot, set), r.correct);
    }
    return byset;
  };
  const base = await evaluateOn("base", baseDir, join(out, "base-eval"), evalSets);
  const results = {} as Record<Arm, Record<string, SetResult>>;
  // Each arm: its own training wordings, the held-out wordings, the family, the --also files.
  for (const arm of ARMS)
    results[arm] = await evaluateOn(
      arm,
      join(out, arm, FINAL_DIR),
      join(out, arm, "eval"),
      evalSets.filter((x) => x !== (arm === "single" ? "pool" : "default")),
    );
  // The drop with a paired bootstrap over problems (the wording sets hold the same problems in
  // the same order), the family's accuracy with a Wilson interval: both in the table.
  const headline = {} as GeneralizationSummary["headline"];
  for (const a of ARMS) {
    const trained = results[a][trainedSet(a)]!.accuracy;
    const heldout = results[a]["heldout"]!.accuracy;
    const t = correct.get(join(out, a, "eval", trainedSet(a)))!;
    const h = correct.get(join(out, a, "eval", "heldout"))!;
    const boot = pairedBootstrap(h.map(Number), t.map(Number), { seed: s.seed });
    const fam = correct.get(join(out, a, "eval", "family"))!;
    headline[a] = {
      trained,
      heldout,
      drop_points: 100 * (trained - heldout),
      drop_ci_points: boot.ci ? { lo: 100 * boot.ci.lo, hi: 100 * boot.ci.hi } : null,
      family: results[a]["family"]!.accuracy,
      family_ci: wilsonInterval(fam.filter(Boolean).length, fam.length),
    };
  }
  const summary: GeneralizationSummary = {
    settings: s,
    also,
    family_chance: familyChance,
    base,
    results,
    headline,
    seconds,
  };
  await writeTextAtomic(join(out, "report.html"), renderGeneralizationReport(summary));
  return summary;
}
