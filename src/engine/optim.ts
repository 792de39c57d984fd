/**
 * Optimizers as pure functions with explicit state, in the manner of optax:
 * `init(params) → state`, `update(params, grads, state, lr) → {params, state}`.
 * Both trace under `jit`; pass the learning rate as a scalar array so one compiled
 * step serves every value of the schedule.
 *
 * Ownership: `update` consumes params, grads and state (jax-js move semantics) and
 * returns new ones; `init` does not consume params.
 *
 * Hyperparameters and defaults follow PyTorch (torch.optim.AdamW, torch.optim.SGD),
 * so a run can be compared step for step with the Python peer.
 */
import { type Array, np } from "./jax.ts";
import { decayMatricesOnly, type ParamMask, type Params, paramNames } from "./params.ts";

// A type alias, not an interface, so that it is assignable to jax-js's JsTree.
export type OptimizerState = {
  /** Number of updates applied so far, a float32 scalar (t in the equations). */
  count: Array;
  /** Per-parameter slot arrays by slot name, e.g. exp_avg / exp_avg_sq for AdamW. */
  slots: Record<string, Params>;
};

export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Slot names, the keys of `state.slots` (and of the saved state file). */
  readonly slotNames: readonly string[];
  init(params: Params): OptimizerState;
  update(
    params: Params,
    grads: Params,
    state: OptimizerState,
    lr: Array | number,
  ): { params: Params; state: OptimizerState };
}

export interface AdamWConfig {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which parameters get weight decay; default: matrices only (no biases, no norm gains). */
  decayMask?: ParamMask;
}

export interface SgdConfig {
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's coupled SGD weight decay). */
  weightDecay?: number;
  decayMask?: ParamMask;
}

export type OptimizerKind = "adamw" | "sgd";
export interface OptimizerConfigs {
  adamw: AdamWConfig;
  sgd: SgdConfig;
}

function zerosLikeParams(params: Params): Params {
  const out: Params = {};
  for (const name of paramNames(params)) out[name] = np.zeros(params[name]!.shape, { dtype: np.float32 });
  return out;
}

/**
 * AdamW (Loshchilov & Hutter, 2019), with bias correction and decoupled weight decay:
 *
 *   m_t = β1 m_{t−1} + (1 − β1) g_t
 *   v_t = β2 v_{t−1} + (1 − β2) g_t²
 *   m̂_t = m_t / (1 − β1^t),   v̂_t = v_t / (1 − β2^t)
 *   θ_t = θ_{t−1} − η (m̂_t / (√v̂_t + ε) + λ θ_{t−1})     (λ only where decayMask holds)
 */
export function adamw(config: AdamWConfig = {}): Optimizer {
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const eps = config.eps ?? 1e-8;
  const weightDecay = config.weightDecay ?? 0.01;
  const decayMask = config.decayMask ?? decayMatricesOnly;
  for (const [k, v] of Object.entries({ beta1, beta2 })) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`adamw: ${k} must be in [0, 1), got ${v}`);
  }
  if (!(eps > 0)) throw new RangeError(`adamw: eps must be > 0, got ${eps}`);
  if (!(weightDecay >= 0)) throw new RangeError(`adamw: weightDecay must be >= 0, got ${weightDecay}`);

  return {
    kind: "adamw",
    slotNames: ["exp_avg", "exp_avg_sq"],
    init: (params) => ({
      count: np.zeros([], { dtype: np.float32 }),
      slots: { exp_avg: zerosLikeParams(params), exp_avg_sq: zerosLikeParams(params) },
    }),
    update(params, grads, state, lr) {
      checkGradNames(grads, params);
      const eta = asScalar(lr);
      const t = np.add(state.count, 1); // scalar
      // 1 − β^t = 1 − exp(t log β); β = 0 gives exp(−inf) = 0 (no correction needed).
      const bc1 = np.subtract(1, np.exp(np.multiply(t.ref, Math.log(beta1))));
      const bc2 = np.subtract(1, np.exp(np.multiply(t.ref, Math.log(beta2))));
      const stepSize = np.divide(eta.ref, bc1); // η / (1 − β1^t)
      const sqrtBc2 = np.sqrt(bc2); // √(1 − β2^t)
      const mOld = state.slots.exp_avg!;
      const vOld = state.slots.exp_avg_sq!;
      const newParams: Params = {};
      const m: Params = {};
      const v: Params = {};
      for (const name of paramNames(params)) {
        const g = grads[name]!;
        const p = params[name]!;
        m[name] = np.add(np.multiply(mOld[name]!, beta1), np.multiply(g.ref, 1 - beta1));
        v[name] = np.add(np.multiply(vOld[name]!, beta2), np.multiply(np.square(g), 1 - beta2));
        // m̂/(√v̂ + ε) = (m/bc1) / (√v/√bc2 + ε), written as PyTorch does
        const denom = np.add(np.divide(np.sqrt(v[name]!.ref), sqrtBc2.ref), eps);
        let update = np.multiply(np.divide(m[name]!.ref, denom), stepSize.ref);
        if (weightDecay > 0 && decayMask(name, p.shape)) {
          update = np.add(update, np.multiply(np.multiply(p.ref, eta.ref), weightDecay));
        }
        newParams[name] = np.subtract(p, update);
      }
      stepSize.dispose();
      sqrtBc2.dispose();
      eta.dispose();
      return { params: newParams, state: { count: t, slots: { exp_avg: m, exp_avg_sq: v } } };
    },
  };
}

/**
 * SGD with momentum (PyTorch's form, dampening 0):
 *
 *   g'_t = g_t + λ θ_{t−1}                   (λ only where decayMask holds)
 *   b_t  = μ b_{t−1} + g'_t
 *   θ_t  = θ_{t−1} − η b_t                    (Nesterov: θ_{t−1} − η (g'_t + μ b_t))
 */
export function sgd(config: SgdConfig = {}): Optimizer {
  const momentum = config.momentum ?? 0;
  const nesterov = config.nesterov ?? false;
  const weightDecay = config.weightDecay ?? 0;
  const decayMask = config.decayMask ?? decayMatricesOnly;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`sgd: momentum must be in [0, 1), got ${momentum}`);
  if (nesterov && momentum === 0) throw new RangeError("sgd: nesterov needs momentum > 0");
  if (!(weightDecay >= 0)) throw new RangeError(`sgd: weightDecay must be >= 0, got ${weightDecay}`);

  return {
    kind: "sgd",
    slotNames: ["momentum_buffer"],
    init: (params) => ({
      count: np.zeros([], { dtype: np.float32 }),
      slots: { momentum_buffer: zerosLikeParams(params) },
    }),
    update(params, grads, state, lr) {
      checkGradNames(grads, params);
      const eta = asScalar(lr);
      const bufOld = state.slots.momentum_buffer!;
      const newParams: Params = {};
      const buf: Params = {};
      for (const name of paramNames(params)) {
        const p = params[name]!;
        let g = grads[name]!;
        if (weightDecay > 0 && decayMask(name, p.shape)) g = np.add(g, np.multiply(p.ref, weightDecay));
        buf[name] = np.add(np.multiply(bufOld[name]!, momentum), g.ref);
        let direction: Array;
        if (nesterov)
          direction = np.add(g, np.multiply(buf[name]!.ref, momentum)); // g' + μ b_t
        else {
          g.dispose();
          direction = buf[name]!.ref; // b_t
        }
        newParams[name] = np.subtract(p, np.multiply(direction, eta.ref));
      }
      eta.dispose();
      return { params: newParams, state: { count: np.add(state.count, 1), slots: { momentum_buffer: buf } } };
    },
  };
}

/** The loop runs over params; a gradient without a parameter (or the reverse) is a caller bug. */
function checkGradNames(grads: Params, params: Params): void {
  for (const name of Object.keys(grads)) {
    if (!(name in params)) throw new Error(`optimizer update: gradient for unknown parameter "${name}"`);
  }
  for (const name of Object.keys(params)) {
    if (!(name in grads)) throw new Error(`optimizer update: no gradient for parameter "${name}"`);
  }
}

/** The learning rate as a scalar array (a number becomes a constant). */
function asScalar(lr: Array | number): Array {
  return typeof lr === "number" ? np.array(lr, { dtype: np.float32 }) : lr;
}

export const OPTIMIZERS: { [K in OptimizerKind]: (config: OptimizerConfigs[K]) => Optimizer } = {
  adamw,
  sgd,
};

/**
 * Global-norm gradient clipping (Pascanu et al., 2013):
 *
 *   ‖g‖ = √(Σ_i Σ g_i²),   g ← g · min(1, maxNorm / (‖g‖ + 1e-6))
 *
 * Returns the clipped gradients and the norm before clipping (log it).
 * Consumes `grads`.
 */
export function clipByGlobalNorm(grads: Params, maxNorm: number): { grads: Params; norm: Array } {
  if (!(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const names = paramNames(grads);
  let sumSq: Array = np.zeros([], { dtype: np.float32 });
  for (const name of names) sumSq = np.add(sumSq, np.sum(np.square(grads[name]!.ref)));
  const norm = np.sqrt(sumSq);
  const scale = np.minimum(np.divide(maxNorm, np.add(norm.ref, 1e-6)), 1);
  const clipped: Params = {};
  for (const name of names) clipped[name] = np.multiply(grads[name]!, scale.ref);
  scale.dispose();
  return { grads: clipped, norm };
}
