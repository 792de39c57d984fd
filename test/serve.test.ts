/**
 * `stepwise serve` over a tiny model the test builds, through real HTTP (node's fetch):
 * every endpoint, streaming included, answers what an in-process `generate()` gives for the
 * same prompt; concurrent requests share a batch; completions logprobs with echo give the
 * log-likelihoods lm-evaluation-harness reads; errors come in OpenAI's shape; the OpenAI
 * client (the teacher's) talks to it; and the CLI binds loopback by default.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { evaluate } from "../src/eval/run.ts";
import { continuationLogProbs, generate } from "../src/model/generate.ts";
import { JobAbortedError } from "../src/serve/batcher.ts";
import { LocalEngine } from "../src/serve/engine.ts";
import { type RunningServer, startServer } from "../src/serve/server.ts";
import { OpenAIClient } from "../src/teacher/client.ts";
import { evaluateEndpoint } from "../src/teacher/endpoint-eval.ts";
import { type CompletionResponse, ErrorBodySchema } from "../src/teacher/protocol.ts";
import { parseSse } from "../src/teacher/sse.ts";
import { applyChatTemplate, chatStopIds } from "../src/tokenizer/chat.ts";
import { assertClose } from "./helpers.ts";
import { writeTinyEvalModel } from "./tiny.ts";

let tmp: string;
let modelDir: string;
let engine: LocalEngine;
let server: RunningServer;
const NAME = "tiny";

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as T;
}

async function greedy(prompt: number[], maxNewTokens: number, stopIds?: number[], stop?: string[]) {
  const eos = stopIds ?? [
    ...engine.model.config.eosTokenIds,
    ...(engine.tokenizer.eosId !== null ? [engine.tokenizer.eosId] : []),
  ];
  const [r] = await generate(engine.model, [prompt], {
    maxNewTokens,
    eosTokenIds: [...new Set(eos)],
    tokenizer: engine.tokenizer,
    ...(stop ? { stop } : {}),
  });
  return r!;
}

describe("stepwise serve", () => {
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-serve-"));
    modelDir = join(tmp, "model");
    await writeTinyEvalModel(modelDir, join(tmp, "tok"), {
      tasks: ["arithmetic"],
      n: 60,
      vocabSize: 300,
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
    });
    engine = await LocalEngine.load(modelDir, { name: NAME, maxBatch: 8, windowMs: 20 });
    server = await startServer(engine, { port: 0, maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await server?.close();
    await engine?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test("GET /v1/models lists the served model; /health answers", async () => {
    const list = await json<{ object: string; data: { id: string; object: string; owned_by: string }[] }>(
      await fetch(`${server.url}/models`),
    );
    assert.equal(list.object, "list");
    assert.deepEqual(
      list.data.map((m) => [m.id, m.object, m.owned_by]),
      [[NAME, "model", "stepwise"]],
    );
    assert.equal((await fetch(`${server.url.replace(/\/v1$/, "")}/health`)).status, 200);
  });

  test("completions: greedy text equals generate() on the same prompt; usage counts tokens", async () => {
    const prompt = "Q: What is 3 + 4?\nA:";
    const res = await json<CompletionResponse>(
      await post("/completions", { model: NAME, prompt, max_tokens: 12, temperature: 0 }),
    );
    const ids = engine.tokenizer.encode(prompt);
    const want = await greedy(ids, 12);
    assert.equal(res.object, "text_completion");
    assert.match(res.id, /^cmpl-/);
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0]!.text, want.text);
    assert.equal(res.choices[0]!.finish_reason, want.finishReason === "length" ? "length" : "stop");
    assert.deepEqual(res.usage, {
      prompt_tokens: ids.length,
      completion_tokens: want.tokenIds.length,
      total_tokens: ids.length + want.tokenIds.length,
    });
  });

  test("concurrent requests share one generate call and each gets what it would alone", async () => {
    const prompts = ["Q: 1 + 1?\nA:", "Q: What is 12 times 3?\nA:", "Q: 7 - 2\nA:", "Q: Compute 5 * 5 + 1.\nA:"];
    const wants = [];
    for (const prompt of prompts) wants.push((await greedy(engine.tokenizer.encode(prompt), 8)).text);
    // over HTTP: each answer is what the prompt gives alone
    const answers = await Promise.all(
      prompts.map((prompt) =>
        post("/completions", { model: NAME, prompt, max_tokens: 8, temperature: 0 }).then((r) =>
          json<CompletionResponse>(r),
        ),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.choices[0]!.text),
      wants,
    );
    // requests queued together (same tick) run as one call of 4 rows
    const before = engine.batcher.callSizes.length;
    const direct = await Promise.all(
      prompts.map((prompt) => engine.complete({ model: NAME, prompt, max_tokens: 8, temperature: 0 })),
    );
    assert.deepEqual(engine.batcher.callSizes.slice(before), [4]);
    assert.deepEqual(
      direct.map((a) => a.choices[0]!.text),
      wants,
    );
  });

  test("a job whose client hangs up while it waits is dropped, not generated", async () => {
    const job = {
      promptIds: engine.tokenizer.encode("Q: 1 + 1"),
      n: 1,
      maxTokens: 3,
      temperature: 0,
      topP: 1,
      stop: [],
      stopIds: [],
      seed: null,
      top: 0,
    };
    const gone = new AbortController();
    const before = engine.batcher.callSizes.length;
    const kept = engine.batcher.generate(job);
    const dropped = engine.batcher.generate({ ...job, n: 2, signal: gone.signal });
    gone.abort();
    await assert.rejects(dropped, JobAbortedError);
    assert.equal((await kept).sequences.length, 1);
    assert.deepEqual(engine.batcher.callSizes.slice(before), [1]);
    await assert.rejects(engine.batcher.generate({ ...job, signal: gone.signal }), JobAbortedError);
  });

  test("mixed max_tokens in one batch: each request is cut to its own", async () => {
    const prompt = [1, 2, 3, 4];
    const [short, long] = await Promise.all([
      post("/completions", { model: NAME, prompt, max_tokens: 3, temperature: 0, logprobs: 0 }).then((r) =>
        json<CompletionResponse>(r),
      ),
      post("/completions", { model: NAME, prompt, max_tokens: 9, temperature: 0, logprobs: 0 }).then((r) =>
        json<CompletionResponse>(r),
      ),
    ]);
    const s = short!.choices[0]!.logprobs!.tokens;
    const l = long!.choices[0]!.logprobs!.tokens;
    assert.ok(s.length <= 3);
    assert.deepEqual(s, l.slice(0, s.length));
    if (l.length > 3) assert.equal(short!.choices[0]!.finish_reason, "length");
  });

  test("sampling: n choices; the same seed gives the same choices, another seed others", async () => {
    const body = { model: NAME, prompt: "Q: 2 + 2?\nA:", max_tokens: 10, temperature: 1, n: 3, seed: 7 };
    const a = await json<CompletionResponse>(await post("/completions", body));
    const b = await json<CompletionResponse>(await post("/completions", body));
    const c = await json<CompletionResponse>(await post("/completions", { ...body, seed: 8 }));
    assert.deepEqual(
      a.choices.map((x) => x.index),
      [0, 1, 2],
    );
    assert.deepEqual(
      a.choices.map((x) => x.text),
      b.choices.map((x) => x.text),
    );
    assert.notDeepEqual(
      a.choices.map((x) => x.text),
      c.choices.map((x) => x.text),
    );
  });

  test("completions logprobs: the model's log-probs, the top alternatives include the chosen token", async () => {
    const ids = engine.tokenizer.encode("Q: 9 + 1?\nA:");
    const res = await json<CompletionResponse>(
      await post("/completions", { model: NAME, prompt: ids, max_tokens: 6, temperature: 0, logprobs: 2 }),
    );
    const want = await greedy(ids, 6);
    const lp = res.choices[0]!.logprobs!;
    assert.equal(lp.tokens.length, want.tokenIds.length);
    assertClose(lp.token_logprobs as number[], want.logProbs, 1e-5, "token_logprobs");
    for (const [t, top] of lp.top_logprobs!.entries()) {
      const values = Object.values(top!);
      assert.ok(values.length >= 1 && values.length <= 3);
      // greedy: the chosen token is the most likely one
      assertClose([Math.max(...values)], [lp.token_logprobs[t]!], 1e-9, `position ${t}`);
    }
    assert.deepEqual(lp.text_offset!.slice(0, 1), [0]);
  });

  test("echo + logprobs scores a continuation as lm-evaluation-harness reads it", async () => {
    const context = engine.tokenizer.encode("Q: 4 + 5?\nA:");
    const continuation = engine.tokenizer.encode(" 9", { addSpecialTokens: false });
    const all = [...context, ...continuation];
    const [want] = await continuationLogProbs(engine.model, [{ prompt: context, continuation }]);
    // lm-eval's payload: token ids, max_tokens 1, echo, logprobs 1, temperature 0 → sum(token_logprobs[ctxlen:-1])
    const res = await json<CompletionResponse>(
      await post("/completions", {
        model: NAME,
        prompt: [all, all],
        max_tokens: 1,
        temperature: 0,
        logprobs: 1,
        echo: true,
        seed: 1234,
      }),
    );
    assert.equal(res.choices.length, 2);
    for (const choice of res.choices) {
      const lp = choice.logprobs!;
      assert.equal(lp.tokens.length, all.length + 1);
      assert.equal(lp.token_logprobs[0], null);
      assert.equal(lp.top_logprobs![0], null);
      const cont = lp.token_logprobs.slice(context.length, -1) as number[];
      assertClose(cont, want!, 1e-4, "continuation log-probs");
      const isGreedy = lp
        .top_logprobs!.slice(context.length, -1)
        .every((top, i) => cont[i] === Math.max(...Object.values(top!)));
      assert.equal(typeof isGreedy, "boolean");
      assert.ok(choice.text.startsWith(engine.tokenizer.decode(all)));
    }
    // max_tokens 0: the prompt alone
    const zero = await json<CompletionResponse>(
      await post("/completions", { model: NAME, prompt: all, max_tokens: 0, logprobs: 0, echo: true }),
    );
    assert.equal(zero.choices[0]!.logprobs!.tokens.length, all.length);
    assertClose(
      zero.choices[0]!.logprobs!.token_logprobs.slice(context.length) as number[],
      want!,
      1e-4,
      "max_tokens 0",
    );
  });

  test("stop strings cut the text before them with finish_reason stop", async () => {
    const ids = engine.tokenizer.encode("Q: 6 * 7?\nA:");
    const free = await greedy(ids, 16, []);
    const text = free.text!;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
    assert.ok(stop.length > 0, `greedy text too short: ${JSON.stringify(text)}`);
    const want = await greedy(ids, 16, undefined, [stop]);
    const res = await json<CompletionResponse>(
      await post("/completions", { model: NAME, prompt: ids, max_tokens: 16, temperature: 0, stop: [stop] }),
    );
    assert.equal(res.choices[0]!.text, want.text);
    assert.ok(!res.choices[0]!.text.includes(stop));
    if (want.finishReason === "stop") assert.equal(res.choices[0]!.finish_reason, "stop");
  });

  test("chat completions go through the chat template; streamed deltas add up to the same text", async () => {
    const messages = [{ role: "user" as const, content: "What is 3 + 3?" }];
    const body = { model: NAME, messages, max_tokens: 10, temperature: 0 };
    const res = await json<{
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string }[];
    }>(await post("/chat/completions", body));
    const ids = applyChatTemplate(engine.tokenizer, messages, { addGenerationPrompt: true, tokenize: true });
    const want = await greedy(ids, 10, [...engine.model.config.eosTokenIds, ...chatStopIds(engine.tokenizer)]);
    assert.equal(res.object, "chat.completion");
    assert.equal(res.choices[0]!.message.role, "assistant");
    assert.equal(res.choices[0]!.message.content, want.text);

    const sse = await post("/chat/completions", {
      ...body,
      stream: true,
      stream_options: { include_usage: true },
      n: 2,
    });
    assert.equal(sse.status, 200);
    assert.match(sse.headers.get("content-type") ?? "", /text\/event-stream/);
    const events = parseSse(await sse.text());
    assert.equal(events.at(-1), "[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = ["", ""];
    const finish: (string | null)[] = [null, null];
    for (const c of chunks) {
      assert.equal(c.object, "chat.completion.chunk");
      for (const ch of c.choices) {
        text[ch.index] += ch.delta.content ?? "";
        if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
      }
    }
    assert.deepEqual(text, [want.text, want.text]);
    assert.deepEqual(finish, [res.choices[0]!.finish_reason, res.choices[0]!.finish_reason]);
    const usage = chunks.at(-1).usage;
    assert.equal(usage.prompt_tokens, ids.length);
    assert.equal(chunks.at(-1).choices.length, 0);
  });

  test("chat logprobs with top_logprobs; completions streaming with n and logprobs", async () => {
    const res = await json<{
      choices: {
        logprobs: { content: { token: string; logprob: number; bytes: number[]; top_logprobs: unknown[] }[] };
      }[];
    }>(
      await post("/chat/completions", {
        model: NAME,
        messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
        max_tokens: 4,
        temperature: 0,
        logprobs: true,
        top_logprobs: 3,
      }),
    );
    const content = res.choices[0]!.logprobs.content;
    assert.ok(content.length >= 1);
    for (const c of content) {
      assert.equal(c.top_logprobs.length, 3);
      assert.deepEqual(c.bytes, [...Buffer.from(c.token)]);
    }

    const sse = await post("/completions", {
      model: NAME,
      prompt: "Q: 8 - 3?\nA:",
      max_tokens: 6,
      temperature: 0,
      n: 2,
      stream: true,
      logprobs: 0,
    });
    const chunks = parseSse(await sse.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e));
    const whole = await json<CompletionResponse>(
      await post("/completions", { model: NAME, prompt: "Q: 8 - 3?\nA:", max_tokens: 6, temperature: 0, n: 2 }),
    );
    const text = ["", ""];
    const tokens = [0, 0];
    for (const c of chunks)
      for (const ch of c.choices) {
        text[ch.index] += ch.text;
        tokens[ch.index] += ch.logprobs?.tokens.length ?? 0;
      }
    assert.deepEqual(
      text,
      whole.choices.map((c) => c.text),
    );
    assert.equal(tokens[0], whole.usage!.completion_tokens / 2);
  });

  test("errors come in OpenAI's shape with the right status, param and code", async () => {
    const check = async (res: Response, status: number, pattern: RegExp, param?: string, code?: string) => {
      const body = ErrorBodySchema.parse(await json(res, status));
      assert.match(body.error.message, pattern);
      if (param !== undefined) assert.equal(body.error.param, param);
      if (code !== undefined) assert.equal(body.error.code, code);
      assert.equal(body.error.type, status >= 500 ? "server_error" : "invalid_request_error");
    };
    await check(
      await post("/completions", { model: "/etc/passwd", prompt: "x" }),
      404,
      /does not exist/,
      "model",
      "model_not_found",
    );
    await check(
      await post("/completions", { model: NAME, prompt: "x", temperature: 5 }),
      400,
      /temperature/,
      "temperature",
    );
    await check(
      await post("/completions", { model: NAME, prompt: "x", max_tokens: 100_000 }),
      400,
      /maximum context length is 512/,
      "max_tokens",
      "context_length_exceeded",
    );
    await check(
      await post("/completions", { model: NAME, prompt: "x", presence_penalty: 1 }),
      400,
      /presence_penalty is not supported/,
    );
    await check(await post("/completions", { model: NAME, prompt: "x", n: 99 }), 400, /n must be at most 8/, "n");
    await check(await post("/chat/completions", { model: NAME, messages: [] }), 400, /messages/, "messages");
    await check(await post("/completions", { model: NAME, prompt: [1, 1_000_000] }), 400, /outside the vocabulary/);
    await check(
      await fetch(`${server.url}/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json",
      }),
      400,
      /not valid JSON/,
    );
    await check(
      await post("/completions", { model: NAME, prompt: "x".repeat(70 * 1024) }),
      413,
      /exceeds the limit of 65536 bytes/,
    );
    await check(await fetch(`${server.url}/embeddings`), 404, /no route/);
    await check(await fetch(`${server.url}/completions`), 405, /use POST/);
  });

  test("the teacher's OpenAI client talks to the server, plain and streaming", async () => {
    for (const stream of [false, true]) {
      const client = new OpenAIClient({ baseUrl: server.url, model: NAME, stream });
      const chat = await client.chat({
        model: NAME,
        messages: [{ role: "user", content: "2+2?" }],
        max_tokens: 6,
        temperature: 0,
        n: 2,
      });
      assert.equal(chat.choices.length, 2);
      assert.equal(chat.choices[0]!.message.content, chat.choices[1]!.message.content);
      const comp = await client.complete({ model: NAME, prompt: ["a", "b"], max_tokens: 4, temperature: 0 });
      assert.equal(comp.choices.length, 2);
      assert.equal((await client.models()).data[0]!.id, NAME);
    }
  });

  test("eval --endpoint: the served model scores as the same model evaluated in process", async () => {
    const records = generateDataset({ tasks: ["arithmetic"], n: 6, seed: 4, split: "test" });
    const common = { records, prompting: "zero-cot" as const, shots: 0, seed: 0, chat: false, samples: 1, topP: 1 };
    const local = await evaluate({
      ...common,
      model: engine.model,
      tokenizer: engine.tokenizer,
      maxNewTokens: 10,
      batchSize: 1,
    });
    const client = new OpenAIClient({ baseUrl: server.url, model: NAME });
    const remote = await evaluateEndpoint({ ...common, client, maxNewTokens: 10, concurrency: 3 });
    assert.deepEqual(
      remote.examples.map((e) => e.output),
      local.examples.map((e) => e.output),
    );
    assert.equal(remote.report.accuracy_strict, local.report.accuracy_strict);
    assert.equal(remote.report.n, 6);
    assert.ok(local.examples.some((e) => e.output.trim() !== ""));
  });

  test("the CLI serves on 127.0.0.1 by default and answers a request", async () => {
    const child = spawn(process.execPath, ["bin/stepwise.js", "serve", "--model", modelDir, "--port", "0"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      const lines = createInterface({ input: child.stderr! });
      let url = "";
      for await (const line of lines) {
        const m = /serving "model" at (http:\/\/\S+)/.exec(line);
        if (m) {
          url = m[1]!;
          break;
        }
      }
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const res = await json<{ data: { id: string }[] }>(await fetch(`${url}/models`));
      assert.equal(res.data[0]!.id, "model");
      const comp = await json<CompletionResponse>(
        await fetch(`${url}/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "model", prompt: "Q:", max_tokens: 2, temperature: 0 }),
        }),
      );
      assert.equal(comp.choices.length, 1);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
