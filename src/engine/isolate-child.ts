/**
 * The child process of isolate.ts: `node --import tsx isolate-child.ts '<ChildStage JSON>'`
 * imports the stage's module and runs `fn(job, io)`. Progress lines go to stdout, a stage's
 * own progress and any error to stderr; the exit code is 0 when the stage finished.
 */
import type { ChildStage, StageIo } from "./isolate.ts";

const stage = JSON.parse(process.argv[2] ?? "null") as ChildStage | null;
if (stage === null) {
  process.stderr.write("isolate child: expected a stage (JSON) as the first argument\n");
  process.exit(2);
}
try {
  const mod = (await import(stage.module)) as Record<string, unknown>;
  const fn = mod[stage.fn];
  if (typeof fn !== "function") throw new Error(`isolate child: ${stage.module} exports no function ${stage.fn}`);
  const io: StageIo = { log: (line) => process.stdout.write(`${line}\n`), stream: process.stderr };
  await (fn as (job: unknown, io: StageIo) => Promise<void>)(stage.job, io);
  process.exit(0);
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
