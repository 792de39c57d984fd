/**
 * The benchmark contract: a bench is an async generator of figures, and every
 * figure becomes one JSON line on stdout:
 *
 *   {"bench": "matmul", "impl": "stepwise", "params": {"size": 1024, "threads": 2}, "value": 61.2, "unit": "GFLOP/s"}
 *
 * Everything else a bench has to say (progress, notes, a missing peer) goes to
 * stderr through `ctx.log`, so stdout stays machine-readable.
 */

/** Who produced a figure: our engine, a peer library, or a ratio between the two ("stepwise/pytorch"). */
export type Impl = "stepwise" | "pytorch" | "stepwise/pytorch";
export const IMPLS: readonly Impl[] = ["stepwise", "pytorch", "stepwise/pytorch"];

export type ParamValue = string | number | boolean;

export interface Figure {
  bench: string;
  impl: Impl;
  params: Record<string, ParamValue>;
  value: number;
  unit: string;
}

export interface BenchContext {
  /** A line for humans, on stderr. */
  log(message: string): void;
  /**
   * The most rounds (repeats of each measuring process) a bench may run
   * (`--rounds`); it reports each figure's best round (see rounds.ts).
   */
  rounds: number;
}

/** A benchmark: yields its figures as it measures them. */
export type Bench = (ctx: BenchContext) => AsyncIterable<Figure>;

/** The stdout line for a figure, keys in a fixed order. */
export function formatFigure(f: Figure): string {
  return JSON.stringify({ bench: f.bench, impl: f.impl, params: f.params, value: f.value, unit: f.unit });
}

export class FigureError extends Error {
  override name = "FigureError";
}

function isParamValue(v: unknown): v is ParamValue {
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

/**
 * Parse and validate one figure line (from a child process). Throws a
 * FigureError naming the offending field; `where` says which process sent it.
 */
export function parseFigure(line: string, where: string): Figure {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new FigureError(`${where}: not a JSON line: ${line.slice(0, 200)}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FigureError(`${where}: expected a JSON object, got ${line.slice(0, 200)}`);
  }
  const o = raw as Record<string, unknown>;
  const bad = (field: string, expected: string) =>
    new FigureError(`${where}: field "${field}" should be ${expected}, got ${JSON.stringify(o[field])}`);
  if (typeof o.bench !== "string" || o.bench === "") throw bad("bench", "a non-empty string");
  if (typeof o.impl !== "string" || !(IMPLS as readonly string[]).includes(o.impl)) {
    throw bad("impl", `one of ${IMPLS.join(", ")}`);
  }
  if (typeof o.value !== "number" || !Number.isFinite(o.value)) throw bad("value", "a finite number");
  if (typeof o.unit !== "string" || o.unit === "") throw bad("unit", "a non-empty string");
  const params = o.params;
  if (typeof params !== "object" || params === null || Array.isArray(params)) throw bad("params", "an object");
  for (const [k, v] of Object.entries(params)) {
    if (!isParamValue(v)) throw new FigureError(`${where}: params.${k} should be a string, finite number or boolean`);
  }
  return {
    bench: o.bench,
    impl: o.impl as Impl,
    params: params as Record<string, ParamValue>,
    value: o.value,
    unit: o.unit,
  };
}
