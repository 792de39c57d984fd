/**
 * The RL run's guard: the monitors of monitors.ts fed from the metric stream, each alert written
 * to alerts.jsonl (runs/layout.ts ALERTS_FILE, through the run's JSONL append) and counted in the
 * metrics row, and the action the config names for the monitor:
 *
 *   warn      log the alert, keep training (the default for every monitor);
 *   stop      end the run cleanly after this step (status "stopped", checkpoint saved: resumable);
 *   rollback  stop like `stop`, then rollback.ts returns to the newest checkpoint written before
 *             the pathology began (step < alert.since) and continues from it with the KL
 *             coefficient β raised (β ← max(β·klFactor, klMin)).
 *
 * The config block (`guard:` in the RL config, src/rl/config.ts) is declared here, beside the
 * only code that reads it. The RL loop makes two calls: `observe` per metrics row / evaluation,
 * and `shouldStop` in its stop check.
 */

import { join } from "node:path";
import { z } from "zod";
import { readJsonl } from "../runs/jsonl.ts";
import { ALERTS_FILE, EVAL_FILE, METRICS_FILE } from "../runs/layout.ts";
import type { Run } from "../runs/run.ts";
import {
  type Alert,
  type GuardEvent,
  initMonitors,
  MONITOR_NAMES,
  type MonitorContext,
  type MonitorName,
  type MonitorStates,
  monitorOptions,
  updateMonitors,
} from "./monitors.ts";

export const GUARD_ACTIONS = ["off", "warn", "stop", "rollback"] as const;
export type GuardAction = (typeof GUARD_ACTIONS)[number];

const MonitorConfig = z.strictObject({
  /** off, warn (log only), stop (end the run) or rollback (see the header). */
  action: z.enum(GUARD_ACTIONS).default("warn"),
  /** The monitor's numeric options (monitors.ts MONITORS[name].defaults); unknown keys are rejected. */
  options: z.record(z.string(), z.number()).default({}),
});

/** The monitors' fields of the RL config's `guard` block (src/rl/config.ts adds the pre-training battery's). */
export const GUARD_MONITOR_FIELDS = {
  /** Per monitor: action and options. A monitor not named here runs with action `warn` and its defaults. */
  monitors: z.partialRecord(z.enum(MONITOR_NAMES), MonitorConfig).default({}),
  rollback: z
    .strictObject({
      /** β after a rollback: max(β · klFactor, klMin). */
      klFactor: z.number().min(1).default(2),
      klMin: z.number().positive().default(0.02),
      /** Rollbacks allowed in one run; one more alert with action rollback then stops the run. */
      maxRollbacks: z.number().int().min(0).default(2),
    })
    .prefault({}),
};

/** Reject unknown monitor options, naming the monitor and its known options (a superRefine). */
export function checkMonitorOptions(
  g: { monitors: Partial<Record<string, { options: Record<string, number> }>> },
  ctx: z.RefinementCtx,
): void {
  for (const [name, m] of Object.entries(g.monitors)) {
    try {
      monitorOptions(name as MonitorName, m?.options);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["monitors", name, "options"], message: (err as Error).message });
    }
  }
}

export const GuardConfigSchema = z.strictObject(GUARD_MONITOR_FIELDS).superRefine(checkMonitorOptions);
export type GuardConfig = z.infer<typeof GuardConfigSchema>;

/** An alert as written to alerts.jsonl: the monitor's alert plus the action taken. */
export interface AlertRow extends Alert {
  action: GuardAction;
}

/** What the guard asks of the loop after an alert whose action is not `warn`. */
export interface GuardDecision {
  action: "stop" | "rollback";
  alert: Alert;
}

export interface Guard {
  /** Feed one event; alerts are appended to alerts.jsonl. For a step event, returns fields for its metrics row. */
  observe(event: GuardEvent): Promise<Record<string, number>>;
  /** Feed past events without writing or acting (a resumed run's logs, up to its checkpoint). */
  replay(events: readonly GuardEvent[]): void;
  /** True once an alert's action is stop or rollback. */
  shouldStop(): boolean;
  readonly decision: GuardDecision | null;
  readonly alerts: readonly AlertRow[];
}

/** The action of each monitor, `off` ones left out. */
export function activeMonitors(config: GuardConfig): { name: MonitorName; action: Exclude<GuardAction, "off"> }[] {
  return MONITOR_NAMES.map((name) => ({ name, action: config.monitors[name]?.action ?? "warn" })).filter(
    (m): m is { name: MonitorName; action: Exclude<GuardAction, "off"> } => m.action !== "off",
  );
}

export function makeGuard(config: GuardConfig, ctx: MonitorContext, run: Pick<Run, "append"> | null): Guard {
  const active = activeMonitors(config);
  const names = active.map((m) => m.name);
  const actionOf = Object.fromEntries(active.map((m) => [m.name, m.action])) as Record<MonitorName, GuardAction>;
  const options = Object.fromEntries(names.map((n) => [n, monitorOptions(n, config.monitors[n]?.options)]));
  let states: MonitorStates = initMonitors();
  let decision: GuardDecision | null = null;
  let unreported = 0; // alerts raised by evaluations, counted in the next metrics row
  let total = 0;
  const alerts: AlertRow[] = [];
  return {
    async observe(event) {
      const r = updateMonitors(states, event, options, ctx, names);
      states = r.states;
      for (const a of r.alerts) {
        const action = actionOf[a.monitor];
        const row: AlertRow = { ...a, action };
        alerts.push(row);
        total++;
        await run?.append(ALERTS_FILE, row);
        if ((action === "stop" || action === "rollback") && decision === null) decision = { action, alert: a };
      }
      if (event.kind !== "step") {
        unreported += r.alerts.length;
        return {};
      }
      const fields: Record<string, number> = {
        "guard/alerts": r.alerts.length + unreported,
        "guard/alerts_total": total,
      };
      unreported = 0;
      return fields;
    },
    replay(events) {
      for (const e of events) states = updateMonitors(states, e, options, ctx, names).states;
    },
    shouldStop: () => decision !== null,
    get decision() {
      return decision;
    },
    alerts,
  };
}

/**
 * The events of a run folder in the order the RL loop produced them: step s's metrics row, then
 * its evaluation (the evaluation at step 0 first). Reads metrics.jsonl and eval.jsonl.
 */
export async function runEvents(runDir: string): Promise<GuardEvent[]> {
  const rows = await readJsonl<Record<string, number | null>>(join(runDir, METRICS_FILE));
  const evals = await readJsonl<{ step: number; accuracy: number }>(join(runDir, EVAL_FILE));
  const out: (GuardEvent & { order: number })[] = [];
  for (const row of rows)
    if (typeof row.step === "number") out.push({ kind: "step", step: row.step, row, order: 2 * row.step });
  for (const e of evals) {
    if (typeof e.step === "number" && typeof e.accuracy === "number")
      out.push({ kind: "eval", step: e.step, accuracy: e.accuracy, order: 2 * e.step + 1 });
  }
  return out.sort((a, b) => a.order - b.order).map(({ order: _, ...e }) => e as GuardEvent);
}

/** Bring a resumed run's guard to the state it had at the checkpoint (the logs were cut back to it). */
export async function replayGuard(guard: Guard, runDir: string): Promise<void> {
  guard.replay(await runEvents(runDir));
}
