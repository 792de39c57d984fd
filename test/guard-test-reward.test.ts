import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Command } from "commander";
import { registerGuard } from "../src/cli/guard.ts";
import { answersMatch } from "../src/data/answer/index.ts";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { extractBoth } from "../src/eval/extract.ts";
import { reasoningOf } from "../src/eval/reasoning.ts";
import {
  EXPLOIT_NAMES,
  EXPLOITS,
  type ExploitContext,
  honestCorrect,
  honestWrong,
  inWords,
  wrongAnswers,
} from "../src/guard/exploits.ts";
import { RewardHoleError } from "../src/guard/preflight.ts";
import { formatTestReward, testReward } from "../src/guard/test-reward.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { runRl } from "../src/rl/grpo.ts";
import { parseRewardSpec, type RewardFn, type RewardInput, scoreBuiltinRewards } from "../src/rl/rewards.ts";
import { writeTinyEvalModel } from "./tiny.ts";

/** The spec the README recommends. */
const RECOMMENDED = "correct:1,format:0.1,steps:0.2,multiple_answers:1,no_eos:1";

const records = generateDataset({
  tasks: ["algebra", "logic", "code-trace", "arithmetic", "units", "long-arith"],
  n: 70,
  seed: 5,
  split: "train",
});
const algebra = records.find((r) => r.meta?.["task"] === "algebra")!;
const logic = records.find((r) => r.meta?.["task"] === "logic")!;

const ctxOf = (record: CoTRecord, index = 0): ExploitContext => ({
  record,
  prompt: `Q: ${record.question}\nA: Let's think step by step.`,
  index,
  maxNewTokens: 128,
  countTokens: (t) => Math.ceil(t.length / 4),
});
const answerLinesOf = (text: string) => text.split("\n").filter((l) => l.trim().startsWith("####"));
const contentOf = (line: string) => line.trim().slice(4).trim();
const one = (
  spec: string,
  record: CoTRecord,
  c: Pick<RewardInput, "completion" | "finishReason" | "completionTokens">,
) => scoreBuiltinRewards(parseRewardSpec(spec), [{ record, prompt: "", ...c }]).byName;

describe("exploit builders", () => {
  for (const record of [algebra, logic]) {
    const g = record.answer;
    const ctx = ctxOf(record, 1);
    const build = (name: (typeof EXPLOIT_NAMES)[number]) => EXPLOITS[name].build(ctx);
    test(`${record.meta?.["task"]}: each builder makes its exploit from the record's prompt and gold "${g}"`, () => {
      assert.deepEqual(answerLinesOf(build("empty_chain").completion).map(contentOf), [g]);
      assert.equal(build("answer_only").completion.trim(), `#### ${g}`);
      const en = contentOf(answerLinesOf(build("enumerate").completion)[0]!).split(", ");
      assert.ok(en.length >= 5 && en.includes(g) && new Set(en).size === en.length, `enumerate: ${en}`);
      const ml = answerLinesOf(build("many_lines").completion).map(contentOf);
      assert.ok(ml.length >= 3 && ml.includes(g) && new Set(ml).size === ml.length, `many_lines: ${ml}`);
      assert.ok(build("many_lines").completion.includes(record.chain_of_thought.split("\n")[0]!));
      assert.ok(build("prompt_copy").completion.includes(ctx.prompt.trim()));
      const sc = build("scattered_digits").completion;
      assert.equal(answerLinesOf(sc).length, 0);
      assert.ok(sc.trimEnd().endsWith(g) && [...g].every((c) => sc.includes(` ${c}`)), sc);
      const ol = build("overlong");
      assert.equal(ol.finishReason, "eos");
      assert.equal(ol.completionTokens, 128);
      assert.ok(ctx.countTokens(ol.completion) >= 128 && ol.completion.trimEnd().endsWith(`#### ${g}`));
      const tr = build("truncated");
      assert.equal(tr.finishReason, "length");
      assert.ok(ctx.countTokens(tr.completion) >= 128 && !tr.completion.trimEnd().endsWith(`#### ${g}`));
      assert.ok((one("repetition", record, build("repeated")).repetition![0] as number) < -0.5);
      assert.equal(contentOf(answerLinesOf(build("form_words").completion)[0]!), inWords(g));
      assert.equal(contentOf(answerLinesOf(build("form_latex").completion)[0]!), `\\boxed{${g}}`);
      assert.equal(contentOf(answerLinesOf(build("form_units").completion)[0]!), `${g} units`);
      assert.equal(contentOf(answerLinesOf(build("form_trailing").completion)[0]!), `${g} is my final answer`);
      assert.equal(contentOf(answerLinesOf(build("format_only").completion)[0]!), "...");
    });
    test(`${record.meta?.["task"]}: exploits are deterministic; only many_lines keeps valid reasoning`, () => {
      for (const name of EXPLOIT_NAMES) {
        const c = EXPLOITS[name].build(ctx);
        assert.deepEqual(c, EXPLOITS[name].build(ctx), name);
        assert.equal(reasoningOf(record, c.completion).valid, name === "many_lines", name);
      }
    });
    test(`${record.meta?.["task"]}: the honest baselines: gold reasons validly; the wrong one errs late with a wrong answer`, () => {
      const c = honestCorrect(ctx);
      assert.ok(reasoningOf(record, c.completion).valid);
      assert.equal(contentOf(answerLinesOf(c.completion)[0]!), g);
      const w = honestWrong(ctx);
      const v = reasoningOf(record, w.completion);
      const wa = contentOf(answerLinesOf(w.completion)[0]!);
      assert.ok(!v.valid && v.credited >= 1, JSON.stringify(v));
      assert.ok(!answersMatch(wa, g, { task: "text" }) && wa === wrongAnswers(record, 1)[0]);
    });
  }
  test("inWords and wrongAnswers", () => {
    assert.equal(inWords("42"), "forty-two");
    assert.equal(inWords("-7"), "minus seven");
    assert.equal(inWords("305"), "three zero five");
    assert.deepEqual(wrongAnswers({ ...algebra, answer: "8" }, 3), ["9", "7", "10"]);
    assert.equal(wrongAnswers({ ...logic, answer: "True" }, 1)[0], "False");
  });
});

describe("testReward", () => {
  test("the deliberately flawed substring reward has holes, each with an example", () => {
    const r = testReward("substring", records, { sample: 30 });
    const names = r.holes.map((h) => h.exploit);
    for (const n of ["answer_only", "enumerate", "scattered_digits", "prompt_copy", "repeated"]) {
      assert.ok(names.includes(n as never), `${n} not found in ${names}`);
    }
    const sd = r.holes.find((h) => h.exploit === "scattered_digits")!;
    assert.ok(sd.kinds.includes("like_correct") && sd.records === 30);
    assert.equal(sd.example.reward, 1);
    assert.equal(sd.example.validReasoning, false);
    assert.ok(sd.example.completion.includes(sd.example.gold));
    assert.ok(formatTestReward(r).some((l) => l.includes("scattered_digits (beats_wrong, like_correct)")));
  });
  test("the recommended spec has no hole, even counting ties as holes; correct:1,format:0.1 has none by default", () => {
    for (const [spec, ties] of [
      [RECOMMENDED, "hole"],
      [RECOMMENDED.replace("correct:", "correct_flexible:"), "hole"],
      [`${RECOMMENDED},overlong:1,repetition:0.1`, "hole"],
      ["correct:1,format:0.1", "ok"],
      ["correct:1", "ok"],
    ] as const) {
      const r = testReward(spec, records, {
        sample: 70,
        ties,
        rewardOptions: { maxNewTokens: 256, overlongBuffer: 32, ngram: 3 },
      });
      assert.deepEqual(r.holes, [], `${spec}:\n${formatTestReward(r).join("\n")}`);
      assert.equal(r.honest.inverted, 0);
    }
  });
  test("ties: correct:1,format:0.1 pays junk chains as much as an honest wrong attempt (a hole only with ties: hole)", () => {
    const r = testReward("correct:1,format:0.1", records, { sample: 20, ties: "hole" });
    const h = r.holes.find((x) => x.exploit === "empty_chain")!;
    assert.deepEqual(h.kinds, ["ties_wrong"]);
    assert.equal(h.example.reward, h.example.honestWrong);
  });
  test("the lenient matcher the rewards used before (last '#### N' matches) is caught by the battery", () => {
    const lenient: RewardFn = (batch) =>
      batch.map(({ record, completion }) =>
        answersMatch(extractBoth(completion, "gsm8k").strict, record.answer, { task: "gsm8k" }) ? 1 : 0,
      );
    const numeric = records.filter((r) => /^-?\d+$/.test(r.answer));
    const r = testReward([{ name: "lenient", weight: 1, fn: lenient }], numeric, { sample: 30 });
    const names = r.holes.map((h) => h.exploit);
    for (const n of ["answer_only", "empty_chain", "truncated", "form_trailing", "enumerate"]) {
      assert.ok(names.includes(n as never), `${n} not in ${names}`);
    }
    assert.equal(r.reward, "lenient:1");
  });
});

describe("penalties", () => {
  const c = (completion: string, finishReason: RewardInput["finishReason"] = "eos") => ({
    completion,
    finishReason,
    completionTokens: 10,
  });
  test("multiple_answers: −1 for several answer lines or enumerated candidates, else 0", () => {
    const num = { ...algebra, answer: "8" };
    const v = (r: CoTRecord, s: string) => one("multiple_answers", r, c(s)).multiple_answers![0];
    assert.equal(v(num, "x = 8.\n#### 8"), 0);
    assert.equal(v(num, "x = 8.\n#### 1,000"), 0); // thousands, one number
    assert.equal(v(num, "x = 8.\n#### 8\n#### 9"), -1);
    assert.equal(v(num, "x = 8.\n#### 8 or 9"), -1);
    assert.equal(v(num, "x = 8.\n#### 7, 8, 9"), -1);
    assert.equal(v(logic, `So ${logic.answer}.\n#### ${logic.answer}`), 0);
    assert.equal(v(logic, "#### Hana or Kai"), -1);
    assert.equal(v(logic, "#### True/False"), -1);
    assert.equal(v(num, "no answer line"), 0);
  });
  test("no_eos: −1 when cut at the budget", () => {
    assert.deepEqual(one("no_eos", algebra, c("x", "length")).no_eos, [-1]);
    assert.deepEqual(one("no_eos", algebra, c("x", "eos")).no_eos, [0]);
    assert.deepEqual(one("no_eos", algebra, c("x", "stop")).no_eos, [0]);
  });
  test("strict correct: one final answer line, a valid chain, finished; substring is fooled where correct is not", () => {
    const gold = honestCorrect(ctxOf(algebra));
    const s = (x: typeof gold) => one("correct,substring", algebra, x);
    assert.deepEqual(s(gold), { correct: [1], substring: [1] });
    assert.deepEqual(s({ ...gold, finishReason: "length" }), { correct: [0], substring: [1] });
    assert.deepEqual(s(c(`${gold.completion}\n#### 0`)), { correct: [0], substring: [1] });
    assert.deepEqual(s(c(` #### ${algebra.answer}`)), { correct: [0], substring: [1] });
  });
});

describe("stepwise guard test-reward", () => {
  /** Run the command in this process: console.log lines, the exit code it set, the error main.ts would print. */
  async function cli(...args: string[]) {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
    registerGuard(program);
    const lines: string[] = [];
    const log = console.log;
    const code = process.exitCode;
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    try {
      await program.parseAsync(["node", "stepwise", "guard", "test-reward", ...args]);
      return { lines, exitCode: process.exitCode, error: "" };
    } catch (err) {
      return { lines, exitCode: process.exitCode, error: (err as Error).message };
    } finally {
      console.log = log;
      process.exitCode = code;
    }
  }
  test("lists each hole with an example, ends with the JSON report, exits 1 on holes and 0 without", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guard-cli-"));
    try {
      const file = join(dir, "d.jsonl");
      await writeFile(file, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);
      const bad = await cli("--reward", "substring", "--data", file, "--sample", "10", "--json");
      assert.equal(bad.exitCode, 1);
      const report = JSON.parse(bad.lines[bad.lines.length - 1]!);
      assert.ok(report.holes.length > 0 && report.holes.every((h: { example: unknown }) => h.example));
      assert.ok(bad.lines.some((l) => /^ {4}example: record \d+, gold /.test(l)));
      const good = await cli("--reward", RECOMMENDED, "--data", file, "--sample", "10", "--ties", "hole", "--json");
      assert.equal(good.exitCode, undefined);
      assert.deepEqual(JSON.parse(good.lines[good.lines.length - 1]!).holes, []);
      assert.match((await cli("--reward", "correct", "--data", file, "--ties", "maybe")).error, /--ties must be/);
      assert.match((await cli("--reward", "corect", "--data", file)).error, /--reward: unknown reward "corect"/);
      assert.match(
        (await cli("--reward", "correct", "--data", file, "--exploits", "nope")).error,
        /unknown exploit "nope"/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("stepwise rl runs the battery first", () => {
  test("refuses a reward with holes (no run folder), starts when the config accepts them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guard-rl-"));
    try {
      await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
        tasks: ["arithmetic"],
        n: 40,
        vocabSize: 300,
        hiddenSize: 16,
        numLayers: 1,
        numHeads: 2,
      });
      const recs = generateDataset({ tasks: ["arithmetic"], n: 12, seed: 0, split: "train" });
      await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
      const raw = {
        model: join(dir, "model"),
        out: join(dir, "run"),
        data: {
          train: { files: [{ path: join(dir, "train.jsonl") }] },
          eval: { files: [{ path: join(dir, "train.jsonl") }] },
        },
        rollout: { prompts: 2, groupSize: 2, maxNewTokens: 4, promptColumns: 200 },
        reward: { spec: "substring" },
        batch: { microBatch: 4 },
        optim: { lr: 1e-3 },
        steps: 1,
        eval: { n: 0 },
      };
      const quiet = { signals: false, stream: { write: () => true } as never };
      let holes: string[] = [];
      await assert.rejects(runRl(parseRlConfig(raw), quiet), (e: Error) => {
        assert.ok(e instanceof RewardHoleError, e.message);
        assert.match(e.message, /scattered_digits \(beats_wrong, like_correct\)/);
        holes = /acceptHoles: \[([^\]]*)\]/.exec(e.message)![1]!.split(", ");
        return true;
      });
      assert.deepEqual(await readdir(dir).then((xs) => xs.includes("run")), false);
      assert.throws(() => parseRlConfig({ ...raw, guard: { acceptHoles: ["nope"] } }), /guard\.acceptHoles/);
      // Accepting all but one still refuses; accepting all starts and finishes the run.
      await assert.rejects(
        runRl(parseRlConfig({ ...raw, guard: { acceptHoles: holes.slice(1) } }), quiet),
        RewardHoleError,
      );
      const res = await runRl(parseRlConfig({ ...raw, guard: { acceptHoles: holes } }), quiet);
      assert.equal(res.status.kind, "done");
      assert.equal(res.step, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
