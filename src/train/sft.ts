/**
 * Supervised fine-tuning for chain of thought: minimise the NLL of the target tokens (the chain
 * and the answer line, then EOS) given the prompt (nll.ts), full or LoRA / QLoRA (finetune.ts),
 * through the shared step (loop.ts) and run life (session.ts).
 *
 *   runSft(config, {resume, overwrite})
 *     data → text examples → tokens (sft-data.ts) → fixed-shape micro-batches (nll.ts)
 *     → trainLoop, writing metrics.jsonl, eval.jsonl, samples.jsonl, checkpoints/, final/
 *       and summary.json in the run folder (runs/layout.ts)
 *
 * Held-out loss, generations and accuracy always see the materialized weights (base +
 * (α/r)·B A; dequantised base for QLoRA). At each evaluated step the eval rows are written
 * before the checkpoint of that step, so a resume cuts the logs back exactly (runs/jsonl.ts).
 *
 * Shapes: every row is right-padded to batch.seqLen (one compiled micro-step), or with
 * batch.padMultiple = m to the next multiple of m holding the micro-batch's longest row.
 */
import { join } from "node:path";
import { describeSource, optimizerOf } from "../config/blocks.ts";
import { dashboardHint } from "../dashboard/hint.ts";
import { type TokenizedExample, tokenizeDataset } from "../data/tokenize.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import { type Params, paramNames } from "../engine/params.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { makeSchedule, type Schedule } from "../engine/schedules.ts";
import { evaluate } from "../eval/run.ts";
import { isSeq2seq } from "../model/config.ts";
import { releaseCompiled } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { EVAL_FILE, METRICS_FILE, runDirOf, SAMPLES_FILE, TOKENIZER_DIR } from "../runs/layout.ts";
import type { OpenMode } from "../runs/run.ts";
import type { SftConfig } from "./config.ts";
import { disposeFineTune, exportFinal, setupFineTune, startingModel, weightsOf } from "./finetune.ts";
import { heldOutLoss, makeStepFunctions, type StepMetrics, type TrainStatus, trainLoop } from "./loop.ts";
import {
  type MicroBatch,
  maskRowsFrom,
  paddedLength,
  seq2seqLengths,
  sftObjective,
  toMicroBatch,
  toSeq2seqMicroBatch,
} from "./nll.ts";
import { makeProgress } from "./progress.ts";
import { openSession, resumeCommand } from "./session.ts";
import { buildTokenizer, formatAll, loadRecords, readFiles, stepIndices } from "./sft-data.ts";

export { ADAPTER_DIR, EVAL_FILE, METRICS_FILE, SAMPLES_FILE } from "../runs/layout.ts";
export { paddedLength, toMicroBatch } from "./nll.ts";
export { formatAll, qaExample, stepIndices } from "./sft-data.ts";

export interface SftOptions {
  /** Continue from the newest intact checkpoint in the run folder. */
  resume?: boolean;
  /** Delete a run already in the folder and start again. */
  overwrite?: boolean;
  /** Where progress goes (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Replace the schedule (tests inject an absurd learning rate). */
  schedule?: Schedule;
  /** Catch SIGINT/SIGTERM for a clean stop (default true). */
  signals?: boolean;
}

export interface EvalPoint {
  step: number;
  loss: number;
  perplexity: number;
  accuracy: number | null;
}

export interface SftResult {
  runDir: string;
  status: TrainStatus;
  step: number;
  totalSteps: number;
  evals: EvalPoint[];
  seconds: number;
}

/** The run folder of a config: `out`, else runs/<name>. */
export function sftRunDir(config: SftConfig): string {
  return runDirOf(config, "sft");
}

/** Run SFT as the config says (see the header). */
export async function runSft(config: SftConfig, opts: SftOptions = {}): Promise<SftResult> {
  const started = performance.now();
  await initEngine();
  const runDir = sftRunDir(config);
  const progressStream = opts.stream ?? process.stderr;
  const say = (line: string) => progressStream.write(`${line}\n`);
  const mode: OpenMode = opts.resume ? "resume" : opts.overwrite ? "overwrite" : "new";
  const session = await openSession({
    dir: runDir,
    kind: "sft",
    name: config.name ?? "sft",
    mode,
    model: config.model ?? `init (${config.init!.arch}, hidden ${config.init!.hidden}, ${config.init!.layers} layers)`,
    data: describeSource(config.data.train),
    say,
    ...(opts.signals === undefined ? {} : { signals: opts.signals }),
  });
  const finished = session.run.alreadyFinished;
  if (finished) {
    await session.run.close();
    say(`sft: ${runDir} already finished (${finished.steps?.done ?? "?"} steps, ${finished.ended}); nothing to do`);
    const steps = finished.steps?.done ?? 0;
    return { runDir, status: { kind: "done" }, step: steps, totalSteps: steps, evals: [], seconds: 0 };
  }
  try {
    return await train(config, opts, runDir, session, say, started);
  } catch (err) {
    await session.finish({ kind: "failed", message: (err as Error).message });
    throw err;
  }
}

async function train(
  config: SftConfig,
  opts: SftOptions,
  runDir: string,
  session: Awaited<ReturnType<typeof openSession>>,
  say: (line: string) => void,
  started: number,
): Promise<SftResult> {
  // Data → text examples → tokens.
  const trainRecords = await loadRecords(config.data.train, "train");
  const evalRecords = await loadRecords(config.data.eval, "test");
  const instructions = config.data.instructions ? await readFiles(config.data.instructions, "instruction") : [];
  const rawTexts = () =>
    formatAll(config, trainRecords, instructions, null, config.seed).map((e) => `${e.prompt}${e.target}`);
  const tokenizer = await buildTokenizer(config, runDir, rawTexts);
  const { seqLen, microBatch, gradAccum } = config.batch;
  const tokOpts = { maxLength: seqLen + 1, addEos: true as const };
  const train = tokenizeDataset(
    tokenizer,
    formatAll(config, trainRecords, instructions, tokenizer, config.seed),
    tokOpts,
  );
  const held = tokenizeDataset(tokenizer, formatAll(config, evalRecords, [], tokenizer, config.seed + 1), tokOpts);
  const N = train.examples.length;
  if (N === 0) throw new Error(`sft: no training example fits batch.seqLen + 1 = ${seqLen + 1} tokens`);
  if (train.report.dropped.length)
    say(
      `sft: dropped ${train.report.dropped.length}/${N + train.report.dropped.length} training examples longer than ${seqLen + 1} tokens`,
    );
  const perStep = microBatch * gradAccum;
  const totalSteps = config.steps ?? Math.ceil(((config.epochs ?? 1) * N) / perStep);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;

  // Model, optimizer, schedule.
  const model: Model = await startingModel(
    config,
    tokenizer,
    config.seed,
    Math.max(config.batch.seqLen + config.eval.maxNewTokens, 64) * 2,
  );
  const mc = model.config;
  // A decoder reads prompt + target as one sequence; an encoder–decoder (T5) encodes the prompt (nll.ts).
  const batchOf = (rows: TokenizedExample[]): MicroBatch =>
    isSeq2seq(mc)
      ? toSeq2seqMicroBatch(rows, seq2seqLengths(rows, seqLen, config.batch.padMultiple), padId, mc.decoderStartTokenId)
      : toMicroBatch(rows, paddedLength(rows, seqLen, config.batch.padMultiple), padId);
  const batchesFor = (step: number): MicroBatch[] => {
    const idx = stepIndices(config.seed, step, perStep, N);
    return Array.from({ length: gradAccum }, (_, k) =>
      batchOf(idx.slice(k * microBatch, (k + 1) * microBatch).map((i) => train.examples[i]!)),
    );
  };
  const heldBatches: MicroBatch[] = [];
  for (let s = 0; s < held.examples.length; s += microBatch) {
    const rows = held.examples.slice(s, s + microBatch);
    const real = rows.length;
    while (rows.length < microBatch) rows.push(rows[0]!); // fillers for one compiled shape, masked out
    heldBatches.push(maskRowsFrom(batchOf(rows), real));
  }
  const ft = await setupFineTune(config.lora, model, config.seed);
  const optimizer = optimizerOf(config.optim);
  const schedule =
    opts.schedule ??
    makeSchedule({
      kind: config.schedule.kind,
      lr: config.optim.lr,
      warmupSteps: Math.min(config.schedule.warmupSteps, totalSteps),
      totalSteps,
      minLr: config.schedule.minLr,
    });
  let trainable: Params = ft.trainable;
  const frozen: Params = ft.frozen;
  let state = optimizer.init(trainable);
  let startStep = 0;
  let rng = new Rng(deriveSeed(config.seed, "train"));
  if (opts.resume) {
    const ck = await session.restore(optimizer, trainable);
    if (ck) {
      disposeTree(trainable);
      disposeTree(state);
      trainable = ck.trainable;
      state = ck.state;
      startStep = ck.training.step;
      rng = new Rng(ck.training.rng);
      say(`sft: resuming from ${ck.dir} (step ${startStep}/${totalSteps})`);
    } else say(`sft: --resume: no intact checkpoint in ${runDir}; starting from step 0`);
  }
  await session.run.writeConfig({
    ...config,
    derived: { totalSteps, trainExamples: N, heldOutExamples: held.examples.length },
  });
  const nParams = paramNames(trainable).reduce((n, k) => n + trainable[k]!.size, 0);
  say(
    `sft: ${model.config.modelType} ${nParams.toLocaleString("en-US")} trainable params (${ft.describe}); ${N} train / ${held.examples.length} held-out examples; ` +
      `${totalSteps} steps of ${microBatch}×${gradAccum} rows × ${seqLen} tokens -> ${runDir}`,
  );

  const fns = makeStepFunctions({
    objective: sftObjective(mc),
    optimizer,
    clip: config.optim.clip,
    ...(ft.materialize ? { materialize: ft.materialize } : {}),
  });
  const evals: EvalPoint[] = [];
  const progress = makeProgress({
    total: totalSteps,
    start: startStep,
    every: config.logEvery,
    stream: opts.stream ?? process.stderr,
  });
  const evalRecordsForAcc = evalRecords.slice(0, config.eval.n);

  const runEval = async (step: number, params: Params) => {
    const { loss } = heldBatches.length ? await heldOutLoss(fns, params, frozen, heldBatches) : { loss: Number.NaN };
    let accuracy: number | null = null;
    if (evalRecordsForAcc.length > 0) {
      const weights = weightsOf(ft, params);
      const res = await evaluate({
        model: { ...model, params: weights },
        tokenizer,
        records: evalRecordsForAcc,
        maxNewTokens: config.eval.maxNewTokens,
        ...(config.data.template === "chat" ? { chat: true } : {}),
      }).finally(() => {
        if (weights !== params) disposeTree(weights);
      });
      accuracy = res.report.accuracy_strict;
      for (const ex of res.examples.slice(0, config.eval.samples)) {
        await session.run.append(SAMPLES_FILE, {
          step,
          question: ex.question,
          gold: ex.gold,
          output: ex.output,
          correct: ex.correct_strict,
        });
      }
    }
    const point = { step, loss, perplexity: Math.exp(loss), accuracy };
    evals.push(point);
    await session.run.append(EVAL_FILE, point);
    progress.log(
      `eval step ${step}: held-out loss ${loss.toFixed(4)} ppl ${point.perplexity.toFixed(2)}` +
        (accuracy === null ? "" : ` accuracy ${(100 * accuracy).toFixed(1)}% of ${evalRecordsForAcc.length}`),
    );
  };

  const checkpoint = (step: number, params: Params, st: typeof state) =>
    session.save(
      step,
      params,
      optimizer,
      st,
      { dataPosition: step, rng: rng.state(), seed: config.seed },
      config.checkpoint.keep,
    );
  if (startStep === 0) await runEval(0, trainable);
  const ckEvery = config.checkpoint.every;
  let lastLoss: number | null = null;
  const result = await trainLoop({
    fns,
    trainable,
    frozen,
    state,
    startStep,
    totalSteps,
    schedule,
    batchesFor,
    shouldStop: session.shouldStop,
    onMetrics: async (m: StepMetrics) => {
      const row = {
        step: m.step,
        loss: m.loss,
        lr: m.lr,
        tokens: m.count,
        tokens_per_s: m.count / Math.max(m.seconds, 1e-9),
        grad_norm: m.grad_norm,
      };
      lastLoss = m.loss;
      await session.run.append(METRICS_FILE, row);
      progress.update(
        m.step,
        `loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} |g| ${m.grad_norm.toFixed(3)} ${Math.round(row.tokens_per_s)} tok/s`,
      );
    },
    afterStep: async (step, params, st) => {
      // Eval rows of a step before its checkpoint (see the header).
      if ((config.eval.every > 0 && step % config.eval.every === 0) || step === totalSteps) await runEval(step, params);
      if ((ckEvery > 0 && step % ckEvery === 0) || step === totalSteps) await checkpoint(step, params, st);
    },
  });
  progress.done();
  const last = evals[evals.length - 1];
  const figures = {
    train_loss: lastLoss,
    eval_loss: last && Number.isFinite(last.loss) ? last.loss : null,
    eval_accuracy: last?.accuracy ?? null,
  };
  const steps = { done: result.step, total: totalSteps };
  try {
    if (result.status.kind === "diverged") {
      say(
        `sft: stopped: ${result.status.message}. Last good checkpoint: ${session.savedStep === null ? "none (no checkpoint was written yet)" : `step-${session.savedStep}`}`,
      );
    } else if (result.status.kind === "stopped") {
      if (session.savedStep !== result.step) await checkpoint(result.step, result.trainable, result.state);
      say(`sft: stopped at step ${result.step}/${totalSteps}, checkpoint saved. Resume with: ${resumeCommand()}`);
    } else {
      const tokSrc =
        config.model ??
        (typeof config.init?.tokenizer === "string" ? config.init.tokenizer : join(runDir, TOKENIZER_DIR));
      const finalDir = await exportFinal(runDir, ft, model, result.trainable, {
        tokenizerFrom: tokSrc,
        baseModelNameOrPath: config.model ?? null,
      });
      say(`sft: done, ${totalSteps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${finalDir}`);
    }
    await session.finish(result.status, {
      figures,
      steps,
      outputs:
        result.status.kind === "done" ? { final: "final", ...(ft.adapter ? { adapter: "final/adapter" } : {}) } : {},
    });
    say(dashboardHint(runDir));
  } finally {
    disposeTree(result.trainable);
    disposeTree(result.state);
    disposeFineTune(ft, model);
    fns.dispose();
    releaseCompiled(model.config);
  }
  return {
    runDir,
    status: result.status,
    step: result.step,
    totalSteps,
    evals,
    seconds: (performance.now() - started) / 1000,
  };
}
