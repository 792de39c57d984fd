/**
 * The OpenAI-compatible client against a scripted loopback server (fake-openai.ts): each
 * fault the issue names (429 with Retry-After, 500, 503, timeouts, connection resets,
 * truncated JSON, empty choices, slow bodies and streams) is retried or refused as
 * classified, the concurrency limit holds, and the API key never leaves the header.
 * Backoff is 1 ms in these tests, so they run in well under a second each.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import {
  type ClientOptions,
  normalizeBaseUrl,
  OpenAIClient,
  type RetryInfo,
  Semaphore,
} from "../src/teacher/client.ts";
import { TeacherError } from "../src/teacher/errors.ts";
import { backoffDelay, isTruncatedJson, parseRetryAfter, retryDelay } from "../src/teacher/retry.ts";
import { parseSse, SseDecoder } from "../src/teacher/sse.ts";
import { type FakeOpenAI, type Fault, startFakeOpenAI } from "./fake-openai.ts";

const FAST = { baseMs: 1, maxMs: 4, jitter: 0.25 };
const servers: FakeOpenAI[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function setup(script: Fault[], opts: Partial<ClientOptions> = {}, delayMs = 0) {
  const server = await startFakeOpenAI({ script, delayMs });
  servers.push(server);
  const retries: RetryInfo[] = [];
  const client = new OpenAIClient({
    baseUrl: server.url,
    model: "fake",
    backoff: FAST,
    maxRetries: 3,
    timeoutMs: 2000,
    onRetry: (r) => retries.push(r),
    ...opts,
  });
  return { server, client, retries };
}

const chatReq = (n = 1) => ({ model: "fake", messages: [{ role: "user" as const, content: "2+2?" }], n });

async function rejects(p: Promise<unknown>): Promise<TeacherError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TeacherError, `expected a TeacherError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

describe("retry schedule (pure)", () => {
  test("exponential backoff with jitter, capped; Retry-After is a floor, capped too", () => {
    const o = { baseMs: 500, maxMs: 8000, jitter: 0.25 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((k) => backoffDelay(k, o, 0)),
      [500, 1000, 2000, 4000, 8000, 8000],
    );
    assert.equal(backoffDelay(1, o, 1), 750); // 1000 · (1 − 0.25)
    assert.equal(retryDelay(0, o, 3000, 60_000, 0), 3000);
    assert.equal(retryDelay(3, o, 100, 60_000, 0), 4000); // backoff longer than Retry-After
    assert.equal(retryDelay(0, o, 3_600_000, 60_000, 0), 60_000);
  });

  test("Retry-After as seconds, HTTP date and retry-after-ms; garbage ignored", () => {
    const h = (m: Record<string, string>) => ({ get: (k: string) => m[k] ?? null });
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    assert.equal(parseRetryAfter(h({ "retry-after": "7" }), now), 7000);
    assert.equal(parseRetryAfter(h({ "retry-after": "Wed, 21 Oct 2015 07:28:09 GMT" }), now), 9000);
    assert.equal(parseRetryAfter(h({ "retry-after": "Wed, 21 Oct 2015 07:27:00 GMT" }), now), 0);
    assert.equal(parseRetryAfter(h({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
    assert.equal(parseRetryAfter(h({ "retry-after": "soon" }), now), null);
    assert.equal(parseRetryAfter(h({}), now), null);
  });

  test("truncated JSON is told from malformed JSON", () => {
    for (const t of ['{"id": "x", "choices": [', '{"a": "unterminated', "[1, 2", "", "  "])
      assert.ok(isTruncatedJson(t), t);
    for (const t of ["<html>502</html>", "{}}", "Internal Server Error", '{"a": 1} trailing']) {
      assert.ok(!isTruncatedJson(t), t);
    }
  });

  test("server-sent events across chunk boundaries, CRLF, comments, multi-line data", () => {
    const d = new SseDecoder();
    const got = [
      ...d.push('data: {"a"'),
      ...d.push(":1}\r"),
      ...d.push("\n\r\n: keep-alive\n\ndata: x\ndata: y\n"),
      ...d.push("\n"),
    ];
    assert.deepEqual(got, ['{"a":1}', "x\ny"]);
    assert.equal(d.pending, false);
    assert.deepEqual(parseSse("event: e\nid: 3\ndata: [DONE]\n\n"), ["[DONE]"]);
    const cut = new SseDecoder();
    cut.push('data: {"half');
    assert.equal(cut.pending, true);
  });

  test("base URLs: /v1 added to a bare host, credentials in the URL refused", () => {
    assert.equal(normalizeBaseUrl("http://127.0.0.1:8000"), "http://127.0.0.1:8000/v1");
    assert.equal(normalizeBaseUrl("http://localhost:11434/v1/"), "http://localhost:11434/v1");
    assert.equal(normalizeBaseUrl("https://api.example.com/openai/v1"), "https://api.example.com/openai/v1");
    assert.throws(() => normalizeBaseUrl("localhost:8000"), /not a URL|http/);
    assert.throws(() => normalizeBaseUrl("http://user:sk-secret@host/v1"), /API key environment variable/);
  });

  test("the semaphore admits at most its limit, in arrival order", async () => {
    const s = new Semaphore(2);
    const order: number[] = [];
    await s.acquire();
    await s.acquire();
    const third = s.acquire().then(() => order.push(3));
    const fourth = s.acquire().then(() => order.push(4));
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(order, []);
    s.release();
    await third;
    s.release();
    await fourth;
    assert.deepEqual(order, [3, 4]);
  });
});

describe("client against a faulty loopback server", () => {
  test("429 with Retry-After: waits what the server asks (capped), then succeeds", async () => {
    const { client, retries, server } = await setup(
      [
        { kind: "status", status: 429, retryAfter: "30", message: "slow down" },
        { kind: "status", status: 429, retryAfterMs: "40" },
      ],
      { maxRetryAfterMs: 60 },
    );
    const res = await client.chat(chatReq());
    assert.equal(res.choices[0]!.message.content, "reply 2.0");
    assert.deepEqual(
      retries.map((r) => [r.kind, r.status, r.delayMs]),
      [
        ["http", 429, 60], // Retry-After 30 s, capped at maxRetryAfterMs
        ["http", 429, 40], // retry-after-ms 40
      ],
    );
    assert.equal(server.requests.length, 3);
    assert.equal(client.stats().retries, 2);
  });

  test("500 and 503 are retried; the stats count attempts, retries and tokens", async () => {
    const { client, retries } = await setup([
      { kind: "status", status: 500 },
      { kind: "status", status: 503 },
    ]);
    const res = await client.complete({ model: "fake", prompt: "Q: 1+1\nA:" });
    assert.equal(res.choices[0]!.text, "reply 2.0");
    assert.deepEqual(
      retries.map((r) => r.status),
      [500, 503],
    );
    const st = client.stats();
    assert.equal(st.requests, 3);
    assert.equal(st.succeeded, 1);
    assert.equal(st.failures.http, 2);
    assert.equal(st.promptTokens, 3);
    assert.equal(st.completionTokens, 1);
  });

  test("retries are spent: the error says how many attempts, kind and status", async () => {
    const { client, server } = await setup(
      Array.from({ length: 10 }, () => ({ kind: "status", status: 503 }) as Fault),
      { maxRetries: 2 },
    );
    const err = await rejects(client.chat(chatReq()));
    assert.equal(err.kind, "http");
    assert.equal(err.status, 503);
    assert.equal(err.attempts, 3);
    assert.equal(server.requests.length, 3);
    assert.match(
      err.message,
      /POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions: HTTP 503.*fault 503.*gave up after 3 attempts/,
    );
  });

  test("a request never answered times out and is retried", async () => {
    const { client, retries } = await setup([{ kind: "hang" }], { timeoutMs: 150 });
    const res = await client.chat(chatReq());
    assert.equal(res.choices[0]!.message.content, "reply 1.0");
    assert.equal(retries[0]!.kind, "timeout");
    assert.match(retries[0]!.detail, /no complete answer within 150 ms/);
  });

  test("a reset connection is retried", async () => {
    const { client, retries } = await setup([{ kind: "reset" }, { kind: "reset" }]);
    const res = await client.chat(chatReq());
    assert.equal(res.choices[0]!.message.content, "reply 2.0");
    assert.deepEqual(
      retries.map((r) => r.kind),
      ["connection", "connection"],
    );
  });

  test("a body cut mid-JSON is truncated (retried); an HTML page is malformed (fatal at once)", async () => {
    const t = await setup([{ kind: "truncated" }]);
    assert.equal((await t.client.chat(chatReq())).choices[0]!.message.content, "reply 1.0");
    assert.equal(t.retries[0]!.kind, "truncated");
    assert.match(t.retries[0]!.detail, /cut off after \d+ characters/);

    const m = await setup([{ kind: "html" }]);
    const err = await rejects(m.client.chat(chatReq()));
    assert.equal(err.kind, "malformed");
    assert.equal(err.retryable, false);
    assert.equal(err.attempts, 1);
    assert.equal(m.server.requests.length, 1);
    assert.match(err.message, /not JSON: "<html>/);
  });

  test("empty choices are retried, then reported; fewer choices than n is fatal", async () => {
    const e = await setup([{ kind: "empty-choices" }]);
    assert.equal((await e.client.chat(chatReq())).choices.length, 1);
    assert.equal(e.retries[0]!.kind, "empty-choices");

    const always = await setup(
      Array.from({ length: 5 }, () => ({ kind: "empty-choices" }) as Fault),
      { maxRetries: 1 },
    );
    const err = await rejects(always.client.chat(chatReq()));
    assert.equal(err.kind, "empty-choices");
    assert.equal(err.attempts, 2);

    const one = await setup([{ kind: "one-choice" }]);
    const few = await rejects(one.client.chat(chatReq(3)));
    assert.equal(few.kind, "missing-choices");
    assert.equal(few.attempts, 1);
    assert.match(few.message, /asked for 3 choices, got 1.*ignore "n"/);
  });

  test("4xx is fatal with the server's message; the API key is sent only as a Bearer header and redacted", async () => {
    const key = "sk-test-0123456789abcdef";
    const { client, server } = await setup(
      [{ kind: "status", status: 401, message: `Incorrect API key provided: ${key}` }],
      {
        apiKey: key,
      },
    );
    const err = await rejects(client.chat(chatReq()));
    assert.equal(err.kind, "http");
    assert.equal(err.status, 401);
    assert.equal(err.attempts, 1);
    assert.equal(server.requests[0]!.authorization, `Bearer ${key}`);
    assert.ok(!err.message.includes(key), err.message);
    assert.match(err.message, /Incorrect API key provided: \*\*\*/);
    assert.ok(!JSON.stringify(client.stats()).includes(key));
    assert.ok(!JSON.stringify(client).includes(key));
  });

  test("a slow body within the timeout succeeds; one slower than the timeout is retried", async () => {
    const ok = await setup([{ kind: "slow-body", pieces: 4, gapMs: 20 }], { timeoutMs: 1000 });
    assert.equal((await ok.client.chat(chatReq())).choices[0]!.message.content, "reply 0.0");
    assert.equal(ok.retries.length, 0);

    const slow = await setup([{ kind: "slow-body", pieces: 6, gapMs: 60 }], { timeoutMs: 150 });
    assert.equal((await slow.client.chat(chatReq())).choices[0]!.message.content, "reply 1.0");
    assert.equal(slow.retries[0]!.kind, "timeout");
  });

  test("streaming: chunks assembled into the same response; a stalled stream hits the idle timeout", async () => {
    const s = await setup([], { stream: true });
    const chat = await s.client.chat(chatReq(2));
    assert.deepEqual(
      chat.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
      [
        [0, "reply 0.0", "stop"],
        [1, "reply 0.1", "stop"],
      ],
    );
    assert.equal(chat.usage?.completion_tokens, 2);
    assert.equal(s.server.requests[0]!.body["stream"], true);
    const comp = await s.client.complete({ model: "fake", prompt: ["a", "b"] });
    assert.deepEqual(
      comp.choices.map((c) => c.text),
      ["reply 1.0", "reply 1.1"],
    );

    const slow = await setup([{ kind: "slow-stream", gapMs: 40 }], { stream: true, idleTimeoutMs: 500 });
    assert.equal((await slow.client.chat(chatReq())).choices[0]!.message.content, "reply 0.0");
    assert.equal(slow.retries.length, 0);

    const stalled = await setup([{ kind: "slow-stream", gapMs: 300 }], { stream: true, idleTimeoutMs: 80 });
    assert.equal((await stalled.client.chat(chatReq())).choices[0]!.message.content, "reply 1.0");
    assert.equal(stalled.retries[0]!.kind, "timeout");
    assert.match(stalled.retries[0]!.detail, /sent nothing for 80 ms/);
  });

  test("the concurrency limit bounds requests in flight", async () => {
    const { client, server } = await setup([], { concurrency: 2 }, 30);
    const all = await Promise.all(Array.from({ length: 6 }, () => client.chat(chatReq())));
    assert.equal(all.length, 6);
    assert.equal(server.requests.length, 6);
    assert.equal(server.maxInFlight, 2);
  });

  test("a refused connection is retried and then reported; the caller's abort stops at once", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    const c = new OpenAIClient({ baseUrl: `http://127.0.0.1:${port}/v1`, model: "m", backoff: FAST, maxRetries: 1 });
    const err = await rejects(c.chat(chatReq()));
    assert.equal(err.kind, "connection");
    assert.equal(err.attempts, 2);
    assert.match(err.message, /ECONNREFUSED/);

    const { client } = await setup([{ kind: "hang" }], { timeoutMs: 5000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const aborted = await rejects(client.chat(chatReq(), { signal: ac.signal }));
    assert.equal(aborted.kind, "aborted");
    assert.equal(aborted.attempts, 1);
  });
});
