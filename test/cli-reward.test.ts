/** `stepwise reward`: completions given in a file scored through the real command (src/cli/reward.ts). */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { timeout: 60_000 });

const base = { question: "What is 2 + 3?", chain_of_thought: "2 + 3 = 5.", answer: "5", meta: { task: "arithmetic" } };
const ROWS = [
  { ...base, completion: " 2 + 3 = 5.\n#### 5", id: "right" },
  { ...base, completion: " 2 + 3 = 6.\n#### 6", id: "wrong" },
  { ...base, completion: "#### 5\nmore text", id: "answer-not-last", completion_tokens: 120 },
  { ...base, completion: "#### 5", id: "short", finish_reason: "length", completion_tokens: 100 },
];
const jsonl = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-reward-"));
  await writeFile(join(dir, "in.jsonl"), jsonl(ROWS));
});
after(() => rm(dir, { recursive: true, force: true }));

const fail = (re: RegExp) => (e: Error & { stderr: string; code: number }) => {
  assert.equal(e.code, 1);
  assert.match(e.stderr, re);
  return true;
};

describe("stepwise reward", () => {
  test("each output line is the input row plus the weighted total and each function's value; --json summary", async () => {
    const out = join(dir, "out.jsonl");
    const { stdout, stderr } = await cli(
      "reward",
      "--reward",
      "correct:1,format:0.5,repetition:1",
      "--data",
      join(dir, "in.jsonl"),
      "--out",
      out,
      "--json",
    );
    const lines = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, ROWS.length);
    lines.forEach((l, i) => {
      const { reward: _r, rewards: _rs, ...rest } = l;
      assert.deepEqual(rest, ROWS[i], "the input row, unchanged");
    });
    // "#### 5" has 2 words < n = 3: repetition does not apply (null), and the total leaves it out.
    assert.deepEqual(
      lines.map((l) => l.rewards),
      [
        { correct: 1, format: 1, repetition: 0 },
        { correct: 0, format: 1, repetition: 0 },
        // the answer line is not the last line: neither correct nor well-formed (rewards.ts)
        { correct: 0, format: 0, repetition: 0 },
        // cut at the budget, and no step before the answer line: no credit
        { correct: 0, format: 0, repetition: null },
      ],
    );
    assert.deepEqual(
      lines.map((l) => l.reward),
      [1.5, 0.5, 0, 0],
    );
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.n, 4);
    assert.equal(summary.reward.mean, 2 / 4);
    assert.deepEqual(summary.rewards.correct, { weight: 1, mean: 0.25, std: Math.sqrt(0.1875), applied: 4 });
    assert.deepEqual(summary.rewards.repetition, { weight: 1, mean: 0, std: 0, applied: 3 });
    assert.match(stderr, /reward: 4 completions from .*in\.jsonl/);
    assert.match(stderr, /format\s+0\.5\s+0\.5000/);
  });

  test("overlong reads completion_tokens and refuses rows without a length when no --tokenizer is given", async () => {
    const rows = ROWS.slice(2);
    await writeFile(join(dir, "long.jsonl"), jsonl(rows));
    const out = join(dir, "long-out.jsonl");
    await cli(
      "reward",
      ...["--reward", "overlong", "--max-new-tokens", "128", "--overlong-buffer", "32"],
      ...["--data", join(dir, "long.jsonl"), "--out", out],
    );
    // DAPO eq. 13: L_max − L_cache = 96; (96 − 120) / 32 = −0.75; 100 → −0.125
    const got = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).rewards.overlong);
    assert.deepEqual(got, [-0.75, -0.125]);
    await assert.rejects(
      cli("reward", "--reward", "overlong", "--data", join(dir, "in.jsonl"), "--out", out),
      fail(/reward: .*in\.jsonl:1: the spec uses "overlong".*completion_tokens.*--tokenizer/),
    );
  });

  test("a bad spec, a row without completion and a bad finish_reason are errors naming the place", async () => {
    const out = join(dir, "bad-out.jsonl");
    await assert.rejects(
      cli("reward", "--reward", "corect:1", "--data", join(dir, "in.jsonl"), "--out", out),
      fail(/reward: --reward: unknown reward "corect" in "corect:1"; known: correct, /),
    );
    await writeFile(join(dir, "missing.jsonl"), jsonl([ROWS[0], base]));
    await assert.rejects(
      cli("reward", "--reward", "correct", "--data", join(dir, "missing.jsonl"), "--out", out),
      fail(
        /reward: .*missing\.jsonl:2: field "completion": expected the completion to score as a string, got no such field/,
      ),
    );
    await writeFile(join(dir, "finish.jsonl"), jsonl([{ ...ROWS[0], finish_reason: "done" }]));
    await assert.rejects(
      cli("reward", "--reward", "correct", "--data", join(dir, "finish.jsonl"), "--out", out),
      fail(/finish\.jsonl:1: field "finish_reason": expected one of eos, stop, length, got "done"/),
    );
    await writeFile(join(dir, "notcot.jsonl"), jsonl([{ completion: "#### 5" }]));
    await assert.rejects(
      cli("reward", "--reward", "correct", "--data", join(dir, "notcot.jsonl"), "--out", out),
      fail(/notcot\.jsonl:1.*question/),
    );
  });
});
