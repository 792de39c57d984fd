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
import { generateDataset } from "../src/data/tasks/index.ts";
import { parseRewardSpec, scoreRewards } from "../src/rl/rewards.ts";
import type { RunningServer } from "../src/serve/http.ts";
import { type RewardReply, responseOf, startRewardServer } from "../src/serve/rewards-server.ts";
import { ErrorBodySchema } from "../src/teacher/protocol.ts";

// a generated problem as its record: main's rewards credit reasoning through the task's checker,
// which reads the problem from the record's meta (structured, canonical)
const RECORD = generateDataset({ tasks: ["algebra"], n: 1, seed: 0, split: "train" })[0]!;
const QUESTION = RECORD.question;
const PROMPT = `<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`;
const RIGHT = `${RECORD.chain_of_thought}\n#### ${RECORD.answer}`;
const BAD_STEP = `${RECORD.chain_of_thought.replace(/= (-?\d+)\./, (_m, n) => `= ${Number(n) + 1}.`)}\n#### ${RECORD.answer}`;
const WRONG = `${RECORD.chain_of_thought}\n#### ${Number(RECORD.answer) + 1}`;

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
    const body = `{"query": [${JSON.stringify(`${PROMPT}${RIGHT}<|im_end|>`)}], "prompts": [${JSON.stringify(PROMPT)}], "labels": [${JSON.stringify(JSON.stringify(RECORD))}]}`;
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
    const label = RECORD;
    const completions = [RIGHT, BAD_STEP, WRONG, "I think it is 8."];
    const r = await json<RewardReply>(
      await post({
        query: completions.map((c) => PROMPT + c),
        prompts: completions.map(() => PROMPT),
        labels: [label, JSON.stringify(label), label, RECORD.answer],
      }),
    );
    assert.deepEqual(r.scores, [1, 0, 0, 0]); // correct credits only a valid chain
    // the same batch scored in process by the registry (src/rl/rewards.ts)
    const record = { ...RECORD, chain_of_thought: "" };
    const want = await scoreRewards(
      parseRewardSpec("correct:1,format:0.1,steps:0.5"),
      completions.map((completion, i) => ({
        record:
          i === 3
            ? { question: PROMPT, chain_of_thought: "", answer: RECORD.answer, meta: { task: "algebra" } }
            : record,
        prompt: PROMPT,
        completion,
        finishReason: "stop" as const,
        completionTokens: completion.split(/\s+/).length,
      })),
    );
    assert.deepEqual(r.rewards, want.totals);
    assert.ok(r.rewards[1]! < r.rewards[0]!, "a chain with a false step is rewarded less");
    assert.equal(r.extra_logs["rewards/correct/mean"], 0.25);
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
        body: JSON.stringify({ query: ["Q: 2+2\nA: 2 + 2 = 4.\n#### 4</s>"], prompts: ["Q: 2+2\nA:"], labels: ["4"] }),
      }),
    );
    assert.deepEqual(r, { rewards: [1], scores: [1], extra_logs: { "rewards/correct/mean": 1 } });
  } finally {
    child.kill("SIGTERM");
  }
});
