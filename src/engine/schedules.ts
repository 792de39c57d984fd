/**
 * Learning-rate schedules: plain functions from the step index (0-based, the
 * number of updates already applied) to a learning rate. They run on the host;
 * the trainer passes the value into the jit-compiled step as a scalar array.
 */

export type Schedule = (step: number) => number;

export type ScheduleKind = "constant" | "cosine" | "linear";

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  /** Linear warm-up from 0 over this many steps (default 0). */
  warmupSteps?: number;
  /** Total number of steps; decay schedules reach `minLr` at this step. Required for cosine/linear. */
  totalSteps?: number;
  /** Final learning rate for decay schedules (default 0). */
  minLr?: number;
}

/** Linear warm-up factor: (step + 1) / warmupSteps during warm-up, then 1 (as in nanoGPT). */
function warmup(step: number, warmupSteps: number): number {
  return warmupSteps > 0 && step < warmupSteps ? (step + 1) / warmupSteps : 1;
}

/** Fraction of the decay phase done at `step`, clamped to [0, 1]. */
function decayProgress(step: number, warmupSteps: number, totalSteps: number): number {
  const span = Math.max(1, totalSteps - warmupSteps);
  return Math.min(1, Math.max(0, (step - warmupSteps) / span));
}

/** η(step) = lr after warm-up. */
export function constantSchedule(cfg: Omit<ScheduleConfig, "kind">): Schedule {
  const w = cfg.warmupSteps ?? 0;
  return (step) => cfg.lr * warmup(step, w);
}

/** η = minLr + ½ (lr − minLr)(1 + cos(π p)), p the decay progress (Loshchilov & Hutter, SGDR). */
export function cosineSchedule(cfg: Omit<ScheduleConfig, "kind">): Schedule {
  const w = cfg.warmupSteps ?? 0;
  const total = requireTotal(cfg, "cosine");
  const minLr = cfg.minLr ?? 0;
  return (step) => {
    if (step < w) return cfg.lr * warmup(step, w);
    const p = decayProgress(step, w, total);
    return minLr + 0.5 * (cfg.lr - minLr) * (1 + Math.cos(Math.PI * p));
  };
}

/** η = lr + (minLr − lr) p, p the decay progress. */
export function linearSchedule(cfg: Omit<ScheduleConfig, "kind">): Schedule {
  const w = cfg.warmupSteps ?? 0;
  const total = requireTotal(cfg, "linear");
  const minLr = cfg.minLr ?? 0;
  return (step) => {
    if (step < w) return cfg.lr * warmup(step, w);
    return cfg.lr + (minLr - cfg.lr) * decayProgress(step, w, total);
  };
}

function requireTotal(cfg: Omit<ScheduleConfig, "kind">, kind: ScheduleKind): number {
  const total = cfg.totalSteps;
  const w = cfg.warmupSteps ?? 0;
  if (total === undefined || !Number.isInteger(total) || total <= 0) {
    throw new RangeError(`schedule "${kind}": totalSteps must be a positive integer, got ${total}`);
  }
  if (!Number.isInteger(w) || w < 0 || w > total) {
    throw new RangeError(`schedule "${kind}": warmupSteps must be an integer in [0, totalSteps=${total}], got ${w}`);
  }
  return total;
}

export const SCHEDULES: { [K in ScheduleKind]: (cfg: Omit<ScheduleConfig, "kind">) => Schedule } = {
  constant: constantSchedule,
  cosine: cosineSchedule,
  linear: linearSchedule,
};

/** Build a schedule from a config, validating it. */
export function makeSchedule(cfg: ScheduleConfig): Schedule {
  if (!(cfg.lr >= 0) || !Number.isFinite(cfg.lr)) {
    throw new RangeError(`schedule "${cfg.kind}": lr must be a finite number >= 0, got ${cfg.lr}`);
  }
  const make = SCHEDULES[cfg.kind];
  if (!make)
    throw new RangeError(`schedule: unknown kind "${cfg.kind}", expected one of ${Object.keys(SCHEDULES).join(", ")}`);
  return make(cfg);
}
