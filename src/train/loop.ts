/**
 * The training loop shared by every trainer (full SFT here; LoRA/QLoRA reuse it).
 *
 * One optimizer step over an accumulated batch of K micro-batches b_1..b_K:
 *
 *   (S_k, ∇S_k) = valueAndGrad(S)(θ; b_k)        S(θ; b) = −Σ_{rows,t} M_{b,t} log p(y_{b,t})   (jit, per micro-batch)
 *   N           = Σ_k Σ_{rows,t} M_{b_k,t}         target tokens of the whole accumulated batch
 *   g           = (Σ_k ∇S_k) / N                   mean gradient per target token
 *   g           ← g · min(1, clip / ‖g‖)           global-norm clipping (clip > 0)
 *   θ, s        ← AdamW(θ, g, s, η(step))          η from the schedule, passed as a scalar array
 *   loss        = (Σ_k S_k) / N
 *
 * Loss normalisation — the choice, documented: the loss of a step is the SUM of
 * token NLLs over every micro-batch divided by the TOTAL target-token count of the
 * accumulated batch. Every target token weighs the same, whatever micro-batch it
 * lands in, so K micro-batches of B rows give the same loss and update as one batch
 * of K·B rows (tested to 1e-6). Departure from the common "mean of per-micro-batch
 * means" (HF Trainer before its 2024 fix): that weighs a token in a micro-batch of
 * short targets more than one in a micro-batch of long targets.
 *
 * Trainable vs frozen parameters — the hook for adapters. The step differentiates
 * only `trainable`; the model sees `materialize(trainable, frozen)`:
 *
 *   full fine-tuning   trainable = all params, frozen = {}, materialize = (t) => t   (the default)
 *   LoRA / QLoRA       trainable = adapter tensors, frozen = (quantised) base weights,
 *                      materialize = base (dequantised) + B·A·(α/r) on the targeted modules
 *
 * `materialize` follows jax-js ownership: it CONSUMES both trees and returns an owned
 * parameter record keyed by the model's tensor names. It runs traced inside `jit`
 * (the micro-step, the eval loss) and eagerly for evaluation and export; it must
 * be a pure function of its inputs. Optimizer state and checkpoints cover `trainable`
 * only; `frozen` is never updated.
 *
 * NaN/Inf: the loss of every micro-step and the gradient norm are awaited every
 * step (this also bounds jax-js's queued work, see engine/memory.ts). A non-finite
 * value stops the run BEFORE the bad update is kept: the loop returns status
 * "diverged" with the step, the quantity and its value, and the parameters of the
 * last good step; the caller keeps its last checkpoint.
 */
import { type Array, jit, np, valueAndGrad } from "../engine/jax.ts";
import { tokenNll } from "../engine/losses.ts";
import { disposeTree, keepTree, readScalar } from "../engine/memory.ts";
import { clipByGlobalNorm, type Optimizer, type OptimizerState } from "../engine/optim.ts";
import { type Params, paramNames } from "../engine/params.ts";
import type { Schedule } from "../engine/schedules.ts";
import type { ModelConfig } from "../model/config.ts";
import { forward } from "../model/model.ts";

/** Build the model's parameters from the trainable and frozen trees; consumes both (see header). */
export type Materialize = (trainable: Params, frozen: Params) => Params;

/** Full fine-tuning: the trainable tree is the model (frozen is empty). */
export const identityMaterialize: Materialize = (trainable, frozen) => {
  disposeTree(frozen);
  return trainable;
};

/** One micro-batch on the host: rows right-padded to a fixed length T (one compiled shape). */
export interface MicroBatch {
  rows: number; // B
  seqLen: number; // T
  ids: Int32Array; // [B, T] model inputs
  targets: Int32Array; // [B, T] next tokens
  mask: Float32Array; // [B, T] 1 on target tokens
  /** Σ mask: target tokens in this micro-batch. */
  targetTokens: number;
}

export interface StepFunctions {
  /** Σ token NLL of one micro-batch and its gradient w.r.t. trainable; consumes nothing the caller keeps. */
  microStep(trainable: Params, frozen: Params, batch: MicroBatch): { lossSum: Array; grads: Params };
  /** Σ token NLL of one micro-batch (no gradient). */
  lossSum(trainable: Params, frozen: Params, batch: MicroBatch): Array;
  /** g = gradSum / N, clip, optimizer update; consumes all its arguments. */
  apply(
    trainable: Params,
    gradSum: Params,
    state: OptimizerState,
    lr: number,
    targetTokens: number,
  ): { trainable: Params; state: OptimizerState; gradNorm: Array };
  dispose(): void;
}

export interface StepSpec {
  config: ModelConfig;
  optimizer: Optimizer;
  /** Max global gradient norm; 0 = no clipping. */
  clip: number;
  materialize?: Materialize;
}

function toDevice(b: MicroBatch): { ids: Array; targets: Array; mask: Array } {
  const shape = [b.rows, b.seqLen];
  return {
    ids: np.array(b.ids, { shape, dtype: np.int32 }),
    targets: np.array(b.targets, { shape, dtype: np.int32 }),
    mask: np.array(b.mask, { shape, dtype: np.float32 }),
  };
}

/** The jit-compiled pieces of a step (see the file header for the math). */
export function makeStepFunctions(spec: StepSpec): StepFunctions {
  const materialize = spec.materialize ?? identityMaterialize;
  const { config, optimizer, clip } = spec;
  const nllSum = (trainable: Params, frozen: Params, ids: Array, targets: Array, mask: Array): Array => {
    const { logits } = forward(materialize(trainable, frozen), config, ids); // [B, T, V]
    return tokenNll(logits, targets, mask, { reduction: "sum" }); // scalar Σ M·(−log p)
  };
  const micro = jit((trainable: Params, frozen: Params, ids: Array, targets: Array, mask: Array) => {
    const [value, grads] = valueAndGrad(nllSum)(trainable, frozen, ids, targets, mask);
    return { lossSum: value, grads };
  });
  const evalLoss = jit(nllSum);
  const applyJit = jit((trainable: Params, gradSum: Params, state: OptimizerState, lr: Array, count: Array) => {
    const inv = np.divide(1, count); // 1 / N
    const mean: Params = {};
    for (const name of paramNames(gradSum)) mean[name] = np.multiply(gradSum[name]!, inv.ref);
    inv.dispose();
    let grads = mean;
    let gradNorm: Array;
    if (clip > 0) {
      const c = clipByGlobalNorm(mean, clip);
      grads = c.grads;
      gradNorm = c.norm;
    } else {
      let sumSq: Array = np.zeros([], { dtype: np.float32 });
      for (const name of paramNames(mean)) sumSq = np.add(sumSq, np.sum(np.square(mean[name]!.ref)));
      gradNorm = np.sqrt(sumSq);
    }
    const next = optimizer.update(trainable, grads, state, lr);
    return { trainable: next.params, state: next.state, gradNorm };
  });
  return {
    microStep(trainable, frozen, batch) {
      const d = toDevice(batch);
      return micro(keepTree(trainable), keepTree(frozen), d.ids, d.targets, d.mask);
    },
    lossSum(trainable, frozen, batch) {
      const d = toDevice(batch);
      return evalLoss(keepTree(trainable), keepTree(frozen), d.ids, d.targets, d.mask);
    },
    apply(trainable, gradSum, state, lr, targetTokens) {
      const out = applyJit(
        trainable,
        gradSum,
        state,
        np.array(lr, { dtype: np.float32 }),
        np.array(Math.max(targetTokens, 1), { dtype: np.float32 }),
      );
      return out;
    },
    dispose() {
      micro.dispose();
      evalLoss.dispose();
      applyJit.dispose();
    },
  };
}

export interface StepMetrics {
  step: number; // 1-based: updates applied after this step
  loss: number;
  lr: number;
  tokens: number; // target tokens in this step
  tokens_per_s: number;
  grad_norm: number;
}

export type TrainStatus =
  | { kind: "done" }
  | { kind: "diverged"; step: number; what: "loss" | "grad_norm"; value: number; message: string };

export interface LoopOptions {
  fns: StepFunctions;
  trainable: Params;
  frozen: Params;
  state: OptimizerState;
  /** Updates already applied (0 for a fresh run, N when resuming from step-N). */
  startStep: number;
  totalSteps: number;
  schedule: Schedule;
  /** The micro-batches of optimizer step `step` (0-based); must be a pure function of step. */
  batchesFor(step: number): MicroBatch[];
  onMetrics?(m: StepMetrics): void | Promise<void>;
  /**
   * Called after each good step with the current trees (not consumed; keepTree to hold them).
   * Checkpointing and evaluation live here.
   */
  afterStep?(step: number, trainable: Params, state: OptimizerState): void | Promise<void>;
}

export interface LoopResult {
  status: TrainStatus;
  /** Steps completed (updates applied). */
  step: number;
  trainable: Params;
  state: OptimizerState;
}

/** Run steps startStep+1 … totalSteps (see the file header). Consumes trainable and state; returns the new ones. */
export async function trainLoop(opts: LoopOptions): Promise<LoopResult> {
  const { fns, frozen } = opts;
  let trainable = opts.trainable;
  let state = opts.state;
  for (let step = opts.startStep; step < opts.totalSteps; step++) {
    const t0 = performance.now();
    const batches = opts.batchesFor(step);
    let gradSum: Params | null = null;
    let lossSum = 0;
    let tokens = 0;
    let bad: TrainStatus | null = null;
    for (const b of batches) {
      const { lossSum: l, grads } = fns.microStep(trainable, frozen, b);
      const value = await readScalar(l); // await every micro-step: bounds queued work, catches NaN early
      tokens += b.targetTokens;
      if (gradSum === null) gradSum = grads;
      else {
        const prev: Params = gradSum;
        const sum: Params = {};
        for (const name of paramNames(prev)) sum[name] = np.add(prev[name]!, grads[name]!);
        gradSum = sum;
      }
      if (!Number.isFinite(value)) {
        bad = diverged(step + 1, "loss", value);
        break;
      }
      lossSum += value;
    }
    if (bad || gradSum === null) {
      disposeTree(gradSum);
      return { status: bad ?? { kind: "done" }, step, trainable, state };
    }
    const lr = opts.schedule(step);
    // Keep a reference to the last good trees, so a non-finite update can be dropped.
    const out = fns.apply(keepTree(trainable), gradSum, keepTree(state), lr, tokens);
    const gradNorm = await readScalar(out.gradNorm);
    if (!Number.isFinite(gradNorm)) {
      disposeTree(out.trainable);
      disposeTree(out.state);
      return { status: diverged(step + 1, "grad_norm", gradNorm), step, trainable, state };
    }
    disposeTree(trainable);
    disposeTree(state);
    trainable = out.trainable;
    state = out.state;
    const seconds = (performance.now() - t0) / 1000;
    await opts.onMetrics?.({
      step: step + 1,
      loss: lossSum / Math.max(tokens, 1),
      lr,
      tokens,
      tokens_per_s: tokens / Math.max(seconds, 1e-9),
      grad_norm: gradNorm,
    });
    await opts.afterStep?.(step + 1, trainable, state);
  }
  return { status: { kind: "done" }, step: opts.totalSteps, trainable, state };
}

function diverged(step: number, what: "loss" | "grad_norm", value: number): TrainStatus {
  return {
    kind: "diverged",
    step,
    what,
    value,
    message:
      `step ${step}: ${what === "loss" ? "the training loss" : "the gradient norm"} is ${value}; ` +
      "the update was not applied and training stopped. Lower optim.lr, raise schedule.warmupSteps " +
      "or set optim.clip, then --resume from the last checkpoint",
  };
}

/** Mean held-out NLL per target token over micro-batches: Σ S / Σ N. */
export async function heldOutLoss(
  fns: StepFunctions,
  trainable: Params,
  frozen: Params,
  batches: readonly MicroBatch[],
): Promise<{ loss: number; tokens: number }> {
  let sum = 0;
  let tokens = 0;
  for (const b of batches) {
    sum += await readScalar(fns.lossSum(trainable, frozen, b));
    tokens += b.targetTokens;
  }
  return { loss: sum / Math.max(tokens, 1), tokens };
}
