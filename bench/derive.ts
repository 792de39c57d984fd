/**
 * Figures computed from other figures: thread scaling and the ratio to a peer.
 * Both match figures by their params, so they work for any bench whose params
 * are plain values.
 */
import type { Figure, Impl, ParamValue } from "./types.ts";

export function keyOf(params: Record<string, ParamValue>, without: string[] = []): string {
  const entries = Object.entries(params).filter(([k]) => !without.includes(k));
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(entries);
}

/**
 * For each figure of `impl` at `threads = all`, the speedup over the same params at
 * `threads = 1`: value(all) / value(1) (for throughput units; pass `lowerIsBetter`
 * for times). Emitted with params `{...rest, metric: "speedup_all_vs_1_thread", threads: all}`.
 */
export function threadSpeedups(
  figures: readonly Figure[],
  opts: { impl: Impl; all: number; lowerIsBetter?: boolean },
): Figure[] {
  const own = figures.filter((f) => f.impl === opts.impl && f.unit !== "x");
  const single = new Map(own.filter((f) => f.params.threads === 1).map((f) => [keyOf(f.params, ["threads"]), f]));
  const out: Figure[] = [];
  for (const f of own) {
    if (f.params.threads !== opts.all || opts.all === 1) continue;
    const base = single.get(keyOf(f.params, ["threads"]));
    if (!base || base.unit !== f.unit) continue;
    const { threads: _, ...rest } = f.params;
    out.push({
      bench: f.bench,
      impl: opts.impl,
      params: { ...rest, metric: "speedup_all_vs_1_thread", threads: opts.all },
      value: opts.lowerIsBetter ? base.value / f.value : f.value / base.value,
      unit: "x",
    });
  }
  return out;
}

/**
 * For each stepwise figure with a peer figure of the same params and unit, the
 * ratio stepwise/peer of their values (with a throughput unit, > 1 means
 * stepwise is faster). Emitted with impl "stepwise/<peer>" and the same params.
 */
export function peerRatios(figures: readonly Figure[], peer: "pytorch"): Figure[] {
  const theirs = new Map(
    figures.filter((f) => f.impl === peer && f.unit !== "x").map((f) => [keyOf(f.params) + f.unit, f]),
  );
  const out: Figure[] = [];
  for (const f of figures) {
    if (f.impl !== "stepwise" || f.unit === "x") continue;
    const other = theirs.get(keyOf(f.params) + f.unit);
    if (!other || other.value === 0) continue;
    out.push({ bench: f.bench, impl: `stepwise/${peer}`, params: f.params, value: f.value / other.value, unit: "x" });
  }
  return out;
}
