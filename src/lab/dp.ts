/**
 * Dynamic programming on a finite MDP with known dynamics (Sutton & Barto, 2nd ed., ch. 4).
 *
 *   V^π(s)   = Σ_a π(a|s) Σ_{s',r} p(s',r|s,a) [r + γ V^π(s')]            (Bellman expectation, 4.4)
 *   Q^π(s,a) = Σ_{s',r} p(s',r|s,a) [r + γ Σ_{a'} π(a'|s') Q^π(s',a')]
 *   A^π(s,a) = Q^π(s,a) − V^π(s),   so  Σ_a π(a|s) A^π(s,a) = 0             (advantage)
 *   V*(s)    = max_a Σ_{s',r} p(s',r|s,a) [r + γ V*(s')]                    (Bellman optimality, 4.1)
 *
 * V^π is computed two independent ways: iterative sweeps to a tolerance, and exactly by the
 * linear system (I − γ P_π) V = r_π solved with Gaussian elimination in float64. Terminal
 * states have V = 0 by definition; a transition flagged `terminal` never bootstraps.
 *
 * Departures from the book: policy evaluation stops on the a-posteriori bound
 * ‖V_k − V^π‖∞ ≤ γ Δ_k / (1 − γ) (a γ-contraction) rather than on Δ_k alone, so `tol` is a
 * guaranteed error for γ < 1; for γ = 1 (episodic, proper policies) it falls back to Δ_k < tol.
 * Greedy policies break ties to the lowest action index among actions within `tieTol`
 * (relative) of the best, so value and policy iteration return the same π* even where
 * several actions are optimal.
 */

import { SingularMatrixError, solveLinear } from "../engine/linalg.ts";
import type { Rng } from "../engine/rng.ts";
import type { TabularEnv, TabularPolicy } from "./env.ts";

export { SingularMatrixError, solveLinear };

export interface DpOptions {
  /** Discount γ ∈ [0, 1]. */
  gamma: number;
  /** Target max-norm error of the returned values (default 1e-10). */
  tol?: number;
  /** Give up after this many sweeps (default 100000). */
  maxIterations?: number;
}

/** An iterative method did not reach its tolerance within maxIterations. */
export class DpConvergenceError extends Error {
  override name = "DpConvergenceError";
  constructor(
    readonly fn: string,
    readonly iterations: number,
    readonly delta: number,
    readonly tol: number,
  ) {
    super(
      `${fn}: no convergence after ${iterations} sweeps (last change ${delta.toExponential(2)}, tol ${tol}); ` +
        "raise maxIterations, loosen tol, or use γ < 1 if some policy never terminates",
    );
  }
}

function checkGamma(fn: string, gamma: number): void {
  if (!(gamma >= 0 && gamma <= 1)) throw new RangeError(`${fn}: gamma must be in [0, 1], got ${gamma}`);
}

function checkPolicy(fn: string, env: TabularEnv, pi: TabularPolicy): void {
  if (pi.numStates !== env.numStates || pi.numActions !== env.numActions) {
    throw new RangeError(
      `${fn}: policy is ${pi.numStates} states x ${pi.numActions} actions but ${env.name} has ` +
        `${env.numStates} x ${env.numActions}`,
    );
  }
  for (let s = 0; s < pi.numStates; s++) {
    let sum = 0;
    for (let a = 0; a < pi.numActions; a++) sum += pi.probs[s * pi.numActions + a]!;
    if (!(Math.abs(sum - 1) <= 1e-9)) throw new RangeError(`${fn}: π(·|s=${s}) sums to ${sum}, expected 1`);
  }
}

function settings(fn: string, o: DpOptions): { gamma: number; tol: number; maxIterations: number } {
  checkGamma(fn, o.gamma);
  const tol = o.tol ?? 1e-10;
  if (!(tol > 0)) throw new RangeError(`${fn}: tol must be > 0, got ${tol}`);
  return { gamma: o.gamma, tol, maxIterations: o.maxIterations ?? 100_000 };
}

/** Has the sweep change Δ brought the max-norm error under tol? (see the header) */
function converged(delta: number, gamma: number, tol: number): boolean {
  return gamma < 1 ? (gamma * delta) / (1 - gamma) <= tol : delta <= tol;
}

// ---------------------------------------------------------------------------------------
// Policies

export function uniformPolicy(numStates: number, numActions: number): TabularPolicy {
  return { numStates, numActions, probs: new Float64Array(numStates * numActions).fill(1 / numActions) };
}

/** A random stochastic policy: each π(·|s) drawn from a flat Dirichlet (all actions > 0). */
export function randomPolicy(numStates: number, numActions: number, rng: Rng): TabularPolicy {
  const probs = new Float64Array(numStates * numActions);
  for (let s = 0; s < numStates; s++) {
    let sum = 0;
    for (let a = 0; a < numActions; a++) {
      const g = -Math.log(1 - rng.float()); // Exp(1) = Gamma(1, 1)
      probs[s * numActions + a] = g;
      sum += g;
    }
    for (let a = 0; a < numActions; a++) probs[s * numActions + a]! /= sum;
  }
  return { numStates, numActions, probs };
}

/** The deterministic policy π(a|s) = 1[a = actions[s]]. */
export function deterministicPolicy(actions: ArrayLike<number>, numActions: number): TabularPolicy {
  const probs = new Float64Array(actions.length * numActions);
  for (let s = 0; s < actions.length; s++) probs[s * numActions + actions[s]!] = 1;
  return { numStates: actions.length, numActions, probs };
}

/**
 * Greedy policy from a Q table: argmax_a Q(s,a), ties (within tieTol·max(1,|max|)) to the
 * lowest action index, so the result is deterministic.
 */
export function greedyPolicy(Q: Float64Array, numStates: number, numActions: number, tieTol = 1e-8): Int32Array {
  const pi = new Int32Array(numStates);
  for (let s = 0; s < numStates; s++) pi[s] = optimalActions(Q, s, numActions, tieTol)[0]!;
  return pi;
}

/** All actions within tieTol·max(1, |max|) of max_a Q(s, a), in increasing order. */
export function optimalActions(Q: Float64Array, state: number, numActions: number, tieTol = 1e-8): number[] {
  let best = -Infinity;
  for (let a = 0; a < numActions; a++) best = Math.max(best, Q[state * numActions + a]!);
  const slack = tieTol * Math.max(1, Math.abs(best));
  const out: number[] = [];
  for (let a = 0; a < numActions; a++) if (Q[state * numActions + a]! >= best - slack) out.push(a);
  return out;
}

// ---------------------------------------------------------------------------------------
// Backups

/** One-step lookahead: Σ_{s',r} p(s',r|s,a) [r + γ V(s')], with V(terminal) = 0. */
export function actionValue(
  env: TabularEnv,
  V: ArrayLike<number>,
  state: number,
  action: number,
  gamma: number,
): number {
  let q = 0;
  for (const t of env.transitions(state, action)) q += t.prob * (t.reward + (t.terminal ? 0 : gamma * V[t.next]!));
  return q;
}

/** Q(s,a) = Σ_{s',r} p(s',r|s,a) [r + γ V(s')] for every (s, a); zero in terminal states. */
export function qFromV(env: TabularEnv, V: ArrayLike<number>, gamma: number): Float64Array {
  const nA = env.numActions;
  const Q = new Float64Array(env.numStates * nA);
  for (let s = 0; s < env.numStates; s++) {
    if (env.isTerminal(s)) continue;
    for (let a = 0; a < nA; a++) Q[s * nA + a] = actionValue(env, V, s, a, gamma);
  }
  return Q;
}

/** E_{a~π(·|s)}[X(s, a)] for every state: Σ_a π(a|s) X(s,a). */
export function expectUnderPolicy(pi: TabularPolicy, X: Float64Array): Float64Array {
  const nA = pi.numActions;
  const out = new Float64Array(pi.numStates);
  for (let s = 0; s < pi.numStates; s++) {
    let e = 0;
    for (let a = 0; a < nA; a++) e += pi.probs[s * nA + a]! * X[s * nA + a]!;
    out[s] = e;
  }
  return out;
}

/** A^π(s,a) = Q^π(s,a) − V^π(s). */
export function advantageTable(Q: Float64Array, V: ArrayLike<number>, numActions: number): Float64Array {
  const A = new Float64Array(Q.length);
  for (let i = 0; i < Q.length; i++) A[i] = Q[i]! - V[Math.floor(i / numActions)]!;
  return A;
}

// ---------------------------------------------------------------------------------------
// Policy evaluation

export interface EvaluationResult {
  V: Float64Array;
  iterations: number;
  /** Largest change in the last sweep. */
  delta: number;
}

/** Iterative policy evaluation (S&B §4.1, in-place sweeps): V(s) ← Σ_a π(a|s) Σ p [r + γ V(s')]. */
export function evaluatePolicy(env: TabularEnv, pi: TabularPolicy, opts: DpOptions): EvaluationResult {
  const { gamma, tol, maxIterations } = settings("evaluatePolicy", opts);
  checkPolicy("evaluatePolicy", env, pi);
  const nA = env.numActions;
  const V = new Float64Array(env.numStates);
  let delta = Infinity;
  for (let it = 1; it <= maxIterations; it++) {
    delta = 0;
    for (let s = 0; s < env.numStates; s++) {
      if (env.isTerminal(s)) continue;
      let v = 0;
      for (let a = 0; a < nA; a++) {
        const p = pi.probs[s * nA + a]!;
        if (p > 0) v += p * actionValue(env, V, s, a, gamma);
      }
      delta = Math.max(delta, Math.abs(v - V[s]!));
      V[s] = v;
    }
    if (converged(delta, gamma, tol)) return { V, iterations: it, delta };
  }
  throw new DpConvergenceError("evaluatePolicy", maxIterations, delta, tol);
}

/** Iterative evaluation of Q^π directly: Q(s,a) ← Σ p [r + γ Σ_{a'} π(a'|s') Q(s',a')]. */
export function evaluatePolicyQ(
  env: TabularEnv,
  pi: TabularPolicy,
  opts: DpOptions,
): { Q: Float64Array; iterations: number; delta: number } {
  const { gamma, tol, maxIterations } = settings("evaluatePolicyQ", opts);
  checkPolicy("evaluatePolicyQ", env, pi);
  const nS = env.numStates;
  const nA = env.numActions;
  const Q = new Float64Array(nS * nA);
  const Vpi = new Float64Array(nS); // Σ_a' π(a'|s') Q(s',a'), kept current
  let delta = Infinity;
  for (let it = 1; it <= maxIterations; it++) {
    delta = 0;
    for (let s = 0; s < nS; s++) {
      if (env.isTerminal(s)) continue;
      for (let a = 0; a < nA; a++) {
        const q = actionValue(env, Vpi, s, a, gamma);
        delta = Math.max(delta, Math.abs(q - Q[s * nA + a]!));
        Q[s * nA + a] = q;
      }
      let v = 0;
      for (let a = 0; a < nA; a++) v += pi.probs[s * nA + a]! * Q[s * nA + a]!;
      Vpi[s] = v;
    }
    if (converged(delta, gamma, tol)) return { Q, iterations: it, delta };
  }
  throw new DpConvergenceError("evaluatePolicyQ", maxIterations, delta, tol);
}

/**
 * The policy's Markov chain: P_π[s, s'] = Σ_a π(a|s) Σ_r p(s',r|s,a) over non-terminal
 * transitions, and r_π[s] = Σ_a π(a|s) Σ p r. Terminal rows are zero (V(terminal) = 0).
 */
export function policyMatrices(env: TabularEnv, pi: TabularPolicy): { P: Float64Array; r: Float64Array } {
  checkPolicy("policyMatrices", env, pi);
  const n = env.numStates;
  const nA = env.numActions;
  const P = new Float64Array(n * n); // [S, S] row-major
  const r = new Float64Array(n); // [S]
  for (let s = 0; s < n; s++) {
    if (env.isTerminal(s)) continue;
    for (let a = 0; a < nA; a++) {
      const p = pi.probs[s * nA + a]!;
      if (p === 0) continue;
      for (const t of env.transitions(s, a)) {
        r[s] = r[s]! + p * t.prob * t.reward;
        if (!t.terminal) P[s * n + t.next] = P[s * n + t.next]! + p * t.prob;
      }
    }
  }
  return { P, r };
}

/** Exact V^π from the linear system (I − γ P_π) V = r_π. */
export function solvePolicy(env: TabularEnv, pi: TabularPolicy, gamma: number): Float64Array {
  checkGamma("solvePolicy", gamma);
  const { P, r } = policyMatrices(env, pi);
  const n = env.numStates;
  const M = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) M[i * n + j] = (i === j ? 1 : 0) - gamma * P[i * n + j]!;
  }
  try {
    return solveLinear(M, r, n);
  } catch (e) {
    if (!(e instanceof SingularMatrixError)) throw e;
    throw new SingularMatrixError(
      "solvePolicy",
      e.column,
      "for (I − γ P_π) this means γ = 1 and the policy can run forever without reaching a terminal state: " +
        "use γ < 1 or a proper policy",
    );
  }
}

/** Exact Q^π = r(s,a) + γ Σ p V^π(s'), with V^π from the linear solve. */
export function solvePolicyQ(env: TabularEnv, pi: TabularPolicy, gamma: number): Float64Array {
  return qFromV(env, solvePolicy(env, pi, gamma), gamma);
}

// ---------------------------------------------------------------------------------------
// Control

export interface OptimalResult {
  /** V*(s) */
  V: Float64Array;
  /** Q*(s,a), [S * A] */
  Q: Float64Array;
  /** π*(s): greedy in Q* with the lowest-index tie-break. */
  pi: Int32Array;
  iterations: number;
}

/** Value iteration (S&B §4.4): V(s) ← max_a Σ p [r + γ V(s')] until ‖V − V*‖∞ ≤ tol. */
export function valueIteration(env: TabularEnv, opts: DpOptions): OptimalResult {
  const { gamma, tol, maxIterations } = settings("valueIteration", opts);
  const nA = env.numActions;
  const V = new Float64Array(env.numStates);
  let delta = Infinity;
  for (let it = 1; it <= maxIterations; it++) {
    delta = 0;
    for (let s = 0; s < env.numStates; s++) {
      if (env.isTerminal(s)) continue;
      let best = -Infinity;
      for (let a = 0; a < nA; a++) best = Math.max(best, actionValue(env, V, s, a, gamma));
      delta = Math.max(delta, Math.abs(best - V[s]!));
      V[s] = best;
    }
    if (converged(delta, gamma, tol)) {
      const Q = qFromV(env, V, gamma);
      return { V, Q, pi: greedyPolicy(Q, env.numStates, nA), iterations: it };
    }
  }
  throw new DpConvergenceError("valueIteration", maxIterations, delta, tol);
}

export interface PolicyIterationOptions extends DpOptions {
  /** How each policy is evaluated: exactly by the linear solve (default) or iteratively. */
  evaluation?: "linear" | "iterative";
  /** Starting policy (default uniform random: proper wherever a goal is reachable, so γ = 1 works). */
  initial?: TabularPolicy;
}

/**
 * Policy iteration (S&B §4.3): evaluate π, improve π'(s) = argmax_a Q^π(s,a), repeat until π is
 * stable. An improvement keeps the current action when it is still (within tieTol) greedy, so
 * ties cannot make it cycle. Returns the canonical greedy policy of the final Q (= Q*).
 */
export function policyIteration(env: TabularEnv, opts: PolicyIterationOptions): OptimalResult {
  const { gamma, tol, maxIterations } = settings("policyIteration", opts);
  const nS = env.numStates;
  const nA = env.numActions;
  const evaluate = (p: TabularPolicy) =>
    opts.evaluation === "iterative"
      ? evaluatePolicy(env, p, { gamma, tol: tol / 10, maxIterations }).V
      : solvePolicy(env, p, gamma);
  let pi = opts.initial ?? uniformPolicy(nS, nA);
  let current: Int32Array | null = null;
  for (let it = 1; it <= 1000; it++) {
    const V = evaluate(pi);
    const Q = qFromV(env, V, gamma);
    const next = new Int32Array(nS);
    let stable = current !== null;
    for (let s = 0; s < nS; s++) {
      const best = optimalActions(Q, s, nA);
      next[s] = current && best.includes(current[s]!) ? current[s]! : best[0]!;
      if (current && next[s] !== current[s]) stable = false;
    }
    if (stable) return { V, Q, pi: greedyPolicy(Q, nS, nA), iterations: it - 1 };
    current = next;
    pi = deterministicPolicy(next, nA);
  }
  throw new DpConvergenceError("policyIteration", 1000, Number.NaN, tol);
}

/** Largest |x_i − y_i|. */
export function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`maxAbsDiff: lengths ${x.length} and ${y.length} differ`);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}
