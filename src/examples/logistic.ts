/**
 * The worked example of the likelihood principle: logistic regression trained by
 * minimising the negative log-likelihood, checked against an independent solver.
 *
 * Model: p(y = 1 | x) = σ(wᵀx + b). With data {(x_i, y_i)} the mean NLL is
 *
 *   L(w, b) = (1/n) Σ_i ℓ(wᵀx_i + b, y_i),   ℓ(z, y) = max(z,0) − z y + log(1 + e^{−|z|})
 *
 * i.e. binary cross-entropy with logits. L is convex; on non-separable data it
 * has one minimiser, which Newton's method finds to machine precision in float64:
 *
 *   θ ← θ − H⁻¹ ∇L,   ∇L = (1/n) Aᵀ(σ(Aθ) − y),   H = (1/n) Aᵀ diag(σ(1−σ)) A,   A = [X 1]
 *
 * `fitByNll` reaches the same point with jax-js autodiff, a jit-compiled step and
 * an optimizer from engine/optim, in float32.
 */
import { type Array, jit, np, valueAndGrad } from "../engine/jax.ts";
import { SingularMatrixError, solveLinear } from "../engine/linalg.ts";
import { binaryCrossEntropyWithLogits } from "../engine/losses.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../engine/memory.ts";
import { type Optimizer, type OptimizerState, sgd } from "../engine/optim.ts";
import type { Params } from "../engine/params.ts";
import { Rng } from "../engine/rng.ts";

export interface LogisticData {
  n: number;
  d: number;
  /** Row-major features [n, d]. */
  x: Float64Array;
  /** Labels in {0, 1}, [n]. */
  y: Float64Array;
  /** The generating weights [d] and bias. */
  trueW: Float64Array;
  trueB: number;
}

/** Draw x ~ N(0, I), y ~ Bernoulli(σ(wᵀx + b)) with w ~ N(0, I); seeded. */
export function makeLogisticData(opts: { n: number; d: number; seed: number }): LogisticData {
  const { n, d, seed } = opts;
  const rng = new Rng(seed);
  const trueW = Float64Array.from({ length: d }, () => rng.normal());
  const trueB = 0.5 * rng.normal();
  const x = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = trueB;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      x[i * d + j] = v;
      z += trueW[j]! * v;
    }
    y[i] = rng.float() < sigmoid(z) ? 1 : 0;
  }
  return { n, d, x, y, trueW, trueB };
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Mean NLL in float64 at (w, b). */
export function logisticNll(data: LogisticData, w: ArrayLike<number>, b: number): number {
  let total = 0;
  for (let i = 0; i < data.n; i++) {
    let z = b;
    for (let j = 0; j < data.d; j++) z += w[j]! * data.x[i * data.d + j]!;
    total += Math.max(z, 0) - z * data.y[i]! + Math.log1p(Math.exp(-Math.abs(z)));
  }
  return total / data.n;
}

/** Newton's method in float64 (the independent reference). Returns θ = [w..., b]. */
export function newtonLogistic(data: LogisticData, opts: { iterations?: number; tol?: number } = {}) {
  const { n, d, x, y } = data;
  const k = d + 1;
  const theta = new Float64Array(k);
  const row = (i: number, j: number) => (j < d ? x[i * d + j]! : 1);
  let iterations = 0;
  for (; iterations < (opts.iterations ?? 50); iterations++) {
    const grad = new Float64Array(k);
    const hess = new Float64Array(k * k);
    for (let i = 0; i < n; i++) {
      let z = 0;
      for (let j = 0; j < k; j++) z += theta[j]! * row(i, j);
      const p = sigmoid(z);
      const wgt = p * (1 - p);
      for (let a = 0; a < k; a++) {
        grad[a]! += ((p - y[i]!) * row(i, a)) / n;
        for (let c = 0; c < k; c++) hess[a * k + c]! += (wgt * row(i, a) * row(i, c)) / n;
      }
    }
    let step: Float64Array;
    try {
      step = solveLinear(hess, grad, k); // H⁻¹ ∇L
    } catch (e) {
      if (e instanceof SingularMatrixError) throw new Error("newtonLogistic: singular Hessian (separable data?)");
      throw e;
    }
    let maxStep = 0;
    for (let j = 0; j < k; j++) {
      theta[j]! -= step[j]!;
      maxStep = Math.max(maxStep, Math.abs(step[j]!));
    }
    if (maxStep < (opts.tol ?? 1e-13)) break;
  }
  return { w: theta.slice(0, d), b: theta[d]!, iterations };
}

export interface FitOptions {
  steps?: number;
  lr?: number;
  optimizer?: Optimizer;
  /** Called every `logEvery` steps with the current mean NLL. */
  onLog?: (step: number, nll: number) => void;
  logEvery?: number;
}

/**
 * Fit (w, b) by full-batch minimisation of the mean NLL with jax-js autodiff.
 * Default: heavy-ball momentum SGD, which converges linearly on this convex loss.
 */
export async function fitByNll(data: LogisticData, opts: FitOptions = {}) {
  const steps = opts.steps ?? 400;
  const lr = opts.lr ?? 2;
  const opt = opts.optimizer ?? sgd({ momentum: 0.9 });
  const x = np.array(Float32Array.from(data.x), { shape: [data.n, data.d] }); // [n, d]
  const y = np.array(Float32Array.from(data.y)); // [n]

  const loss = (params: Params, xs: Array, ys: Array): Array => {
    const logits = np.add(np.matmul(xs, params.w!), params.b!); // [n]
    return binaryCrossEntropyWithLogits(logits, ys); // scalar, mean over n
  };
  const step = jit((params: Params, state: OptimizerState, xs: Array, ys: Array, eta: Array) => {
    const [value, grads] = valueAndGrad(loss)(keepTree(params), xs, ys);
    const next = opt.update(params, grads, state, eta);
    return { params: next.params, state: next.state, value };
  });

  let params: Params = { w: np.zeros([data.d]), b: np.zeros([]) };
  let state = opt.init(params);
  const eta = np.array(lr);
  let nll = Number.NaN;
  for (let s = 0; s < steps; s++) {
    const out = step(params, state, x.ref, y.ref, eta.ref);
    params = out.params;
    state = out.state;
    const value = out.value;
    nll = await readScalar(value); // await every step: bounds queued work (see engine/memory)
    if (opts.onLog && (s % (opts.logEvery ?? 50) === 0 || s === steps - 1)) opts.onLog(s, nll);
  }
  const w = Float64Array.from(await readFloat32(params.w!));
  const b = await readScalar(params.b!);
  x.dispose();
  y.dispose();
  eta.dispose();
  step.dispose();
  disposeTree(state);
  return { w, b, nll: logisticNll(data, w, b), trainNll: nll };
}
