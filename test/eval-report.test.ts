/**
 * `stepwise eval` reports (examples.jsonl, summary.json, summary.md) on predictions and on a tiny
 * random model with --samples, `stepwise score`, and `stepwise eval compare` — all through
 * commander in-process.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Command } from "commander";
import { registerEval } from "../src/cli/eval.ts";
import { registerScore } from "../src/cli/score.ts";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { corpusBleu, sentenceBleu } from "../src/eval/bleu.ts";
import { pairedBootstrap } from "../src/eval/bootstrap.ts";
import { summarize, writeEvalOutputs } from "../src/eval/report.ts";
import { rouge } from "../src/eval/rouge.ts";
import { chainOf, scoreOutput } from "../src/eval/score.ts";
import { EXAMPLES_FILE, SUMMARY_FILE, TABLE_FILE } from "../src/runs/layout.ts";
import { writeTinyEvalModel } from "./tiny.ts";

/** Run the CLI in-process; returns what it printed with console.log. */
async function cli(args: string[]): Promise<string[]> {
  const program = new Command().exitOverride();
  registerEval(program);
  registerScore(program);
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => {
    lines.push(a.map(String).join(" "));
  };
  try {
    await program.parseAsync(["node", "stepwise", ...args]);
  } finally {
    console.log = orig;
  }
  return lines;
}

const readJsonl = async (path: string) =>
  (await readFile(path, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "stepwise-eval-report-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const rec = (id: string, question: string, chain: string, answer: string): CoTRecord => ({
  question,
  chain_of_thought: chain,
  answer,
  meta: { id },
});

// strict: 1 (p1) of 4; flexible: 2 (p1, p2) of 4
const PREDICTIONS = [
  { ...rec("p1", "Tom has 3 apples and buys 4 more. How many?", "3 + 4 = 7.", "7"), output: "3 + 4 = 7.\n#### 7" },
  {
    ...rec("p2", "Ann has 3 pens and gets 4 more. How many?", "3 + 4 = 7.", "7"),
    output: "3 + 4 = 7. So the total is 7",
  },
  { ...rec("p3", "A box holds 5 rows of 2 eggs. How many eggs?", "5 * 2 = 10.", "10"), output: "5 * 2 = 10.\n#### 11" },
  { ...rec("p4", "What is 6 + 6?", "6 + 6 = 12.", "12"), output: "I don't know." },
];

describe("eval --predictions: summary.json, examples.jsonl, summary.md", () => {
  test("exact accuracies, BLEU/ROUGE equal to corpusBleu/rouge, step verdicts", async () => {
    const file = join(tmp, "preds.jsonl");
    await writeFile(file, `${PREDICTIONS.map((p) => JSON.stringify(p)).join("\n")}\n`);
    const out = join(tmp, "pred-run");
    const printed = await cli(["eval", "--predictions", file, "--format", "cot", "--out", out, "--json"]);
    const summary = JSON.parse(await readFile(join(out, SUMMARY_FILE), "utf8"));
    assert.deepEqual(JSON.parse(printed.at(-1)!), summary);
    assert.equal(summary.n, 4);
    assert.equal(summary.accuracy_strict, 1 / 4);
    assert.equal(summary.accuracy_flexible, 2 / 4);
    // claims in p1, p2, p3; p3's "5 * 2 = 10" is right (its answer is wrong, not its step)
    assert.equal(summary.chains_with_claims, 3 / 4);
    assert.equal(summary.step_validity, 1);
    const hyps = PREDICTIONS.map((p) => chainOf(p.output).trim());
    const refs = PREDICTIONS.map((p) => p.chain_of_thought);
    assert.equal(summary.chain_n, 4);
    assert.equal(
      summary.bleu,
      corpusBleu(
        hyps,
        refs.map((r) => [r]),
      ).score,
    );
    for (const k of ["rouge1", "rouge2", "rougeL"] as const) {
      const mean = hyps.reduce((s, h, i) => s + rouge(h, refs[i]!)[k].fmeasure, 0) / hyps.length;
      assert.ok(Math.abs(summary[k] - mean) < 1e-12, `${k}: ${summary[k]} vs ${mean}`);
    }
    assert.equal(summary.samples, undefined, "no maj@k without --samples");

    const examples = await readJsonl(join(out, EXAMPLES_FILE));
    assert.equal(examples.length, 4);
    for (const key of [
      "id",
      "question",
      "gold",
      "reference",
      "prompt",
      "output",
      "extracted_strict",
      "extracted_flexible",
      "correct_strict",
      "correct_flexible",
      "steps",
      "chain_scores",
    ]) {
      assert.ok(key in examples[0], `examples.jsonl has ${key}`);
    }
    assert.deepEqual(
      examples.map((e) => [e.id, e.extracted_strict, e.extracted_flexible, e.correct_strict, e.correct_flexible]),
      [
        ["p1", "7", "7", true, true],
        ["p2", null, "7", false, true],
        ["p3", "11", "11", false, false],
        ["p4", null, null, false, false],
      ],
    );
    assert.equal(examples[0].steps.valid, true);
    assert.equal(examples[0].chain_scores.bleu, sentenceBleu(hyps[0]!, [refs[0]!]).score);
    const table = await readFile(join(out, TABLE_FILE), "utf8");
    assert.match(table, /\| \*\*all\*\* \| 4 \| 25\.0% \| 50\.0% \| 75\.0% \| 100\.0% \|/);
    assert.match(table, /\| chains vs reference \| n \| BLEU \|/);
  });

  test("--format gsm8k reads raw GSM8K rows (calculator annotations, #### answer) through the adapter", async () => {
    const file = join(tmp, "gsm8k-preds.jsonl");
    const rows = [
      {
        question: "Sam has 12 cards and gives 5 away. How many are left?",
        answer: "12 - 5 = <<12-5=7>>7\n#### 7",
        output: "12 - 5 = 7\n#### 7",
      },
      {
        question: "A pack has 1,200 sheets; 2 packs?",
        answer: "1200 * 2 = <<1200*2=2400>>2400\n#### 2,400",
        output: "The answer is 2400.",
      },
    ];
    await writeFile(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const out = join(tmp, "gsm8k-run");
    await cli(["eval", "--predictions", file, "--format", "gsm8k", "--out", out, "--json"]);
    const summary = JSON.parse(await readFile(join(out, SUMMARY_FILE), "utf8"));
    assert.equal(summary.accuracy_strict, 1);
    const ex = await readJsonl(join(out, EXAMPLES_FILE));
    assert.equal(ex[0].reference, "12 - 5 = 7", "annotations stripped from the reference chain");
    assert.equal(ex[1].gold, "2400");
  });

  test("bad rows and formats are one-line errors naming file:line", async () => {
    const file = join(tmp, "bad-preds.jsonl");
    await writeFile(
      file,
      `${JSON.stringify(PREDICTIONS[0])}\n${JSON.stringify({ question: "q", answer: "1 #### 1" })}\n`,
    );
    await assert.rejects(cli(["eval", "--predictions", file, "--out", join(tmp, "x")]), (e: Error) => {
      assert.match(e.message, /bad-preds\.jsonl:2/);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
    await assert.rejects(
      cli(["eval", "--predictions", file, "--format", "alpaca"]),
      /--format must be one of gsm8k, aqua, math, cot/,
    );
  });
});

describe("scoreOutput on a generated record", () => {
  test("grades the chain with its task's checker, the problem rebuilt from meta.structured", () => {
    const r = generateDataset({ tasks: ["algebra"], n: 1, seed: 0, split: "test" })[0]!;
    const right = scoreOutput(r, `${r.chain_of_thought}\n#### ${r.answer}`, { index: 0 });
    assert.equal(right.steps.checker, "task:algebra");
    assert.equal(right.steps.valid, true);
    const steps = r.chain_of_thought.split("\n");
    const wrong = scoreOutput(r, `${steps[0]!.replace(/-?\d+(?=\.?$)/, "12345")}\n#### ${r.answer}`, { index: 0 });
    assert.deepEqual([wrong.steps.checker, wrong.steps.valid, wrong.steps.firstInvalid], ["task:algebra", false, 0]);
    const { structured: _, ...meta } = r.meta!;
    assert.equal(scoreOutput({ ...r, meta }, r.chain_of_thought, { index: 0 }).steps.checker, "generic");
  });
});

describe("eval --model with --samples (tiny random model)", () => {
  let modelDir: string;
  before(async () => {
    await initEngine();
    modelDir = join(tmp, "model");
    await writeTinyEvalModel(modelDir, join(tmp, "tok"), {
      tasks: ["arithmetic"],
      n: 100,
      vocabSize: 300,
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
    });
  });

  test("--samples 3 writes maj@k and pass@k, k outputs per example, and is seeded", async () => {
    const args = (out: string) => [
      "eval",
      "--model",
      modelDir,
      "--task",
      "arithmetic",
      "--n",
      "4",
      "--seed",
      "3",
      "--mode",
      "cot",
      "--samples",
      "3",
      "--max-new-tokens",
      "8",
      "--out",
      out,
      "--json",
    ];
    await cli(args(join(tmp, "s1")));
    await cli(args(join(tmp, "s2")));
    const summary = JSON.parse(await readFile(join(tmp, "s1", SUMMARY_FILE), "utf8"));
    assert.equal(summary.n, 4);
    assert.equal(summary.samples, 3);
    assert.equal(summary.temperature, 0.7);
    for (const k of [
      "maj_at_k_strict",
      "maj_at_k_flexible",
      "pass_at_1_strict",
      "pass_at_1_flexible",
      "pass_at_k_strict",
      "pass_at_k_flexible",
    ]) {
      assert.ok(summary[k] >= 0 && summary[k] <= 1, `${k} = ${summary[k]}`);
    }
    assert.ok(summary.pass_at_k_flexible >= summary.pass_at_1_flexible);
    assert.equal(typeof summary.bleu, "number", "generated problems have reference chains");
    const ex = await readJsonl(join(tmp, "s1", EXAMPLES_FILE));
    assert.equal(ex.length, 4);
    for (const e of ex) {
      assert.equal(e.outputs.length, 3);
      assert.equal(e.output, e.outputs[0]);
      assert.equal(e.sampled.k, 3);
      assert.equal(e.sampled.extracted_flexible.length, 3);
      assert.ok(e.prompt.endsWith("Let's think step by step."));
    }
    const ex2 = await readJsonl(join(tmp, "s2", EXAMPLES_FILE));
    assert.deepEqual(
      ex2.map((e) => e.outputs),
      ex.map((e) => e.outputs),
      "same seed, same samples",
    );
    const table = await readFile(join(tmp, "s1", TABLE_FILE), "utf8");
    assert.match(table, /\| sampling \(k = 3\) \| maj@3 \| pass@1 \| pass@3 \|/);
  });

  test("--data in GSM8K format with --mode direct; --mode fewshot --shots k", async () => {
    const file = join(tmp, "gsm8k.jsonl");
    const rows = [
      { question: "Sam has 12 cards and gives 5 away. How many are left?", answer: "12 - 5 = <<12-5=7>>7\n#### 7" },
      { question: "Ben has 3 bags of 4 apples. How many apples?", answer: "3 * 4 = <<3*4=12>>12\n#### 12" },
      { question: "Mia reads 10 pages a day for 3 days. How many pages?", answer: "10 * 3 = <<10*3=30>>30\n#### 30" },
    ];
    await writeFile(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const out = join(tmp, "direct");
    const base = ["eval", "--model", modelDir, "--data", file, "--format", "gsm8k", "--max-new-tokens", "4", "--json"];
    const r = JSON.parse((await cli([...base, "--mode", "direct", "--out", out])).at(-1)!);
    assert.equal(r.n, 3);
    assert.equal(r.prompting, "zero");
    assert.equal(r.format, "gsm8k");
    const ex = await readJsonl(join(out, EXAMPLES_FILE));
    assert.equal(ex[0].prompt, `Q: ${rows[0]!.question}\nA:`);
    assert.equal(ex[1].reference, "3 * 4 = 12");
    const f = JSON.parse((await cli([...base, "--mode", "fewshot", "--shots", "2"])).at(-1)!);
    assert.equal(f.prompting, "few-cot");
    assert.equal(f.shots, 2);
    await assert.rejects(cli([...base, "--mode", "chatty"]), /--mode must be one of cot, direct, fewshot/);
  });
});

describe("stepwise score", () => {
  test("one line per pair equal to sentenceBleu/rouge; last stdout line is corpus BLEU", async () => {
    const pairs = [
      { hyp: "The cat sat on the mat.", ref: "The cat is sitting on the mat." },
      { hyp: "3 + 4 = 7, so he has 7 apples.", ref: ["3 + 4 = 7. He has 7 apples.", "He has 7 apples in all."] },
      { hyp: "running dogs jumped", ref: "the dog runs and jumps" },
    ];
    const input = join(tmp, "pairs.jsonl");
    const out = join(tmp, "scores.jsonl");
    await writeFile(input, `${pairs.map((p) => JSON.stringify(p)).join("\n")}\n`);
    const printed = await cli(["score", "--input", input, "--out", out]);
    const scores = await readJsonl(out);
    assert.equal(scores.length, 3);
    pairs.forEach((p, i) => {
      const refs = typeof p.ref === "string" ? [p.ref] : p.ref;
      const plain = rouge(p.hyp, refs);
      const stem = rouge(p.hyp, refs, { stem: true });
      assert.deepEqual(scores[i], {
        bleu: sentenceBleu(p.hyp, refs).score,
        rouge1: plain.rouge1.fmeasure,
        rouge2: plain.rouge2.fmeasure,
        rougeL: plain.rougeL.fmeasure,
        rouge1_stem: stem.rouge1.fmeasure,
        rouge2_stem: stem.rouge2.fmeasure,
        rougeL_stem: stem.rougeL.fmeasure,
      });
    });
    assert.ok(scores[2].rouge1_stem > scores[2].rouge1, "stemming matches runs/running, jumps/jumped");
    assert.deepEqual(JSON.parse(printed.at(-1)!), {
      corpus_bleu: corpusBleu(
        pairs.map((p) => p.hyp),
        pairs.map((p) => (typeof p.ref === "string" ? [p.ref] : p.ref)),
      ).score,
    });
  });

  test("a bad line is a one-line error naming file:line", async () => {
    const input = join(tmp, "bad-pairs.jsonl");
    await writeFile(input, `${JSON.stringify({ hyp: "a", ref: "a" })}\n${JSON.stringify({ hyp: "a", ref: [] })}\n`);
    await assert.rejects(
      cli(["score", "--input", input, "--out", join(tmp, "bad-scores.jsonl")]),
      /bad-pairs\.jsonl:2: field "ref"/,
    );
    await writeFile(input, `${JSON.stringify({ hyp: "a", ref: "a" })}\n{not json\n`);
    await assert.rejects(
      cli(["score", "--input", input, "--out", join(tmp, "bad-scores.jsonl")]),
      /bad-pairs\.jsonl:2/,
    );
  });
});

describe("stepwise eval compare", () => {
  /** A run of n examples, the first `correct` of them answered right, each with a checkable valid chain. */
  async function makeRun(name: string, n: number, correct: number, questionOffset = 0): Promise<string> {
    const examples = Array.from({ length: n }, (_, i) => {
      const a = i + 1 + questionOffset;
      const r: CoTRecord = {
        question: `What is ${a} + 1?`,
        chain_of_thought: `${a} + 1 = ${a + 1}.`,
        answer: `${a + 1}`,
      };
      const out = i < correct ? `${a} + 1 = ${a + 1}.\n#### ${a + 1}` : `${a} + 1 = ${a + 1}.\n#### 0`;
      return scoreOutput(r, out, { index: i });
    });
    const dir = join(tmp, name);
    await writeEvalOutputs(dir, { report: summarize(examples), examples });
    return dir;
  }

  test("exact difference, a CI that contains it, wider with fewer examples, seeded", async () => {
    const a = await makeRun("cmp-a", 40, 20);
    const b = await makeRun("cmp-b", 40, 30);
    const sa = await makeRun("cmp-sa", 10, 5);
    const sb = await makeRun("cmp-sb", 10, 7);
    const big = JSON.parse(
      (await cli(["eval", "compare", a, b, "--json", "--resamples", "2000", "--seed", "1"])).at(-1)!,
    );
    const small = JSON.parse(
      (await cli(["eval", "compare", sa, sb, "--json", "--resamples", "2000", "--seed", "1"])).at(-1)!,
    );
    assert.equal(big.n, 40);
    const acc = big.metrics.find((m: { metric: string }) => m.metric === "accuracy_strict");
    assert.equal(acc.a, 0.5);
    assert.equal(acc.b, 0.75);
    assert.equal(acc.diff, 0.25);
    assert.ok(acc.ci.lo <= 0.25 && 0.25 <= acc.ci.hi, JSON.stringify(acc.ci));
    assert.ok(acc.ci.lo > 0, "B is better on every differing example: the interval excludes 0");
    const sacc = small.metrics.find((m: { metric: string }) => m.metric === "accuracy_strict");
    assert.ok(Math.abs(sacc.diff - 0.2) < 1e-12);
    assert.ok(sacc.ci.lo <= sacc.diff && sacc.diff <= sacc.ci.hi);
    assert.ok(sacc.ci.hi - sacc.ci.lo > acc.ci.hi - acc.ci.lo, "fewer examples, wider interval");
    const steps = big.metrics.find((m: { metric: string }) => m.metric === "step_validity");
    assert.deepEqual([steps.a, steps.b, steps.diff], [1, 1, 0]);
    // the same as the library call, and seeded
    const va = Array.from({ length: 40 }, (_, i) => (i < 20 ? 1 : 0));
    const vb = Array.from({ length: 40 }, (_, i) => (i < 30 ? 1 : 0));
    assert.deepEqual(acc.ci, pairedBootstrap(va, vb, { resamples: 2000, seed: 1 }).ci);
    // text output names the method
    const text = (await cli(["eval", "compare", a, b])).join("\n");
    assert.match(text, /\| accuracy_strict \| 0\.5000 \| 0\.7500 \| \+0\.2500 \|/);
    assert.match(text, /paired bootstrap/);
  });

  test("runs on different example sets are refused clearly", async () => {
    const a = await makeRun("cmp-m-a", 10, 5);
    const b = await makeRun("cmp-m-b", 10, 5, 3);
    await assert.rejects(cli(["eval", "compare", a, b]), /example sets differ: 3 only in A .*3 only in B/);
    await assert.rejects(cli(["eval", "compare", a, join(tmp, "nowhere")]), /examples\.jsonl not found/);
  });
});
