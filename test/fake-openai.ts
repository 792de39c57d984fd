/**
 * A scripted OpenAI-compatible server on loopback for the client and teacher fault tests.
 * Each request takes the next fault off the script (then answers normally once the
 * script is empty): rate limits with Retry-After, 5xx, a request that is never answered,
 * a reset connection, a body cut mid-JSON, empty choices, a body or an event stream
 * that trickles in slowly, an HTML page, a 4xx that echoes the API key.
 *
 * Normal answers come from `answer(body, i)`: the texts of the choices, one per `n`.
 * Every request body is recorded, with the Authorization header it carried.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; retryAfterMs?: string; message?: string }
  | { kind: "hang" }
  | { kind: "reset" }
  | { kind: "truncated" }
  | { kind: "empty-choices" }
  | { kind: "one-choice" }
  | { kind: "html" }
  | { kind: "slow-body"; pieces: number; gapMs: number }
  | { kind: "slow-stream"; gapMs: number };

export interface RecordedRequest {
  path: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
}

export interface FakeOpenAI {
  url: string;
  requests: RecordedRequest[];
  /** Faults still to serve, in order. */
  script: Fault[];
  /** Most requests in flight at once so far. */
  maxInFlight: number;
  close(): Promise<void>;
}

export interface FakeOptions {
  script?: Fault[];
  /** The texts of a normal answer (one per choice). Default: "reply i.j" for request i, choice j. */
  answer?: (body: Record<string, unknown>, i: number) => string[];
  /** Delay before each normal answer (ms), to make requests overlap. */
  delayMs?: number;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function responseBody(path: string, texts: string[], model: string): Record<string, unknown> {
  const chat = path.endsWith("/chat/completions");
  return {
    id: chat ? "chatcmpl-fake" : "cmpl-fake",
    object: chat ? "chat.completion" : "text_completion",
    created: 1,
    model,
    choices: texts.map((t, index) =>
      chat
        ? { index, message: { role: "assistant", content: t }, finish_reason: "stop" }
        : { index, text: t, finish_reason: "stop" },
    ),
    usage: { prompt_tokens: 3, completion_tokens: texts.length, total_tokens: 3 + texts.length },
  };
}

function streamEvents(path: string, texts: string[], model: string): string[] {
  const chat = path.endsWith("/chat/completions");
  const events: string[] = [];
  const halves = texts.map((t) => [t.slice(0, Math.ceil(t.length / 2)), t.slice(Math.ceil(t.length / 2))]);
  for (const half of [0, 1]) {
    const choices = halves.map((h, index) =>
      chat
        ? {
            index,
            delta: half === 0 ? { role: "assistant", content: h[0] } : { content: h[1] },
            finish_reason: half === 1 ? "stop" : null,
          }
        : { index, text: h[half], finish_reason: half === 1 ? "stop" : null },
    );
    events.push(
      JSON.stringify({
        id: "s",
        object: chat ? "chat.completion.chunk" : "text_completion",
        created: 1,
        model,
        choices,
      }),
    );
  }
  events.push(
    JSON.stringify({ id: "s", model, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }),
  );
  return events;
}

export async function startFakeOpenAI(opts: FakeOptions = {}): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  const state: FakeOpenAI = {
    url: "",
    requests,
    script: [...(opts.script ?? [])],
    maxInFlight: 0,
    close: async () => {},
  };
  const choicesAsked = (body: Record<string, unknown>) => {
    const p = body["prompt"];
    const prompts = Array.isArray(p) && typeof p[0] !== "number" ? p.length : 1;
    return prompts * Number(body["n"] ?? 1);
  };
  const answer = opts.answer ?? ((body, i) => Array.from({ length: choicesAsked(body) }, (_, j) => `reply ${i}.${j}`));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    const path = req.url ?? "/";
    if (req.method === "GET" && path.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ object: "list", data: [{ id: "fake", object: "model", created: 1, owned_by: "test" }] }),
      );
      return;
    }
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    const i = requests.length;
    requests.push({ path, body, authorization: req.headers.authorization });
    const model = String(body["model"] ?? "fake");
    const fault = state.script.shift();
    if (fault?.kind === "hang") return; // never answered; the client's timeout must fire
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = fault.retryAfterMs;
      res.writeHead(fault.status, headers);
      res.end(
        JSON.stringify({
          error: { message: fault.message ?? `fault ${fault.status}`, type: "server_error", param: null, code: null },
        }),
      );
      return;
    }
    if (fault?.kind === "html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>502 Bad Gateway</body></html>");
      return;
    }
    if (opts.delayMs) await wait(opts.delayMs);
    let texts = answer(body, i);
    if (fault?.kind === "empty-choices") texts = [];
    if (fault?.kind === "one-choice") texts = texts.slice(0, 1);
    const full = JSON.stringify(responseBody(path, texts, model));
    if (fault?.kind === "truncated") {
      const cut = full.slice(0, Math.floor(full.length / 2));
      res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(cut)) });
      res.end(cut);
      return;
    }
    if (body["stream"] === true) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for (const e of streamEvents(path, texts, model)) {
        res.write(`data: ${e}\n\n`);
        if (fault?.kind === "slow-stream") await wait(fault.gapMs);
      }
      res.end("data: [DONE]\n\n");
      return;
    }
    if (fault?.kind === "slow-body") {
      res.writeHead(200, { "content-type": "application/json" });
      const size = Math.ceil(full.length / fault.pieces);
      for (let at = 0; at < full.length; at += size) {
        if (res.destroyed) return;
        res.write(full.slice(at, at + size));
        await wait(fault.gapMs);
      }
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(full);
  };

  const server: Server = createServer((req, res) => {
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.on("close", done);
    handle(req, res).catch((err) => {
      res.destroy(err as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
