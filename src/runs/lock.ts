/**
 * One writer per run folder. A process takes `<run>/.lock` before it writes anything and
 * drops it when it ends; a second process is refused while the first one lives — even with
 * --resume — because two writers interleave their steps in one metrics.jsonl.
 *
 * A killed process cannot leave the lock stuck: the lock records the holder's pid, host and
 * start time (Linux /proc/<pid>/stat field 22, so a recycled pid is not mistaken for the
 * holder), and a lock whose holder is gone is taken over. The lock file is created with
 * O_EXCL (`wx`), so of two processes racing for a free folder exactly one wins.
 *
 * Departure from a kernel lock (flock): Node has none portable. The one window left is two
 * processes that both find the SAME stale lock in the same instant; both may then proceed.
 */
import { readFileSync, rmSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { LOCK_FILE } from "./layout.ts";

export class RunLockedError extends Error {
  override name = "RunLockedError";
}

interface LockInfo {
  pid: number;
  host: string;
  /** The holder's start time in clock ticks since boot (Linux), or null elsewhere. */
  started: number | null;
  command: string;
  since: string;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null. */
function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from #3 on
    return Number(fields[22 - 3]);
  } catch {
    return null;
  }
}

function alive(info: LockInfo): boolean {
  if (info.host !== hostname()) return true; // another machine's process: cannot tell, assume alive
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const started = processStart(info.pid);
  return info.started === null || started === null || started === info.started;
}

export interface RunLock {
  readonly path: string;
  /** Drop the lock (idempotent). */
  release(): Promise<void>;
}

/** Take the run folder's lock, or throw RunLockedError naming the live holder. */
export async function lockRun(runDir: string): Promise<RunLock> {
  const path = join(runDir, LOCK_FILE);
  const mine: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: processStart(process.pid),
    command: process.argv.slice(1).join(" "),
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx");
      await fh.writeFile(`${JSON.stringify(mine)}\n`);
      await fh.close();
      let released = false;
      const releaseSync = () => {
        if (released) return;
        released = true;
        try {
          const cur = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
          if (cur.pid === mine.pid && cur.since === mine.since) rmSync(path, { force: true });
        } catch {
          /* already gone */
        }
      };
      process.once("exit", releaseSync);
      return {
        path,
        release: async () => {
          process.removeListener("exit", releaseSync);
          releaseSync();
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let held: LockInfo | null = null;
    try {
      held = JSON.parse(await readFile(path, "utf8")) as LockInfo;
    } catch {
      held = null; // torn or vanished: a holder that died while writing it
    }
    if (held && alive(held)) {
      throw new RunLockedError(
        `${runDir}: another process is writing this run (pid ${held.pid} on ${held.host}, since ${held.since}: ${held.command}). ` +
          `Wait for it to finish or stop it; if no such process exists, delete ${path}`,
      );
    }
    await rm(path, { force: true }); // stale: its holder is gone
  }
  throw new RunLockedError(
    `${runDir}: could not take ${path} (it reappeared three times); is another process starting?`,
  );
}
