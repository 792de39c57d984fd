/**
 * The training step and loop shared by every trainer: SFT's token NLL, and the policy-gradient,
 * DPO and Bradley–Terry losses of the RL and preference trainers. The loss is a parameter.
 *
 * A loss over one micro-batch b returns a SUM and the COUNT it is normalised by (target
 * tokens for NLL, sequences or pairs for others), plus auxiliary sums to log:
 *
 *   (S_k, ∇S_k) = valueAndGrad(S)(θ; b_k)        one jit-compiled micro-step per shape
 *   N           = Σ_k n_k                          the count of the whole accumulated batch
 *   g           = (Σ_k ∇S_k) / N                   mean gradient per counted unit
 *   g           ← g · min(1, clip / ‖g‖)           global-norm clipping (clip > 0)
 *   θ, s        ← opt(θ, g, s, η(step))            the optimizer from engine/optim.ts's registry
 *   loss        = (Σ_k S_k) / N,   aux_j = Σ_k A_{j,k} (raw sums; the trainer divides)
 *
 * Normalisation — the choice, documented: every counted unit weighs the same, whatever
 * micro-batch it lands in, so K micro-batches of B rows give the same loss and update as one
 * batch of K·B rows (tested to 1e-6). Departure from the common "mean of per-micro-batch
 * means" (HF Trainer before its 2024 fix), which weighs a token in a micro-batch of short
 * targets more than one in a micro-batch of long targets.
 *
 * One micro-batch per step (gradAccum 1) runs as ONE compiled function — micro-step, clip
 * and update fused — instead of two (the same arithmetic; fewer dispatches and no
 * gradient tree round-trips between compiled functions).
 *
 * Trainable vs frozen — the hook for adapters and heads. The step differentiates only
 * `trainable`; the loss sees `materialize(trainable, frozen)`:
 *
 *   full fine-tuning   trainable = all params (+ any head), frozen = {}, materialize = identity
 *   LoRA / QLoRA       trainable = adapter tensors (+ any head), frozen = (quantised) base,
 *                      materialize = base (dequantised) + B·A·(α/r) on the targeted modules
 *
 * `materialize` CONSUMES both trees and returns an owned record keyed by tensor names; it runs
 * traced inside `jit`. Optimizer state and checkpoints cover `trainable` only.
 *
 * NaN/Inf: the loss of every micro-step and the gradient norm are awaited every step (this
 * also bounds jax-js's queued work, see engine/memory.ts). A non-finite value stops the run
 * BEFORE the bad update is kept: the loop returns status "diverged" with the step, the
 * quantity and its value, and the parameters of the last good step.
 */
import { type Array, type JsTree, jit, np, valueAndGrad } from "../engine/jax.ts";
import { disposeTree, keepTree, readScalar } from "../engine/memory.ts";
import { clipByGlobalNorm, type Optimizer, type OptimizerState } from "../engine/optim.ts";
import { type Params, paramNames } from "../engine/params.ts";
import type { Schedule } from "../engine/schedules.ts";

/** Build the model's parameters from the trainable and frozen trees; consumes both (see header). */
export type Materialize = (trainable: Params, frozen: Params) => Params;

/** Full fine-tuning: the trainable tree is the model (frozen is empty). */
export const identityMaterialize: Materialize = (trainable, frozen) => {
  disposeTree(frozen);
  return trainable;
};

/** What a loss returns for one micro-batch: Σ, the count it is normalised by, and aux sums. */
export type LossOut = { sum: Array; count: Array; aux?: Record<string, Array> };

/**
 * A loss over one micro-batch of device arrays `D`. Consumes `params` (the materialized
 * weights, plus any trainable head) and `batch`.
 */
export type LossFn<D extends JsTree<Array>> = (params: Params, batch: D) => LossOut;

/** A loss with the host-to-device conversion of its batches: what a trainer hands the step. */
export interface Objective<H, D extends JsTree<Array>> {
  /** Host batch → device arrays (fresh arrays: the step consumes them). */
  toDevice(batch: H): D;
  loss: LossFn<D>;
}

/** One micro-step's outputs, awaited: Σ, count and aux sums as numbers. */
interface StepOut {
  trainable: Params;
  state: OptimizerState;
  sum: Array;
  count: Array;
  aux: Record<string, Array>;
  gradNorm: Array;
}

export interface StepFunctions<H> {
  /** Σ loss, count, aux and ∇ of one micro-batch; does not consume trainable/frozen. */
  microStep(trainable: Params, frozen: Params, batch: H): LossOut & { grads: Params };
  /** Σ loss, count and aux of one micro-batch (no gradient). */
  lossSum(trainable: Params, frozen: Params, batch: H): LossOut;
  /** g = gradSum / N, clip, optimizer update; consumes trainable, gradSum and state. */
  apply(
    trainable: Params,
    gradSum: Params,
    state: OptimizerState,
    lr: number,
    count: number,
  ): { trainable: Params; state: OptimizerState; gradNorm: Array };
  /** microStep + apply in one compiled function (one micro-batch per step); consumes trainable and state. */
  fusedStep(trainable: Params, frozen: Params, state: OptimizerState, batch: H, lr: number): StepOut;
  dispose(): void;
}

export interface StepSpec<H, D extends JsTree<Array>> {
  objective: Objective<H, D>;
  optimizer: Optimizer;
  /** Max global gradient norm; 0 = no clipping. */
  clip: number;
  materialize?: Materialize;
}

/** g = gradSum / N, clipped; returns the gradient and its norm before clipping. Consumes gradSum and count. */
function meanAndClip(gradSum: Params, count: Array, clip: number): { grads: Params; gradNorm: Array } {
  const inv = np.divide(1, np.maximum(count, 1)); // 1 / N
  const mean: Params = {};
  for (const name of paramNames(gradSum)) mean[name] = np.multiply(gradSum[name]!, inv.ref);
  inv.dispose();
  if (clip > 0) {
    const c = clipByGlobalNorm(mean, clip);
    return { grads: c.grads, gradNorm: c.norm };
  }
  let sumSq: Array = np.zeros([], { dtype: np.float32 });
  for (const name of paramNames(mean)) sumSq = np.add(sumSq, np.sum(np.square(mean[name]!.ref)));
  return { grads: mean, gradNorm: np.sqrt(sumSq) };
}

/** The jit-compiled pieces of a step (see the file header for the math). */
export function makeStepFunctions<H, D extends JsTree<Array>>(spec: StepSpec<H, D>): StepFunctions<H> {
  const materialize = spec.materialize ?? identityMaterialize;
  const { objective, optimizer, clip } = spec;
  // valueAndGrad differentiates the first output; count and aux ride along as its aux.
  const lossWithAux = (
    trainable: Params,
    frozen: Params,
    batch: D,
  ): [Array, { count: Array; aux: Record<string, Array> }] => {
    const out = objective.loss(materialize(trainable, frozen), batch);
    return [out.sum, { count: out.count, aux: out.aux ?? {} }];
  };
  // jit's types map the device batch D through JsTree; the casts below only erase that mapping.
  const micro = jit((trainable: Params, frozen: Params, batch: D) => {
    const [[sum, rest], grads] = valueAndGrad(lossWithAux, { hasAux: true })(trainable, frozen, batch as never);
    return { sum, count: rest.count, aux: rest.aux, grads };
  });
  const evalLoss = jit((trainable: Params, frozen: Params, batch: D) => {
    const [sum, rest] = lossWithAux(trainable, frozen, batch);
    return { sum, count: rest.count, aux: rest.aux };
  });
  const applyJit = jit((trainable: Params, gradSum: Params, state: OptimizerState, lr: Array, count: Array) => {
    const { grads, gradNorm } = meanAndClip(gradSum, count, clip);
    const next = optimizer.update(trainable, grads, state, lr);
    return { trainable: next.params, state: next.state, gradNorm };
  });
  const fused = jit((trainable: Params, frozen: Params, state: OptimizerState, batch: D, lr: Array) => {
    const [[sum, rest], gradSum] = valueAndGrad(lossWithAux, {
      hasAux: true,
    })(keepTree(trainable), frozen, batch as never);
    const { grads, gradNorm } = meanAndClip(gradSum, rest.count.ref, clip);
    const next = optimizer.update(trainable, grads, state, lr);
    return { trainable: next.params, state: next.state, sum, count: rest.count, aux: rest.aux, gradNorm };
  });
  const scalar = (x: number) => np.array(x, { dtype: np.float32 });
  return {
    microStep: (trainable, frozen, batch) =>
      micro(keepTree(trainable), keepTree(frozen), objective.toDevice(batch) as never),
    lossSum: (trainable, frozen, batch) =>
      evalLoss(keepTree(trainable), keepTree(frozen), objective.toDevice(batch) as never),
    apply: (trainable, gradSum, state, lr, count) => applyJit(trainable, gradSum, state, scalar(lr), scalar(count)),
    fusedStep: (trainable, frozen, state, batch, lr) =>
      fused(trainable, keepTree(frozen), state, objective.toDevice(batch) as never, scalar(lr)),
    dispose() {
      micro.dispose();
      evalLoss.dispose();
      applyJit.dispose();
      fused.dispose();
    },
  };
}

export interface StepMetrics {
  step: number; // 1-based: updates applied after this step
  loss: number; // Σ S / N
  lr: number;
  count: number; // N: the counted units of this step (target tokens for NLL)
  /** Σ of each auxiliary output over the step's micro-batches (divide by count, or as the loss documents). */
  aux: Record<string, number>;
  seconds: number;
  grad_norm: number;
}

export type TrainStatus =
  | { kind: "done" }
  | { kind: "stopped"; step: number; message: string }
  | { kind: "diverged"; step: number; what: "loss" | "grad_norm"; value: number; message: string };

export interface LoopOptions<H> {
  fns: StepFunctions<H>;
  trainable: Params;
  frozen: Params;
  state: OptimizerState;
  /** Updates already applied (0 for a fresh run, N when resuming from step-N). */
  startStep: number;
  totalSteps: number;
  schedule: Schedule;
  /** The micro-batches of optimizer step `step` (0-based); a pure function of step for exact resume. */
  batchesFor(step: number): H[] | Promise<H[]>;
  onMetrics?(m: StepMetrics): void | Promise<void>;
  /**
   * Called after each good step with the current trees (not consumed; keepTree to hold them).
   * Evaluation, then checkpointing, live here (in that order: see runs/jsonl.ts).
   */
  afterStep?(step: number, trainable: Params, state: OptimizerState): void | Promise<void>;
  /** Checked after each step: true ends the loop cleanly with status "stopped" (a signal). */
  shouldStop?(): boolean;
}

export interface LoopResult {
  status: TrainStatus;
  /** Steps completed (updates applied). */
  step: number;
  trainable: Params;
  state: OptimizerState;
}

async function readAux(aux: Record<string, Array>, into: Record<string, number>): Promise<void> {
  for (const [k, v] of Object.entries(aux)) into[k] = (into[k] ?? 0) + (await readScalar(v));
}

/** Run steps startStep+1 … totalSteps (see the file header). Consumes trainable and state; returns the new ones. */
export async function trainLoop<H>(opts: LoopOptions<H>): Promise<LoopResult> {
  const { fns, frozen } = opts;
  let trainable = opts.trainable;
  let state = opts.state;
  for (let step = opts.startStep; step < opts.totalSteps; step++) {
    const t0 = performance.now();
    const batches = await opts.batchesFor(step);
    const lr = opts.schedule(step);
    let lossSum = 0;
    let count = 0;
    const aux: Record<string, number> = {};
    let out: { trainable: Params; state: OptimizerState; gradNorm: Array };
    if (batches.length === 1) {
      // Keep the last good trees, so a non-finite update can be dropped.
      const f = fns.fusedStep(keepTree(trainable), frozen, keepTree(state), batches[0]!, lr);
      lossSum = await readScalar(f.sum);
      count = await readScalar(f.count);
      await readAux(f.aux, aux);
      out = f;
    } else {
      let gradSum: Params | null = null;
      for (const b of batches) {
        const r = fns.microStep(trainable, frozen, b);
        const value = await readScalar(r.sum); // await every micro-step: bounds queued work, catches NaN early
        count += await readScalar(r.count);
        await readAux(r.aux ?? {}, aux);
        if (gradSum === null) gradSum = r.grads;
        else {
          const prev: Params = gradSum;
          const sum: Params = {};
          for (const name of paramNames(prev)) sum[name] = np.add(prev[name]!, r.grads[name]!);
          gradSum = sum;
        }
        lossSum += value;
        if (!Number.isFinite(value)) break;
      }
      if (gradSum === null) return { status: { kind: "done" }, step, trainable, state };
      if (!Number.isFinite(lossSum)) {
        disposeTree(gradSum);
        return { status: diverged(step + 1, "loss", lossSum), step, trainable, state };
      }
      out = fns.apply(keepTree(trainable), gradSum, keepTree(state), lr, count);
    }
    const gradNorm = await readScalar(out.gradNorm);
    const bad = !Number.isFinite(lossSum)
      ? diverged(step + 1, "loss", lossSum)
      : !Number.isFinite(gradNorm)
        ? diverged(step + 1, "grad_norm", gradNorm)
        : null;
    if (bad) {
      disposeTree(out.trainable);
      disposeTree(out.state);
      return { status: bad, step, trainable, state };
    }
    disposeTree(trainable);
    disposeTree(state);
    trainable = out.trainable;
    state = out.state;
    await opts.onMetrics?.({
      step: step + 1,
      loss: lossSum / Math.max(count, 1),
      lr,
      count,
      aux,
      seconds: (performance.now() - t0) / 1000,
      grad_norm: gradNorm,
    });
    await opts.afterStep?.(step + 1, trainable, state);
    if (opts.shouldStop?.() && step + 1 < opts.totalSteps) {
      return {
        status: { kind: "stopped", step: step + 1, message: `stopped by a signal after step ${step + 1}` },
        step: step + 1,
        trainable,
        state,
      };
    }
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

/** Mean held-out loss over micro-batches: Σ S / Σ N. */
export async function heldOutLoss<H>(
  fns: StepFunctions<H>,
  trainable: Params,
  frozen: Params,
  batches: readonly H[],
): Promise<{ loss: number; count: number }> {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const r = fns.lossSum(trainable, frozen, b);
    sum += await readScalar(r.sum);
    count += await readScalar(r.count);
    for (const a of Object.values(r.aux ?? {})) a.dispose();
  }
  return { loss: sum / Math.max(count, 1), count };
}
