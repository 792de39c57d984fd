/**
 * `stepwise teach` against a scripted loopback teacher (fake-openai.ts): which chains are
 * kept (gold answer, step checker, deduplication, STaR rationalisation with the hint removed),
 * the statistics, the content-addressed cache, every fault the issue names on the way
 * (429 with Retry-After, 500, 503, a timeout, a reset, truncated JSON, empty choices, a slow
 * stream), and a SIGKILL mid-run followed by --resume: every question answered exactly once,
 * nothing lost or duplicated, no cached request sent again.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { readJsonl } from "../src/runs/jsonl.ts";
import { LocalEngine } from "../src/serve/engine.ts";
import { startServer } from "../src/serve/server.ts";
import { CACHE_FILE, ResponseCache, requestKey } from "../src/teacher/cache.ts";
import { OpenAIClient } from "../src/teacher/client.ts";
import { LocalChatClient } from "../src/teacher/local.ts";
import { judge, type QuestionRow, runTeach, type TeachStats } from "../src/teacher/teach.ts";
import { type FakeOpenAI, type Fault, startFakeOpenAI } from "./fake-openai.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const gold = generateDataset({ tasks: ["algebra"], n: 12, seed: 3, split: "train" });
/** The questions as the teacher gets them: answers only, no chains. */
const questions: CoTRecord[] = gold.map((r) => ({ ...r, chain_of_thought: "" }));
const byQuestion = new Map(gold.map((r, i) => [r.question.trim(), { r, i }]));

const right = (r: CoTRecord) => ` ${r.chain_of_thought}\n#### ${r.answer}`;
const wrong = (r: CoTRecord) => ` ${r.chain_of_thought}\n#### ${Number(r.answer) + 1}`;
/** The right answer reached through a wrong first step. */
const badStep = (r: CoTRecord) => {
  const steps = r.chain_of_thought.split("\n");
  steps[0] = steps[0]!.replace(/-?\d+/, (m) => String(Number(m) + 7));
  return ` ${steps.join("\n")}\n#### ${r.answer}`;
};

/**
 * Question i's answers: i%4 = 0 right, the same right chain again, a wrong answer, a bad step;
 * 1: wrong unless hinted, then right and one that cites the hint; 2: always wrong; 3: right + wrong.
 */
function teacherTexts(body: Record<string, unknown>): string[] {
  const prompt =
    typeof body["prompt"] === "string"
      ? body["prompt"]
      : String((body["messages"] as { content: string }[])[1]!.content);
  const hinted = prompt.includes("(Hint:");
  const q = prompt
    .replace(/^Q: /, "")
    .replace(/\s*\(Hint:[^)]*\)/, "")
    .replace(/\nA: .*$/s, "")
    .trim();
  const found = byQuestion.get(q);
  assert.ok(found, `the fake teacher got an unknown question: ${q}`);
  const { r, i } = found;
  const n = Number(body["n"] ?? 1);
  const texts = [
    [right(r), right(r), wrong(r), badStep(r)],
    hinted ? [right(r), ` Using the hint, ${r.chain_of_thought}\n#### ${r.answer}`] : [wrong(r)],
    [wrong(r)],
    [right(r), wrong(r)],
  ][i % 4]!;
  return Array.from({ length: n }, (_, j) => texts[j % texts.length]!);
}

const servers: FakeOpenAI[] = [];
const dirs: string[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fixture(script: Fault[] = [], delayMs = 0) {
  const server = await startFakeOpenAI({ script, answer: teacherTexts, delayMs });
  servers.push(server);
  const dir = await mkdtemp(join(tmpdir(), "stepwise-teach-"));
  dirs.push(dir);
  return { server, dir };
}

const FAST = { baseMs: 1, maxMs: 4, jitter: 0.25 };
const base = {
  teacher: "fake",
  data: ["questions"],
  style: "qa" as const,
  k: 4,
  concurrency: 3,
  rationalize: true,
  temperature: 0.7,
  topP: 1,
  maxTokens: 64,
  seed: 0,
};

const rowsOf = (dir: string) => readJsonl<QuestionRow>(join(dir, "questions.jsonl"));
const statsOf = async (dir: string) => JSON.parse(await readFile(join(dir, "stats.json"), "utf8")) as TeachStats;

describe("stepwise teach", () => {
  test("judge: gold answer, step checker, hint", () => {
    const r = questions[0]!;
    assert.equal(judge(r, right(gold[0]!), false).verdict, "kept");
    assert.equal(judge(r, wrong(gold[0]!), false).verdict, "wrong-answer");
    assert.equal(judge(r, badStep(gold[0]!), false).verdict, "bad-steps");
    assert.equal(judge(r, `#### ${r.answer}`, false).verdict, "empty");
    assert.equal(judge(r, ` The hint says so.\n#### ${r.answer}`, true).verdict, "mentions-hint");
  });

  test("keeps right chains once each, rationalises the rest with the hint removed; stats per round", async () => {
    const { server, dir } = await fixture();
    const client = new OpenAIClient({ baseUrl: server.url, model: "fake", backoff: FAST });
    const summary = await runTeach({ ...base, client, records: questions, dir, mode: "new" });
    assert.equal(summary.status, "finished");
    const chains = await readJsonl<CoTRecord>(join(dir, "chains.jsonl"));
    // i%4=0 → 1 chain (its twin deduplicated), i%4=1 → 1 rationalised, i%4=2 → none, i%4=3 → 1
    assert.equal(chains.length, 9);
    for (const c of chains) {
      const g = byQuestion.get(c.question.trim())!;
      assert.equal(c.chain_of_thought, g.r.chain_of_thought);
      assert.equal(c.answer, g.r.answer);
      assert.doesNotMatch(c.question, /Hint/);
      assert.equal(c.meta?.["rationalised"], g.i % 4 === 1);
    }
    const s = await statsOf(dir);
    assert.equal(s.questions, 12);
    assert.equal(s.rounds.round1.keptRate, 6 / 12);
    assert.equal(s.rounds.round2.questions, 6);
    assert.equal(s.rounds.round2.keptRate, 3 / 6);
    assert.equal(s.keptRate, 9 / 12);
    assert.deepEqual(s.rounds.round1.verdicts, { kept: 6, duplicate: 6, "wrong-answer": 33, "bad-steps": 3 });
    assert.equal(s.rounds.round2.verdicts["mentions-hint"], 6);
    assert.equal(s.perTask["algebra"]!.keptRate, 9 / 12);
    assert.equal(s.requests, 18);
    assert.equal(server.requests.length, 18);
    assert.equal(summary.figures["kept_rate"], 9 / 12);
    // a rerun over the same cache sends nothing
    await rm(join(dir, "questions.jsonl"));
    await rm(join(dir, "summary.json"));
    const again = await runTeach({ ...base, client, records: questions, dir, mode: "resume" });
    assert.equal(again.status, "finished");
    assert.equal(server.requests.length, 18);
    assert.equal((await statsOf(dir)).cacheHits, 18);
  });

  test("every fault on the way: each question answered exactly once, nothing lost", async () => {
    const script: Fault[] = [
      { kind: "status", status: 429, retryAfter: "0" },
      { kind: "status", status: 500 },
      { kind: "status", status: 503 },
      { kind: "hang" },
      { kind: "reset" },
      { kind: "truncated" },
      { kind: "empty-choices" },
      { kind: "slow-stream", gapMs: 30 },
    ];
    const { server, dir } = await fixture(script);
    const client = new OpenAIClient({
      baseUrl: server.url,
      model: "fake",
      backoff: FAST,
      maxRetries: 10,
      timeoutMs: 500,
      stream: true,
      idleTimeoutMs: 400,
    });
    const summary = await runTeach({
      ...base,
      client,
      clientStats: () => client.stats(),
      records: [...questions, questions[5]!],
      dir,
      mode: "new",
    });
    assert.equal(summary.status, "finished");
    const rows = await rowsOf(dir);
    assert.equal(rows.length, 12);
    assert.equal(new Set(rows.map((r) => r.key)).size, 12);
    assert.equal((await readJsonl(join(dir, "chains.jsonl"))).length, 9);
    const s = await statsOf(dir);
    assert.equal(s.duplicatesSkipped, 1);
    assert.equal(s.retries, 7); // the slow stream is not a failure
    assert.equal(server.requests.length, 18 + 7);
    assert.equal(server.script.length, 0);
  });

  test("a fatal error stops the run as failed; --resume finishes it without asking again", async () => {
    const { server, dir } = await fixture([{ kind: "status", status: 400, message: "bad request" }]);
    const client = new OpenAIClient({ baseUrl: server.url, model: "fake", backoff: FAST });
    const first = await runTeach({ ...base, client, concurrency: 1, records: questions, dir, mode: "new" });
    assert.equal(first.status, "failed");
    assert.match(first.message ?? "", /--resume/);
    const second = await runTeach({ ...base, client, records: questions, dir, mode: "resume" });
    assert.equal(second.status, "finished");
    assert.equal((await rowsOf(dir)).length, 12);
    assert.equal(server.requests.length, 1 + 18);
  });

  test("SIGKILL mid-run, then --resume: exactly once, nothing lost, no cached request sent again", async () => {
    const { server, dir } = await fixture([], 40);
    const data = join(dir, "input.jsonl");
    await writeFile(data, questions.map((q) => JSON.stringify(q)).join("\n"));
    const out = join(dir, "run");
    const args = [
      "bin/stepwise.js",
      "teach",
      "--teacher",
      server.url,
      "--model",
      "fake",
      "--data",
      data,
      "--format",
      "cot",
      "--k",
      "4",
      "--out",
      out,
      "--concurrency",
      "2",
      "--style",
      "qa",
      "--backoff-ms",
      "1",
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (c) => {
      stderr += String(c);
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    // kill it once a few questions are done
    for (let t = 0; t < 600; t++) {
      if ((await rowsOf(out)).length >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await exited;
    const doneBefore = (await rowsOf(out)).length;
    assert.ok(doneBefore >= 3 && doneBefore < 12, `killed after ${doneBefore} questions; stderr: ${stderr}`);
    const cached = new Set((await readJsonl<{ key: string }>(join(out, CACHE_FILE))).map((r) => r.key));
    const sentBefore = server.requests.length;

    const resumed = spawn(process.execPath, [...args, "--resume"], { stdio: ["ignore", "ignore", "pipe"] });
    let err2 = "";
    resumed.stderr!.on("data", (c) => {
      err2 += String(c);
    });
    const code = await new Promise<number | null>((resolve) => resumed.on("exit", (c) => resolve(c)));
    assert.equal(code, 0, err2);
    const rows = await rowsOf(out);
    assert.equal(rows.length, 12);
    assert.deepEqual(
      rows.map((r) => r.index).sort((a, b) => a - b),
      questions.map((_, i) => i),
    );
    assert.equal((await readJsonl(join(out, "chains.jsonl"))).length, 9);
    const keyOf = (req: (typeof server.requests)[number]) => {
      const { stream: _s, stream_options: _o, ...body } = req.body;
      return requestKey(req.path.endsWith("/chat/completions") ? "chat/completions" : "completions", body);
    };
    // the keys the test computes are the cache's (every cached response was a request sent before the kill)
    const before = new Set(server.requests.slice(0, sentBefore).map(keyOf));
    for (const k of cached) assert.ok(before.has(k));
    const after = server.requests.slice(sentBefore).map(keyOf);
    assert.ok(after.length > 0);
    for (const k of after) assert.ok(!cached.has(k), "a cached request was sent again");
    const cache = await ResponseCache.open(join(out, CACHE_FILE));
    assert.equal(cache.size, 18);
    const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8")) as { status: string };
    assert.equal(summary.status, "finished");
  });
});

describe("stepwise teach with a stepwise model as teacher", () => {
  test("a model folder in process and the same model behind `stepwise serve` give the same rows", async () => {
    await initEngine();
    const tmp = await mkdtemp(join(tmpdir(), "stepwise-teach-local-"));
    dirs.push(tmp);
    const modelDir = join(tmp, "model");
    await writeTinyEvalModel(modelDir, join(tmp, "tok"), {
      tasks: ["arithmetic"],
      n: 40,
      vocabSize: 300,
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
    });
    const records = generateDataset({ tasks: ["arithmetic"], n: 4, seed: 9, split: "train" }).map((r) => ({
      ...r,
      chain_of_thought: "",
    }));
    const opts = { ...base, k: 2, maxTokens: 12, records };
    const local = await LocalChatClient.load(modelDir, { name: "tiny" });
    const a = await runTeach({ ...opts, client: local, dir: join(tmp, "local"), mode: "new" });
    const engine = await LocalEngine.load(modelDir, { name: "tiny" });
    const server = await startServer(engine, { port: 0 });
    try {
      const remote = new OpenAIClient({ baseUrl: server.url, model: "tiny", backoff: FAST });
      const b = await runTeach({ ...opts, client: remote, dir: join(tmp, "http"), mode: "new" });
      assert.equal(a.status, "finished");
      assert.equal(b.status, "finished");
      const rowsA = (await rowsOf(join(tmp, "local"))).sort((x, y) => x.index - y.index);
      const rowsB = (await rowsOf(join(tmp, "http"))).sort((x, y) => x.index - y.index);
      assert.equal(rowsA.length, 4);
      assert.deepEqual(rowsA, rowsB);
      // every question was asked (round 1, and round 2 where nothing was kept), with k chains each
      for (const r of rowsA) for (const round of r.rounds) assert.equal(round.sampled, 2);
    } finally {
      await server.close();
      await engine.close();
      await local.close();
    }
  });
});
