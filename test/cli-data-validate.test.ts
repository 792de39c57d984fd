/**
 * `stepwise data validate FILE --format F`: the real datasets validate clean (exit 0), bad
 * rows are counted per reason with one-line `file:line:` messages (exit 1, JSON summary last
 * on stdout), and `messages` / `conversation` name the same layout in convert and validate.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { Command } from "commander";
import { registerData } from "../src/cli/data.ts";
import { NO_SHARED_DATA, SHARED_DATA } from "./shared-data.ts";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "stepwise-cli-validate-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const DATA = SHARED_DATA;

type CliError = Error & { code: number; stderr: string; stdout: string };

/** Run `stepwise data ...` in this process: console.log lines, and the error main.ts would print (or ""). */
async function inProcess(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerData(program);
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await program.parseAsync(["node", "stepwise", "data", ...args]);
    return { stdout: lines.map((l) => l + "\n").join(""), stderr: "" };
  } catch (err) {
    return { stdout: lines.map((l) => l + "\n").join(""), stderr: `stepwise: ${(err as Error).message}\n` };
  } finally {
    console.log = log;
  }
}

const lastJson = (stdout: string) => JSON.parse(stdout.trimEnd().split("\n").at(-1)!);

describe("stepwise data validate: real datasets", { skip: NO_SHARED_DATA }, () => {
  const cases = [
    ["gsm8k", "gsm8k_test.jsonl", 1319],
    ["aqua", "aqua_test.jsonl", 254],
    ["math", "math_sample.jsonl", 300],
    ["alpaca", "alpaca_sample.json", 1000],
  ] as const;
  for (const [format, file, rows] of cases) {
    test(`${file} is valid ${format}: ${rows} rows, exit 0`, async () => {
      const { stdout, stderr } = await inProcess("validate", `${DATA}/${file}`, "--format", format, "--json");
      assert.equal(stderr, "");
      assert.deepEqual(lastJson(stdout), {
        file: `${DATA}/${file}`,
        format,
        rows,
        valid: rows,
        invalid: 0,
        reasons: {},
      });
      assert.equal(
        stdout.split("\n")[0],
        `${DATA}/${file}: ${rows} row(s) read as ${format}: ${rows} valid, 0 invalid`,
      );
    });
  }
});

describe("stepwise data validate: bad rows", () => {
  const bad = join(tmp, "bad.jsonl");
  writeFileSync(
    bad,
    [
      '{"question": "a", "answer": "1+1 = <<1+1=2>>2\\n#### 2"}',
      '{"question": "q2"}',
      '{"question": "b", "answer": "#### 3"}',
      '{"question": "2+2?", "answer": "#### 4',
    ].join("\n"),
  );
  const messages = [
    `${bad}:2: field "answer": expected a string, got nothing (field missing)`,
    new RegExp(
      `^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:4: expected a JSON value, got invalid JSON \\(.*\\) in ".*"$`,
    ),
  ] as const;

  test("through bin/stepwise.js: exit 1, counts per reason, one-line messages, JSON summary last", async () => {
    let failure: CliError | undefined;
    try {
      await run(process.execPath, ["bin/stepwise.js", "data", "validate", bad, "--format", "gsm8k", "--json"], {
        timeout: 60_000,
      });
    } catch (err) {
      failure = err as CliError;
    }
    assert.ok(failure !== undefined, "validate succeeded on a bad file");
    assert.equal(failure.code, 1, failure.stderr);
    assert.equal(failure.stderr, `stepwise: ${bad}: 2 of 4 row(s) invalid as gsm8k\n`);
    const lines = failure.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `${bad}: 4 row(s) read as gsm8k: 2 valid, 2 invalid (missing-field 1, invalid-json 1)`);
    assert.equal(lines[1], messages[0]);
    assert.match(lines[2]!, messages[1]);
    assert.deepEqual(JSON.parse(lines[3]!), {
      file: bad,
      format: "gsm8k",
      rows: 4,
      valid: 2,
      invalid: 2,
      reasons: { "missing-field": 1, "invalid-json": 1 },
    });
    assert.equal(lines.length, 4);
  });

  test("at most five messages listed, the rest counted; an empty file is reported and fails", async () => {
    const many = join(tmp, "many.jsonl");
    writeFileSync(many, Array.from({ length: 8 }, (_, k) => `{"question": "q${k}", "answer": ${k}}`).join("\n"));
    const { stdout, stderr } = await inProcess("validate", many, "--format", "gsm8k");
    assert.equal(stderr, `stepwise: ${many}: 8 of 8 row(s) invalid as gsm8k\n`);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines[0], `${many}: 8 row(s) read as gsm8k: 0 valid, 8 invalid (wrong-type 8)`);
    assert.deepEqual(
      lines.slice(1, 6),
      [1, 2, 3, 4, 5].map((n) => `${many}:${n}: field "answer": expected a string, got number ${n - 1}`),
    );
    assert.equal(lines[6], "… and 3 more invalid row(s) (the first 5 are shown)");
    assert.equal(lines.length, 7, "no JSON line without --json");

    const empty = join(tmp, "empty.jsonl");
    writeFileSync(empty, "");
    const r = await inProcess("validate", empty, "--format", "gsm8k", "--json");
    assert.equal(r.stderr, `stepwise: ${empty}: expected at least one record, got an empty file\n`);
    assert.deepEqual(lastJson(r.stdout), {
      file: empty,
      format: "gsm8k",
      rows: 0,
      valid: 0,
      invalid: 1,
      reasons: { "empty-file": 1 },
    });
  });

  test("the same rows are valid in one format and invalid in another; --input-format overrides the extension", {
    skip: NO_SHARED_DATA,
  }, async () => {
    const alpacaAsJsonl = join(tmp, "alpaca.txt");
    const rows = JSON.parse(readFileSync(`${DATA}/alpaca_sample.json`, "utf8")) as unknown[];
    writeFileSync(
      alpacaAsJsonl,
      rows
        .slice(0, 10)
        .map((r) => JSON.stringify(r) + "\n")
        .join(""),
    );
    const ok = await inProcess("validate", alpacaAsJsonl, "--format", "alpaca", "--input-format", "jsonl", "--json");
    assert.equal(ok.stderr, "");
    assert.equal(lastJson(ok.stdout).valid, 10);
    const no = await inProcess("validate", alpacaAsJsonl, "--format", "gsm8k", "--input-format", "jsonl", "--json");
    assert.match(no.stderr, /10 of 10 row\(s\) invalid as gsm8k/);
    assert.deepEqual(lastJson(no.stdout).reasons, { "missing-field": 10 });
  });
});

describe("messages (synonym: conversation)", () => {
  test("`convert --to messages` output validates as messages; --from/--format conversation still work", {
    skip: NO_SHARED_DATA,
  }, async () => {
    const conv = join(tmp, "gsm8k-messages.jsonl");
    const c = await inProcess(
      "convert",
      `${DATA}/gsm8k_train_sample.jsonl`,
      "--from",
      "gsm8k",
      "--to",
      "messages",
      "--out",
      conv,
    );
    assert.equal(c.stderr, "");
    assert.match(c.stdout, /^converted 500 gsm8k row\(s\) to messages: /);
    assert.equal(lastJson(c.stdout).to, "messages");
    const first = JSON.parse(readFileSync(conv, "utf8").split("\n")[0]!);
    assert.deepEqual(
      first.messages.map((m: { role: string }) => m.role),
      ["user", "assistant"],
    );

    const v = await inProcess("validate", conv, "--format", "messages", "--json");
    assert.equal(v.stderr, "");
    assert.deepEqual(lastJson(v.stdout), {
      file: conv,
      format: "messages",
      rows: 500,
      valid: 500,
      invalid: 0,
      reasons: {},
    });
    const vSyn = await inProcess("validate", conv, "--format", "conversation", "--json");
    assert.equal(lastJson(vSyn.stdout).valid, 500, "the synonym validates the same rows");
    assert.equal(lastJson(vSyn.stdout).format, "messages", "reported under the canonical name");

    const pc = join(tmp, "pc.jsonl");
    const back = await inProcess("convert", conv, "--from", "conversation", "--to", "prompt-completion", "--out", pc);
    assert.equal(back.stderr, "");
    assert.deepEqual(lastJson(back.stdout), {
      input: conv,
      output: pc,
      from: "messages",
      to: "prompt-completion",
      read: 500,
      written: 500,
      skipped: {},
    });
    const again = join(tmp, "again.jsonl");
    await inProcess("convert", pc, "--from", "prompt-completion", "--to", "conversation", "--out", again);
    assert.equal(readFileSync(again, "utf8"), readFileSync(conv, "utf8"), "messages → prompt-completion → messages");

    // A messages file is not valid as another format, and a bad conversation row is named by field.
    const badConv = join(tmp, "bad-conv.jsonl");
    writeFileSync(badConv, '{"messages": [{"role": "bot", "content": "x"}]}\n');
    const b = await inProcess("validate", badConv, "--format", "messages");
    assert.equal(b.stderr, `stepwise: ${badConv}: 1 of 1 row(s) invalid as messages\n`);
    assert.match(
      b.stdout,
      /:1: field "messages\.0\.role": expected one of "system", "user", "assistant", got string "bot"$/m,
    );
  });

  test("help names messages canonically and documents the synonym; unknown names are refused", async () => {
    const program = new Command().exitOverride();
    const data = registerData(program);
    const help = (name: string) =>
      data.commands
        .find((c) => c.name() === name)!
        .helpInformation()
        .replace(/\s+/g, " ");
    for (const name of ["convert", "validate"]) {
      assert.match(
        help(name),
        /gsm8k, aqua, math, alpaca, dolly, flan, sni, cot, instruction, preference, messages, prompt-completion \(synonym: conversation = messages\)/,
      );
    }
    assert.match(
      help("convert"),
      /--to <kind> record kind to write: cot, instruction, prompt-completion, messages, preference/,
    );
    const err = await inProcess("validate", `${DATA}/gsm8k_test.jsonl`, "--format", "chat");
    assert.match(err.stderr, /argument 'chat' is invalid\. Allowed: gsm8k, .*, messages, prompt-completion\./);
  });
});
