/**
 * `stepwise serve`'s HTTP shell over a LocalEngine: the OpenAI routes, request bodies read
 * with a size bound, errors in OpenAI's shape, streaming as server-sent events.
 *
 *   GET  /v1/models            the one model served
 *   POST /v1/completions       text or token-id prompts (lm-evaluation-harness's local-completions)
 *   POST /v1/chat/completions  messages through the model's chat template
 *   GET  /health               200 when up (as vLLM has)
 *
 * Safety: the server binds 127.0.0.1 unless told otherwise (the CLI's --host), refuses a body
 * over `maxBodyBytes` (413) and more than `maxPending` requests waiting for the model (503
 * with Retry-After), and nothing in a request reaches the file system: the model is loaded
 * once at start, and the request's `model` is only compared with its name. A client that
 * hangs up before its turn takes its jobs out of the queue (batcher.ts), so timed-out and
 * retried requests do not pile up in front of their retries.
 * Streaming: `data: {chunk}` events, a usage chunk when stream_options.include_usage, then
 * `data: [DONE]`; an error after the stream has started is sent as a `data: {"error": …}`
 * event before [DONE] (as vLLM does), since the status line is already gone.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { sseEvent } from "../teacher/sse.ts";
import type { LocalEngine } from "./engine.ts";
import { asServeError, ServeError } from "./errors.ts";
import { listen, pathOf, type RunningServer, readJsonBody, sendError, sendJson } from "./http.ts";

export type { RunningServer } from "./http.ts";

export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. Default 8000. */
  port?: number;
  /** Largest request body, bytes (default 4 MiB: lm-evaluation-harness sends batches of token ids). */
  maxBodyBytes?: number;
  /** Generation requests waiting or running at most (default 256). */
  maxPending?: number;
}

type Endpoint = "chat" | "completions";

export async function startServer(engine: LocalEngine, opts: ServerOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const maxBodyBytes = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const maxPending = opts.maxPending ?? 256;
  let pending = 0;

  const generateRoute = async (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse) => {
    const body = await readJsonBody(req, maxBodyBytes);
    if (pending >= maxPending) {
      throw Object.assign(new ServeError(503, `the server has ${pending} requests waiting; retry shortly`), {
        retryAfter: "1",
      });
    }
    const stream = typeof body === "object" && body !== null && (body as { stream?: unknown }).stream === true;
    const includeUsage =
      stream && (body as { stream_options?: { include_usage?: unknown } }).stream_options?.include_usage === true;
    // a client that hangs up (a timeout, a reset) takes its waiting jobs out of the queue
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableEnded) gone.abort();
    });
    pending++;
    try {
      if (!stream) {
        sendJson(
          res,
          200,
          endpoint === "chat"
            ? await engine.chat(body, undefined, gone.signal)
            : await engine.complete(body, undefined, gone.signal),
        );
        return;
      }
      let started = false;
      const write = (chunk: unknown) => {
        if (!started) {
          res.writeHead(200, {
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            connection: "keep-alive",
          });
          started = true;
        }
        if (!res.destroyed) res.write(sseEvent(JSON.stringify(chunk)));
      };
      try {
        const full =
          endpoint === "chat"
            ? await engine.chat(body, write, gone.signal)
            : await engine.complete(body, write, gone.signal);
        if (includeUsage)
          write({
            id: full.id,
            object: endpoint === "chat" ? "chat.completion.chunk" : "text_completion",
            created: full.created,
            model: full.model,
            choices: [],
            usage: full.usage,
          });
      } catch (err) {
        if (!started) throw err;
        write(asServeError(err).body());
      }
      if (!res.destroyed) res.end(sseEvent("[DONE]"));
    } finally {
      pending--;
    }
  };

  const server = createServer((req, res) => {
    res.on("error", () => {}); // a client that hangs up mid-stream is not our error
    const path = pathOf(req);
    const route = async () => {
      if (req.method === "GET" && (path === "/v1/models" || path === "/models"))
        return sendJson(res, 200, engine.models());
      if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok" });
      if (path === "/v1/chat/completions" || path === "/v1/completions") {
        if (req.method !== "POST") throw new ServeError(405, `${req.method} ${path}: use POST`);
        return generateRoute(path === "/v1/chat/completions" ? "chat" : "completions", req, res);
      }
      throw new ServeError(
        404,
        `no route ${req.method} ${path}; this server has GET /v1/models, POST /v1/completions, POST /v1/chat/completions`,
      );
    };
    route().catch((err) => {
      const e = asServeError(err);
      const retryAfter = (err as { retryAfter?: string }).retryAfter;
      sendError(res, e, retryAfter ? { "retry-after": retryAfter } : {});
    });
  });
  server.requestTimeout = 0; // generations can be long; clients set their own timeouts
  return listen(server, host, opts.port ?? 8000, "/v1");
}
