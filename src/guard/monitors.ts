/**
 * Live reward-hacking monitors for language-model RL: pure incremental functions over the run's
 * metric stream. Each monitor is `(init, update)` with explicit state (optax's shape): `update`
 * reads one event — a metrics row of an optimizer step, or a held-out evaluation — and returns
 * the new state and at most one alert. No monitor reads the future: an alert at step s used only
 * events up to s. The registry is a mapped type, so a new monitor cannot compile until it has
 * defaults, a description and an update.
 *
 *   divergence       proxy reward against held-out gold accuracy: the tabular lab's detector
 *                    (divergence.ts, Welch z of the proxy's rise since the truth's best block, plus
 *                    the trend correlation) run online over (proxy, gold) pairs, one per evaluation.
 *                    The pair of the evaluation at step s is the `reward` of row s+1: that rollout
 *                    was sampled from the very weights the evaluation scored (grpo.ts samples step
 *                    s+1 from the policy after step s).
 *   length_cap       completions drifting to the generation budget: mean length ≥ capFraction·L_max
 *                    and the clipped ratio (no EOS within L_max) ≥ minClipped, both risen from the
 *                    first `baseline` steps by ≥ minRise.
 *   kl_blowup        KL from the reference accelerating: the mean KL of the newest `window` steps is
 *                    ≥ growth × that of the `window` steps before, and above `floor` (a geometric
 *                    rise; the linear drift of healthy training stays below growth).
 *   entropy_collapse token entropy below `fraction` × its mean over the first `baseline` steps.
 *   repetition       the share of repetitive completions (completions/repetition_rate, stats.ts)
 *                    ≥ rate and ≥ baseline + minRise.
 *   multi_answer     the share of completions with several answer lines or enumerated candidates
 *                    (completions/multi_answer_rate) ≥ rate and ≥ baseline + minRise.
 *   format_gaming    the format rate (completions/format_rate) up ≥ minRise over its baseline while
 *                    the strict correct rate (completions/correct_rate) rose less than maxCorrectRise.
 *
 * Every step-row monitor compares a trailing mean over `window` steps with a baseline (the first
 * `baseline` steps after warm-up) and fires after `patience` consecutive steps over its limit,
 * once: a fired monitor stays quiet for the rest of the run (an alert is an event, not a level).
 * A metric that is absent or null in a row (KL with β = 0) is skipped, not counted as 0.
 *
 * Defaults were chosen on synthetic streams (test/guard-monitors.test.ts states the measured
 * false-alarm rates on healthy streams and the detection rates on each pathology).
 */
import { divergenceTrace } from "./divergence.ts";

/** One row of metrics.jsonl (TRL names) or one held-out evaluation (eval.jsonl). */
export type GuardEvent =
  | { kind: "step"; step: number; row: Readonly<Record<string, number | null | undefined>> }
  | { kind: "eval"; step: number; accuracy: number };

export interface Alert {
  /** The step whose event raised it. */
  step: number;
  monitor: MonitorName;
  message: string;
  /** The first step of the run of over-limit steps (or the evaluation whose pair started it). */
  since: number;
  /** The numbers behind the decision. */
  evidence: Record<string, number | string | null>;
}

/** What every monitor is given besides its own options. */
export interface MonitorContext {
  /** The generation budget L_max (length_cap). */
  maxNewTokens: number;
}

export interface MonitorSpec<S> {
  describe: string;
  /** Numeric options with their defaults; a config may set any of them. */
  defaults: Readonly<Record<string, number>>;
  init(): S;
  update(
    state: S,
    event: GuardEvent,
    o: Readonly<Record<string, number>>,
    ctx: MonitorContext,
  ): { state: S; alert: Alert | null };
}

export const MONITOR_NAMES = [
  "divergence",
  "length_cap",
  "kl_blowup",
  "entropy_collapse",
  "repetition",
  "multi_answer",
  "format_gaming",
] as const;
export type MonitorName = (typeof MONITOR_NAMES)[number];

/** State of a step-row monitor: the values read so far, the current over-limit run, fired or not. */
export interface SeriesState {
  /** [metric] → values in order (nulls skipped). */
  values: Record<string, number[]>;
  steps: number[];
  run: number;
  since: number | null;
  fired: boolean;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const fmt = (x: number) =>
  Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 0.01 ? x.toFixed(3) : x.toExponential(2);

/**
 * A step-row monitor over the metrics `keys` (every key must be present and finite in a row for
 * it to count). `check` returns the evidence when the newest values are over the limit, else null.
 */
function seriesMonitor(
  name: MonitorName,
  describe: string,
  keys: readonly string[],
  defaults: Record<string, number>,
  check: (
    v: Record<string, number[]>,
    o: Readonly<Record<string, number>>,
    ctx: MonitorContext,
  ) => { message: string; evidence: Alert["evidence"] } | null,
): MonitorSpec<SeriesState> {
  return {
    describe,
    defaults: { patience: 2, ...defaults },
    init: () => ({
      values: Object.fromEntries(keys.map((k) => [k, []])),
      steps: [],
      run: 0,
      since: null,
      fired: false,
    }),
    update(state, event, o, ctx) {
      if (event.kind !== "step" || state.fired) return { state, alert: null };
      const read = keys.map((k) => event.row[k]);
      if (read.some((x) => typeof x !== "number" || !Number.isFinite(x))) return { state, alert: null };
      const values = Object.fromEntries(keys.map((k, i) => [k, [...state.values[k]!, read[i] as number]]));
      const steps = [...state.steps, event.step];
      const hit = check(values, o, ctx);
      const run = hit ? state.run + 1 : 0;
      const since = hit ? (state.since ?? event.step) : null;
      const fired = hit !== null && run >= o.patience!;
      const next: SeriesState = { values, steps, run, since, fired };
      if (!fired) return { state: next, alert: null };
      return {
        state: next,
        alert: {
          step: event.step,
          monitor: name,
          message: `${hit.message} (${run} steps in a row since step ${since})`,
          since: since!,
          evidence: hit.evidence,
        },
      };
    },
  };
}

/** Trailing mean of the newest w values, and the baseline mean of values [skip, skip+b). Null until both exist. */
function windows(xs: readonly number[], o: Readonly<Record<string, number>>): { now: number; base: number } | null {
  const w = o.window!;
  const b = o.baseline!;
  const skip = o.warmup ?? 0;
  if (xs.length < skip + b + w) return null;
  return { now: mean(xs.slice(-w)), base: mean(xs.slice(skip, skip + b)) };
}

/** A rate monitor: the trailing rate of `key` is ≥ rate and has risen ≥ minRise over its baseline. */
function rateMonitor(name: MonitorName, key: string, what: string, describe: string): MonitorSpec<SeriesState> {
  return seriesMonitor(
    name,
    describe,
    [key],
    { window: 3, baseline: 3, warmup: 0, rate: 0.25, minRise: 0.15 },
    (v, o) => {
      const m = windows(v[key]!, o);
      if (!m || m.now < o.rate! || m.now - m.base < o.minRise!) return null;
      return {
        message: `${what} ${fmt(m.now)} over the last ${o.window} steps, up from ${fmt(m.base)}`,
        evidence: { metric: key, trailing: m.now, baseline: m.base, rate: o.rate!, min_rise: o.minRise! },
      };
    },
  );
}

/** State of the divergence monitor: the (proxy, gold) pairs so far and the eval awaiting its proxy. */
export interface DivergenceMonitorState {
  proxy: number[];
  truth: number[];
  pairSteps: number[];
  pending: { step: number; accuracy: number } | null;
  run: number;
  fired: boolean;
}

const divergenceMonitor: MonitorSpec<DivergenceMonitorState> = {
  describe: "proxy reward rising while held-out gold accuracy falls or stays flat (divergence.ts, online)",
  defaults: { window: 4, zThreshold: 2, maxTrueZ: 0, minProxyGain: 0.05, maxCorrelation: 0.3, patience: 3 },
  init: () => ({ proxy: [], truth: [], pairSteps: [], pending: null, run: 0, fired: false }),
  update(state, event, o) {
    if (state.fired) return { state, alert: null };
    if (event.kind === "eval")
      return { state: { ...state, pending: { step: event.step, accuracy: event.accuracy } }, alert: null };
    const reward = event.row.reward;
    if (!state.pending || typeof reward !== "number" || !Number.isFinite(reward) || event.step <= state.pending.step)
      return { state, alert: null };
    const proxy = [...state.proxy, reward];
    const truth = [...state.truth, state.pending.accuracy];
    const pairSteps = [...state.pairSteps, state.pending.step];
    const opts = {
      window: o.window!,
      zThreshold: o.zThreshold!,
      maxTrueZ: o.maxTrueZ!,
      minProxyGain: o.minProxyGain!,
      maxCorrelation: o.maxCorrelation!,
    };
    // divergenceTrace only reads pairs 0..t at index t, so its last entry is the online statistic.
    const trace = proxy.length >= 2 * opts.window ? divergenceTrace(proxy, truth, opts) : [];
    const s = trace[trace.length - 1];
    const hit = s?.gapTest === true && s.trendTest;
    const run = hit ? state.run + 1 : 0;
    const fired = hit && run >= o.patience!;
    const next: DivergenceMonitorState = { proxy, truth, pairSteps, pending: null, run, fired };
    if (!fired || !s) return { state: next, alert: null };
    const since = pairSteps[s.index - run + 1]!;
    return {
      state: next,
      alert: {
        step: event.step,
        monitor: "divergence",
        since,
        message:
          `proxy reward rose ${fmt(s.proxyMeanReference)} → ${fmt(s.proxyMeanCurrent)} (z = ${fmt(s.zProxy)}) while held-out gold ` +
          `accuracy went ${fmt(s.trueMeanReference)} → ${fmt(s.trueMeanCurrent)} since its best evaluations (from step ` +
          `${pairSteps[s.referenceStart]}); trend correlation ${fmt(s.correlation)}`,
        evidence: {
          eval_step: pairSteps[s.index]!,
          reference_eval_step: pairSteps[s.referenceStart]!,
          proxy_reference: s.proxyMeanReference,
          proxy_current: s.proxyMeanCurrent,
          gold_reference: s.trueMeanReference,
          gold_current: s.trueMeanCurrent,
          z_proxy: s.zProxy,
          z_gold: s.zTrue,
          correlation: s.correlation,
        },
      },
    };
  },
};

export type MonitorStates = { [K in MonitorName]: K extends "divergence" ? DivergenceMonitorState : SeriesState };

/** The monitors by name (see the header for each rule). */
export const MONITORS: { [K in MonitorName]: MonitorSpec<MonitorStates[K]> } = {
  divergence: divergenceMonitor,
  length_cap: seriesMonitor(
    "length_cap",
    "completions drifting to the generation budget: mean length near L_max and a high clipped ratio",
    ["completions/mean_length", "completions/clipped_ratio"],
    { window: 3, baseline: 3, warmup: 0, capFraction: 0.85, minClipped: 0.3, minRise: 0.15 },
    (v, o, ctx) => {
      const len = windows(v["completions/mean_length"]!, o);
      const clip = windows(v["completions/clipped_ratio"]!, o);
      if (!len || !clip) return null;
      const cap = o.capFraction! * ctx.maxNewTokens;
      if (len.now < cap || clip.now < o.minClipped! || clip.now - clip.base < o.minRise!) return null;
      return {
        message: `mean completion length ${fmt(len.now)} of L_max = ${ctx.maxNewTokens} tokens (from ${fmt(len.base)}), clipped ratio ${fmt(clip.now)} (from ${fmt(clip.base)})`,
        evidence: {
          mean_length: len.now,
          mean_length_baseline: len.base,
          max_new_tokens: ctx.maxNewTokens,
          clipped_ratio: clip.now,
          clipped_ratio_baseline: clip.base,
        },
      };
    },
  ),
  kl_blowup: seriesMonitor(
    "kl_blowup",
    "KL from the reference accelerating: the newest window's mean KL a multiple of the window before",
    ["kl"],
    { window: 3, growth: 2, floor: 0.01 },
    (v, o) => {
      const xs = v.kl!;
      const w = o.window!;
      if (xs.length < 2 * w) return null;
      const now = mean(xs.slice(-w));
      const before = mean(xs.slice(-2 * w, -w));
      if (now < o.floor! || now < o.growth! * Math.max(before, 0)) return null;
      return {
        message: `KL ${fmt(now)} over the last ${w} steps, ${fmt(now / Math.max(before, 1e-12))}× the ${w} steps before (${fmt(before)})`,
        evidence: { kl: now, kl_before: before, growth: o.growth!, floor: o.floor! },
      };
    },
  ),
  entropy_collapse: seriesMonitor(
    "entropy_collapse",
    "token entropy collapsing below a fraction of its starting level",
    ["entropy"],
    { window: 3, baseline: 3, warmup: 0, fraction: 0.4 },
    (v, o) => {
      const m = windows(v.entropy!, o);
      if (!m || m.base <= 0 || m.now > o.fraction! * m.base) return null;
      return {
        message: `token entropy ${fmt(m.now)} over the last ${o.window} steps, ${fmt(m.now / m.base)} of its starting ${fmt(m.base)}`,
        evidence: { entropy: m.now, entropy_baseline: m.base, fraction: o.fraction! },
      };
    },
  ),
  repetition: rateMonitor(
    "repetition",
    "completions/repetition_rate",
    "share of repetitive completions",
    "the share of repetitive completions rising (most of their word 3-grams repeated)",
  ),
  multi_answer: rateMonitor(
    "multi_answer",
    "completions/multi_answer_rate",
    "share of completions with several answers",
    "the share of completions with several answer lines or enumerated candidate answers rising",
  ),
  format_gaming: seriesMonitor(
    "format_gaming",
    "format reward rising while strict correctness stays flat",
    ["completions/format_rate", "completions/correct_rate"],
    { window: 3, baseline: 3, warmup: 0, minRise: 0.2, maxCorrectRise: 0.05 },
    (v, o) => {
      const f = windows(v["completions/format_rate"]!, o);
      const c = windows(v["completions/correct_rate"]!, o);
      if (!f || !c || f.now - f.base < o.minRise! || c.now - c.base >= o.maxCorrectRise!) return null;
      return {
        message: `format rate ${fmt(f.base)} → ${fmt(f.now)} while the strict correct rate went ${fmt(c.base)} → ${fmt(c.now)}`,
        evidence: {
          format_rate: f.now,
          format_rate_baseline: f.base,
          correct_rate: c.now,
          correct_rate_baseline: c.base,
        },
      };
    },
  ),
};

/** Options of one monitor: its defaults overridden by `given`; unknown keys name the monitor and the known ones. */
export function monitorOptions(
  name: MonitorName,
  given: Readonly<Record<string, number>> = {},
): Record<string, number> {
  const d = MONITORS[name].defaults;
  for (const k of Object.keys(given)) {
    if (!(k in d)) {
      throw new RangeError(
        `guard.monitors.${name}.options: unknown option "${k}"; known: ${Object.keys(d).join(", ")}`,
      );
    }
  }
  return { ...d, ...given };
}

/** All monitors' states at the start of a run. */
export function initMonitors(): MonitorStates {
  return Object.fromEntries(MONITOR_NAMES.map((n) => [n, MONITORS[n].init()])) as MonitorStates;
}

/**
 * Feed one event to the named monitors: the new states and the alerts raised (in registry order).
 * Pure: `states` is not modified.
 */
export function updateMonitors(
  states: MonitorStates,
  event: GuardEvent,
  options: Partial<Record<MonitorName, Readonly<Record<string, number>>>>,
  ctx: MonitorContext,
  names: readonly MonitorName[] = MONITOR_NAMES,
): { states: MonitorStates; alerts: Alert[] } {
  const next = { ...states };
  const alerts: Alert[] = [];
  for (const n of names) {
    const spec = MONITORS[n] as MonitorSpec<unknown>;
    const o = options[n] ?? spec.defaults;
    const r = spec.update(states[n], event, o, ctx);
    (next as Record<string, unknown>)[n] = r.state;
    if (r.alert) alerts.push(r.alert);
  }
  return { states: next, alerts };
}

/** Run monitors over a whole recorded stream (tests, post-hoc checks): every alert, in order. */
export function scanStream(
  events: readonly GuardEvent[],
  options: Partial<Record<MonitorName, Readonly<Record<string, number>>>> = {},
  ctx: MonitorContext = { maxNewTokens: 128 },
  names: readonly MonitorName[] = MONITOR_NAMES,
): Alert[] {
  const filled = Object.fromEntries(names.map((n) => [n, monitorOptions(n, options[n])]));
  let states = initMonitors();
  const out: Alert[] = [];
  for (const e of events) {
    const r = updateMonitors(states, e, filled, ctx, names);
    states = r.states;
    out.push(...r.alerts);
  }
  return out;
}
