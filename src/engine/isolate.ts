/**
 * Run one heavy stage (a fine-tune, an evaluation) in a child process of its own and wait
 * for it. Why: jax-js's Wasm allocator keeps every freed block in a free list of its exact
 * size class and never shrinks the heap, so one process that trains several models on
 * padded batches of many lengths and then generates with them accumulates every shape's
 * peak, up to the 4 GiB memory32 limit. A child per stage starts from an empty heap.
 *
 * The stage is `fn(job, io)`, an exported function of `module` (a file URL), whose job is
 * plain JSON (it crosses the process boundary). In the child, io.log writes stdout lines and
 * io.stream is stderr; here, the child's lines go to `io.log` and its stderr to `io.stream`.
 * A failure throws `onFailure(how, lastStderrLines)`.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface StageIo {
  /** Progress lines. */
  log: (line: string) => void;
  /** Where a stage's own progress (runSft's) is written. */
  stream?: NodeJS.WriteStream;
}

export interface ChildStage {
  /** The module's URL (`import.meta.url` of the file, or `new URL("./x.ts", import.meta.url).href`). */
  module: string;
  /** Its exported `(job, io) => Promise<void>`. */
  fn: string;
  job: unknown;
}

const CHILD = fileURLToPath(new URL("./isolate-child.ts", import.meta.url));
/** The TypeScript loader the child needs (the parent may have registered it through the API, not execArgv). */
const TSX = import.meta.resolve("tsx");

export async function runInChild(
  stage: ChildStage,
  io: StageIo,
  onFailure: (how: string, tail: string[]) => Error,
): Promise<void> {
  const child = fork(CHILD, [JSON.stringify(stage)], {
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
  if (code !== 0) throw onFailure(signal ? `was killed by ${signal}` : `exited with code ${code}`, tail);
}
