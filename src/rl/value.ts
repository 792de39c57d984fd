/**
 * PPO's value head for language models: a scalar head on the policy's own final hidden state
 * (a shared trunk, as TRL's AutoModelForCausalLMWithValueHead), read at every position,
 *
 *   V(s_t) = w · h_t + b,   h = forwardHidden(θ, x ⊕ y)  [B, T, C],   w = value_head.weight [1, C]
 *
 * through the reward model's scalar head (prefs/reward-model.ts scalarHead). s_t is the
 * prefix before completion token t: row position t of a packed row (rollout.ts packRows) holds
 * the input whose next target is token t, so V is read where the policy reads log π(y_t).
 *
 * The clipped value loss (PPO2, Schulman et al. 2017's baselines implementation; verl
 * core_algos.compute_value_loss, OpenRLHF ValueLoss), per token, R the GAE returns:
 *
 *   V_clip = clip(V_θ, V_old − ε_v, V_old + ε_v)
 *   ℓ^V_t  = ½ max((V_θ − R)², (V_clip − R)²)
 *
 * The head's tensors ride in the trainable tree next to the policy (or its adapter), so the
 * shared step (train/loop.ts) differentiates them, the optimizer state covers them and the
 * checkpoint holds them; `withValueHead` passes them through the policy's materialize, and
 * `withHeadLr` gives them their own learning rate (a parameter group).
 *
 * Departures: the head is initialised w ~ N(0, 0.02²) (the reward model's init), b = 0, where
 * TRL's ValueHead uses nn.Linear's default. verl and OpenRLHF train a separate critic model;
 * here the value loss also flows into the shared trunk, scaled by value.coef (TRL's vf_coef).
 */
import { join } from "node:path";
import { type Array, jit, np, type OwnedFunction, random } from "../engine/jax.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Optimizer, OptimizerState } from "../engine/optim.ts";
import type { Params } from "../engine/params.ts";
import { keyFor } from "../engine/rng.ts";
import { readSafetensors, writeSafetensors } from "../engine/safetensors.ts";
import { arrayToHost, hostToArray } from "../engine/tensors.ts";
import type { ModelConfig } from "../model/config.ts";
import { forwardHidden } from "../model/model.ts";
import { scalarHead } from "../prefs/reward-model.ts";
import type { Materialize } from "../train/loop.ts";
import { gatherRows, type MicroSlice, type PackedRows, scatterRows } from "./rollout.ts";

/** The head's tensor names in the trainable tree and in value_head.safetensors (OpenRLHF's critic names). */
export const VALUE_WEIGHT = "value_head.weight";
export const VALUE_BIAS = "value_head.bias";
const HEAD_NAMES = [VALUE_WEIGHT, VALUE_BIAS] as const;
/** The file final/ holds the head in. */
export const VALUE_HEAD_FILE = "value_head.safetensors";

/** A fresh head for hidden size C: w ~ N(0, std²) seeded by `seed`, b = 0. */
export function initValueHead(hiddenSize: number, seed: number, std = 0.02): Params {
  return {
    [VALUE_WEIGHT]: np.multiply(random.normal(keyFor(seed, "init", VALUE_WEIGHT), [1, hiddenSize]), std),
    [VALUE_BIAS]: np.zeros([1], { dtype: np.float32 }),
  };
}

export function isValueHeadName(name: string): boolean {
  return (HEAD_NAMES as readonly string[]).includes(name);
}

/** Split a tree into the head's tensors and the rest (no arrays copied or consumed). */
export function splitValueHead(params: Params): { head: Params; rest: Params } {
  const head: Params = {};
  const rest: Params = {};
  for (const [k, v] of Object.entries(params)) (isValueHeadName(k) ? head : rest)[k] = v;
  return { head, rest };
}

/** V [B, T] from hidden states [B, T, C]. Consumes hidden and the head's arrays. */
export function valuesOf(head: Params, hidden: Array): Array {
  const w = head[VALUE_WEIGHT];
  const b = head[VALUE_BIAS];
  if (!w || !b) throw new Error(`valuesOf: the value head needs "${VALUE_WEIGHT}" and "${VALUE_BIAS}"`);
  return scalarHead(hidden, w, b);
}

/** The policy's materialize with the head passed through untouched (consumes both trees, as Materialize does). */
export function withValueHead(inner: Materialize): Materialize {
  return (trainable, frozen) => {
    const { head, rest } = splitValueHead(trainable);
    return { ...inner(rest, frozen), ...head };
  };
}

/**
 * A parameter group: the head's tensors updated with lr · scale, everything else with lr, by
 * the same optimizer (its state slots split by name, one shared step count). Adam's step is
 * invariant to the gradient's scale, so a separate rate is the way to let a fresh head keep
 * up with a policy fine-tuned at 1e-5 (verl and OpenRLHF give the critic its own lr).
 */
export function withHeadLr(inner: Optimizer, scale: number): Optimizer {
  if (!(scale > 0)) throw new RangeError(`withHeadLr: scale must be > 0, got ${scale}`);
  const part = (t: Params) => splitValueHead(t);
  return {
    kind: inner.kind,
    slotNames: inner.slotNames,
    init: (params) => inner.init(params),
    update(params, grads, state, lr) {
      const p = part(params);
      const g = part(grads);
      const slots = Object.fromEntries(Object.entries(state.slots).map(([name, tree]) => [name, part(tree)] as const));
      const slotsOf = (which: "head" | "rest") =>
        Object.fromEntries(Object.entries(slots).map(([name, s]) => [name, s[which]]));
      const headLr = typeof lr === "number" ? lr * scale : np.multiply(lr.ref, scale);
      const rest = inner.update(p.rest, g.rest, { count: state.count.ref, slots: slotsOf("rest") }, lr);
      const head = inner.update(p.head, g.head, { count: state.count, slots: slotsOf("head") }, headLr);
      head.state.count.dispose();
      const merged: OptimizerState = {
        count: rest.state.count,
        slots: Object.fromEntries(
          Object.keys(state.slots).map((name) => [name, { ...rest.state.slots[name], ...head.state.slots[name] }]),
        ),
      };
      return { params: { ...rest.params, ...head.params }, state: merged };
    },
  };
}

/** The per-token clipped value loss and where its clipped branch was taken. */
export interface ValueLoss {
  /** ℓ^V_t = ½ max((V − R)², (V_clip − R)²). [B, T] */
  loss: Array;
  /** 1 where the clipped branch is the larger (verl's vf_clipfrac). [B, T] */
  clipped: Array;
}

/** The clipped value loss on device arrays (see the header). values, oldValues, returns [B, T]; consumes all three. */
export function clippedValueLoss(values: Array, oldValues: Array, returns: Array, clip: number): ValueLoss {
  const vClip = np.clip(values.ref, np.subtract(oldValues.ref, clip), np.add(oldValues, clip)); // V_clip [B, T]
  const l1 = np.square(np.subtract(values, returns.ref)); // (V − R)²
  const l2 = np.square(np.subtract(vClip, returns)); // (V_clip − R)²
  const clipped = np.greater(l2.ref, l1.ref).astype(np.float32);
  return { loss: np.multiply(np.maximum(l1, l2), 0.5), clipped };
}

/** The same loss of one token on the host: the reference the tests hold `clippedValueLoss` to. */
export function clippedValueLossHost(
  value: number,
  oldValue: number,
  ret: number,
  clip: number,
): { loss: number; clipped: boolean } {
  const vClip = Math.min(oldValue + clip, Math.max(oldValue - clip, value));
  const l1 = (value - ret) ** 2;
  const l2 = (vClip - ret) ** 2;
  return { loss: 0.5 * Math.max(l1, l2), clipped: l2 > l1 };
}

const scorers = new WeakMap<ModelConfig, OwnedFunction<(p: Params, ids: Array) => Array>>();

/** Free the compiled value pass of a config. */
export function releaseValueScorer(config: ModelConfig): void {
  scorers.get(config)?.dispose();
  scorers.delete(config);
}

/**
 * V(s_t) of packed rows under the policy weights plus the head (not consumed), micro-batch by
 * micro-batch as rollout.ts planMicroBatches planned them. Returns
 * [B·T] float32, 0 off the mask.
 */
export async function scoreValues(
  params: Params,
  config: ModelConfig,
  rows: PackedRows,
  plan: readonly MicroSlice[],
): Promise<Float32Array> {
  const { rows: B, seqLen: T } = rows;
  let f = scorers.get(config);
  if (!f) {
    f = jit((p: Params, ids: Array) => {
      const { head, rest } = splitValueHead(p);
      return valuesOf(head, forwardHidden(rest, config, ids).hidden);
    });
    scorers.set(config, f);
  }
  const out = new Float32Array(B * T);
  for (const slice of plan) {
    const ids = np.array(gatherRows(rows.ids, T, slice), { shape: [slice.rows.length, slice.seqLen], dtype: np.int32 });
    scatterRows(out, T, slice, await readFloat32(f(keepTree(params), ids)));
  }
  for (let i = 0; i < out.length; i++) if (rows.mask[i] === 0) out[i] = 0;
  return out;
}

/** Write the head to dir/value_head.safetensors. Does not consume. */
export async function saveValueHead(dir: string, head: Params): Promise<string> {
  const path = join(dir, VALUE_HEAD_FILE);
  const tensors: Record<string, Awaited<ReturnType<typeof arrayToHost>>> = {};
  for (const name of HEAD_NAMES) {
    const x = head[name];
    if (!x) throw new Error(`saveValueHead: missing "${name}"`);
    tensors[name] = await arrayToHost(x.ref);
  }
  await writeSafetensors(path, tensors, { format: "pt", stepwise: "value_head" });
  return path;
}

/** Read a value_head.safetensors written by saveValueHead; errors name the file and the tensor. */
export async function loadValueHead(path: string, hiddenSize: number): Promise<Params> {
  const { tensors } = await readSafetensors(path);
  const head: Params = {};
  for (const [name, shape] of [
    [VALUE_WEIGHT, [1, hiddenSize]],
    [VALUE_BIAS, [1]],
  ] as const) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${path}: no "${name}" tensor (not a value head file)`);
    if (JSON.stringify(t.shape) !== JSON.stringify(shape)) {
      throw new Error(`${path}: "${name}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
    }
    head[name] = hostToArray(t, `${path}: "${name}"`);
  }
  return head;
}
