/**
 * `stepwise data convert` end to end on the real files (GSM8K, AQuA-RAT, MATH, Alpaca) and
 * on bad inputs: one-line errors naming file:line and field, `--skip-invalid` counts per
 * reason, and an output file that is never half-written.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { Command } from "commander";
import { registerData } from "../src/cli/data.ts";
import { NO_SHARED_DATA, SHARED_DATA } from "./shared-data.ts";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 60_000 });
const tmp = mkdtempSync(join(tmpdir(), "stepwise-cli-data-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const DATA = SHARED_DATA;

type CliError = Error & { code: number; stderr: string; stdout: string };

/** Run the CLI expecting failure; return its stderr. */
/** In-process run expected to fail: the `stepwise: …` line. */
async function failsInProcess(...args: string[]): Promise<string> {
  const { stderr } = await inProcess(...args);
  assert.notEqual(stderr, "", `stepwise data ${args.join(" ")} succeeded`);
  return stderr;
}

async function failing(...args: string[]): Promise<string> {
  try {
    await cli(...args);
  } catch (err) {
    const e = err as CliError;
    assert.equal(e.code, 1, e.stderr);
    return e.stderr;
  }
  assert.fail(`stepwise ${args.join(" ")} succeeded`);
}

/**
 * Run `stepwise data ...` in this process (no Node start-up per case): stdout lines captured,
 * and the error main.ts would print as `stepwise: <message>` returned as that line.
 */
async function inProcess(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command().exitOverride();
  registerData(program);
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await program.parseAsync(["node", "stepwise", "data", ...args]);
    return { stdout: lines.map((l) => l + "\n").join(""), stderr: "" };
  } catch (err) {
    return { stdout: lines.join("\n"), stderr: `stepwise: ${(err as Error).message}\n` };
  } finally {
    console.log = log;
  }
}

const readJsonl = (path: string) =>
  readFileSync(path, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));

const lastJson = (stdout: string) => JSON.parse(stdout.trimEnd().split("\n").at(-1)!);

describe("stepwise data convert: real datasets", { skip: NO_SHARED_DATA }, () => {
  test("GSM8K, AQuA-RAT, MATH → cot and Alpaca → instruction; answers equal the gold ones row by row", async () => {
    const jobs = [
      ["gsm8k", "gsm8k_test.jsonl", "cot"],
      ["aqua", "aqua_test.jsonl", "cot"],
      ["math", "math_sample.jsonl", "cot"],
      ["alpaca", "alpaca_sample.json", "instruction"],
    ] as const;
    // GSM8K through bin/stepwise.js exactly as a user types it; the others in-process (same code, no start-up).
    const outs = [];
    for (const [from, file, to] of jobs) {
      const out = join(tmp, `${from}.jsonl`);
      const args = ["data", "convert", `${DATA}/${file}`, "--from", from, "--to", to, "--out", out];
      const { stdout } = from === "gsm8k" ? await cli(...args) : await inProcess(...args.slice(1));
      outs.push({ summary: lastJson(stdout), recs: readJsonl(out), stdout });
    }
    const [gsm, aqua, math, alpaca] = outs;
    const gold: string[] = JSON.parse(readFileSync(`${DATA}/gsm8k_test_answers.json`, "utf8"));
    assert.equal(gsm!.recs.length, 1319);
    assert.deepEqual(
      gsm!.recs.map((r) => r.answer),
      gold,
    );
    assert.deepEqual(gsm!.summary, {
      input: `${DATA}/gsm8k_test.jsonl`,
      output: join(tmp, "gsm8k.jsonl"),
      from: "gsm8k",
      to: "cot",
      read: 1319,
      written: 1319,
      skipped: {},
    });
    assert.match(gsm!.stdout, /^converted 1319 gsm8k row\(s\) to cot: /);

    const aquaGold = readJsonl(`${DATA}/aqua_test.jsonl`).map((r) => r.correct);
    assert.equal(aqua!.recs.length, 254);
    assert.deepEqual(
      aqua!.recs.map((r) => r.answer),
      aquaGold,
    );

    const mathGold = readJsonl(`${DATA}/math_sample.jsonl`).map((r) => r.answer);
    assert.equal(math!.recs.length, 300);
    assert.deepEqual(
      math!.recs.map((r) => r.answer),
      mathGold,
    );

    assert.equal(alpaca!.recs.length, 1000);
    assert.equal(alpaca!.summary.written, 1000);
  });

  test("GSM8K → prompt-completion and conversation; impossible conversions refused before any work", async () => {
    const out = join(tmp, "pc.jsonl");
    await inProcess(
      "convert",
      `${DATA}/gsm8k_train_sample.jsonl`,
      "--from",
      "gsm8k",
      "--to",
      "prompt-completion",
      "--out",
      out,
    );
    const recs = readJsonl(out);
    assert.equal(recs.length, 500);
    assert.ok(recs.every((r) => typeof r.prompt === "string" && /\n#### [^\n]+$/.test(r.completion)));
    const stderr = await failsInProcess("convert", `${DATA}/alpaca_sample.json`, "--from", "alpaca", "--to", "cot");
    assert.equal(
      stderr,
      "stepwise: cannot convert alpaca (instruction records) to cot; alpaca converts to: instruction, prompt-completion, messages\n",
    );
  });
});

describe("stepwise data convert: bad inputs", () => {
  const files: Record<string, string | Uint8Array> = {
    "truncated.jsonl": '{"question": "q", "answer": "x\\n#### 5"}\n{"question": "2+2?", "answer": "#### 4\n',
    "missing.jsonl": '{"question": "q", "answer": "x\\n#### 5"}\n{"question": "q2"}\n',
    "wrongtype.jsonl": '{"question": "q", "answer": 42}\n',
    "empty.jsonl": "",
    "image.jsonl": new Uint8Array([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52,
    ]),
    "unterminated.csv": 'question,answer\n"q1","x\n#### 3"\nq2,"#### 4\n',
  };
  const path = (f: string) => join(tmp, f);
  for (const [f, body] of Object.entries(files)) writeFileSync(path(f), body);

  test("each bad file gives a ONE-LINE error naming file:line and field; exit code 1", async () => {
    const args = (f: string) => ["convert", path(f), "--from", "gsm8k", "--to", "cot", "--out", path("out.jsonl")];
    // The first through bin/stepwise.js (exit code 1, message on stderr); the rest in-process.
    const got = [await failing("data", ...args("truncated.jsonl"))];
    for (const f of Object.keys(files).slice(1)) got.push(await failsInProcess(...args(f)));
    const expected = [
      new RegExp(
        `^stepwise: ${path("truncated.jsonl")}:2: expected a JSON value, got invalid JSON \\(Unterminated string in JSON at position \\d+\\) in ".*"\\n$`,
      ),
      `stepwise: ${path("missing.jsonl")}:2: field "answer": expected a string, got nothing (field missing)\n`,
      `stepwise: ${path("wrongtype.jsonl")}:1: field "answer": expected a string, got number 42\n`,
      `stepwise: ${path("empty.jsonl")}: expected at least one record, got an empty file\n`,
      `stepwise: ${path("image.jsonl")}:1: expected UTF-8 text, got binary data (byte 0x89 at offset 0)\n`,
      `stepwise: ${path("unterminated.csv")}:4: field "answer": expected a closing quote, got end of file\n`,
    ];
    got.forEach((stderr, k) => {
      assert.equal(stderr.split("\n").length, 2, `one line: ${stderr}`);
      const want = expected[k]!;
      if (typeof want === "string") assert.equal(stderr, want);
      else assert.match(stderr, want);
    });
    assert.equal(existsSync(path("out.jsonl")), false, "no output file from any failed conversion");
  });

  test("--skip-invalid: counts per reason reported, valid rows still written", async () => {
    const mixed = [
      '{"question": "a", "answer": "1+1 = <<1+1=2>>2\\n#### 2"}',
      '{"question": "b", "answer": 42}',
      '{"question": "c"',
      "",
      '{"answer": "#### 3"}',
      '{"question": "d", "answer": "#### 1,000"}',
      '{"question": "e", "answer": "no marker"}',
      "[1]",
    ].join("\n");
    writeFileSync(path("mixed.jsonl"), mixed);
    const out = path("mixed-out.jsonl");
    const { stdout } = await inProcess(
      "convert",
      path("mixed.jsonl"),
      "--from",
      "gsm8k",
      "--to",
      "cot",
      "--out",
      out,
      "--skip-invalid",
    );
    assert.deepEqual(
      readJsonl(out).map((r) => [r.question, r.chain_of_thought, r.answer]),
      [
        ["a", "1+1 = 2", "2"],
        ["d", "", "1000"],
      ],
    );
    const s = lastJson(stdout);
    assert.equal(s.read, 7);
    assert.equal(s.written, 2);
    assert.deepEqual(s.skipped, {
      "wrong-type": 1,
      "invalid-json": 1,
      "missing-field": 1,
      "invalid-value": 1,
      "not-an-object": 1,
    });
    assert.match(
      stdout,
      /^5 row\(s\) skipped: wrong-type 1, invalid-json 1, missing-field 1, invalid-value 1, not-an-object 1$/m,
    );
    assert.match(
      stdout,
      new RegExp(`^  first: ${path("mixed.jsonl")}:2: field "answer": expected a string, got number 42$`, "m"),
    );
  });

  test("a failure mid-file leaves an existing output file untouched (atomic write)", async () => {
    const out = path("keep.jsonl");
    writeFileSync(out, "previous contents\n");
    const stderr = await failsInProcess(
      "convert",
      path("missing.jsonl"),
      "--from",
      "gsm8k",
      "--to",
      "cot",
      "--out",
      out,
    );
    assert.match(stderr, /missing\.jsonl:2: field "answer"/);
    assert.equal(readFileSync(out, "utf8"), "previous contents\n");
  });

  test("an empty file fails even with --skip-invalid", async () => {
    const stderr = await failsInProcess(
      "convert",
      path("empty.jsonl"),
      "--from",
      "gsm8k",
      "--to",
      "cot",
      "--skip-invalid",
    );
    assert.equal(stderr, `stepwise: ${path("empty.jsonl")}: expected at least one record, got an empty file\n`);
  });
});
