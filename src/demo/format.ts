/** Number and label formatting shared by the demo's printed table and its HTML report (NaN-safe). */
import type { CotVsDirect, DemoSummary } from "./types.ts";

export const fin = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);
/** 0.473 → "47.3%". */
export const pct = (x: number | null | undefined) => (fin(x) ? `${(100 * x).toFixed(1)}%` : "–");
export const fixed = (x: number | null | undefined, digits: number) => (fin(x) ? x.toFixed(digits) : "–");
/** A difference of accuracies in percentage points, signed: "+6.3", "−2.0". */
export const signedPoints = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;
/** "95% interval −17.3 to −5.0". */
export const interval = (d: CotVsDirect) =>
  `${Math.round(100 * d.level)}% interval ${signedPoints(d.lo)} to ${signedPoints(d.hi)}`;
/** "[−17.3, −5.0]", the interval alone (for a table cell). */
export const brackets = (d: CotVsDirect) => `[${signedPoints(d.lo)}, ${signedPoints(d.hi)}]`;
/** "held-out" (the test problems) or "validation" (the ones settings are chosen on). */
export const setName = (evalSet: DemoSummary["eval_set"]) => (evalSet === "validation" ? "validation" : "held-out");
