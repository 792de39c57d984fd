/**
 * Generated datasets (src/data/tasks/index.ts): determinism, the held-out split (train and
 * test never share a problem; the split of a problem is stable), exact sizes, no repeats,
 * records rebuilt into checkable problems, and `stepwise data generate` end to end.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { CoTRecordSchema } from "../src/data/records.ts";
import {
  checkRecordSteps,
  generateDataset,
  generateProblems,
  problemFromRecord,
  splitOf,
  TASK_NAMES,
  TASKS,
} from "../src/data/tasks/index.ts";
import { splitSteps } from "../src/data/tasks/types.ts";
import { Rng } from "../src/engine/rng.ts";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "stepwise-tasks-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("generateDataset", () => {
  test("same seed → identical dataset; different seeds differ", () => {
    const a = generateDataset({ tasks: [...TASK_NAMES], n: 60, seed: 5, split: "train" });
    const b = generateDataset({ tasks: [...TASK_NAMES], n: 60, seed: 5, split: "train" });
    const c = generateDataset({ tasks: [...TASK_NAMES], n: 60, seed: 6, split: "train" });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.map((r) => r.question),
      c.map((r) => r.question),
    );
  });

  for (const task of TASK_NAMES) {
    test(`${task}: train and test share no problem (canonical form, question text); exact sizes; no repeats`, () => {
      const opts = { tasks: [task], n: 400, seed: 3 };
      const train = generateProblems({ ...opts, split: "train" });
      const test = generateProblems({ ...opts, split: "test" });
      assert.equal(train.length, 400);
      assert.equal(test.length, 400);
      for (const set of [train, test]) {
        assert.equal(new Set(set.map((p) => p.canonical)).size, set.length, "repeat within a split");
      }
      const trainKeys = new Set(train.map((p) => p.canonical));
      const trainQuestions = new Set(train.map((p) => p.question));
      for (const p of test) {
        assert.ok(!trainKeys.has(p.canonical), `shared problem ${p.canonical}`);
        assert.ok(!trainQuestions.has(p.question), `shared question ${p.question}`);
        assert.equal(splitOf(p), "test");
      }
      for (const p of train) assert.equal(splitOf(p), "train");
    });
  }

  test("the split of a problem is stable: independent of seed and of the draw", () => {
    for (const task of TASK_NAMES) {
      const rng = new Rng(11);
      for (let i = 0; i < 200; i++) {
        const p = TASKS[task].generate(rng);
        const again = TASKS[task].generate(new Rng(0)); // unrelated draw in between
        assert.equal(splitOf(p), splitOf({ task: p.task, canonical: p.canonical }));
        assert.ok(again.canonical.length > 0);
      }
    }
    // About testFraction of the problem space is held out.
    const rng = new Rng(12);
    const tests = Array.from({ length: 2000 }, () => splitOf(TASKS["long-arith"].generate(rng))).filter(
      (s) => s === "test",
    ).length;
    assert.ok(tests > 300 && tests < 500, `${tests} of 2000 in test`);
  });

  test("records are valid CoTRecords with meta {task, split, id}, rebuilt into checkable problems", () => {
    const records = generateDataset({ tasks: [...TASK_NAMES], n: 30, seed: 9, split: "test" });
    assert.deepEqual([...new Set(records.map((r) => r.meta?.["task"]))].sort(), [...TASK_NAMES].sort());
    for (const r of records) {
      CoTRecordSchema.parse(r);
      assert.equal(r.meta?.["split"], "test");
      assert.match(String(r.meta?.["id"]), /^[a-z-]+-test-9-\d+$/);
      const p = problemFromRecord(r)!;
      assert.equal(splitOf(p), "test");
      assert.deepEqual(checkRecordSteps(r, splitSteps(r.chain_of_thought)), { valid: true, reasons: [] });
      assert.equal(checkRecordSteps(r, splitSteps(r.chain_of_thought).slice(1))?.valid, false);
    }
    assert.equal(new Set(records.map((r) => r.meta?.["id"])).size, records.length);
    assert.equal(problemFromRecord({ question: "q", chain_of_thought: "", answer: "1" }), null);
  });

  test("bad options fail with the value and the fix", () => {
    assert.throws(
      () => generateDataset({ tasks: ["nope" as "logic"], n: 1, seed: 0, split: "train" }),
      /unknown task "nope"; known: arithmetic/,
    );
    assert.throws(() => generateDataset({ tasks: ["logic"], n: -1, seed: 0, split: "train" }), /n must be an integer/);
    assert.throws(
      () => generateDataset({ tasks: ["logic"], n: 5, seed: 0, split: "train", testFraction: 1.5 }),
      /testFraction must be in \(0, 1\)/,
    );
  });
  test("difficulty options per task reach the generator and are checked against its defaults", () => {
    const short = generateDataset({
      tasks: ["code-trace", "logic"],
      n: 40,
      seed: 0,
      split: "train",
      options: { "code-trace": { maxLines: 3 } },
    });
    const lines = (q: string) => q.split("\n").filter((l) => /^\d+: /.test(l)).length;
    const traces = short.filter((r) => r.meta?.["task"] === "code-trace");
    assert.equal(traces.length, 20);
    // maxLines counts statements (3 at least); a loop's body adds one printed line.
    assert.ok(traces.every((r) => lines(r.question) <= 4));
    const long = generateDataset({ tasks: ["code-trace"], n: 40, seed: 0, split: "train" });
    assert.ok(
      long.some((r) => lines(r.question) > 3),
      "the default allows longer programs",
    );
    const gen = (options: Record<string, Record<string, unknown>>) => () =>
      generateDataset({ tasks: ["code-trace"], n: 1, seed: 0, split: "train", options });
    assert.throws(
      gen({ "code-trace": { maxLine: 3 } }),
      /options.code-trace: unknown option "maxLine"; code-trace takes maxLines/,
    );
    assert.throws(
      gen({ "code-trace": { maxLines: "3" } }),
      /options.code-trace.maxLines: expected a number, got string/,
    );
    assert.throws(gen({ chess: {} }), /options: unknown task "chess"/);
  });
});

describe("stepwise data generate", () => {
  test("--task arithmetic --n 20 --seed 1 --split test writes 20 valid CoTRecords", async () => {
    const out = join(tmp, "arith.jsonl");
    const args = ["data", "generate", "--task", "arithmetic", "--n", "20", "--seed", "1", "--split", "test"];
    const { stdout } = await run(process.execPath, ["bin/stepwise.js", ...args, "--out", out], { timeout: 60_000 });
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    assert.equal(lines.length, 20);
    const records = lines.map((l) => CoTRecordSchema.parse(JSON.parse(l)));
    for (const r of records) {
      assert.equal(r.meta?.["split"], "test");
      assert.equal(r.meta?.["task"], "arithmetic");
    }
    const summary = JSON.parse(stdout.trimEnd().split("\n").at(-1)!);
    assert.deepEqual(summary, { n: 20, split: "test", seed: 1, tasks: { arithmetic: 20 }, out });
    // Same flags → the same file; the train split shares no question with it.
    const again = join(tmp, "again.jsonl");
    await run(process.execPath, ["bin/stepwise.js", ...args, "--out", again], { timeout: 60_000 });
    assert.equal(readFileSync(again, "utf8"), readFileSync(out, "utf8"));
    const trainOut = join(tmp, "train.jsonl");
    const trainArgs = [...args.slice(0, -1), "train", "--n", "200", "--out", trainOut];
    await run(process.execPath, ["bin/stepwise.js", ...trainArgs], { timeout: 60_000 });
    const trainQ = new Set(
      readFileSync(trainOut, "utf8")
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).question),
    );
    for (const r of records) assert.ok(!trainQ.has(r.question));
  });

  test("an unknown task is a one-line error naming the flag and the choices", async () => {
    const err = await run(process.execPath, ["bin/stepwise.js", "data", "generate", "--task", "chess", "--n", "2"], {
      timeout: 60_000,
    }).then(
      () => null,
      (e: Error & { stderr: string }) => e,
    );
    assert.ok(err);
    assert.match(err.stderr, /--task got unknown "chess"; choose from arithmetic, long-arith/);
  });
});
