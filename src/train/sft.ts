/**
 * Supervised fine-tuning for chain of thought: minimise the NLL of the target tokens
 * (the chain and the answer line, then EOS) given the prompt. Full fine-tuning, or
 * LoRA / QLoRA when the config has a `lora` block (loop.ts's trainable/frozen split):
 *
 *   full    trainable = every weight; checkpoints and final/ hold the model.
 *   LoRA    the base (config.model, or `init` from config.seed) is frozen; trainable =
 *           the adapter (lora.ts, A seeded by config.seed), so the optimizer state covers
 *           the adapter only and checkpoints/step-N/params.safetensors holds the adapter.
 *           A resumed run rebuilds the same base from the model folder / init seed.
 *   QLoRA   as LoRA, the frozen base stored block-quantised (lora.quant) and dequantised
 *           inside the step; the float32 base is released after quantisation.
 *
 * Held-out loss, generations and accuracy always see the materialized weights
 * (base + (α/r)·B A; dequantised base for QLoRA). At the end of an adapter run:
 *
 *   final/adapter/   adapter_config.json + adapter_model.safetensors (PEFT layout)
 *   final/           the merged Hugging Face folder: base + (α/r)·B A folded into the
 *                    weights. For QLoRA the merge is onto the DEQUANTISED base — the
 *                    weights the adapter was trained against — so final/ reproduces the
 *                    trained model's logits, not "original float base + adapter".
 *
 *   runSft(config, {resume})  data → tokens → fixed-shape micro-batches → trainLoop,
 *                             with metrics.jsonl, samples.jsonl, checkpoints/ and final/ in the run folder
 *
 * Determinism: the data order is a pure function of (seed, position). The training
 * examples form an endless stream; stream index i is example perm_e[i mod N] of epoch
 * e = ⌊i / N⌋, with perm_e a Fisher–Yates shuffle seeded by deriveSeed(seed, "data", e).
 * Optimizer step s takes stream indices [s·E, (s+1)·E), E = microBatch · gradAccum, so a
 * resumed run reads exactly the batches the uninterrupted run would have read.
 *
 * Shapes: every row is right-padded to batch.seqLen (one compiled micro-step), or with
 * batch.padMultiple = m to the next multiple of m holding the micro-batch's longest row
 * (one compiled micro-step per length used, far less padding when lengths vary).
 * Causal attention means right padding never changes the logits of real positions, so
 * no attention mask is needed; padded positions carry loss mask 0.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { adaptRow } from "../data/adapters.ts";
import { chatTemplateOf, formatDataset, plainTemplate, planDirect, type Template } from "../data/format.ts";
import { readRecords } from "../data/readers.ts";
import type { CoTRecord, InstructionRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
import { answerLine } from "../data/tasks/types.ts";
import { type TokenizedExample, tokenizeDataset } from "../data/tokenize.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree, keepTree } from "../engine/memory.ts";
import { adamw } from "../engine/optim.ts";
import { type Params, paramNames } from "../engine/params.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { makeSchedule, type Schedule } from "../engine/schedules.ts";
import { evaluate } from "../eval/run.ts";
import { dequantizedBase, type LoraAdapter, type LoraOptions, setupLora, setupQlora } from "../model/adapters/lora.ts";
import { saveAdapter, saveMergedModel } from "../model/adapters/peft.ts";
import type { QuantMeta } from "../model/adapters/quant.ts";
import { loadModel, saveModel } from "../model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../model/config.ts";
import { releaseCompiled } from "../model/generate.ts";
import { initParams, type Model } from "../model/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../tokenizer/train-bpe.ts";
import { latestCheckpoint, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from "./checkpoint.ts";
import type { SftConfig } from "./config.ts";
import {
  heldOutLoss,
  type Materialize,
  type MicroBatch,
  makeStepFunctions,
  type StepMetrics,
  type TrainStatus,
  trainLoop,
} from "./loop.ts";
import { makeProgress } from "./progress.ts";

export const METRICS_FILE = "metrics.jsonl";
export const SAMPLES_FILE = "samples.jsonl";
export const EVAL_FILE = "eval.jsonl";
/** The PEFT adapter of a LoRA / QLoRA run, inside final/. */
export const ADAPTER_DIR = "adapter";

export interface SftOptions {
  /** Continue from the newest complete checkpoint in the run folder. */
  resume?: boolean;
  /** Where progress goes (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Replace the schedule (tests inject an absurd learning rate). */
  schedule?: Schedule;
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

type Example = { prompt: string; target: string };

export function runDirOf(config: SftConfig): string {
  return config.out ?? join("runs", config.name ?? "sft");
}

async function readFiles<K extends "cot" | "instruction">(
  files: readonly { path: string; format: string }[],
  to: K,
): Promise<(K extends "cot" ? CoTRecord : InstructionRecord)[]> {
  const out: unknown[] = [];
  for (const f of files) {
    for await (const r of readRecords(f.path)) {
      if (!r.ok) throw r.error;
      out.push(adaptRow(f.format as never, to, r.value, r.loc));
    }
  }
  return out as (K extends "cot" ? CoTRecord : InstructionRecord)[];
}

async function loadRecords(src: SftConfig["data"]["train"], split: "train" | "test"): Promise<CoTRecord[]> {
  if (src.generate) return generateDataset({ ...src.generate, split });
  return readFiles(src.files ?? [], "cot");
}

/**
 * One record in the qa template: direct ("Q: …\nA:" → " #### N") or step by step (the trigger,
 * then the chain). The prompts are `evaluate`'s zero and zero-cot prompts (eval/prompting.ts),
 * so accuracy measures what was trained.
 */
export function qaExample(r: CoTRecord, direct: boolean): Example {
  const answer = answerLine(r.answer);
  const chain = r.chain_of_thought.trimEnd();
  return direct || chain === ""
    ? { prompt: `Q: ${r.question.trim()}\nA:`, target: ` ${answer}` }
    : { prompt: `Q: ${r.question.trim()}\nA: Let's think step by step.`, target: ` ${chain}\n${answer}` };
}

function qaExamples(records: readonly CoTRecord[], directFraction: number, rng: Rng): Example[] {
  const direct = planDirect(records.length, directFraction, rng);
  return records.map((r, i) => qaExample(r, direct[i]!));
}

/** The text examples (prompt + target) of a run's records in the config's template (see config.ts `template`). */
export function formatAll(
  config: SftConfig,
  records: readonly CoTRecord[],
  instructions: readonly InstructionRecord[],
  tokenizer: Tokenizer | null,
  seed: number,
): Example[] {
  const d = config.data;
  const rng = new Rng(deriveSeed(seed, "format"));
  if (d.template === "raw") {
    const direct = planDirect(records.length, d.directFraction, rng);
    const docs = records.map((r, i) => {
      const chain = r.chain_of_thought.trim();
      const body = direct[i] || chain === "" ? "" : `${chain}\n`;
      return { prompt: "", target: `${r.question.trim()}\n${body}${answerLine(r.answer)}` };
    });
    const inst = instructions.map((r) => ({
      prompt: "",
      target: `${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}\n${r.output}`,
    }));
    return [...docs, ...inst];
  }
  if (d.template === "qa") {
    const inst = instructions.map((r) => ({
      prompt: `Q: ${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}\nA:`,
      target: ` ${r.output}`,
    }));
    return [...qaExamples(records, d.directFraction, rng), ...inst];
  }
  let template: Template = plainTemplate();
  if (d.template === "chat") {
    if (!tokenizer) throw new Error("data.template: chat needs a tokenizer with a chat template");
    template = chatTemplateOf(tokenizer);
  }
  const opts = {
    template,
    trigger: d.trigger,
    directFraction: d.directFraction,
    ...(d.phrasings ? {} : { phrasings: [], directPhrasings: [] }),
  };
  return formatDataset([...records, ...instructions], opts, rng).examples.map(({ prompt, target }) => ({
    prompt,
    target,
  }));
}

/** Rows → a fixed-shape micro-batch: ids = x[0..T), targets = x[1..T], mask = loss_mask[1..T]. */
export function toMicroBatch(rows: readonly TokenizedExample[], seqLen: number, padId: number): MicroBatch {
  const B = rows.length;
  const ids = new Int32Array(B * seqLen).fill(padId);
  const targets = new Int32Array(B * seqLen).fill(padId);
  const mask = new Float32Array(B * seqLen);
  let targetTokens = 0;
  rows.forEach((ex, b) => {
    const n = ex.input_ids.length;
    if (n > seqLen + 1) throw new Error(`toMicroBatch: example of ${n} tokens exceeds seqLen + 1 = ${seqLen + 1}`);
    for (let t = 0; t < n - 1; t++) {
      ids[b * seqLen + t] = ex.input_ids[t]!;
      targets[b * seqLen + t] = ex.input_ids[t + 1]!;
      mask[b * seqLen + t] = ex.loss_mask[t + 1]!;
      targetTokens += ex.loss_mask[t + 1]!;
    }
  });
  return { rows: B, seqLen, ids, targets, mask, targetTokens };
}

/**
 * The input length T of a micro-batch: seqLen, or with padMultiple m > 0 the smallest multiple
 * of m that holds the longest row's n − 1 inputs, capped at seqLen.
 */
export function paddedLength(rows: readonly TokenizedExample[], seqLen: number, padMultiple: number): number {
  if (padMultiple <= 0) return seqLen;
  const longest = rows.reduce((m, r) => Math.max(m, r.input_ids.length - 1), 1);
  return Math.min(seqLen, Math.ceil(longest / padMultiple) * padMultiple);
}

/** Example indices of optimizer step `step` (see the header): a pure function of (seed, step). */
export function stepIndices(seed: number, step: number, perStep: number, n: number): number[] {
  const perms = new Map<number, number[]>();
  const out: number[] = [];
  for (let i = step * perStep; i < (step + 1) * perStep; i++) {
    const epoch = Math.floor(i / n);
    let perm = perms.get(epoch);
    if (!perm) {
      perm = new Rng(deriveSeed(seed, "data", epoch)).shuffle(Array.from({ length: n }, (_, j) => j));
      perms.set(epoch, perm);
    }
    out.push(perm[i % n]!);
  }
  return out;
}

async function buildTokenizer(config: SftConfig, runDir: string, trainTexts: () => string[]): Promise<Tokenizer> {
  if (config.model) return Tokenizer.fromDir(config.model);
  const spec = config.init!.tokenizer;
  if (typeof spec === "string") return Tokenizer.fromDir(spec);
  const dir = join(runDir, "tokenizer");
  try {
    return await Tokenizer.fromDir(dir);
  } catch {
    const tmp = `${dir}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await saveTokenizer(tmp, trainBpe(trainTexts(), { vocabSize: spec.vocabSize, splitDigits: spec.splitDigits }));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return Tokenizer.fromDir(dir);
  }
}

async function buildModel(config: SftConfig, tokenizer: Tokenizer): Promise<{ model: Model; tokenizerDir?: string }> {
  if (config.model) return { model: await loadModel(config.model), tokenizerDir: config.model };
  const i = config.init!;
  const mc = configFromSizes({
    arch: i.arch,
    vocabSize: tokenizer.vocabSize,
    hiddenSize: i.hidden,
    numLayers: i.layers,
    numHeads: i.heads,
    numKvHeads: i.kvHeads,
    intermediateSize: i.intermediate,
    maxPositionEmbeddings: i.maxPositions ?? Math.max(config.batch.seqLen + config.eval.maxNewTokens, 64) * 2,
    bosTokenId: tokenizer.bosId,
    eosTokenIds: tokenizer.eosId === null ? [] : [tokenizer.eosId],
    padTokenId: tokenizer.padId,
  });
  return { model: { config: mc, params: initParams(mc, { seed: config.seed, std: i.std }), hfConfig: toHfConfig(mc) } };
}

/** What is trained and how the model's weights are built from it (see the header). */
interface FineTune {
  kind: "full" | "lora" | "qlora";
  trainable: Params;
  frozen: Params;
  /** Absent for full fine-tuning (identity). */
  materialize?: Materialize;
  adapter?: LoraAdapter;
  /** QLoRA: how to dequantise `frozen`. */
  meta?: Record<string, QuantMeta>;
  /** One line for the log. */
  describe: string;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Full: the model is trainable. LoRA/QLoRA: freeze the base (quantised for QLoRA), train an adapter. */
async function setupFineTune(config: SftConfig, model: Model): Promise<FineTune> {
  const l = config.lora;
  if (!l) return { kind: "full", trainable: model.params, frozen: {}, describe: "full fine-tuning" };
  const opts: LoraOptions = { r: l.r, dropout: l.dropout, seed: config.seed };
  if (l.alpha !== undefined) opts.alpha = l.alpha;
  if (l.targetModules !== undefined) opts.targetModules = l.targetModules;
  const baseCount = paramNames(model.params).reduce((n, k) => n + model.params[k]!.size, 0);
  const head = (a: LoraAdapter) =>
    `LoRA r=${a.config.r} alpha=${a.config.alpha} on ${Object.keys(a.params).length / 2} modules, base of ${baseCount.toLocaleString("en-US")} params frozen`;
  if (!l.quant) {
    const s = setupLora(model.params, opts);
    return { kind: "lora", ...s, describe: `${head(s.adapter)} (float32 ${mib(s.frozenBytes)})` };
  }
  const s = await setupQlora(model.params, { ...opts, quant: { bits: l.quant.bits, block: l.quant.block } });
  // The frozen tree holds its own quantised copies (and refs to the vectors): drop the float32 base.
  disposeTree(model.params);
  model.params = {};
  return {
    kind: "qlora",
    trainable: s.trainable,
    frozen: s.frozen,
    materialize: s.materialize,
    adapter: s.adapter,
    meta: s.meta,
    describe: `Q${head(s.adapter)} (${l.quant.bits === 4 ? "NF4" : "int8"} block ${l.quant.block}: ${mib(s.frozenBytes)})`,
  };
}

async function appendLine(path: string, obj: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(obj)}\n`, { flag: "a" });
}

/** Drop metrics lines past `step` (a resumed run rewrites what the killed one wrote after its checkpoint). */
async function truncateJsonl(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return;
  }
  const kept = text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => {
      try {
        return (JSON.parse(l) as { step?: number }).step! <= step;
      } catch {
        return false;
      }
    });
  await writeFile(path, kept.map((l) => `${l}\n`).join(""));
}

/** Run SFT as the config says (see the header). */
export async function runSft(config: SftConfig, opts: SftOptions = {}): Promise<SftResult> {
  const started = performance.now();
  await initEngine();
  const runDir = runDirOf(config);
  await mkdir(runDir, { recursive: true });
  const progressStream = opts.stream ?? process.stderr;
  const say = (line: string) => progressStream.write(`${line}\n`);

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
  const batchesFor = (step: number): MicroBatch[] => {
    const idx = stepIndices(config.seed, step, perStep, N);
    return Array.from({ length: gradAccum }, (_, k) => {
      const rows = idx.slice(k * microBatch, (k + 1) * microBatch).map((i) => train.examples[i]!);
      return toMicroBatch(rows, paddedLength(rows, seqLen, config.batch.padMultiple), padId);
    });
  };
  const heldBatches: MicroBatch[] = [];
  for (let s = 0; s < held.examples.length; s += microBatch) {
    const rows = held.examples.slice(s, s + microBatch);
    while (rows.length < microBatch) rows.push({ ...rows[0]!, loss_mask: rows[0]!.loss_mask.map(() => 0) });
    heldBatches.push(toMicroBatch(rows, paddedLength(rows, seqLen, config.batch.padMultiple), padId));
  }

  // Model, optimizer, schedule.
  const { model, tokenizerDir } = await buildModel(config, tokenizer);
  const ft = await setupFineTune(config, model);
  const optimizer = adamw({
    beta1: config.optim.betas[0],
    beta2: config.optim.betas[1],
    eps: config.optim.eps,
    weightDecay: config.optim.weightDecay,
  });
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
  const metricsPath = join(runDir, METRICS_FILE);
  if (opts.resume) {
    const latest = await latestCheckpoint(runDir);
    if (latest) {
      const ck = await loadCheckpoint(latest.dir, optimizer, trainable);
      disposeTree(trainable);
      disposeTree(state);
      trainable = ck.trainable;
      state = ck.state;
      startStep = ck.training.step;
      rng = new Rng(ck.training.rng);
      say(`sft: resuming from ${latest.dir} (step ${startStep}/${totalSteps})`);
    } else say(`sft: --resume: no checkpoint in ${runDir}; starting from step 0`);
  } else {
    await rm(join(runDir, "checkpoints"), { recursive: true, force: true });
  }
  for (const f of [METRICS_FILE, SAMPLES_FILE, EVAL_FILE]) await truncateJsonl(join(runDir, f), startStep);
  await writeFile(
    join(runDir, "config.yaml"),
    toYaml({ ...config, derived: { totalSteps, trainExamples: N, heldOutExamples: held.examples.length } }),
  );
  const nParams = paramNames(trainable).reduce((n, k) => n + trainable[k]!.size, 0);
  say(
    `sft: ${model.config.modelType} ${nParams.toLocaleString("en-US")} trainable params (${ft.describe}); ${N} train / ${held.examples.length} held-out examples; ` +
      `${totalSteps} steps of ${microBatch}×${gradAccum} rows × ${seqLen} tokens -> ${runDir}`,
  );

  const fns = makeStepFunctions({
    config: model.config,
    optimizer,
    clip: config.optim.clip,
    ...(ft.materialize ? { materialize: ft.materialize } : {}),
  });
  /** The model's weights for `trainable` (owned by the caller; not consuming `trainable`). */
  const weightsOf = (params: Params): Params =>
    ft.materialize ? ft.materialize({ ...keepTree(params) }, { ...keepTree(frozen) }) : params;
  const evals: EvalPoint[] = [];
  const progress = makeProgress({
    total: totalSteps,
    start: startStep,
    every: config.logEvery,
    stream: progressStream,
  });
  const evalRecordsForAcc = evalRecords.slice(0, config.eval.n);

  const runEval = async (step: number, params: Params) => {
    const { loss } = heldBatches.length ? await heldOutLoss(fns, params, frozen, heldBatches) : { loss: Number.NaN };
    let accuracy: number | null = null;
    if (evalRecordsForAcc.length > 0) {
      const weights = weightsOf(params);
      const evalModel: Model = { ...model, params: weights };
      const res = await evaluate({
        model: evalModel,
        tokenizer,
        records: evalRecordsForAcc,
        maxNewTokens: config.eval.maxNewTokens,
        ...(config.data.template === "chat" ? { chat: true } : {}),
      }).finally(() => {
        if (weights !== params) disposeTree(weights);
      });
      accuracy = res.report.accuracy_strict;
      for (const ex of res.examples.slice(0, config.eval.samples)) {
        await appendLine(join(runDir, SAMPLES_FILE), {
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
    await appendLine(join(runDir, EVAL_FILE), point);
    progress.log(
      `eval step ${step}: held-out loss ${loss.toFixed(4)} ppl ${point.perplexity.toFixed(2)}` +
        (accuracy === null ? "" : ` accuracy ${(100 * accuracy).toFixed(1)}% of ${evalRecordsForAcc.length}`),
    );
  };

  if (startStep === 0) await runEval(0, trainable);
  const ckEvery = config.checkpoint.every;
  const result = await trainLoop({
    fns,
    trainable,
    frozen,
    state,
    startStep,
    totalSteps,
    schedule,
    batchesFor,
    onMetrics: async (m: StepMetrics) => {
      await appendLine(metricsPath, m);
      progress.update(m);
    },
    afterStep: async (step, params, st) => {
      if ((ckEvery > 0 && step % ckEvery === 0) || step === totalSteps) {
        await saveCheckpoint(runDir, {
          trainable: params,
          optimizer,
          state: st,
          training: { step, dataPosition: step, rng: rng.state(), seed: config.seed },
        });
        await pruneCheckpoints(runDir, config.checkpoint.keep);
      }
      if ((config.eval.every > 0 && step % config.eval.every === 0) || step === totalSteps) await runEval(step, params);
    },
  });
  progress.done();
  if (result.status.kind === "diverged") {
    const last = await latestCheckpoint(runDir);
    say(
      `sft: stopped: ${result.status.message}. Last good checkpoint: ${last ? last.dir : "none (no checkpoint was written yet)"}`,
    );
  } else {
    const finalDir = join(runDir, "final");
    await rm(finalDir, { recursive: true, force: true });
    const tokSrc =
      tokenizerDir ?? (typeof config.init?.tokenizer === "string" ? config.init.tokenizer : join(runDir, "tokenizer"));
    if (ft.adapter) {
      const adapter: LoraAdapter = { config: ft.adapter.config, params: result.trainable };
      // QLoRA merges onto the dequantised base (the weights the adapter was trained against; see the header).
      const base = ft.meta ? dequantizedBase(frozen, ft.meta) : model.params;
      try {
        await saveMergedModel(finalDir, { ...model, params: base }, adapter, { tokenizerFrom: tokSrc });
      } finally {
        if (ft.meta) disposeTree(base);
      }
      await saveAdapter(join(finalDir, ADAPTER_DIR), adapter, { baseModelNameOrPath: config.model ?? null });
    } else {
      await saveModel(finalDir, { ...model, params: result.trainable }, { tokenizerFrom: tokSrc });
    }
    disposeTree(result.trainable);
    say(`sft: done, ${totalSteps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${finalDir}`);
  }
  if (result.status.kind === "diverged") disposeTree(result.trainable);
  disposeTree(result.state);
  if (ft.kind !== "full") {
    disposeTree(frozen);
    disposeTree(model.params); // LoRA: the float base (frozen held extra refs); QLoRA: already {}
  }
  fns.dispose();
  releaseCompiled(model.config);
  return {
    runDir,
    status: result.status,
    step: result.step,
    totalSteps,
    evals,
    seconds: (performance.now() - started) / 1000,
  };
}
