/**
 * Rounds: repeating a whole measurement (one process per configuration) and
 * keeping each figure's best round.
 *
 * On a small shared machine the cores are not always all ours: a neighbour's
 * test run, or the host under a virtual machine, can slow one core for seconds
 * at a time. Neighbours inside the machine are caught and waited out per figure
 * (measure.ts); the host's are invisible (little or no "steal" time is reported),
 * and they hit multi-threaded runs hardest, since a kernel split into equal
 * chunks waits for its slowest core. Disturbances only ever slow a run down,
 * so the best round is the closest to what the code can do; we run rounds until
 * every figure's best is confirmed by a second round within CONFIRM_TOLERANCE
 * (at least 2 rounds, at most `maxRounds`), so one lucky or mis-timed run is
 * never the whole story.
 */
import { type ChildSpec, childFigures } from "./child.ts";
import { keyOf } from "./derive.ts";
import type { BenchContext, Figure } from "./types.ts";

/** A second round within this fraction of the best confirms it. */
export const CONFIRM_TOLERANCE = 0.1;

function groupKey(f: Figure): string {
  return `${f.bench}\u0000${f.impl}\u0000${keyOf(f.params)}\u0000${f.unit}`;
}

interface Group {
  values: number[];
  best: Figure;
}

function group(rounds: readonly (readonly Figure[])[], lowerIsBetter: boolean): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const round of rounds) {
    for (const f of round) {
      const g = groups.get(groupKey(f));
      if (!g) groups.set(groupKey(f), { values: [f.value], best: f });
      else {
        g.values.push(f.value);
        if (lowerIsBetter ? f.value < g.best.value : f.value > g.best.value) g.best = f;
      }
    }
  }
  return groups;
}

function confirmed(g: Group, lowerIsBetter: boolean): boolean {
  const b = g.best.value;
  const near = g.values.filter((v) =>
    lowerIsBetter ? v <= b * (1 + CONFIRM_TOLERANCE) : v >= b * (1 - CONFIRM_TOLERANCE),
  );
  return near.length >= 2;
}

export interface RoundsOptions {
  /** For figures where lower is better (times); default false (throughputs). */
  lowerIsBetter?: boolean;
  /** Name in the log lines, e.g. "matmul stepwise". */
  label: string;
  /**
   * Seconds of rounds after which no further round starts, even with figures
   * unconfirmed (at least 2 rounds still run); default: no limit. For benches
   * whose processes take tens of seconds.
   */
  budgetSeconds?: number;
}

/**
 * Call `round(i)` for i = 1, 2, ... until every figure is confirmed (or
 * `ctx.rounds` rounds ran) and return each figure's best round, in the order the
 * figures first appeared. Logs every figure's values across rounds.
 */
export async function bestOfRounds(
  ctx: BenchContext,
  round: (index: number) => Promise<Figure[]>,
  opts: RoundsOptions,
): Promise<Figure[]> {
  const lowerIsBetter = opts.lowerIsBetter ?? false;
  const rounds: Figure[][] = [];
  let groups = new Map<string, Group>();
  const t0 = performance.now();
  for (let i = 1; i <= ctx.rounds; i++) {
    rounds.push(await round(i));
    groups = group(rounds, lowerIsBetter);
    const open = [...groups.values()].filter((g) => !confirmed(g, lowerIsBetter)).length;
    if (i >= 2 && open === 0) break;
    if (i < 2 || i >= ctx.rounds) continue;
    const spent = (performance.now() - t0) / 1e3;
    if (opts.budgetSeconds !== undefined && spent >= opts.budgetSeconds) {
      ctx.log(
        `${opts.label}: ${open} figure(s) not yet confirmed, but ${i} rounds took ${spent.toFixed(0)} s` +
          ` (budget ${opts.budgetSeconds} s): no further round`,
      );
      break;
    }
    ctx.log(`${opts.label}: ${open} figure(s) not yet confirmed, running round ${i + 1}`);
  }
  for (const g of groups.values()) {
    const params = Object.entries(g.best.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    const values = g.values.map((v) => v.toPrecision(3)).join(", ");
    const mark = rounds.length < 2 ? "" : confirmed(g, lowerIsBetter) ? "" : " (NOT confirmed: the machine was noisy)";
    ctx.log(`${opts.label} ${params}: rounds ${values} ${g.best.unit}; best ${g.best.value.toPrecision(3)}${mark}`);
  }
  return [...groups.values()].map((g) => g.best);
}

/**
 * The usual shape of a bench's rounds: each round runs one child process per
 * thread count, one after another (so they never compete for cores), and
 * collects their figures; returns each figure's best round.
 */
export function childRounds(
  ctx: BenchContext,
  label: string,
  threadCounts: readonly number[],
  spec: (threads: number) => ChildSpec,
  opts: Omit<RoundsOptions, "label"> = {},
): Promise<Figure[]> {
  return bestOfRounds(
    ctx,
    async (round) => {
      const figures: Figure[] = [];
      for (const threads of threadCounts) {
        const s = spec(threads);
        for await (const f of childFigures({ ...s, label: `${s.label} round ${round}` }, ctx)) figures.push(f);
      }
      return figures;
    },
    { ...opts, label },
  );
}
