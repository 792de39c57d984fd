/**
 * The timing protocol shared by every stepwise bench (the Python peers in
 * `peers/` implement the same one):
 *
 *   1. `warmup` untimed runs (kernel compilation, Wasm tier-up, allocator growth);
 *   2. timed runs until both `minReps` runs and `minSeconds` of timed work are
 *      done, capped at `maxReps`;
 *   3. the figure is the median run time.
 *
 * Each run must await its own result (and release it) so that asynchronous
 * dispatch cannot overlap one run with the next.
 *
 * Neighbours: if other processes kept more than `maxOtherCores` cores busy (on
 * average) during the timed runs (see contention.ts), the timed runs are done
 * again once the machine is quiet, up to `attempts` times; the quietest attempt
 * is kept and its contention reported.
 *
 * Clock: wall time by default. `STEPWISE_BENCH_CLOCK=cpu` (`npm run bench --
 * --clock cpu`, inherited by every child and peer) times each run by the CPU
 * time of the whole process instead (all its threads), and makes one attempt:
 * on a machine whose other work cannot be waited out, a 1-thread figure then
 * still measures the code. A figure on k threads becomes work per CPU-second,
 * not throughput, so only 1-thread figures compare with wall-clock ones.
 */
import { waitForQuiet, watchContention } from "./contention.ts";

export interface MeasureOptions {
  warmup?: number;
  minReps?: number;
  minSeconds?: number;
  maxReps?: number;
  maxOtherCores?: number;
  attempts?: number;
  /** Longest wait, in seconds, for a quiet machine before a retry (then it retries anyway). */
  quietSeconds?: number;
}

export interface Measurement {
  /** Median seconds per run. */
  median: number;
  /** Fastest run, seconds. */
  min: number;
  /** Every timed run of the kept attempt, seconds, in the order they ran. */
  times: number[];
  /** Cores other processes kept busy during the kept attempt (null where unknown). */
  otherCores: number | null;
  /** Attempts made (> 1 when neighbours disturbed the first). */
  attempts: number;
}

export type Clock = "wall" | "cpu";

/** The clock every measurement in this process uses (STEPWISE_BENCH_CLOCK, default wall). */
export function benchClock(): Clock {
  const raw = process.env.STEPWISE_BENCH_CLOCK ?? "";
  if (raw === "" || raw === "wall") return "wall";
  if (raw === "cpu") return "cpu";
  throw new Error(`STEPWISE_BENCH_CLOCK must be wall or cpu, got "${raw}"`);
}

/** Seconds on the chosen clock: the process's user + system CPU time, or wall time. */
function now(clock: Clock): number {
  if (clock === "wall") return performance.now() / 1e3;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

export const DEFAULT_MEASURE: Required<MeasureOptions> = {
  warmup: 3,
  minReps: 5,
  minSeconds: 1,
  maxReps: 10_000,
  maxOtherCores: 0.2,
  attempts: 3,
  quietSeconds: 30,
};

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median: empty list");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Time `run` by the protocol above. */
export async function measure(run: () => Promise<void>, opts: MeasureOptions = {}): Promise<Measurement> {
  const clock = benchClock();
  const o = { ...DEFAULT_MEASURE, ...opts, ...(clock === "cpu" ? { attempts: 1 } : {}) };
  for (let i = 0; i < o.warmup; i++) await run();
  let kept: Measurement | null = null;
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    if (attempt > 1) await waitForQuiet(o.maxOtherCores, o.quietSeconds);
    const watch = watchContention();
    const times: number[] = [];
    let total = 0;
    while (times.length < o.maxReps && (times.length < o.minReps || total < o.minSeconds)) {
      const t0 = now(clock);
      await run();
      const dt = now(clock) - t0;
      times.push(dt);
      total += dt;
    }
    const otherCores = watch.stop()?.otherCores ?? null;
    const m: Measurement = { median: median(times), min: Math.min(...times), times, otherCores, attempts: attempt };
    if (!kept || (otherCores ?? 0) < (kept.otherCores ?? 0)) kept = { ...m };
    kept.attempts = attempt;
    if (otherCores === null || otherCores <= o.maxOtherCores) break;
  }
  return kept!;
}
