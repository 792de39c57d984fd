/**
 * `stepwise serve-rewards` through real HTTP (node's fetch), with the request JSON OpenRLHF
 * sends (openrlhf/utils/agent.py `_fetch_rewards_via_http`: {"query", "prompts", "labels"},
 * the query decoded WITH special tokens): rewards are the registry's (src/rl/rewards.ts),
 * scores the correctness, extra_logs the per-function means; bad input gets OpenAI-shaped
 * errors naming the field; bodies are bounded; the CLI binds loopback by default.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { parseRewardSpec, scoreRewards } from "../src/rl/rewards.ts";
import type { RunningServer } from "../src/serve/http.ts";
import { type RewardReply, responseOf, startRewardServer } from "../src/serve/rewards-server.ts";
import { ErrorBodySchema } from "../src/teacher/protocol.ts";

const QUESTION = "Solve for x: 3(x - 4) = 12";
const PROMPT = `<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`;
const RIGHT = "Divide both sides by 3: x - 4 = 4.\nAdd 4 to both sides: x = 8.\n#### 8";
const BAD_STEP = "Divide both sides by 3: 12 / 3 = 5.\nAdd 4 to both sides: 4 + 4 = 8.\n#### 8";
const WRONG = "Divide both sides by 3: x - 4 = 4.\nAdd 4 to both sides: x = 9.\n#### 9";

let server: RunningServer;

const post = (body: unknown, path = "/get_reward") =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as T;
}

async function error(res: Response, status: number): Promise<{ message: string; param: string | null; type: string }> {
  return ErrorBodySchema.parse(await json(res, status)).error as {
    message: string;
    param: string | null;
    type: string;
  };
}

describe("serve-rewards", () => {
  before(async () => {
    server = await startRewardServer({
      terms: parseRewardSpec("correct:1,format:0.1,steps:0.5"),
      task: "algebra",
      port: 0,
      maxBodyBytes: 4096,
    });
  });
  after(() => server.close());

  test("binds 127.0.0.1 by default", () => {
    assert.equal(server.host, "127.0.0.1");
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("OpenRLHF's exact request: one rollout, prompt + response with special tokens", async () => {
    // what SingleTurnAgentExecutor posts: one query per request, the label column as a string
    const body = `{"query": [${JSON.stringify(`${PROMPT}${RIGHT}<|im_end|>`)}], "prompts": [${JSON.stringify(PROMPT)}], "labels": ["8"]}`;
    const r = await json<RewardReply>(await post(body));
    // correct 1 + format 0.1 × 1 + steps 0.5 × (the share of valid steps)
    assert.deepEqual(Object.keys(r).sort(), ["extra_logs", "rewards", "scores"]);
    assert.equal(r.rewards.length, 1);
    assert.equal(r.scores[0], 1);
    assert.equal(r.extra_logs["rewards/correct/mean"], 1);
    assert.equal(r.extra_logs["rewards/format/mean"], 1);
    assert.ok(Math.abs(r.rewards[0]! - (1.1 + 0.5 * r.extra_logs["rewards/steps/mean"]!)) < 1e-12);
  });

  test("a batch: the registry's values for each response, record labels carry their task", async () => {
    const label = { answer: "8", question: QUESTION, meta: { task: "algebra" } };
    const completions = [RIGHT, BAD_STEP, WRONG, "I think it is 8."];
    const r = await json<RewardReply>(
      await post({
        query: completions.map((c) => PROMPT + c),
        prompts: completions.map(() => PROMPT),
        labels: [label, JSON.stringify(label), label, "8"],
      }),
    );
    assert.deepEqual(r.scores, [1, 1, 0, 0]);
    // the same batch scored in process by the registry (src/rl/rewards.ts)
    const record = { question: QUESTION, chain_of_thought: "", answer: "8", meta: { task: "algebra" } };
    const want = scoreRewards(
      parseRewardSpec("correct:1,format:0.1,steps:0.5"),
      completions.map((completion, i) => ({
        record: i === 3 ? { ...record, question: PROMPT } : record,
        prompt: PROMPT,
        completion,
        finishReason: "length" as const,
        completionTokens: completion.split(/\s+/).length,
      })),
    );
    assert.deepEqual(r.rewards, want.totals);
    assert.ok(r.rewards[1]! < r.rewards[0]!, "a chain with a false step is rewarded less");
    assert.ok(r.rewards[2]! < r.rewards[1]!, "a wrong answer is rewarded less still");
    assert.equal(r.extra_logs["rewards/correct/mean"], 0.5);
    assert.equal(r.extra_logs["rewards/format/mean"], 0.75);
  });

  test("the response is the query after its prompt; end tokens give the finish reason", () => {
    assert.deepEqual(responseOf(`${PROMPT}#### 8<|im_end|>`, PROMPT), { completion: "#### 8", ended: true });
    assert.deepEqual(responseOf(`<s> ${PROMPT}#### 8</s>`, PROMPT), { completion: "#### 8", ended: true });
    assert.deepEqual(responseOf("Q: 1+1\nA: #### 2", undefined), { completion: "Q: 1+1\nA: #### 2", ended: false });
  });

  test("bad input: OpenAI-shaped 400s that name the field", async () => {
    let e = await error(await post("{not json"), 400);
    assert.match(e.message, /not valid JSON/);
    e = await error(await post({ query: [PROMPT], prompts: [PROMPT], labels: ["8", "9"] }), 400);
    assert.equal(e.param, "labels");
    assert.match(e.message, /2 labels for 1 queries/);
    e = await error(await post({ query: [PROMPT], prompts: [PROMPT] }), 400);
    assert.equal(e.param, "labels");
    assert.match(e.message, /"correct" needs the gold answers/);
    e = await error(await post({ query: "one string", labels: ["8"] }), 400);
    assert.equal(e.param, "query");
    e = await error(await post({ query: [PROMPT], labels: [{ answer: "8", meta: { task: "chess" } }] }), 400);
    assert.match(e.message, /not a stepwise task/);
    assert.equal(e.type, "invalid_request_error");
  });

  test("bounded: a body over the limit is 413; other methods and paths are refused", async () => {
    const e = await error(await post({ query: ["x".repeat(5000)], labels: ["8"] }), 413);
    assert.match(e.message, /exceeds the limit of 4096 bytes/);
    assert.equal((await fetch(`${server.url}/get_reward`)).status, 405);
    assert.equal((await post({}, "/v1/completions")).status, 404);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  test("a label naming a file is only an answer: nothing is read", async () => {
    const r = await json<RewardReply>(
      await post({ query: [`${PROMPT}#### /etc/passwd`], prompts: [PROMPT], labels: ["/etc/hostname"] }),
    );
    assert.deepEqual(r.scores, [0]);
  });
});

test("the CLI binds loopback by default and answers OpenRLHF's request", async () => {
  const child = spawn(process.execPath, ["bin/stepwise.js", "serve-rewards", "--reward", "correct", "--port", "0"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    let url = "";
    for await (const line of createInterface({ input: child.stderr! })) {
      const m = /at (http:\/\/\S+)\/get_reward/.exec(line);
      if (m) {
        url = m[1]!;
        break;
      }
      if (/error|stepwise:/i.test(line)) assert.fail(line);
    }
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await json<RewardReply>(
      await fetch(`${url}/get_reward`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: [`Q: 2+2\nA: #### 4</s>`], prompts: ["Q: 2+2\nA:"], labels: ["4"] }),
      }),
    );
    assert.deepEqual(r, { rewards: [1], scores: [1], extra_logs: { "rewards/correct/mean": 1 } });
  } finally {
    child.kill("SIGTERM");
  }
});
