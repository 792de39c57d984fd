/**
 * `stepwise dashboard`: a local, read-only web app over a folder of run folders.
 *
 * Safety, by construction rather than by filtering:
 *   - only GET and HEAD; nothing here opens a file for writing;
 *   - the page's assets are a fixed table (ASSETS) of files shipped with stepwise: any other
 *     URL path is 404, whatever its spelling (`/../`, `%2e%2e%2f`, absolute paths);
 *   - a run is named by a query parameter that must resolve, after decoding and after every
 *     symbolic link is followed (realpath), to a folder inside the runs root, and a log by a
 *     fixed name from src/runs/layout.ts; anything else is 404;
 *   - logs are read from a byte offset (readJsonlFrom) or streamed (streamJsonl), so a
 *     10,000-row metrics file is never re-read whole by a page that polls it.
 *
 * The page (static/) is plain ES modules with no build step: three files and uPlot's own
 * ESM build, served from node_modules, so nothing is fetched from the network and there is
 * no bundler to keep in step. Series are discovered from the rows in the page, so new run
 * kinds and metric names appear with no change here.
 *
 *   GET /api/runs                                  every run under the root (runs.ts)
 *   GET /api/log?run=P&log=metrics&offset=N        rows from byte N on: {rows, next, restarted}
 *   GET /api/samples?run=P&source=samples|examples&correct=&task=&step=&offset=&limit=
 *   GET /api/eval?run=P                            accuracy per task with Wilson intervals
 *   GET /api/compare?runs=P1,P2                    eval compare's paired bootstrap (B − A)
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { wilsonInterval } from "../eval/metrics.ts";
import { readJsonlFrom, streamJsonl } from "../runs/jsonl.ts";
import { ALERTS_FILE, EVAL_DIR, EVAL_FILE, EXAMPLES_FILE, METRICS_FILE, SAMPLES_FILE } from "../runs/layout.ts";
import { readSummary } from "../runs/run.ts";
import { discoverRuns } from "./runs.ts";
import { pageSamples, type SampleFilter } from "./samples.ts";

const here = dirname(fileURLToPath(import.meta.url));
const uplotDir = dirname(createRequire(import.meta.url).resolve("uplot"));

/** The only files the server sends that are not run data. */
const ASSETS: { readonly [url: string]: { file: string; type: string } } = {
  "/": { file: join(here, "static", "index.html"), type: "text/html; charset=utf-8" },
  "/app.js": { file: join(here, "static", "app.js"), type: "text/javascript; charset=utf-8" },
  "/charts.js": { file: join(here, "static", "charts.js"), type: "text/javascript; charset=utf-8" },
  "/style.css": { file: join(here, "static", "style.css"), type: "text/css; charset=utf-8" },
  "/vendor/uplot.js": { file: join(uplotDir, "uPlot.esm.js"), type: "text/javascript; charset=utf-8" },
  "/vendor/uplot.css": { file: join(uplotDir, "uPlot.min.css"), type: "text/css; charset=utf-8" },
};

/** The logs a page may read, by the short name it asks for. */
const LOGS: { readonly [name: string]: string } = {
  metrics: METRICS_FILE,
  eval: EVAL_FILE,
  samples: SAMPLES_FILE,
  alerts: ALERTS_FILE,
};

const MAX_ROWS = 50_000;
const MAX_SAMPLES = 200;

export interface DashboardOptions {
  runs: string;
  host?: string;
  port?: number;
}

export interface Dashboard {
  server: Server;
  url: string;
  close(): Promise<void>;
}

class NotFound extends Error {}

/** Start the dashboard; resolves once it listens (port 0 picks a free one). */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const root = await realpath(opts.runs).catch(() => {
    throw new Error(`dashboard: --runs ${opts.runs}: no such folder`);
  });
  if (!(await stat(root)).isDirectory()) throw new Error(`dashboard: --runs ${opts.runs}: not a folder`);
  const server = createServer((req, res) => {
    handle(root, req, res).catch((err: unknown) => {
      if (err instanceof NotFound) send(res, 404, { error: "not found" });
      else send(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port ?? 7860, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (opts.port ?? 7860);
  return {
    server,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD" }).end();
    return;
  }
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const pathname = q === -1 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q === -1 ? "" : raw.slice(q + 1));
  const asset = ASSETS[pathname];
  if (asset) {
    res.writeHead(200, headers(asset.type));
    if (req.method === "HEAD") res.end();
    else createReadStream(asset.file).pipe(res);
    return;
  }
  switch (pathname) {
    case "/api/runs":
      return send(res, 200, { runs: await discoverRuns(root) });
    case "/api/log": {
      const file = LOGS[params.get("log") ?? ""];
      if (!file) throw new NotFound();
      const dir = await runDir(root, params.get("run"));
      const path = await inside(root, join(dir, file), true);
      const offset = intParam(params, "offset", 0);
      const limit = Math.min(intParam(params, "limit", MAX_ROWS), MAX_ROWS);
      return send(res, 200, path ? await readJsonlFrom(path, offset, limit) : { rows: [], next: 0, restarted: false });
    }
    case "/api/samples": {
      const dir = await runDir(root, params.get("run"));
      const source = params.get("source") ?? "samples";
      const rel = source === "examples" ? await examplesOf(root, dir) : source === "samples" ? SAMPLES_FILE : null;
      if (rel === null) throw new NotFound();
      const path = await inside(root, join(dir, rel), true);
      const correct = params.get("correct") ?? "any";
      const filter: SampleFilter = {
        correct: correct === "correct" || correct === "incorrect" ? correct : "any",
        task: params.get("task") || null,
        step: params.get("step") ? intParam(params, "step", 0) : null,
      };
      const offset = intParam(params, "offset", 0);
      const limit = Math.min(intParam(params, "limit", 50), MAX_SAMPLES);
      if (!path) return send(res, 200, { total: 0, rows: 0, offset, items: [], tasks: [], steps: [] });
      return send(res, 200, await pageSamples(path, filter, offset, limit));
    }
    case "/api/eval": {
      const dir = await runDir(root, params.get("run"));
      return send(res, 200, await evalView(root, dir));
    }
    case "/api/compare": {
      const runs = (params.get("runs") ?? "").split(",").filter((s) => s !== "");
      if (runs.length < 2) throw new NotFound();
      const dirs = await Promise.all(runs.map((r) => runDir(root, r)));
      return send(res, 200, await compareView(root, runs, dirs));
    }
    default:
      throw new NotFound();
  }
}

function headers(type: string): Record<string, string> {
  return {
    "Content-Type": type,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, headers("application/json; charset=utf-8"));
  res.end(JSON.stringify(body));
}

function intParam(params: URLSearchParams, name: string, fallback: number): number {
  const v = params.get(name);
  if (v === null || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new NotFound();
  return n;
}

const within = (root: string, p: string) => p === root || p.startsWith(root + sep);

/**
 * The real path of `p` when it exists and lies inside `root` after every link is followed;
 * otherwise null (`optional`) or NotFound.
 */
async function inside(root: string, p: string, optional = false): Promise<string | null> {
  const lexical = resolve(p);
  const real = within(root, lexical) ? await realpath(lexical).catch(() => null) : null;
  if (real !== null && within(root, real)) return real;
  if (optional && within(root, lexical) && real === null) return null;
  throw new NotFound();
}

/** The folder of the run named by the `run` parameter (relative to the root), or NotFound. */
async function runDir(root: string, rel: string | null): Promise<string> {
  if (rel === null || rel.includes("\0") || isAbsolute(rel) || /^[a-zA-Z]:/.test(rel)) throw new NotFound();
  const dir = (await inside(root, join(root, rel)))!;
  if (!(await stat(dir)).isDirectory()) throw new NotFound();
  return dir;
}

/** examples.jsonl of the run itself or of its eval/ folder, relative to the run, or null. */
async function examplesOf(root: string, dir: string): Promise<string | null> {
  for (const rel of [EXAMPLES_FILE, join(EVAL_DIR, EXAMPLES_FILE)]) {
    if (await inside(root, join(dir, rel), true).catch(() => null)) return rel;
  }
  return null;
}

interface TaskAccuracy {
  task: string;
  n: number;
  correct: number;
  accuracy: number;
  lo: number;
  hi: number;
}

/** Accuracy per task with 95% Wilson intervals, counted from the examples (streamed). */
async function evalView(root: string, dir: string): Promise<{ tasks: TaskAccuracy[]; summary: unknown }> {
  const rel = await examplesOf(root, dir);
  if (rel === null) return { tasks: [], summary: null };
  const counts = new Map<string, { n: number; correct: number }>();
  for await (const r of streamJsonl(join(dir, rel))) {
    const ok = r["correct_strict"] ?? r["correct"];
    if (typeof ok !== "boolean") continue;
    for (const task of ["all", typeof r["task"] === "string" ? r["task"] : "—"]) {
      const c = counts.get(task) ?? { n: 0, correct: 0 };
      c.n++;
      if (ok) c.correct++;
      counts.set(task, c);
    }
  }
  const tasks = [...counts].map(([task, c]) => {
    const { lo, hi } = wilsonInterval(c.correct, c.n);
    return { task, n: c.n, correct: c.correct, accuracy: c.correct / c.n, lo, hi };
  });
  return { tasks, summary: await readSummary(dirname(join(dir, rel))) };
}

/** Each pair (first run, other run) through eval compare's paired bootstrap, or why not. */
async function compareView(root: string, names: string[], dirs: string[]): Promise<unknown> {
  const { compareExamples } = await import("../eval/compare.ts");
  const examples = await Promise.all(
    dirs.map(async (d) => {
      const rel = await examplesOf(root, d);
      if (rel === null) return null;
      const rows: Record<string, unknown>[] = [];
      for await (const r of streamJsonl(join(d, rel))) rows.push(r);
      return rows;
    }),
  );
  const pairs = names.slice(1).map((b, i) => {
    const ea = examples[0];
    const eb = examples[i + 1];
    if (!ea || !eb) return { a: names[0], b, error: "both runs need an eval (examples.jsonl)" };
    try {
      type Ex = Parameters<typeof compareExamples>[0];
      return {
        a: names[0],
        b,
        comparison: compareExamples(ea as unknown as Ex, eb as unknown as Ex, { runA: names[0], runB: b }),
      };
    } catch (err) {
      return { a: names[0], b, error: err instanceof Error ? err.message : String(err) };
    }
  });
  return { pairs };
}
