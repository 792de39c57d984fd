/**
 * Running a measurement in a child process and collecting its figures.
 *
 * jax-js fixes its worker pool when it is first imported (from STEPWISE_THREADS,
 * see src/engine/setup.ts), and the Python peers fix their BLAS thread pools when
 * they load: so each thread count is measured in a fresh process that prints
 * figure lines on stdout, which the parent validates and re-emits.
 */
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type BenchContext, type Figure, parseFigure } from "./types.ts";

/** The repository root (bench/..). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface ChildSpec {
  /** Short name used to prefix the child's stderr and in errors, e.g. "matmul threads=2". */
  label: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export class ChildError extends Error {
  override name = "ChildError";
}

/**
 * Spawn a child and yield the figures it prints. Non-JSON stdout lines and all of
 * stderr are forwarded to our stderr, prefixed with the label. Throws a
 * ChildError if the child cannot start or exits with a non-zero status.
 */
export async function* childFigures(spec: ChildSpec, ctx: BenchContext): AsyncGenerator<Figure> {
  const child = spawn(spec.command, spec.args, { cwd: ROOT, env: spec.env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", (err) =>
      reject(new ChildError(`${spec.label}: could not start ${spec.command}: ${err.message}`)),
    );
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  // Attach a handler now so an early spawn error is not an unhandled rejection.
  exited.catch(() => {});
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    ctx.log(`[${spec.label}] ${line}`);
  });
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.trimStart().startsWith("{")) yield parseFigure(line, spec.label);
    else if (line.trim() !== "") ctx.log(`[${spec.label}] ${line}`);
  }
  const { code, signal } = await exited;
  if (code !== 0) {
    const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    throw new ChildError(
      `${spec.label}: ${spec.command} ${why}${tail.length ? `; last stderr:\n${tail.join("\n")}` : ""}`,
    );
  }
}

/** A child running a TypeScript file of this repository under tsx, like `npm run bench` itself. */
export function tsxChild(label: string, script: string, args: string[], env: NodeJS.ProcessEnv): ChildSpec {
  return {
    label,
    command: process.execPath,
    args: ["--import", import.meta.resolve("tsx"), join(ROOT, script), ...args],
    env,
  };
}

// ---------------------------------------------------------------------------
// Python peers.

export const PEER_INSTALL_HINT =
  "install it with `bash bench/setup.sh` (apt-get install python3-torch libopenblas0-pthread)";

/**
 * The environment for a Python peer limited to `threads` threads. Debian's
 * PyTorch does its matmuls in OpenBLAS, whose pool `torch.set_num_threads`
 * does not limit, so we pin OpenBLAS and OpenMP by environment as well; and we
 * drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which would override OpenBLAS's own
 * CPU detection in this child only.
 */
export function peerEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  env.OPENBLAS_NUM_THREADS = String(threads);
  env.OMP_NUM_THREADS = String(threads);
  return env;
}

export type TorchPython = { ok: true; python: string; version: string } | { ok: false; reason: string };

let torchPython: TorchPython | null = null;

/**
 * A Python interpreter that can `import torch`: $STEPWISE_PYTHON if set (and
 * then only that one), else `python3` on the PATH, else Debian's
 * /usr/bin/python3 (a pyenv or venv python3 on the PATH does not see Debian's
 * python3-torch).
 */
export function findTorchPython(): TorchPython {
  if (torchPython) return torchPython;
  const chosen = process.env.STEPWISE_PYTHON;
  const candidates = chosen ? [chosen] : ["python3", "/usr/bin/python3"];
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], {
      env: peerEnv(1),
      encoding: "utf8",
      timeout: 60_000,
    });
    if (r.status === 0) {
      torchPython = { ok: true, python, version: r.stdout.trim() };
      return torchPython;
    }
    const why = r.error ? r.error.message : (r.stderr.trim().split("\n").at(-1) ?? `status ${r.status}`);
    tried.push(`${python}: ${why}`);
  }
  torchPython = { ok: false, reason: `no Python with torch found (tried ${tried.join("; ")})` };
  return torchPython;
}
