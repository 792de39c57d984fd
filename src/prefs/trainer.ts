/**
 * The run shell shared by `stepwise rm` and `stepwise dpo`: pairs in, the shared step and loop
 * (train/loop.ts) over a pair objective, the run folder and its life (train/session.ts):
 *
 *   pairs (files or generated) → tokens (batch.ts) → fixed-shape pair batches
 *   → trainLoop, writing metrics.jsonl, eval.jsonl, checkpoints/, final/, summary.json
 *
 * Determinism: the data order is a pure function of (seed, step) (train/sft-data.ts
 * stepIndices over the pairs), so a resumed run reads exactly what the uninterrupted one would.
 * Metric rows carry TRL's names: loss, rewards/chosen, rewards/rejected, rewards/margins,
 * rewards/accuracies (+ logps/* and nll_loss for DPO), each the mean over the step's pairs.
 */

import { dashboardHint } from "../dashboard/hint.ts";
import type { CoTRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
import type { Array, JsTree } from "../engine/jax.ts";
import { disposeTree } from "../engine/memory.ts";
import type { Optimizer } from "../engine/optim.ts";
import { type Params, paramNames } from "../engine/params.ts";
import { Rng } from "../engine/rng.ts";
import { makeSchedule } from "../engine/schedules.ts";
import { EVAL_FILE, METRICS_FILE, type RunKind } from "../runs/layout.ts";
import type { OpenMode } from "../runs/run.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import {
  type Materialize,
  makeStepFunctions,
  type Objective,
  type StepFunctions,
  type TrainStatus,
  trainLoop,
} from "../train/loop.ts";
import { makeProgress } from "../train/progress.ts";
import { openSession, resumeCommand, type Session } from "../train/session.ts";
import { stepIndices } from "../train/sft-data.ts";
import { batchesInOrder, type PairBatch, pairSeqLen, type TokenizedPair, tokenizePairs, toPairBatch } from "./batch.ts";
import type { DpoConfig, PairSourceConfig, RmConfig } from "./config.ts";
import { type PreferencePair, readPreferences } from "./data.ts";
import { generatorPairs } from "./pairs.ts";

/** The problems a source's `generate:` block names (pairs and step-labelled chains are built from them). */
export function generatedProblems(g: NonNullable<PairSourceConfig["generate"]>): CoTRecord[] {
  return generateDataset({
    tasks: g.tasks,
    n: g.n,
    seed: g.seed,
    split: g.split,
    ...(g.options ? { options: g.options } : {}),
  });
}

/** The pairs of a source: its files in order, or generated pairs (pairs.ts). */
export async function loadPairs(src: PairSourceConfig): Promise<PreferencePair[]> {
  if (src.generate) {
    const g = src.generate;
    return generatorPairs(generatedProblems(g), { kinds: g.corruptions, seed: g.seed });
  }
  const out: PreferencePair[] = [];
  for (const f of src.files ?? []) out.push(...(await readPreferences(f)));
  return out;
}

export function describePairs(src: PairSourceConfig): string[] {
  if (src.generate) {
    const g = src.generate;
    return [
      `generate pairs: ${g.tasks.join(", ")} (n=${g.n}, ${g.split}, seed ${g.seed}, corruptions ${g.corruptions.join(",")})`,
    ];
  }
  return src.files ?? [];
}

export interface PairData {
  train: TokenizedPair[];
  held: TokenizedPair[];
  padId: number;
}

/** Load and tokenise the config's pairs; dropped (too long) pairs are reported. */
export async function pairData(
  config: RmConfig | DpoConfig,
  tokenizer: Tokenizer,
  say: (s: string) => void,
  who: string,
): Promise<PairData> {
  const maxLength = config.batch.seqLen;
  const tok = async (src: PairSourceConfig, what: string) => {
    const raw = await loadPairs(src);
    const t = tokenizePairs(tokenizer, raw, maxLength);
    if (t.dropped)
      say(`${who}: dropped ${t.dropped}/${raw.length} ${what} pairs longer than batch.seqLen = ${maxLength} tokens`);
    return t.pairs;
  };
  const train = await tok(config.data.train, "training");
  if (train.length === 0) throw new Error(`${who}: no training pair fits batch.seqLen = ${maxLength} tokens`);
  const held = config.data.eval ? await tok(config.data.eval, "held-out") : [];
  return { train, held, padId: tokenizer.padId ?? tokenizer.eosId ?? 0 };
}

/**
 * How a run's rows become micro-batches: pairs (the default, from `data`) or anything else an
 * objective reads (the process reward model's step-labelled chains, process-model.ts).
 */
export interface Batching<H> {
  trainCount: number;
  heldCount: number;
  /** The micro-batch of these training rows (indices into the training set). */
  train(rows: readonly number[]): H;
  /** The held-out set in order. */
  held: H[];
  /** The aux key logged as "accuracy" on the progress line and in summary.json. */
  headline: string;
  /** What the loss count counts (the metric rows' count column): pairs, steps. */
  unit: string;
}

/** Pair batches of a run's pairs (reference sums filled in for DPO). */
export function pairBatching(
  config: RmConfig | DpoConfig,
  data: PairData,
  reference?: PairTrainingSpec<JsTree<Array>>["reference"],
): Batching<PairBatch> {
  const { microBatch, seqLen, padMultiple } = config.batch;
  return {
    trainCount: data.train.length,
    heldCount: data.held.length,
    train(idx) {
      const rows = idx.map((i) => data.train[i]!);
      return toPairBatch(rows, microBatch, pairSeqLen(rows, seqLen, padMultiple), data.padId, reference?.train);
    },
    held: batchesInOrder(data.held, microBatch, seqLen, padMultiple, data.padId, reference?.held),
    headline: "rewards/accuracies",
    unit: "pairs",
  };
}

export interface PairTrainingSpec<D extends JsTree<Array>, H = PairBatch> {
  config: RmConfig | DpoConfig;
  kind: RunKind;
  runDir: string;
  mode: OpenMode;
  signals?: boolean;
  say: (line: string) => void;
  stream: NodeJS.WriteStream;
  /** Pairs (batched by pairBatching), or give `batching`. */
  data?: PairData;
  batching?: Batching<H>;
  objective: Objective<H, D>;
  optimizer: Optimizer;
  trainable: Params;
  frozen: Params;
  materialize?: Materialize;
  describe: string;
  /** Reference log-prob sums of pair i of a set (DPO), filled into each batch. */
  reference?: { train(i: number): readonly [number, number]; held(i: number): readonly [number, number] };
  /** Runs once the session is open and before any restore (DPO's reference pass). */
  beforeTraining?(session: Session): Promise<PairTrainingSpec<D, H>["reference"]>;
  /** Write final/ for the trained tree (not consumed). */
  exportFinal(trainable: Params): Promise<string>;
}

export interface PairTrainingResult {
  runDir: string;
  status: TrainStatus;
  step: number;
  totalSteps: number;
  evals: Record<string, number>[];
  seconds: number;
}

/** Mean of each aux sum per pair, under TRL's names (prefix for held-out rows). */
function means(aux: Record<string, number>, count: number, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(aux)) out[prefix + k] = v / Math.max(count, 1);
  return out;
}

async function heldOutAux<H>(
  fns: StepFunctions<H>,
  trainable: Params,
  frozen: Params,
  batches: readonly H[],
): Promise<{ loss: number; aux: Record<string, number>; count: number }> {
  let sum = 0;
  let count = 0;
  const aux: Record<string, number> = {};
  for (const b of batches) {
    const r = fns.lossSum(trainable, frozen, b);
    sum += (await r.sum.data())[0] as number;
    count += (await r.count.data())[0] as number;
    for (const [k, v] of Object.entries(r.aux ?? {})) aux[k] = (aux[k] ?? 0) + ((await v.data())[0] as number);
  }
  return { loss: sum / Math.max(count, 1), aux, count };
}

/** Train, log, checkpoint, export and summarise (see the header). */
export async function runPairTraining<D extends JsTree<Array>, H = PairBatch>(
  spec: PairTrainingSpec<D, H>,
): Promise<PairTrainingResult> {
  const started = performance.now();
  const { config, runDir, say } = spec;
  const who = spec.kind;
  const session = await openSession({
    dir: runDir,
    kind: spec.kind,
    name: config.name ?? spec.kind,
    mode: spec.mode,
    model: config.model,
    data: [
      ...describePairs(config.data.train),
      ...(config.data.eval ? describePairs(config.data.eval).map((s) => `eval: ${s}`) : []),
    ],
    say,
    ...(spec.signals === undefined ? {} : { signals: spec.signals }),
  });
  const finished = session.run.alreadyFinished;
  if (finished) {
    await session.run.close();
    say(`${who}: ${runDir} already finished; nothing to do`);
    const steps = finished.steps?.done ?? 0;
    disposeTree(spec.trainable);
    disposeTree(spec.frozen);
    return { runDir, status: { kind: "done" }, step: steps, totalSteps: steps, evals: [], seconds: 0 };
  }
  const fns = makeStepFunctions({
    objective: spec.objective,
    optimizer: spec.optimizer,
    clip: config.optim.clip,
    ...(spec.materialize ? { materialize: spec.materialize } : {}),
  });
  try {
    const reference = (await spec.beforeTraining?.(session)) ?? spec.reference;
    const { microBatch, gradAccum, seqLen } = config.batch;
    if (!spec.batching && !spec.data) throw new Error(`${who}: give data or batching`);
    const batching = spec.batching ?? (pairBatching(config, spec.data!, reference) as unknown as Batching<H>);
    const N = batching.trainCount;
    const perStep = microBatch * gradAccum;
    const totalSteps = config.steps ?? Math.ceil(((config.epochs ?? 1) * N) / perStep);
    const batchesFor = (step: number): H[] => {
      const idx = stepIndices(config.seed, step, perStep, N);
      return globalThis.Array.from({ length: gradAccum }, (_, k: number) =>
        batching.train(idx.slice(k * microBatch, (k + 1) * microBatch)),
      );
    };
    const heldBatches = batching.held;
    const headline = batching.headline;
    const schedule = makeSchedule({
      kind: config.schedule.kind,
      lr: config.optim.lr,
      warmupSteps: Math.min(config.schedule.warmupSteps, totalSteps),
      totalSteps,
      minLr: config.schedule.minLr,
    });
    let trainable = spec.trainable;
    let state = spec.optimizer.init(trainable);
    let startStep = 0;
    if (spec.mode === "resume") {
      const ck = await session.restore(spec.optimizer, trainable);
      if (ck) {
        disposeTree(trainable);
        disposeTree(state);
        trainable = ck.trainable;
        state = ck.state;
        startStep = ck.training.step;
        say(`${who}: resuming from ${ck.dir} (step ${startStep}/${totalSteps})`);
      } else say(`${who}: --resume: no intact checkpoint in ${runDir}; starting from step 0`);
    }
    await session.run.writeConfig({
      ...config,
      derived: { totalSteps, trainRows: N, heldOutRows: batching.heldCount },
    });
    const nParams = paramNames(trainable).reduce((n, k) => n + trainable[k]!.size, 0);
    say(
      `${who}: ${nParams.toLocaleString("en-US")} trainable params (${spec.describe}); ${N} train / ${batching.heldCount} held-out ${batching.unit === "pairs" ? "pairs" : "rows"}; ` +
        `${totalSteps} steps of ${microBatch}×${gradAccum} pairs × ${seqLen} tokens -> ${runDir}`,
    );
    const progress = makeProgress({ total: totalSteps, start: startStep, every: config.logEvery, stream: spec.stream });
    const evals: Record<string, number>[] = [];
    const runEval = async (step: number, params: Params) => {
      if (heldBatches.length === 0) return;
      const r = await heldOutAux(fns, params, spec.frozen, heldBatches);
      const row: Record<string, number> = { step, loss: r.loss, ...means(r.aux, r.count), [batching.unit]: r.count };
      evals.push(row);
      await session.run.append(EVAL_FILE, row);
      progress.log(
        `eval step ${step}: held-out loss ${r.loss.toFixed(4)} ${headline} ${(100 * (row[headline] ?? 0)).toFixed(1)}% of ${r.count} ${batching.unit}`,
      );
    };
    const checkpoint = (step: number, params: Params, st: typeof state) =>
      session.save(
        step,
        params,
        spec.optimizer,
        st,
        { dataPosition: step, rng: new Rng(config.seed).state(), seed: config.seed },
        config.checkpoint.keep,
      );
    if (startStep === 0) await runEval(0, trainable);
    let last: Record<string, number> = {};
    const result = await trainLoop({
      fns,
      trainable,
      frozen: spec.frozen,
      state,
      startStep,
      totalSteps,
      schedule,
      batchesFor,
      shouldStop: session.shouldStop,
      onMetrics: async (m) => {
        const row: Record<string, number> = {
          step: m.step,
          loss: m.loss,
          lr: m.lr,
          grad_norm: m.grad_norm,
          [batching.unit]: m.count,
          ...means(m.aux, m.count),
        };
        last = row;
        await session.run.append(METRICS_FILE, row);
        progress.update(
          m.step,
          `loss ${m.loss.toFixed(4)} acc ${(100 * (row[headline] ?? 0)).toFixed(0)}% margin ${(row["rewards/margins"] ?? 0).toFixed(3)} lr ${m.lr.toExponential(2)}`,
        );
      },
      afterStep: async (step, params, st) => {
        if ((config.eval.every > 0 && step % config.eval.every === 0) || step === totalSteps)
          await runEval(step, params);
        const every = config.checkpoint.every;
        if ((every > 0 && step % every === 0) || step === totalSteps) await checkpoint(step, params, st);
      },
    });
    progress.done();
    const held = evals[evals.length - 1];
    const figures = {
      train_loss: last.loss ?? null,
      eval_loss: held?.loss ?? null,
      eval_reward_accuracy: held?.[headline] ?? null,
    };
    try {
      if (result.status.kind === "stopped") {
        if (session.savedStep !== result.step) await checkpoint(result.step, result.trainable, result.state);
        say(`${who}: stopped at step ${result.step}/${totalSteps}, checkpoint saved. Resume with: ${resumeCommand()}`);
      } else if (result.status.kind === "diverged") {
        say(`${who}: stopped: ${result.status.message}`);
      } else {
        const dir = await spec.exportFinal(result.trainable);
        say(`${who}: done, ${totalSteps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${dir}`);
        say(dashboardHint(runDir));
      }
      await session.finish(result.status, {
        figures,
        steps: { done: result.step, total: totalSteps },
        outputs: result.status.kind === "done" ? { final: "final" } : {},
      });
    } finally {
      disposeTree(result.trainable);
      disposeTree(result.state);
    }
    return {
      runDir,
      status: result.status,
      step: result.step,
      totalSteps,
      evals,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    await session.finish({ kind: "failed", message: (err as Error).message });
    throw err;
  } finally {
    fns.dispose();
  }
}
