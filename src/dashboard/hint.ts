/** The line every run command ends with: how to open its run in the dashboard. */
import { basename, dirname, resolve } from "node:path";

/** "view it: stepwise dashboard --runs PARENT  -> http://127.0.0.1:7860/#/run/NAME". */
export function dashboardHint(runDir: string): string {
  const abs = resolve(runDir);
  const parent = dirname(abs);
  const shown = resolve("runs") === parent ? "runs" : parent;
  return `view it: stepwise dashboard --runs ${shown}  -> http://127.0.0.1:7860/#/run/${encodeURIComponent(basename(abs))}`;
}
