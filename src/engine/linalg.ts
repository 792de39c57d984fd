/**
 * Small dense linear algebra on the host, in float64: the exact solvers behind
 * the references (Newton's method for logistic regression, V^π = (I − γ P_π)⁻¹ r_π
 * in the RL lab). Not for large systems: O(n³), no blocking.
 */

/** Gaussian elimination met a (numerically) zero pivot. */
export class SingularMatrixError extends Error {
  override name = "SingularMatrixError";
  constructor(
    readonly fn: string,
    readonly column: number,
    hint = "",
  ) {
    super(`${fn}: matrix is singular at column ${column}${hint ? `; ${hint}` : ""}`);
  }
}

/** Solve A x = b (A is n×n row-major) by Gaussian elimination with partial pivoting, in float64. */
export function solveLinear(A: Float64Array, b: Float64Array, n: number): Float64Array {
  if (A.length !== n * n || b.length !== n) {
    throw new RangeError(`solveLinear: need A of ${n}x${n} and b of ${n}, got ${A.length} and ${b.length} entries`);
  }
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  let scale = 0;
  for (const v of M) scale = Math.max(scale, Math.abs(v));
  const eps = n * Number.EPSILON * Math.max(scale, Number.MIN_VALUE);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(M[i * n + k]!) > Math.abs(M[p * n + k]!)) p = i;
    if (!(Math.abs(M[p * n + k]!) > eps)) throw new SingularMatrixError("solveLinear", k);
    if (p !== k) {
      for (let j = 0; j < n; j++) [M[k * n + j], M[p * n + j]] = [M[p * n + j]!, M[k * n + j]!];
      [x[k], x[p]] = [x[p]!, x[k]!];
    }
    const pivot = M[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = M[i * n + k]! / pivot;
      if (f === 0) continue;
      for (let j = k; j < n; j++) M[i * n + j] = M[i * n + j]! - f * M[k * n + j]!;
      x[i] = x[i]! - f * x[k]!;
    }
  }
  for (let k = n - 1; k >= 0; k--) {
    let v = x[k]!;
    for (let j = k + 1; j < n; j++) v -= M[k * n + j]! * x[j]!;
    x[k] = v / M[k * n + k]!;
  }
  return x;
}
