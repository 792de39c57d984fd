/**
 * A client for any OpenAI-compatible server (vLLM, SGLang, the llama.cpp server, Ollama,
 * hosted APIs, `stepwise serve`): `chat/completions` and `completions`, with
 *
 *  - a concurrency limit: at most `concurrency` requests in flight (a retry waits for a slot
 *    like any request, and holds none while it sleeps);
 *  - retries with exponential backoff and jitter on 408/409/425/429/5xx, timeouts,
 *    connection failures, truncated bodies and empty `choices`, honouring Retry-After
 *    (retry.ts has the schedule);
 *  - a per-request timeout over the whole exchange, headers and body; when streaming, also
 *    an idle timeout between chunks, so a long generation that keeps talking is not cut
 *    but a silent one is;
 *  - every failure a `TeacherError` of one kind (errors.ts), retryable or fatal, naming the
 *    endpoint: a complete body that is not the expected JSON, a 4xx, or fewer choices than
 *    `n` (a server that ignores `n`) are fatal at once, since asking again cannot help;
 *  - the API key sent as a Bearer token and nowhere else: it is not kept in errors, stats or
 *    logs, and it is redacted from any server message quoted in an error.
 *
 * Base URL: given as the SDKs take it ("http://host:8000/v1"); a URL with no path gets "/v1".
 * Streaming (`stream: true` in the options) asks the server for server-sent events and
 * assembles them into the same response a non-streamed call returns.
 */
import type { z } from "zod";
import { assembleChat, assembleCompletion } from "./assemble.ts";
import { FAILURE_KINDS, type FailureKind, RETRYABLE, TeacherError, type TeacherErrorFields } from "./errors.ts";
import {
  type CallOptions,
  type ChatClient,
  type ChatRequest,
  type ChatResponse,
  ChatResponseSchema,
  type CompletionRequest,
  type CompletionResponse,
  CompletionResponseSchema,
  ErrorBodySchema,
  type ModelList,
  ModelListSchema,
  type Usage,
} from "./protocol.ts";
import {
  type BackoffOptions,
  DEFAULT_BACKOFF,
  isTruncatedJson,
  parseRetryAfter,
  retryDelay,
  statusIsRetryable,
} from "./retry.ts";
import { SseDecoder } from "./sse.ts";

export interface ClientOptions {
  /** e.g. "http://127.0.0.1:8000/v1" or "https://api.openai.com/v1". */
  baseUrl: string;
  /** Model name sent in every request. */
  model: string;
  /** Bearer token; the CLI reads it from an environment variable. */
  apiKey?: string;
  /** Requests in flight at most (default 4). */
  concurrency?: number;
  /** Per-attempt limit on the whole exchange, ms (default 120 000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  backoff?: BackoffOptions;
  /** Longest Retry-After honoured, ms (default 60 000). */
  maxRetryAfterMs?: number;
  /** Ask for server-sent events and assemble them (default false). */
  stream?: boolean;
  /** When streaming: longest silence between chunks, ms (default 30 000). */
  idleTimeoutMs?: number;
  /** Uniform [0, 1) draws for the jitter (default Math.random). */
  random?: () => number;
  /** Called before each retry's wait. */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  endpoint: string;
  attempt: number;
  kind: FailureKind;
  status?: number;
  delayMs: number;
  detail: string;
}

export interface ClientStats {
  /** HTTP attempts made (retries included). */
  requests: number;
  /** Calls that returned a response. */
  succeeded: number;
  retries: number;
  /** Failed attempts by kind (retried or not). */
  failures: Record<FailureKind, number>;
  promptTokens: number;
  completionTokens: number;
}

/** At most `limit` holders at once; waiters are served in arrival order. */
export class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`Semaphore: limit must be an integer >= 1, got ${limit}`);
    this.#free = limit;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/** A base URL without its trailing slash; "/v1" when it has no path. */
export function normalizeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`teacher: base URL "${raw}" is not a URL; expected e.g. http://127.0.0.1:8000/v1`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`teacher: base URL "${raw}" must start with http:// or https://`);
  }
  if (url.username || url.password) {
    throw new Error("teacher: put credentials in the API key environment variable, not in the base URL");
  }
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.origin}${path === "" ? "/v1" : path}${url.search}`;
}

const TIMEOUT = Symbol("timeout");
const IDLE = Symbol("idle");

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Node's network error codes worth a retry (the rest, e.g. ENOTFOUND, are a wrong address). */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error) parts.push(e.message);
  }
  return [...new Set(parts)].join(": ") || String(err);
}

export class OpenAIClient implements ChatClient {
  readonly model: string;
  readonly baseUrl: string;
  readonly #key: string | undefined;
  readonly #slots: Semaphore;
  readonly #o: Required<Omit<ClientOptions, "apiKey" | "onRetry" | "baseUrl" | "model">> &
    Pick<ClientOptions, "onRetry">;
  readonly #stats: ClientStats = {
    requests: 0,
    succeeded: 0,
    retries: 0,
    failures: Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<FailureKind, number>,
    promptTokens: 0,
    completionTokens: 0,
  };

  constructor(opts: ClientOptions) {
    this.baseUrl = normalizeBaseUrl(opts.baseUrl);
    this.model = opts.model;
    this.#key = opts.apiKey && opts.apiKey !== "" ? opts.apiKey : undefined;
    this.#o = {
      concurrency: opts.concurrency ?? 4,
      timeoutMs: opts.timeoutMs ?? 120_000,
      maxRetries: opts.maxRetries ?? 5,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
      stream: opts.stream ?? false,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
      random: opts.random ?? Math.random,
      onRetry: opts.onRetry,
    };
    for (const [name, v, min] of [
      ["timeoutMs", this.#o.timeoutMs, 1],
      ["maxRetries", this.#o.maxRetries, 0],
      ["idleTimeoutMs", this.#o.idleTimeoutMs, 1],
    ] as const) {
      if (!Number.isInteger(v) || v < min)
        throw new RangeError(`OpenAIClient: ${name} must be an integer >= ${min}, got ${v}`);
    }
    this.#slots = new Semaphore(this.#o.concurrency);
  }

  /** Counters so far (a copy). */
  stats(): ClientStats {
    return { ...this.#stats, failures: { ...this.#stats.failures } };
  }

  chat(req: ChatRequest, call: CallOptions = {}): Promise<ChatResponse> {
    return this.#call("chat/completions", req, req.n ?? 1, ChatResponseSchema, assembleChat, call);
  }

  complete(req: CompletionRequest, call: CallOptions = {}): Promise<CompletionResponse> {
    const prompts = Array.isArray(req.prompt) && typeof req.prompt[0] !== "number" ? req.prompt.length : 1;
    return this.#call("completions", req, prompts * (req.n ?? 1), CompletionResponseSchema, assembleCompletion, call);
  }

  /** GET /models: the models the server offers (not retried beyond the usual policy). */
  async models(call: CallOptions = {}): Promise<ModelList> {
    return this.#withRetries(`GET ${this.baseUrl}/models`, call, async (signal) => {
      const res = await this.#fetch("GET", `${this.baseUrl}/models`, undefined, signal);
      return this.#parseJson(
        `GET ${this.baseUrl}/models`,
        await this.#bodyText(res, `GET ${this.baseUrl}/models`),
        ModelListSchema,
      );
    });
  }

  async #call<T extends { choices: unknown[]; usage?: Usage | null | undefined }>(
    path: string,
    body: object,
    expected: number,
    schema: z.ZodType<T>,
    assemble: (chunks: unknown[], endpoint: string) => T,
    call: CallOptions,
  ): Promise<T> {
    const endpoint = `POST ${this.baseUrl}/${path}`;
    const stream = this.#o.stream;
    const payload = JSON.stringify(
      stream ? { ...body, stream: true, stream_options: { include_usage: true } } : { ...body, stream: false },
    );
    const out = await this.#withRetries(endpoint, call, async (signal, idle) => {
      const res = await this.#fetch("POST", `${this.baseUrl}/${path}`, payload, signal);
      const value = stream
        ? assemble(await this.#readStream(res, endpoint, idle), endpoint)
        : this.#parseJson(endpoint, await this.#bodyText(res, endpoint), schema);
      if (value.choices.length === 0) {
        throw this.#error("the server answered with no choices (choices: [])", { kind: "empty-choices", endpoint });
      }
      if (value.choices.length < expected) {
        throw this.#error(
          `asked for ${expected} choices, got ${value.choices.length}: this server may ignore "n"; ask for fewer per request`,
          { kind: "missing-choices", endpoint },
        );
      }
      return value;
    });
    this.#stats.promptTokens += out.usage?.prompt_tokens ?? 0;
    this.#stats.completionTokens += out.usage?.completion_tokens ?? 0;
    return out;
  }

  /** Run attempts until one succeeds or a failure is fatal or retries are spent. */
  async #withRetries<T>(
    endpoint: string,
    call: CallOptions,
    attempt: (signal: AbortSignal, idle: { arm(): void; disarm(): void }) => Promise<T>,
  ): Promise<T> {
    for (let k = 0; ; k++) {
      let failure: TeacherError;
      await this.#slots.acquire();
      const controller = new AbortController();
      const total = setTimeout(() => controller.abort(TIMEOUT), this.#o.timeoutMs);
      let idleTimer: ReturnType<typeof setTimeout> | undefined;
      const idle = {
        arm: () => {
          clearTimeout(idleTimer);
          idleTimer = setTimeout(() => controller.abort(IDLE), this.#o.idleTimeoutMs);
        },
        disarm: () => clearTimeout(idleTimer),
      };
      const signal = call.signal ? AbortSignal.any([controller.signal, call.signal]) : controller.signal;
      try {
        this.#stats.requests++;
        const value = await attempt(signal, idle);
        this.#stats.succeeded++;
        return value;
      } catch (err) {
        failure = this.#classify(err, endpoint, controller.signal, call.signal);
      } finally {
        clearTimeout(total);
        idle.disarm();
        this.#slots.release();
      }
      this.#stats.failures[failure.kind]++;
      if (!failure.retryable || k >= this.#o.maxRetries) throw failure.withAttempts(k + 1);
      const delayMs = retryDelay(
        k,
        this.#o.backoff,
        failure.retryAfterMs ?? null,
        this.#o.maxRetryAfterMs,
        this.#o.random(),
      );
      this.#stats.retries++;
      this.#o.onRetry?.({
        endpoint,
        attempt: k + 1,
        kind: failure.kind,
        ...(failure.status !== undefined ? { status: failure.status } : {}),
        delayMs,
        detail: failure.detail,
      });
      try {
        await sleep(delayMs, call.signal);
      } catch {
        throw this.#error("aborted by the caller while waiting to retry", {
          kind: "aborted",
          endpoint,
          attempts: k + 1,
        });
      }
    }
  }

  #classify(err: unknown, endpoint: string, own: AbortSignal, caller: AbortSignal | undefined): TeacherError {
    if (err instanceof TeacherError) return err;
    if (caller?.aborted) return this.#error("aborted by the caller", { kind: "aborted", endpoint }, err);
    if (own.aborted && own.reason === TIMEOUT) {
      return this.#error(`no complete answer within ${this.#o.timeoutMs} ms`, { kind: "timeout", endpoint }, err);
    }
    if (own.aborted && own.reason === IDLE) {
      return this.#error(`the stream sent nothing for ${this.#o.idleTimeoutMs} ms`, { kind: "timeout", endpoint }, err);
    }
    const code = errorCode(err);
    const transient =
      code !== undefined ? TRANSIENT_CODES.has(code) : /terminated|socket|closed|reset/i.test(describeError(err));
    return this.#error(
      `connection failed (${code ?? "no code"}): ${describeError(err)}${transient ? "" : "; check the base URL"}`,
      { kind: "connection", endpoint, retryable: transient },
      err,
    );
  }

  #error(
    detail: string,
    f: Omit<TeacherErrorFields, "retryable"> & { retryable?: boolean },
    cause?: unknown,
  ): TeacherError {
    const by = RETRYABLE[f.kind];
    const retryable = f.retryable ?? (by === "by-status" ? statusIsRetryable(f.status ?? 0) : by);
    return new TeacherError(this.#redact(detail), { ...f, retryable }, cause === undefined ? undefined : { cause });
  }

  #redact(text: string): string {
    return this.#key ? text.split(this.#key).join("***") : text;
  }

  async #fetch(method: string, url: string, body: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json, text/event-stream" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.#key) headers["authorization"] = `Bearer ${this.#key}`;
    const res = await fetch(url, { method, headers, signal, ...(body !== undefined ? { body } : {}) });
    if (res.ok) return res;
    const endpoint = `${method} ${url}`;
    const text = await res.text().catch(() => "");
    const parsed = ErrorBodySchema.safeParse(safeJson(text));
    const said = parsed.success ? parsed.data.error.message : text.trim().slice(0, 300);
    const retryAfterMs = parseRetryAfter(res.headers, Date.now());
    throw this.#error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}${said ? `: ${said}` : ""}`, {
      kind: "http",
      endpoint,
      status: res.status,
      ...(retryAfterMs !== null ? { retryAfterMs } : {}),
    });
  }

  async #bodyText(res: Response, endpoint: string): Promise<string> {
    const text = await res.text();
    if (text.trim() === "")
      throw this.#error("the server answered 200 with an empty body", { kind: "truncated", endpoint });
    return text;
  }

  #parseJson<T>(endpoint: string, text: string, schema: z.ZodType<T>): T {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      const head = JSON.stringify(text.slice(0, 120));
      if (isTruncatedJson(text)) {
        throw this.#error(
          `the body is cut off after ${text.length} characters: ${head}…`,
          { kind: "truncated", endpoint },
          err,
        );
      }
      throw this.#error(`the body is not JSON: ${head}`, { kind: "malformed", endpoint }, err);
    }
    return this.#validate(endpoint, raw, schema);
  }

  #validate<T>(endpoint: string, raw: unknown, schema: z.ZodType<T>): T {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    throw this.#error(`the body is JSON but not an OpenAI-compatible response: ${where}: ${issue.message}`, {
      kind: "malformed",
      endpoint,
    });
  }

  /** The JSON chunks of an event stream, up to [DONE]; a stream that ends before it is truncated. */
  async #readStream(res: Response, endpoint: string, idle: { arm(): void; disarm(): void }): Promise<unknown[]> {
    if (!res.body) throw this.#error("the server answered 200 with no body", { kind: "truncated", endpoint });
    const decoder = new SseDecoder();
    const chunks: unknown[] = [];
    const reader = res.body.getReader();
    try {
      for (;;) {
        idle.arm();
        const { done, value } = await reader.read();
        if (done) break;
        for (const data of decoder.push(value)) {
          if (data.trim() === "[DONE]") return chunks;
          const json = safeJson(data);
          if (json === undefined) {
            throw this.#error(`a stream event is not JSON: ${JSON.stringify(data.slice(0, 120))}`, {
              kind: "malformed",
              endpoint,
            });
          }
          const err = ErrorBodySchema.safeParse(json);
          if (err.success) {
            throw this.#error(`the stream reported an error: ${err.data.error.message}`, {
              kind: "http",
              endpoint,
              status: 500,
            });
          }
          chunks.push(json);
        }
      }
    } finally {
      idle.disarm();
      reader.releaseLock();
    }
    throw this.#error(
      `the stream ended without [DONE] after ${chunks.length} events${decoder.pending ? " (mid-event)" : ""}`,
      {
        kind: "truncated",
        endpoint,
      },
    );
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
