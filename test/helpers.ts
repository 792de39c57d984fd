/** Shared test utilities: float comparisons with informative failures. */
import assert from "node:assert/strict";

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${what}: max abs error ${worst} at index ${at} (got ${actual[at]}, expected ${expected[at]}) exceeds ${tol}`,
  );
}

export function assertScalarClose(actual: number, expected: number, tol: number, what = "value"): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} ± ${tol}`);
}
