/**
 * The life of a training run, shared by every trainer (SFT, RL, reward models, DPO): the run
 * folder opened under the no-lost-work rules (runs/run.ts), the newest intact checkpoint
 * restored with the logs cut back to it, checkpoints saved and pruned, SIGINT/SIGTERM turned
 * into a clean stop, and summary.json written at the end whatever happened.
 *
 *   const session = await openSession({dir, kind, name, mode, model, data});
 *   const restored = await session.restore(optimizer, trainable);   // null: from step 0
 *   … trainLoop({…, shouldStop: session.shouldStop, afterStep: … session.save(…)})
 *   await session.finish(result.status, {figures, outputs});
 *
 * Signals: the first SIGINT or SIGTERM lets the current step finish, then the trainer saves a
 * checkpoint of it and stops, printing how to resume; a second one exits at once. Checkpoints
 * are written to a temporary folder and renamed (train/checkpoint.ts), so neither way leaves
 * a half-written checkpoint.
 */
import type { Optimizer, OptimizerState } from "../engine/optim.ts";
import type { Params } from "../engine/params.ts";
import type { RunKind } from "../runs/layout.ts";
import { type OpenMode, openRun, type Run, type RunSummary } from "../runs/run.ts";
import { pruneCheckpoints, restoreCheckpoint, saveCheckpoint, type TrainingState } from "./checkpoint.ts";
import type { TrainStatus } from "./loop.ts";

export interface SessionOptions {
  dir: string;
  kind: RunKind;
  name: string;
  mode: OpenMode;
  model: string | null;
  data: string[];
  /** Progress and notices. */
  say: (line: string) => void;
  /** Catch SIGINT/SIGTERM (default true; the demo's in-process stages leave them to the demo). */
  signals?: boolean;
}

export interface Restored {
  dir: string;
  trainable: Params;
  state: OptimizerState;
  training: TrainingState;
}

export interface Session {
  readonly run: Run;
  /** The newest intact checkpoint (falling back past damaged ones), with the logs cut back to it; null: step 0, logs emptied. */
  restore(optimizer: Optimizer, like: Params): Promise<Restored | null>;
  /** Write checkpoints/step-N (after that step's logs) and keep the newest `keep`. Does not consume. */
  save(
    step: number,
    trainable: Params,
    optimizer: Optimizer,
    state: OptimizerState,
    training: Omit<TrainingState, "step">,
    keep: number,
  ): Promise<void>;
  /** The step of the newest checkpoint this session wrote or restored (null: none). */
  readonly savedStep: number | null;
  /** True once a stop signal arrived. */
  shouldStop(): boolean;
  /** Write summary.json for the loop's outcome and release the folder. */
  finish(
    status: TrainStatus | { kind: "failed"; message: string },
    fields?: {
      figures?: RunSummary["figures"];
      outputs?: RunSummary["outputs"];
      steps?: RunSummary["steps"];
      extra?: Record<string, unknown>;
    },
  ): Promise<RunSummary>;
}

/** The command line that resumes this run: the same command with --resume (and without --overwrite). */
export function resumeCommand(argv: readonly string[] = process.argv.slice(2)): string {
  const args = argv.filter((a) => a !== "--overwrite" && a !== "--resume");
  return `stepwise ${[...args, "--resume"].join(" ")}`;
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  const run = await openRun(opts);
  let stop = false;
  let savedStep: number | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) {
      opts.say(
        `${signal} again: exiting now; the newest checkpoint on disk is intact (resume with: ${resumeCommand()})`,
      );
      process.exit(130);
    }
    stop = true;
    opts.say(
      `${signal}: finishing the current step, then saving a checkpoint and stopping (${signal} again to exit now)`,
    );
  };
  const catching = opts.signals ?? true;
  if (catching) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  const release = () => {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
  return {
    run,
    get savedStep() {
      return savedStep;
    },
    async restore(optimizer, like) {
      const r = await restoreCheckpoint(opts.dir, optimizer, like, opts.say);
      await run.truncateLogs(r ? r.training.step : null);
      savedStep = r ? r.training.step : null;
      return r;
    },
    async save(step, trainable, optimizer, state, training, keep) {
      await saveCheckpoint(opts.dir, { trainable, optimizer, state, training: { ...training, step } });
      await pruneCheckpoints(opts.dir, keep);
      savedStep = step;
    },
    shouldStop: () => stop,
    async finish(status, fields = {}) {
      release();
      const message =
        status.kind === "done"
          ? undefined
          : status.kind === "stopped" || status.kind === "diverged"
            ? `${status.message}. Resume with: ${resumeCommand()}`
            : status.message;
      const runStatus = status.kind === "done" ? "finished" : status.kind;
      return run.finish(runStatus, { ...fields, ...(message ? { message } : {}) });
    },
  };
}
