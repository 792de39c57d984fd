/**
 * Run one demo stage in a child process (src/engine/isolate.ts says why): a failure becomes
 * a DemoError quoting the child's last stderr lines.
 */
import { runInChild } from "../engine/isolate.ts";
import { DemoError, type StageIo, type StageJob } from "./stages.ts";

const STAGES = new URL("./stages.ts", import.meta.url).href;

export function runStageInChild(job: StageJob, io: StageIo): Promise<void> {
  return runInChild(
    { module: STAGES, fn: "runStage", job },
    io,
    (how, tail) =>
      new DemoError(
        `demo: the ${job.kind} stage of ${job.variant} ${how}; run the demo again to resume from its last checkpoint.\n` +
          tail.join("\n"),
      ),
  );
}
