/**
 * Verifier-guided answers (issue 16 item 7): best-of-K, verifier-weighted majority and their
 * fallbacks against hand-worked cases, the report's intervals, the --select parser, and
 * `stepwise eval --samples K --select rm:DIR` end to end on a tiny model and a tiny reward model.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { generateProblems } from "../src/data/tasks/index.ts";
import { toRecord } from "../src/data/tasks/types.ts";
import { initEngine } from "../src/engine/device.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { majorityVote, wilsonInterval } from "../src/eval/metrics.ts";
import {
  bestOfK,
  meanInterval,
  parseSelect,
  SelectError,
  selectAnswer,
  selectionReport,
  selectionText,
  weightedVote,
} from "../src/eval/select.ts";
import { evaluateWithSelection } from "../src/eval/select-run.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { rewardModelFrom, saveRewardModel } from "../src/prefs/reward-model.ts";
import { type ProcessScorer, ScorerCache } from "../src/prefs/verifier.ts";
import { EXAMPLES_FILE, SUMMARY_FILE } from "../src/runs/layout.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");

describe("selection math", () => {
  test("best-of-K: the highest score among chains with an answer; ties go to the earliest", () => {
    assert.equal(bestOfK(["3", "4", "3"], [0.1, 0.9, 0.5]), 1);
    assert.equal(bestOfK(["3", null, "3"], [0.1, 0.9, 0.5]), 2, "a chain with no answer cannot be picked");
    assert.equal(bestOfK(["3", "4", "5"], [0.7, 0.7, null]), 0);
    assert.equal(bestOfK([null, "4"], [1, null]), null);
  });
  test("weighted majority: Σ weights per canonical answer; equal weights give the plain majority", () => {
    // plain majority says 3 (two votes), the weights say 4 (0.9 > 0.2 + 0.3)
    assert.deepEqual(weightedVote(["3", "4", "3"], [0.2, 0.9, 0.3], "number"), { answer: "4", index: 1, weight: 0.9 });
    // "0.5" and "1/2" vote together (canonicalAnswer)
    assert.equal(weightedVote(["0.5", "2", "1/2"], [0.3, 0.5, 0.3], "number")!.answer, "0.5");
    const answers = ["7", "8", "8", "7", null, "9"];
    const w = weightedVote(answers, [1, 1, 1, 1, 1, 1], "number")!;
    assert.equal(w.answer, majorityVote(answers, "number").answer, "tie goes to the earliest, as majorityVote");
    assert.equal(w.answer, "7");
    assert.equal(weightedVote([null, null], [1, 1], "number"), null);
  });
  test("selectAnswer: rm weights are σ(score), prm weights the score; no scored candidate falls back to majority", () => {
    const rm = parseSelect("weighted:rm:R");
    // σ(2) + σ(−3) ≈ 0.928 < σ(0.5) + σ(0.4) ≈ 1.22: the two weaker "5"s beat a strong and a weak "6"
    const c = { answers: ["6", "5", "6", "5"], correct: [false, true, false, true], scores: [2, 0.5, -3, 0.4] };
    assert.equal(selectAnswer(c, rm, "number").answer, "5");
    // Best-of-K takes the single best chain, a "6".
    assert.equal(selectAnswer(c, parseSelect("rm:R"), "number").answer, "6");
    const none = { answers: ["1", "2", "2"], correct: [false, true, true], scores: [null, null, null] };
    assert.deepEqual(selectAnswer(none, parseSelect("prm:P"), "number"), { index: 1, answer: "2", how: "fallback" });
    assert.throws(() => selectAnswer({ answers: ["1"], correct: [true] }, rm, "number"), /0 verifier scores for 1/);
  });
  test("the report: Wilson intervals, pass@1 as mean ± 1.96·sd/√n, paired differences", () => {
    const p = (greedyCorrect: boolean, answers: string[], scores: number[]) => ({
      gold: "1",
      task: "number" as const,
      greedyCorrect,
      candidates: { answers, correct: answers.map((a) => a === "1"), scores },
    });
    const problems = [
      p(false, ["1", "2", "2"], [3, 0, 0]), // majority wrong, best-of-K right
      p(true, ["1", "1", "2"], [0, 0, 1]), // majority right, best-of-K wrong
      p(false, ["1", "2", "3"], [2, 1, 0]), // majority right (tie → first), best right
      p(false, ["2", "2", "2"], [0, 0, 0]), // nobody right
    ];
    const { report: r, picks } = selectionReport(problems, parseSelect("rm:R"));
    assert.deepEqual(
      picks.map((x) => x.correct),
      [true, false, true, false],
    );
    assert.equal(r.greedy.accuracy, 0.25);
    assert.equal(r.maj_at_k.accuracy, 0.5);
    assert.equal(r.pass_at_k.accuracy, 0.75);
    assert.equal(r.select.accuracy, 0.5);
    assert.deepEqual({ lo: r.select.lo, hi: r.select.hi }, wilsonInterval(2, 4));
    const fracs = [1 / 3, 2 / 3, 1 / 3, 0];
    const mean = 1 / 3;
    const sd = Math.sqrt(fracs.reduce((a, x) => a + (x - mean) ** 2, 0) / 3);
    assert.ok(Math.abs(r.pass_at_1.accuracy - mean) < 1e-12);
    assert.ok(Math.abs(r.pass_at_1.hi - (mean + (1.96 * sd) / 2)) < 1e-12);
    assert.equal(r.select_minus_greedy.diff, 0.25);
    assert.equal(r.select_minus_majority.diff, 0);
    assert.ok(r.select_minus_greedy.lo <= 0.25 && r.select_minus_greedy.hi >= 0.25);
    assert.equal(r.select_method, "rm:R");
    assert.deepEqual(meanInterval([]), { accuracy: 0, lo: 0, hi: 1 });
  });
  test("--select parses the four ways and rejects others by name", () => {
    assert.deepEqual(parseSelect("majority"), { kind: "majority" });
    assert.equal(selectionText(parseSelect("prm:a@prod")), "prm:a@steps=prod");
    assert.equal(selectionText(parseSelect("rm:a+b@mean-1std")), "rm:a+b@ensemble=mean-1std");
    const w = parseSelect("weighted:runs/orm");
    assert.equal(w.kind === "weighted" && w.kindGiven, false, "the folder will say which kind it is");
    assert.equal(selectionText(parseSelect("weighted:prm:p@prod")), "weighted:prm:p@steps=prod");
    for (const [bad, re] of [
      ["best", /--select: "best"; expected majority, rm:DIR/],
      ["rm:", /--select: "rm:" names no folder/],
      ["prm:a@steps=max", /step aggregation "max"/],
    ] as const) {
      assert.throws(
        () => parseSelect(bad),
        (e: Error) => e instanceof SelectError && re.test(e.message),
      );
    }
  });
});

describe("eval --select end to end (tiny model, tiny reward model)", () => {
  let tmp = "";
  let modelDir = "";
  let rmDir = "";
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-select-"));
    modelDir = join(tmp, "model");
    await writeTinyEvalModel(modelDir, join(tmp, "tok"), {
      tasks: ["arithmetic"],
      n: 100,
      vocabSize: 300,
      hiddenSize: 32,
      numLayers: 1,
      numHeads: 2,
    });
    const rmModel = rewardModelFrom(await loadModel(modelDir), 4, 1);
    rmDir = join(tmp, "rm");
    await saveRewardModel(rmDir, rmModel, { tokenizerFrom: modelDir });
    disposeTree(rmModel.params);
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("stepwise eval --samples 3 --select rm:DIR: the JSON keys, and the pick is the best-scored chain", async () => {
    const out = join(tmp, "run");
    const args = ["eval", "--model", modelDir, "--task", "arithmetic", "--n", "6", "--samples", "3"];
    const flags = ["--temperature", "1", "--max-new-tokens", "12", "--batch", "6", "--json", "--out", out];
    const { stdout } = await run(process.execPath, [BIN, ...args, "--select", `rm:${rmDir}`, ...flags], {
      maxBuffer: 1 << 24,
    });
    const r = JSON.parse(stdout.trim().split("\n").pop()!);
    for (const key of ["greedy", "maj_at_k", "pass_at_1", "pass_at_k", "select"]) {
      assert.ok(r[key].lo <= r[key].accuracy && r[key].accuracy <= r[key].hi, `${key}: ${JSON.stringify(r[key])}`);
    }
    assert.equal(r.n, 6);
    assert.equal(r.samples, 3);
    assert.equal(r.select_method, `rm:${rmDir}`);
    assert.ok(Number.isFinite(r.seconds_scoring));
    const rows = (await readFile(join(out, EXAMPLES_FILE), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 6);
    for (const row of rows) {
      assert.equal(row.verifier_scores.length, 3);
      assert.equal(
        row.selected_index,
        bestOfK(row.sampled.extracted_strict, row.verifier_scores) ?? row.selected_index,
      );
    }
    const right = rows.filter((x) => x.selected_correct).length;
    assert.equal(r.select.accuracy, right / 6);
    assert.equal(r.greedy.accuracy, rows.filter((x) => x.greedy_correct).length / 6);
    const summary = JSON.parse(await readFile(join(out, SUMMARY_FILE), "utf8"));
    assert.equal(summary.selection.select_method, r.select_method);
    await assert.rejects(
      run(process.execPath, [BIN, "eval", "--model", modelDir, "--task", "arithmetic", "--select", "majority"]),
      /--select needs --samples K with K > 1/,
    );
  });

  test("majority and a PRM-weighted majority through evaluateWithSelection", async () => {
    const model = await loadModel(modelDir);
    const tokenizer = await Tokenizer.fromDir(modelDir);
    const records = generateProblems({ tasks: ["arithmetic"], n: 4, seed: 5, split: "test" }).map(toRecord);
    const loads: string[] = [];
    const prm = async (dir: string): Promise<ProcessScorer> => {
      loads.push(dir);
      return {
        // one score per line: longer lines score lower, so the vote has uneven weights
        scoreSteps: async (_p, completions) =>
          completions.map((c) =>
            c
              .split("\n")
              .filter((l) => l.trim() !== "")
              .map((l) => 1 / (1 + l.length)),
          ),
        dispose() {},
      };
    };
    const scorers = new ScorerCache({ rm: () => Promise.reject(new Error("unused")), prm });
    const common = { model, tokenizer, records, maxNewTokens: 10, batchSize: 4, temperature: 1, samples: 4, scorers };
    try {
      const maj = await evaluateWithSelection({ ...common, selection: parseSelect("majority") });
      assert.equal(maj.selection.select.accuracy, maj.selection.maj_at_k.accuracy);
      assert.equal(maj.examples[0]!.verifier_scores, undefined);
      const w = await evaluateWithSelection({ ...common, selection: parseSelect("weighted:prm:P@prod") });
      assert.deepEqual(loads, ["P"]);
      assert.equal(w.selection.maj_at_k.accuracy, maj.selection.maj_at_k.accuracy, "the same seeded samples");
      w.examples.forEach((e) => {
        const scores = e.verifier_scores!;
        const vote = weightedVote(e.sampled!.extracted_strict, scores, "gsm8k");
        assert.equal(e.selected_answer, vote?.answer ?? majorityVote(e.sampled!.extracted_strict, "gsm8k").answer);
      });
    } finally {
      disposeTree(model.params);
    }
  });
});
