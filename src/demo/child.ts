/**
 * A child process running one demo stage (stages.ts): `node --import tsx child.ts '<StageJob JSON>'`.
 * Progress lines go to stdout, runSft's progress and any error to stderr; the exit code is 0
 * when the stage's outputs are written. The parent (pipeline.ts, `isolate`) forwards both.
 */
import { runStage, type StageJob } from "./stages.ts";

const job = JSON.parse(process.argv[2] ?? "null") as StageJob | null;
if (job === null) {
  process.stderr.write("demo child: expected a stage job (JSON) as the first argument\n");
  process.exit(2);
}
try {
  await runStage(job, { log: (line) => process.stdout.write(`${line}\n`), stream: process.stderr });
  process.exit(0);
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
