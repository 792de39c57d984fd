/**
 * The training step the train_step bench times (and train-step-profile.ts takes
 * apart), on the reference config (reference-config.ts):
 *
 *   loss  = tokenNll(forward(params, ids), targets, mask)     mean over the 16·128 tokens
 *   grads = ∇loss (valueAndGrad)
 *   grads = clipByGlobalNorm(grads, 1.0)
 *   params, state = adamw(lr 1e-3, weight decay 0.01 on matrices).update(...)
 *
 * all in one jit-compiled function; the caller awaits the loss every step.
 * Batches are random token ids from a seeded host generator (ids = tokens[:, :-1],
 * targets = tokens[:, 1:]), made before timing; a step uploads its batch.
 */
import {
  blockUntilReady,
  type Array as JaxArray,
  jit,
  np,
  type OwnedFunction,
  valueAndGrad,
} from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readScalar } from "../src/engine/memory.ts";
import { adamw, clipByGlobalNorm, type Optimizer, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import type { LlamaConfig } from "../src/model/config.ts";
import { forward, initParams } from "../src/model/model.ts";
import { REFERENCE, referenceConfig } from "./reference-config.ts";

export const TRAIN_SEED = 20240601;
export const LEARNING_RATE = 1e-3;
export const CLIP_NORM = 1.0;
/** Distinct batches cycled through (the data does not change the work, only the values). */
const BATCHES = 4;

export interface Batch {
  ids: JaxArray; // int32 [B, T]
  targets: JaxArray; // int32 [B, T]
  mask: JaxArray; // float32 [B, T], all ones
}

export type StepFn = OwnedFunction<
  (
    params: Params,
    state: OptimizerState,
    ids: JaxArray,
    targets: JaxArray,
    mask: JaxArray,
    lr: JaxArray,
  ) => { params: Params; state: OptimizerState; loss: JaxArray }
>;

/** Mean token NLL of the model on a batch (consumes everything it is given). */
export function lossOf(config: LlamaConfig) {
  return (params: Params, ids: JaxArray, targets: JaxArray, mask: JaxArray): JaxArray => {
    const { logits } = forward(params, config, ids); // [B, T, V]
    return tokenNll(logits, targets, mask); // scalar
  };
}

/** The whole step as one jit-compiled function. */
export function makeStep(config: LlamaConfig, opt: Optimizer): StepFn {
  const loss = lossOf(config);
  return jit(
    (params: Params, state: OptimizerState, ids: JaxArray, targets: JaxArray, mask: JaxArray, lr: JaxArray) => {
      const [value, grads] = valueAndGrad(loss)(keepTree(params), ids, targets, mask);
      const { grads: clipped, norm } = clipByGlobalNorm(grads, CLIP_NORM);
      norm.dispose();
      const next = opt.update(params, clipped, state, lr);
      return { params: next.params, state: next.state, loss: value };
    },
  );
}

/** A training run in progress: the model, its optimizer state and a source of batches. */
export class TrainBench {
  readonly config = referenceConfig();
  readonly opt = adamw({ weightDecay: 0.01 });
  params: Params;
  state: OptimizerState;
  readonly lr = np.array(LEARNING_RATE, { dtype: np.float32 });
  readonly tokensPerStep = REFERENCE.batch * REFERENCE.seq;
  #tokens: Int32Array[];
  #next = 0;
  #step: StepFn | null = null;

  constructor() {
    this.params = initParams(this.config, { seed: TRAIN_SEED });
    this.state = this.opt.init(this.params);
    const rng = new Rng(TRAIN_SEED);
    const { batch: B, seq: T, vocab: V } = REFERENCE;
    this.#tokens = Array.from({ length: BATCHES }, () =>
      Int32Array.from({ length: B * (T + 1) }, () => rng.int(0, V - 1)),
    );
  }

  /** The next batch, uploaded: ids and targets are the two shifted views of B sequences of T + 1 tokens. */
  batch(): Batch {
    const { batch: B, seq: T } = REFERENCE;
    const raw = this.#tokens[this.#next++ % this.#tokens.length]!;
    const tokens = np.array(raw, { shape: [B, T + 1], dtype: np.int32 }); // [B, T + 1]
    return {
      ids: tokens.ref.slice([], [0, T]), // [B, T]
      targets: tokens.slice([], [1]), // [B, T]
      mask: np.ones([B, T], { dtype: np.float32 }),
    };
  }

  /**
   * One full step; resolves to the loss once the whole step has run. Awaiting
   * the loss alone is not enough for a timing: jax-js submits pending kernels
   * lazily, when a result is asked for, so the backward pass and the update
   * would run inside the next step's time (each step right on average, single
   * steps 0.3x to 2x off, and a median of a few of them biased). The new
   * parameters are the step's last outputs (the update needs every gradient
   * and both AdamW moments), so awaiting them awaits everything.
   */
  async step(): Promise<number> {
    this.#step ??= makeStep(this.config, this.opt);
    const { ids, targets, mask } = this.batch();
    const out = this.#step(this.params, this.state, ids, targets, mask, this.lr.ref);
    this.params = out.params;
    this.state = out.state;
    const loss = await readScalar(out.loss);
    await blockUntilReady(this.params);
    if (!Number.isFinite(loss)) throw new Error(`train step: loss is ${loss}`);
    return loss;
  }

  dispose(): void {
    this.#step?.dispose();
    disposeTree(this.params);
    disposeTree(this.state);
    this.lr.dispose();
  }
}
