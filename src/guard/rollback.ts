/**
 * Rollback: when a monitor whose action is `rollback` fires (guard.ts), the RL run stops cleanly;
 * this shell then returns the run to its newest intact checkpoint written before the pathology
 * began (step < alert.since), deletes the checkpoints after it, raises the KL coefficient
 * (β ← max(β·klFactor, klMin)) and resumes. The resume restores the checkpoint's tensors as
 * written (safetensors, float32: bitwise the weights and optimizer state of that step), cuts
 * every log back to it, replays the monitors' state from the kept logs, and regenerates the
 * same rollouts (sampling seeds are a pure function of the seed and the rollout index): only β
 * differs from the first attempt. Each rollback is one row of alerts.jsonl with step = the
 * checkpoint's step (so the resume's log cut keeps it) and the alert that caused it.
 *
 * A pathology that began before the first kept checkpoint cannot be rolled back: the run stays
 * stopped, with the reason (keep more checkpoints: checkpoint.keep 0, or a smaller checkpoint.every).
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { RlConfig } from "../rl/config.ts";
import { type RlOptions, type RlResult, runRl } from "../rl/grpo.ts";
import { appendJsonl } from "../runs/jsonl.ts";
import { ALERTS_FILE } from "../runs/layout.ts";
import { checkpointDamage, checkpointsDir } from "../train/checkpoint.ts";
import type { AlertRow } from "./guard.ts";

export interface RollbackRecord {
  /** The step the monitor fired at, and the checkpoint step the run went back to. */
  firedStep: number;
  toStep: number;
  monitor: string;
  betaBefore: number;
  betaAfter: number;
}

export interface GuardedResult extends RlResult {
  rollbacks: RollbackRecord[];
}

/** Intact checkpoint steps of a run, ascending. */
export async function checkpointStepsOf(runDir: string): Promise<number[]> {
  const names = await readdir(checkpointsDir(runDir)).catch(() => [] as string[]);
  const steps: number[] = [];
  for (const n of names) {
    const m = /^step-(\d+)$/.exec(n);
    if (m && (await checkpointDamage(join(checkpointsDir(runDir), n))) === null) steps.push(Number(m[1]));
  }
  return steps.sort((a, b) => a - b);
}

/** The healthy checkpoint for an alert: the newest intact one with step < since; null when none. */
export function healthyStep(steps: readonly number[], since: number): number | null {
  const ok = steps.filter((s) => s < since);
  return ok.length ? ok[ok.length - 1]! : null;
}

/** Delete the checkpoints after `step`, so a resume restores step-`step`. */
export async function rollbackTo(runDir: string, step: number): Promise<void> {
  for (const s of await checkpointStepsOf(runDir)) {
    if (s > step) await rm(join(checkpointsDir(runDir), `step-${s}`), { recursive: true, force: true });
  }
}

/** β after a rollback (guard.rollback.klFactor, klMin). */
export function raisedBeta(beta: number, o: { klFactor: number; klMin: number }): number {
  return Math.max(beta * o.klFactor, o.klMin);
}

/**
 * Carry out one rollback after a run the guard stopped with action rollback: the config to resume
 * with (β raised), or null when none is possible (no decision, rollbacks used up, no healthy
 * checkpoint), with the reason said.
 */
export async function rollbackOnce(
  res: RlResult,
  cfg: RlConfig,
  done: number,
  say: (line: string) => void,
): Promise<{ config: RlConfig; record: RollbackRecord } | null> {
  if (res.guard?.action !== "rollback" || res.status.kind !== "stopped") return null;
  const alert = res.guard.alert;
  if (done >= cfg.guard.rollback.maxRollbacks) {
    say(`guard: ${alert.monitor} fired again at step ${alert.step}; ${done} rollbacks used, the run stays stopped`);
    return null;
  }
  const to = healthyStep(await checkpointStepsOf(res.runDir), alert.since);
  if (to === null) {
    say(
      `guard: ${alert.monitor} fired at step ${alert.step} (began at step ${alert.since}) but no checkpoint before step ${alert.since} is kept; ` +
        "the run stays stopped (set checkpoint.keep: 0 or a smaller checkpoint.every to allow rollback)",
    );
    return null;
  }
  const betaBefore = cfg.loss.beta;
  const betaAfter = raisedBeta(betaBefore, cfg.guard.rollback);
  await rollbackTo(res.runDir, to);
  const row: AlertRow = {
    ...alert,
    step: to,
    action: "rollback",
    message: `rolled back from step ${alert.step} to checkpoint step-${to}; β ${betaBefore} → ${betaAfter}. Cause: ${alert.message}`,
    evidence: { ...alert.evidence, fired_step: alert.step, beta_before: betaBefore, beta_after: betaAfter },
  };
  await appendJsonl(join(res.runDir, ALERTS_FILE), row);
  say(`guard: ${row.message}`);
  return {
    config: { ...cfg, loss: { ...cfg.loss, beta: betaAfter } },
    record: { firedStep: alert.step, toStep: to, monitor: alert.monitor, betaBefore, betaAfter },
  };
}

/** `runRl` with the guard's rollbacks carried out (see the header). */
export async function runGuardedRl(config: RlConfig, opts: RlOptions = {}): Promise<GuardedResult> {
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  let cfg = config;
  let res = await runRl(cfg, opts);
  const rollbacks: RollbackRecord[] = [];
  for (;;) {
    const next = await rollbackOnce(res, cfg, rollbacks.length, say);
    if (next === null) break;
    rollbacks.push(next.record);
    cfg = next.config;
    res = await runRl(cfg, { ...opts, resume: true, overwrite: false });
  }
  return { ...res, rollbacks };
}
