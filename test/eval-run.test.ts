/**
 * Prompting baselines rendered exactly as documented, the seeded exemplar draw, and
 * `evaluate` / `stepwise eval` end to end on a tiny random model with a trained tokenizer.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { STEP_BY_STEP_TRIGGER } from "../src/data/format.ts";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset, generateProblems } from "../src/data/tasks/index.ts";
import { toRecord } from "../src/data/tasks/types.ts";
import { initEngine } from "../src/engine/device.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { extractBoth } from "../src/eval/extract.ts";
import { buildPrompt, drawExemplars, promptBuilder, shufflePool } from "../src/eval/prompting.ts";
import { writeEvalOutputs } from "../src/eval/report.ts";
import { evaluate } from "../src/eval/run.ts";
import { answerTaskOf, chainOf, scoreOutput } from "../src/eval/score.ts";
import { checkChain } from "../src/eval/steps.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { EXAMPLES_FILE, SUMMARY_FILE } from "../src/runs/layout.ts";
import { CHATML_TEMPLATE } from "../src/tokenizer/chat.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const rec = (question: string, chain: string, answer: string): CoTRecord => ({
  question,
  chain_of_thought: chain,
  answer,
});
const POOL = [
  rec("What is 2 + 3?", "2 + 3 = 5.", "5"),
  rec("What is 4 * 5?", "4 * 5 = 20.", "20"),
  rec("What is 9 - 1?", "9 - 1 = 8.", "8"),
  rec("What is 6 / 2?", "6 / 2 = 3.", "3"),
];

describe("prompting", () => {
  test("zero-shot and zero-shot CoT render as documented", () => {
    assert.deepEqual(buildPrompt("What is 1 + 1?", { kind: "zero" }), {
      prompt: "Q: What is 1 + 1?\nA:",
      stop: ["\nQ:"],
      exemplars: [],
    });
    assert.equal(
      buildPrompt("  What is 1 + 1? ", { kind: "zero-cot" }).prompt,
      "Q: What is 1 + 1?\nA: Let's think step by step.",
    );
  });

  test("few-shot CoT: k exemplars with chain and answer line, then the question", () => {
    const b = buildPrompt("What is 1 + 1?", { kind: "few-cot", shots: 2, pool: POOL, seed: 0 });
    const order = shufflePool(POOL, 0);
    const [e1, e2] = [order[0]!, order[1]!];
    assert.equal(
      b.prompt,
      `Q: ${e1.question}\nA: ${e1.chain_of_thought}\n#### ${e1.answer}\n\n` +
        `Q: ${e2.question}\nA: ${e2.chain_of_thought}\n#### ${e2.answer}\n\n` +
        "Q: What is 1 + 1?\nA:",
    );
    assert.deepEqual(b.exemplars, [e1.question, e2.question]);
  });

  test("the exemplar draw is seeded and never includes the test question", () => {
    const a = promptBuilder({ kind: "few-cot", shots: 3, pool: POOL, seed: 5 });
    const b = promptBuilder({ kind: "few-cot", shots: 3, pool: POOL, seed: 5 });
    for (const r of POOL) {
      const x = a(r.question);
      assert.deepEqual(x, b(r.question));
      assert.equal(x.exemplars.length, 3);
      assert.ok(!x.exemplars.includes(r.question), `exemplars include the test question "${r.question}"`);
    }
    // a question equal up to whitespace and case is excluded too
    assert.ok(!a("  what is 2 +   3? ").exemplars.includes("What is 2 + 3?"));
    const seeds = new Set(
      [0, 1, 2, 3, 4, 5, 6, 7].map((s) =>
        shufflePool(POOL, s)
          .map((r) => r.answer)
          .join(),
      ),
    );
    assert.ok(seeds.size > 1, "different seeds give different draws");
    assert.throws(() => drawExemplars(POOL, POOL[0]!.question, 4), /needs 4 exemplars .* the pool has 3/);
  });

  test("chat format: exemplars as user/assistant turns, trigger appended to the question", () => {
    const spec = { template: CHATML_TEMPLATE };
    const z = buildPrompt("What is 1 + 1?", { kind: "zero-cot", chat: spec });
    assert.equal(
      z.prompt,
      `<|im_start|>user\nWhat is 1 + 1?\n${STEP_BY_STEP_TRIGGER}<|im_end|>\n<|im_start|>assistant\n`,
    );
    assert.deepEqual(z.stop, []);
    const f = buildPrompt("What is 1 + 1?", { kind: "few-cot", shots: 1, pool: POOL, seed: 0, chat: spec });
    const e = shufflePool(POOL, 0)[0]!;
    assert.equal(
      f.prompt,
      `<|im_start|>user\n${e.question}<|im_end|>\n<|im_start|>assistant\n${e.chain_of_thought}\n#### ${e.answer}<|im_end|>\n` +
        "<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  test("bad options are clear errors", () => {
    assert.throws(() => buildPrompt("q", { kind: "few-cot", shots: 2 }), /few-cot needs a pool/);
    assert.throws(() => buildPrompt("q", { kind: "many" as "zero" }), /kind must be one of zero, zero-cot, few-cot/);
  });

  test("chainOf drops the answer line", () => {
    assert.equal(chainOf("2 + 3 = 5.\n#### 5"), "2 + 3 = 5.");
  });
});

describe("evaluate end to end (tiny random model)", () => {
  let tmp: string;
  let modelDir: string;
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-eval-"));
    modelDir = join(tmp, "model");
    await writeTinyEvalModel(modelDir, join(tmp, "tok"), {
      tasks: ["arithmetic", "units"],
      n: 200,
      vocabSize: 400,
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
    });
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("20 generated problems: report with accuracy fields, per task, examples.jsonl", async () => {
    const problems = generateProblems({ tasks: ["arithmetic", "units"], n: 20, seed: 3, split: "test" });
    const records = problems.map(toRecord);
    const model = await loadModel(modelDir);
    const tokenizer = await Tokenizer.fromDir(modelDir);
    const t0 = performance.now();
    const result = await evaluate({
      model,
      tokenizer,
      records,
      problems,
      prompting: "zero-cot",
      maxNewTokens: 24,
      batchSize: 10,
    });
    console.log(`# evaluate: 20 problems in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const r = result.report;
    assert.equal(r.n, 20);
    for (const k of ["accuracy_strict", "accuracy_flexible", "chains_with_claims"] as const) {
      assert.ok(r[k] >= 0 && r[k] <= 1, `${k} = ${r[k]}`);
    }
    assert.deepEqual(Object.keys(r.by_task), ["arithmetic", "units"]);
    assert.equal(r.by_task["arithmetic"]!.n + r.by_task["units"]!.n, 20);
    assert.equal(result.examples.length, 20);
    result.examples.forEach((s, i) => {
      assert.equal(s.question, records[i]!.question);
      assert.equal(s.gold, records[i]!.answer);
      assert.ok(s.prompt.endsWith(`A: ${STEP_BY_STEP_TRIGGER}`));
      assert.ok(s.new_tokens >= 1 && s.new_tokens <= 24);
      assert.ok(!s.output.includes("\nQ:"), "output cut at the stop string");
    });
    const files = await writeEvalOutputs(join(tmp, "run"), result);
    assert.deepEqual(
      files.map((f) => f.slice(tmp.length + 1)),
      [`run/${EXAMPLES_FILE}`, `run/${SUMMARY_FILE}`, "run/summary.md"],
    );
    const summary = JSON.parse(await readFile(files[1]!, "utf8"));
    assert.equal(summary.n, 20);
    const lines = (await readFile(files[0]!, "utf8")).trim().split("\n");
    assert.equal(lines.length, 20);
    assert.equal(typeof JSON.parse(lines[0]!).correct_strict, "boolean");
    disposeTree(model.params);
  });

  test("a model that writes the gold chain is scored correct and step-valid (answers and steps wired right)", async () => {
    // a random model never writes a gold chain: score the gold text with the extraction and checks evaluate() uses
    const problems = generateProblems({ tasks: ["arithmetic"], n: 5, seed: 4, split: "test" });
    for (const p of problems) {
      const out = `${p.steps.join("\n")}\n#### ${p.answer}`;
      assert.equal(extractBoth(out, "gsm8k").strict, p.answer);
      assert.equal(checkChain({ question: p.question, chain: chainOf(out) }).valid, true);
    }
  });

  test("stepwise eval --predictions scores outputs made elsewhere: gold outputs are correct and step-valid", async () => {
    const problems = generateProblems({ tasks: ["arithmetic", "long-arith"], n: 6, seed: 5, split: "test" });
    const lines = problems.map((p, i) => {
      const output = i === 0 ? "I do not know." : `${p.steps.join("\n")}\n#### ${p.answer}`;
      return JSON.stringify({ ...toRecord(p), output });
    });
    const file = join(tmp, "predictions.jsonl");
    await writeFile(file, `${lines.join("\n")}\n`);
    const out = join(tmp, "pred-run");
    const res = await promisify(execFile)(
      process.execPath,
      ["bin/stepwise.js", "eval", "--predictions", file, "--out", out, "--json"],
      { timeout: 120_000 },
    );
    const report = JSON.parse(res.stdout.trim().split("\n").pop()!);
    assert.equal(report.n, 6);
    assert.equal(report.accuracy_strict, 5 / 6);
    assert.equal(report.chains_with_claims, 5 / 6);
    assert.equal(report.step_validity, 1);
    const table = await readFile(join(out, "summary.md"), "utf8");
    assert.match(table, /\| \*\*all\*\* \| 6 \| 83\.3% \| 83\.3% \| 83\.3% \| 100\.0% \|/);
  });

  test("stepwise eval --task … --out DIR writes summary.json and examples.jsonl", async () => {
    const out = join(tmp, "cli-run");
    const run = promisify(execFile);
    const args = ["bin/stepwise.js", "eval", "--model", modelDir, "--task", "arithmetic", "--n", "8"];
    const res = await run(
      process.execPath,
      [...args, "--seed", "2", "--mode", "fewshot", "--shots", "2", "--max-new-tokens", "8", "--out", out, "--json"],
      { timeout: 120_000 },
    );
    const report = JSON.parse(res.stdout.trim().split("\n").pop()!);
    assert.equal(report.n, 8);
    assert.equal(report.prompting, "few-cot");
    assert.equal(report.shots, 2);
    const summary = JSON.parse(await readFile(join(out, SUMMARY_FILE), "utf8"));
    assert.equal(summary.n, 8);
    const samples = (await readFile(join(out, EXAMPLES_FILE), "utf8")).trim().split("\n");
    assert.equal(samples.length, 8);
    await assert.rejects(
      run(process.execPath, ["bin/stepwise.js", "eval", "--model", modelDir]),
      /give exactly one of --data FILE or --task NAME/,
    );
  });
});

describe("generated problems with free-text answers", () => {
  test("a logic record is graded by its #### line (text answer task), names and True/False alike", () => {
    const records = generateDataset({ tasks: ["logic"], n: 40, seed: 3, split: "test" });
    assert.ok(
      records.some((r) => /^(True|False)$/.test(r.answer)) && records.some((r) => /^[A-Z][a-z]+$/.test(r.answer)),
    );
    for (const r of records) {
      assert.equal(answerTaskOf(r), "text", r.question);
      const good = scoreOutput(r, ` ${r.chain_of_thought}\n#### ${r.answer}`, { index: 0 });
      assert.ok(good.correct_strict && good.correct_flexible, r.question);
      const wrong = r.answer === "True" ? "False" : r.answer === "False" ? "True" : "Nobody";
      assert.equal(scoreOutput(r, ` #### ${wrong}`, { index: 0 }).correct_strict, false, r.question);
    }
  });
  test("numeric generated answers stay numeric (gsm8k rules: 12.0 == 12)", () => {
    const [r] = generateDataset({ tasks: ["algebra"], n: 1, seed: 3, split: "test" });
    assert.equal(answerTaskOf(r!), "gsm8k");
    assert.ok(scoreOutput(r!, ` #### ${r!.answer}.0`, { index: 0 }).correct_strict);
  });
});
