/**
 * Group-relative policy optimisation for chain of thought: GRPO (Shao et al. 2024), Dr. GRPO
 * (Liu et al. 2025), RLOO (Ahmadian et al. 2024) and REINFORCE++ (Hu 2025) share this loop and
 * differ only in the advantage estimator (advantages.ts GROUP_ADVANTAGES) and the loss's
 * aggregation (policy-loss.ts). Each step:
 *
 *   1. rollout   N training prompts (a pure function of (seed, rollout index)) × G completions
 *                from the current policy, fixed shapes (rollout.ts);
 *   2. reward    the reward spec (rewards.ts), minus noEosPenalty for completions without EOS,
 *                minus β Σ_t k1 with klIn = "reward"; groups with equal rewards replaced by fresh
 *                prompts for up to resampleRounds extra rollouts (DAPO dynamic sampling);
 *   3. advantage one per completion, broadcast over its tokens;
 *   4. update    μ optimizer steps (iterations) through the shared loop (train/loop.ts) on the
 *                policy objective (objective.ts), in micro-batches, ratio against the
 *                rollout-time log-probabilities; greedy validation accuracy every eval.every.
 *
 * Where this departs from the anchors, as nanochat's chat_rl.py does:
 *   - The reference model for the KL is the starting policy, held without a copy (jax-js arrays
 *     are immutable and reference-counted; for LoRA it is the base with the adapter off). β = 0
 *     (TRL's default since 0.19, and nanochat's) skips the reference pass entirely.
 *   - Old log-probabilities are recomputed by the training forward after sampling (rollout.ts).
 *   - A rollout step is resumable only at rollout boundaries (checkpoint.every is a multiple of
 *     μ), since the rollout batch is not stored in the checkpoint; it is regenerated exactly,
 *     because sampling seeds are a pure function of (seed, rollout index).
 *   - Dynamic sampling keeps the batch shape fixed: it refills from at most resampleRounds extra
 *     rollouts of N prompts and keeps zero-signal groups if still short (DAPO samples until full).
 *   - PPO (advantage.estimator gae) runs on this same loop: the value head rides in the trainable
 *     tree (value.ts), its values feed per-token GAE (ppo.ts), and the objective adds the clipped
 *     value loss; final/value_head.safetensors holds the head.
 */

import { describeSource, optimizerOf } from "../config/blocks.ts";
import { dashboardHint } from "../dashboard/hint.ts";
import type { CoTRecord } from "../data/records.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree, keepTree } from "../engine/memory.ts";
import { type Params, paramNames } from "../engine/params.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { makeSchedule, type Schedule } from "../engine/schedules.ts";
import { promptBuilder } from "../eval/prompting.ts";
import { evaluate } from "../eval/run.ts";
import { type GuardDecision, makeGuard, replayGuard } from "../guard/guard.ts";
import { checkRewardBeforeTraining } from "../guard/preflight.ts";
import { completionStats } from "../guard/stats.ts";
import type { NamedRewardFn } from "../guard/test-reward.ts";
import { loadModel } from "../model/checkpoint.ts";
import { releaseCompiled } from "../model/generate.ts";
import { releaseVerifiers } from "../prefs/verifier.ts";
import { EVAL_FILE, METRICS_FILE, runDirOf, SAMPLES_FILE } from "../runs/layout.ts";
import type { OpenMode } from "../runs/run.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { disposeFineTune, exportFinal, type FineTune, setupFineTune, weightsOf } from "../train/finetune.ts";
import {
  identityMaterialize,
  makeStepFunctions,
  type StepMetrics,
  type TrainStatus,
  trainLoop,
} from "../train/loop.ts";
import { makeProgress } from "../train/progress.ts";
import { openSession, resumeCommand } from "../train/session.ts";
import { loadRecords, stepIndices } from "../train/sft-data.ts";
import { GROUP_ADVANTAGES, isTokenAdvantage, zeroStdGroups } from "./advantages.ts";
import { type RlConfig, usesValueHead } from "./config.ts";
import { policyObjective, type RlMicroBatch } from "./objective.ts";
import { ppoTargets, valueStepMetrics } from "./ppo.ts";
import { parseRewardSpec, type RewardFn, type RewardInput, rewardStats, scoreRewards } from "./rewards.ts";
import {
  type Completion,
  gatherRows,
  type PackedRows,
  packRows,
  planMicroBatches,
  releaseScorers,
  sampleCompletions,
  scoreTokens,
} from "./rollout.ts";
import {
  initValueHead,
  releaseValueScorer,
  saveValueHead,
  splitValueHead,
  withHeadLr,
  withValueHead,
} from "./value.ts";

export interface RlOptions {
  resume?: boolean;
  overwrite?: boolean;
  stream?: NodeJS.WriteStream;
  schedule?: Schedule;
  signals?: boolean;
  /** Skip the exploit battery before training (default: run it); for async reward functions, which it cannot call. */
  checkReward?: boolean;
  /** Extra reward functions by name (TRL's callable reward_funcs), weighted into the total; a reward model's scorer may be async. */
  rewardFns?: readonly {
    name: string;
    weight: number;
    fn: RewardFn | ((batch: readonly RewardInput[]) => Promise<(number | null)[]>);
  }[];
  /** Called once per rollout with the packed rows and both log-probability sets (tests, monitors). */
  onScored?: (scored: RlScored) => void;
}

/** One rollout's packed rows with the rollout-time ("old") and reference log-probs, [B·T] each. */
export interface RlScored {
  step: number;
  rows: PackedRows;
  oldLogProbs: Float32Array;
  refLogProbs: Float32Array;
}

export interface RlEvalPoint {
  step: number;
  accuracy: number;
  accuracy_flexible: number;
  n: number;
}

export interface RlResult {
  runDir: string;
  status: TrainStatus;
  step: number;
  totalSteps: number;
  evals: RlEvalPoint[];
  rewards: number[];
  seconds: number;
  /** Set when a monitor's action (stop or rollback) ended the run (src/guard/). */
  guard?: GuardDecision;
}

/** A prompt ready to roll out: its record, text and token ids. */
interface PromptItem {
  record: CoTRecord;
  text: string;
  ids: number[];
}

/** One prompt's group after rewards. */
interface Group {
  item: PromptItem;
  completions: Completion[];
  totals: number[];
  byName: Record<string, (number | null)[]>;
}

export function rlRunDir(config: RlConfig): string {
  return runDirOf(config, "rl");
}

export async function runRl(config: RlConfig, opts: RlOptions = {}): Promise<RlResult> {
  const started = performance.now();
  await initEngine();
  const runDir = rlRunDir(config);
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  const mode: OpenMode = opts.resume ? "resume" : opts.overwrite ? "overwrite" : "new";
  // Test the reward against the exploit battery first: a reward with holes never starts a run.
  // An async function (a reward model's scorer) cannot run in the synchronous battery: opts.checkReward false skips it.
  if (opts.checkReward !== false)
    await checkRewardBeforeTraining(config, (opts.rewardFns ?? []) as readonly NamedRewardFn[], say);
  const session = await openSession({
    dir: runDir,
    kind: "rl",
    name: config.name ?? "rl",
    mode,
    model: config.model,
    data: describeSource(config.data.train),
    say,
    ...(opts.signals === undefined ? {} : { signals: opts.signals }),
  });
  const finished = session.run.alreadyFinished;
  if (finished) {
    await session.run.close();
    say(`rl: ${runDir} already finished (${finished.steps?.done ?? "?"} steps, ${finished.ended}); nothing to do`);
    const steps = finished.steps?.done ?? 0;
    return { runDir, status: { kind: "done" }, step: steps, totalSteps: steps, evals: [], rewards: [], seconds: 0 };
  }
  try {
    return await train(config, opts, runDir, session, say, started);
  } catch (err) {
    await session.finish({ kind: "failed", message: (err as Error).message });
    throw err;
  }
}

async function train(
  config: RlConfig,
  opts: RlOptions,
  runDir: string,
  session: Awaited<ReturnType<typeof openSession>>,
  say: (line: string) => void,
  started: number,
): Promise<RlResult> {
  const ro = config.rollout;
  const N = ro.prompts;
  const G = ro.groupSize;
  const mu = config.iterations;
  const totalSteps = config.steps;
  const tokenizer = await Tokenizer.fromDir(config.model);
  const model = await loadModel(config.model);
  if (ro.promptColumns + ro.maxNewTokens > model.config.maxPositionEmbeddings) {
    throw new Error(
      `rl: rollout.promptColumns (${ro.promptColumns}) + rollout.maxNewTokens (${ro.maxNewTokens}) exceeds the model's max_position_embeddings (${model.config.maxPositionEmbeddings})`,
    );
  }
  const build = promptBuilder({ kind: "zero-cot", shots: 0, seed: config.seed });
  const stop = build("x").stop;
  const trainAll = await loadRecords(config.data.train, "train");
  const items: PromptItem[] = [];
  for (const record of trainAll) {
    const text = build(record.question).prompt;
    const ids = tokenizer.encode(text, { addSpecialTokens: true });
    if (ids.length <= ro.promptColumns) items.push({ record, text, ids });
  }
  if (items.length < trainAll.length) {
    say(
      `rl: dropped ${trainAll.length - items.length}/${trainAll.length} training prompts longer than rollout.promptColumns = ${ro.promptColumns} tokens`,
    );
  }
  if (items.length === 0)
    throw new Error(`rl: no training prompt fits rollout.promptColumns = ${ro.promptColumns} tokens`);
  const evalRecords = (await loadRecords(config.data.eval, "test")).slice(0, config.eval.n);
  const eos = new Set(model.config.eosTokenIds);
  if (tokenizer.eosId !== null) eos.add(tokenizer.eosId);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const terms = parseRewardSpec(config.reward.spec, "reward.spec");
  const rewardOpts = {
    maxNewTokens: ro.maxNewTokens,
    overlongBuffer: config.reward.overlongBuffer,
    ngram: config.reward.ngram,
  };

  // Policy, reference, optimizer.
  const ft: FineTune = await setupFineTune(config.lora, model, config.seed);
  const ppo = usesValueHead(config);
  // PPO: the value head joins the trainable tree; policyOf strips it wherever the policy alone is used.
  const policyOf = (t: Params): Params => (ppo ? splitValueHead(t).rest : t);
  const optimizer = ppo ? withHeadLr(optimizerOf(config.optim), config.value.lrScale) : optimizerOf(config.optim);
  const schedule =
    opts.schedule ??
    makeSchedule({
      kind: config.schedule.kind,
      lr: config.optim.lr,
      warmupSteps: config.schedule.warmupSteps,
      totalSteps,
      minLr: config.schedule.minLr,
    });
  let trainable: Params = ppo
    ? { ...ft.trainable, ...initValueHead(model.config.hiddenSize, config.seed) }
    : ft.trainable;
  const needRef = config.loss.beta > 0;
  // The reference is the starting policy (see the header): for full fine-tuning the loaded
  // weights, for LoRA the base (adapter off), for QLoRA the dequantised base with a zero adapter.
  const refHeld: Params | null = needRef ? keepTree(ft.kind === "qlora" ? trainable : model.params) : null;
  const refWeights = (): Params => (ft.kind === "qlora" ? weightsOf(ft, refHeld!) : refHeld!);
  let state = optimizer.init(trainable);
  let startStep = 0;
  if (opts.resume) {
    const ck = await session.restore(optimizer, trainable);
    if (ck) {
      disposeTree(trainable);
      disposeTree(state);
      trainable = ck.trainable;
      state = ck.state;
      startStep = ck.training.step;
      say(`rl: resuming from ${ck.dir} (step ${startStep}/${totalSteps})`);
    } else say(`rl: --resume: no intact checkpoint in ${runDir}; starting from step 0`);
  }
  let current: Params = keepTree(trainable); // the policy the next rollout samples from
  const guard = makeGuard(config.guard, { maxNewTokens: ro.maxNewTokens }, session.run);
  if (startStep > 0) await replayGuard(guard, runDir); // the monitors' state at the checkpoint
  await session.run.writeConfig({
    ...config,
    derived: { trainPrompts: items.length, evalProblems: evalRecords.length },
  });
  const nParams = paramNames(trainable).reduce((n, k) => n + trainable[k]!.size, 0);
  say(
    `rl: ${config.advantage.estimator} on ${model.config.modelType}, ${nParams.toLocaleString("en-US")} trainable params (${ft.describe}); ` +
      `${items.length} train prompts, ${evalRecords.length} eval problems; ${totalSteps} steps of ${N} prompts × ${G} completions -> ${runDir}`,
  );

  const fns = makeStepFunctions({
    objective: policyObjective(model.config, {
      kind: config.loss.kind,
      clipLow: config.loss.clipLow,
      clipHigh: config.loss.clipHigh,
      dualClip: config.loss.dualClip,
      aggregation: config.loss.aggregation,
      maxNewTokens: ro.maxNewTokens,
      temperature: ro.temperature,
      beta: config.loss.klIn === "loss" ? config.loss.beta : 0,
      kl: config.loss.kl,
      entropyCoef: config.loss.entropyCoef,
      ...(ppo ? { value: { coef: config.value.coef, clip: config.value.clip } } : {}),
    }),
    optimizer,
    clip: config.optim.clip,
    ...(ppo
      ? { materialize: withValueHead(ft.materialize ?? identityMaterialize) }
      : ft.materialize
        ? { materialize: ft.materialize }
        : {}),
  });
  const micro = config.batch.microBatch;

  // One rollout → reward → advantage → micro-batches (the numbered steps of the header).
  const rollout = async (r: number, step: number) => {
    const t0 = performance.now();
    const currentPolicy = policyOf(current);
    const weights = weightsOf(ft, currentPolicy);
    const policy = { ...model, params: weights };
    const groups: Group[] = [];
    const spare: Group[] = [];
    let sampled = 0;
    let zeroStd = 0;
    try {
      for (let round = 0; round <= ro.resampleRounds && groups.length < N; round++) {
        const idx = stepIndices(
          round === 0 ? config.seed : deriveSeed(config.seed, "resample", round),
          r,
          N,
          items.length,
        );
        const batch = idx.map((i) => items[i]!);
        const completions = await sampleCompletions(
          policy,
          tokenizer,
          batch.map((b) => b.ids),
          {
            groupSize: G,
            maxNewTokens: ro.maxNewTokens,
            temperature: ro.temperature,
            topP: ro.topP,
            promptColumns: ro.promptColumns,
            eosTokenIds: [...eos],
            stop,
            seed: deriveSeed(config.seed, "rollout", r, round),
          },
        );
        const inputs: RewardInput[] = completions.map((c) => ({
          record: batch[c.prompt]!.record,
          prompt: batch[c.prompt]!.text,
          completion: c.text,
          finishReason: c.finishReason,
          completionTokens: c.tokenIds.length,
        }));
        const scored = await scoreRewards(terms, inputs, rewardOpts);
        for (const { name, weight, fn } of opts.rewardFns ?? []) {
          const values = await fn(inputs);
          values.forEach((v, i) => {
            if (v !== null) scored.totals[i]! += weight * v;
          });
          scored.byName[name] = values;
        }
        const totals = scored.totals.map((v, i) =>
          completions[i]!.finishReason === "length" ? v - config.loss.noEosPenalty : v,
        );
        const flat = zeroStdGroups(totals, G);
        if (round === 0) zeroStd = flat.filter(Boolean).length;
        sampled += batch.length;
        batch.forEach((item, g) => {
          const sl = <T>(xs: T[]) => xs.slice(g * G, (g + 1) * G);
          const group: Group = {
            item,
            completions: sl(completions),
            totals: sl(totals),
            byName: Object.fromEntries(Object.entries(scored.byName).map(([k, v]) => [k, sl(v)])),
          };
          if (ro.resampleRounds > 0 && flat[g]) spare.push(group);
          else if (groups.length < N) groups.push(group);
        });
      }
      while (groups.length < N) groups.push(spare.shift()!);
      const completions = groups.flatMap((g) => g.completions);
      const rows = packRows(
        groups.flatMap((g) => g.completions.map((c) => ({ prompt: g.item.ids, completion: c.tokenIds }))),
        ro.promptColumns,
        ro.maxNewTokens,
        padId,
      );
      const plan = planMicroBatches(rows, micro, config.batch.padMultiple);
      const oldLogProbs = await scoreTokens(weights, model.config, rows, ro.temperature, plan);
      let refLogProbs: Float32Array = new Float32Array(oldLogProbs.length);
      if (needRef) {
        const refW = refWeights();
        try {
          refLogProbs = await scoreTokens(refW, model.config, rows, ro.temperature, plan);
        } finally {
          if (refW !== refHeld) disposeTree(refW);
        }
      }
      opts.onScored?.({ step, rows, oldLogProbs, refLogProbs });
      const T = rows.seqLen;
      const totals = groups.flatMap((g) => g.totals);
      const sequenceKl = totals.map((_, b) => {
        let s = 0;
        for (let t = 0; t < T; t++) s += oldLogProbs[b * T + t]! - refLogProbs[b * T + t]!; // Σ_t k1
        return s;
      });
      const klInReward = needRef && config.loss.klIn === "reward";
      const mask = rows.mask;
      if (config.loss.maskTruncated) {
        completions.forEach((c, b) => {
          if (c.finishReason === "length") mask.fill(0, b * T, (b + 1) * T);
        });
      }
      const estimator = config.advantage.estimator;
      let tokenAdv: Float32Array = new Float32Array(mask.length);
      let ppoRows: { oldValues: Float32Array; returns: Float32Array } | null = null;
      let ppoMetrics: Record<string, number | null> = {};
      if (isTokenAdvantage(estimator)) {
        // PPO: V_old from the head, per-token rewards, GAE (ppo.ts).
        const kl = klInReward ? { beta: config.loss.beta, logProbs: oldLogProbs, refLogProbs } : undefined;
        const params = { ...weights, ...splitValueHead(current).head };
        const out = await ppoTargets(params, model.config, { rows, mask, totals, plan, kl }, config.advantage);
        tokenAdv = out.advantages;
        ppoRows = { oldValues: out.oldValues, returns: out.returns };
        ppoMetrics = out.metrics;
      } else {
        const shaped = klInReward ? totals.map((v, b) => v - config.loss.beta * sequenceKl[b]!) : totals;
        const advantages = GROUP_ADVANTAGES[estimator](shaped, {
          groupSize: G,
          scaling: config.advantage.scaling,
          eps: config.advantage.eps,
          groupBaseline: config.advantage.groupBaseline,
        });
        for (let b = 0; b < rows.rows; b++)
          for (let t = 0; t < T; t++) tokenAdv[b * T + t] = mask[b * T + t]! * advantages[b]!;
      }
      const batches: RlMicroBatch[] = plan.map((slice) => {
        const sl = <A extends Int32Array | Float32Array>(x: A) => gatherRows(x, T, slice);
        return {
          rows: slice.rows.length,
          seqLen: slice.seqLen,
          ids: sl(rows.ids),
          targets: sl(rows.targets),
          mask: sl(mask),
          advantages: sl(tokenAdv),
          oldLogProbs: sl(oldLogProbs),
          refLogProbs: sl(refLogProbs),
          ...(ppoRows ? { oldValues: sl(ppoRows.oldValues), returns: sl(ppoRows.returns) } : {}),
        };
      });
      const rewardNames = Object.keys(groups[0]!.byName);
      const stats: Record<string, number | null> = {};
      for (const name of rewardNames) {
        const s = rewardStats(groups.flatMap((g) => g.byName[name]!));
        stats[`rewards/${name}/mean`] = s?.mean ?? null;
        stats[`rewards/${name}/std`] = s?.std ?? null;
      }
      const all = rewardStats(totals)!;
      const lengths = completions.map((c) => c.tokenIds.length);
      const metrics = {
        reward: all.mean,
        reward_std: all.std,
        ...stats,
        "completions/mean_length": lengths.reduce((a, b) => a + b, 0) / lengths.length,
        "completions/clipped_ratio": completions.filter((c) => c.finishReason === "length").length / completions.length,
        frac_reward_zero_std: zeroStd / N,
        frac_reward_zero_std_kept: zeroStdGroups(totals, G).filter(Boolean).length / N,
        ...ppoMetrics,
        prompts_sampled: sampled,
        seconds_rollout: (performance.now() - t0) / 1000,
        ...completionStats(
          groups.flatMap((g) =>
            g.completions.map((c) => ({
              record: g.item.record,
              prompt: g.item.text,
              completion: c.text,
              finishReason: c.finishReason,
              completionTokens: c.tokenIds.length,
            })),
          ),
        ),
      };
      let written = 0;
      for (const g of groups) {
        for (const [j, c] of g.completions.entries()) {
          if (written++ >= config.samplesPerStep) break;
          await session.run.append(SAMPLES_FILE, {
            step,
            prompt: g.item.text,
            gold: g.item.record.answer,
            completion: c.text,
            finish_reason: c.finishReason,
            reward: g.totals[j],
            rewards: Object.fromEntries(Object.entries(g.byName).map(([k, v]) => [k, v[j]])),
          });
        }
      }
      return { batches, metrics };
    } finally {
      if (weights !== currentPolicy) disposeTree(weights);
    }
  };

  let cached: { r: number; batches: RlMicroBatch[]; metrics: Record<string, number | null> } | null = null;
  let pendingMetrics: Record<string, number | null> = {};
  const batchesFor = async (step: number): Promise<RlMicroBatch[]> => {
    const r = Math.floor(step / mu);
    if (cached?.r !== r) {
      const out = await rollout(r, step + 1);
      cached = { r, ...out };
      pendingMetrics = out.metrics;
    } else pendingMetrics = { ...cached.metrics, seconds_rollout: 0 };
    return cached.batches;
  };

  const evals: RlEvalPoint[] = [];
  const rewards: number[] = [];
  const progress = makeProgress({
    total: totalSteps,
    start: startStep,
    every: config.logEvery,
    stream: opts.stream ?? process.stderr,
  });
  const runEval = async (step: number, params: Params) => {
    if (evalRecords.length === 0) return;
    const policyParams = policyOf(params);
    const weights = weightsOf(ft, policyParams);
    const t0 = performance.now();
    const res = await evaluate({
      model: { ...model, params: weights },
      tokenizer,
      records: evalRecords,
      maxNewTokens: config.eval.maxNewTokens,
      batchSize: 50,
    }).finally(() => {
      if (weights !== policyParams) disposeTree(weights);
    });
    const point = {
      step,
      accuracy: res.report.accuracy_strict,
      accuracy_flexible: res.report.accuracy_flexible,
      n: evalRecords.length,
    };
    evals.push(point);
    await session.run.append(EVAL_FILE, { ...point, seconds: (performance.now() - t0) / 1000 });
    await guard.observe({ kind: "eval", step, accuracy: point.accuracy });
    progress.log(`eval step ${step}: greedy accuracy ${(100 * point.accuracy).toFixed(1)}% of ${point.n}`);
  };
  const checkpoint = (step: number, params: Params, st: typeof state) =>
    session.save(
      step,
      params,
      optimizer,
      st,
      {
        dataPosition: step,
        rng: new Rng(config.seed).state(),
        seed: config.seed,
        extra: { rollout: Math.floor(step / mu) },
      },
      config.checkpoint.keep,
    );
  if (startStep === 0) await runEval(0, trainable);
  const result = await trainLoop({
    fns,
    trainable,
    frozen: ft.frozen,
    state,
    startStep,
    totalSteps,
    schedule,
    batchesFor,
    shouldStop: () => session.shouldStop() || guard.shouldStop(),
    onMetrics: async (m: StepMetrics) => {
      const tokens = Math.max(m.aux.tokens ?? 0, 1);
      const secondsRollout = pendingMetrics.seconds_rollout ?? 0;
      const row: Record<string, number | null> = {
        step: m.step,
        loss: m.loss,
        ...pendingMetrics,
        kl: needRef ? (m.aux.kl ?? 0) / tokens : null, // no reference pass when β = 0
        entropy: (m.aux.entropy ?? 0) / tokens,
        clip_ratio: (m.aux.clipped ?? 0) / tokens,
        approx_kl: (m.aux.approx_kl ?? 0) / tokens,
        ...(ppo ? valueStepMetrics(m.aux) : {}),
        seconds_update: m.seconds - secondsRollout,
        lr: m.lr,
        grad_norm: m.grad_norm,
      };
      const f = (k: string, d: number) => (row[k] ?? 0).toFixed(d);
      rewards.push(row.reward ?? 0);
      Object.assign(row, await guard.observe({ kind: "step", step: m.step, row }));
      await session.run.append(METRICS_FILE, row);
      progress.update(
        m.step,
        `reward ${f("reward", 3)} ±${f("reward_std", 3)} zero-std ${f("frac_reward_zero_std", 2)} len ${f("completions/mean_length", 0)} ` +
          `kl ${row.kl === null ? "-" : row.kl!.toExponential(2)} H ${f("entropy", 3)} clip ${f("clip_ratio", 3)} rollout ${secondsRollout.toFixed(1)}s update ${f("seconds_update", 1)}s`,
      );
    },
    afterStep: async (step, params, st) => {
      disposeTree(current);
      current = keepTree(params);
      if ((config.eval.every > 0 && step % config.eval.every === 0) || step === totalSteps) await runEval(step, params);
      const ckEvery = config.checkpoint.every;
      if ((ckEvery > 0 && step % ckEvery === 0) || step === totalSteps) await checkpoint(step, params, st);
    },
  });
  progress.done();
  const steps = { done: result.step, total: totalSteps };
  try {
    if (result.status.kind === "diverged") {
      say(`rl: stopped: ${result.status.message}`);
    } else if (result.status.kind === "stopped") {
      if (session.savedStep !== result.step && result.step % mu === 0) {
        await checkpoint(result.step, result.trainable, result.state);
      }
      const why = guard.decision
        ? ` by the guard (${guard.decision.alert.monitor}: ${guard.decision.alert.message})`
        : "";
      say(`rl: stopped${why} at step ${result.step}/${totalSteps}, checkpoint saved. Resume with: ${resumeCommand()}`);
    } else {
      const finalDir = await exportFinal(runDir, ft, model, policyOf(result.trainable), {
        tokenizerFrom: config.model,
        baseModelNameOrPath: config.model,
      });
      if (ppo) await saveValueHead(finalDir, splitValueHead(result.trainable).head);
      say(`rl: done, ${totalSteps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s -> ${finalDir}`);
      say(dashboardHint(runDir));
    }
    const first = evals[0];
    const last = evals[evals.length - 1];
    await session.finish(result.status, {
      figures: {
        reward_first: rewards[0] ?? null,
        reward_last: rewards[rewards.length - 1] ?? null,
        eval_accuracy_first: first?.accuracy ?? null,
        eval_accuracy: last?.accuracy ?? null,
      },
      steps,
      outputs:
        result.status.kind === "done" ? { final: "final", ...(ft.adapter ? { adapter: "final/adapter" } : {}) } : {},
    });
  } finally {
    disposeTree(result.trainable);
    disposeTree(result.state);
    disposeTree(current);
    if (refHeld) disposeTree(refHeld);
    disposeFineTune(ft, model);
    fns.dispose();
    releaseCompiled(model.config);
    releaseScorers(model.config);
    await releaseVerifiers();
    releaseValueScorer(model.config);
  }
  return {
    runDir,
    status: result.status,
    step: result.step,
    totalSteps,
    evals,
    rewards,
    seconds: (performance.now() - started) / 1000,
    ...(guard.decision ? { guard: guard.decision } : {}),
  };
}
