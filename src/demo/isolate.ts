/**
 * Run one demo stage in a child process (child.ts) and wait for it: its progress lines go to
 * the parent's log, runSft's progress to the parent's stream; a failure becomes a DemoError
 * quoting the child's last stderr lines. stages.ts says why the demo isolates its stages.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DemoError, type StageIo, type StageJob } from "./stages.ts";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
/** The TypeScript loader the child needs (the parent may have registered it through the API, not execArgv). */
const TSX = import.meta.resolve("tsx");

export async function runStageInChild(job: StageJob, io: StageIo): Promise<void> {
  const child = fork(CHILD, [JSON.stringify(job)], {
    execArgv: ["--import", TSX],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const stream = io.stream ?? process.stderr;
  const tail: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on("line", (line) => io.log(line));
  child.stderr!.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    stream.write(text);
    tail.push(...text.split("\n").filter((l) => l !== ""));
    tail.splice(0, Math.max(0, tail.length - 12));
  });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  if (code !== 0) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    throw new DemoError(
      `demo: the ${job.kind} stage of ${job.variant} ${how}; run the demo again to resume from its last checkpoint.\n` +
        tail.join("\n"),
    );
  }
}
