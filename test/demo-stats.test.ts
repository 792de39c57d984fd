/** The demo's headline statistics: the majority-answer chance baseline and the paired CoT − direct difference. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CoTRecord } from "../src/data/records.ts";
import { cotVsDirect, majorityBaseline } from "../src/demo/stats.ts";
import { formatResultsTable } from "../src/demo/table.ts";
import type { DemoSummary } from "../src/demo/types.ts";
import type { EvalExample } from "../src/eval/score.ts";

const rec = (task: string, answer: string): CoTRecord => ({
  question: `q ${task} ${answer}`,
  chain_of_thought: "",
  answer,
  meta: { task },
});

const ex = (question: string, correct: boolean) => ({ question, correct_strict: correct }) as EvalExample;

describe("majorityBaseline", () => {
  test("answers each task's most common training answer (ties: the first seen)", () => {
    const train = [
      rec("logic", "True"),
      rec("logic", "False"),
      rec("logic", "True"),
      rec("algebra", "3"),
      rec("algebra", "4"),
    ];
    const heldout = [rec("logic", "True"), rec("logic", "False"), rec("algebra", "3"), rec("algebra", "5")];
    // logic → "True" (1 of 2 right), algebra → "3" (tie with "4", first seen; 1 of 2 right)
    assert.equal(majorityBaseline(train, heldout), 2 / 4);
    assert.equal(majorityBaseline(train, [rec("code-trace", "7")]), 0, "a task never trained on scores 0");
    assert.equal(majorityBaseline(train, []), 0);
  });
});

describe("cotVsDirect", () => {
  test("the point difference is cot − direct, inside its interval, which excludes 0 for a clear gap", () => {
    const n = 300;
    const direct = Array.from({ length: n }, (_, i) => ex(`q${i}`, i % 10 === 0)); // 10%
    const cot = Array.from({ length: n }, (_, i) => ex(`q${i}`, i % 2 === 0)); // 50%
    const d = cotVsDirect(direct, cot);
    assert.ok(Math.abs(d.diff - 0.4) < 1e-12);
    assert.ok(d.lo < d.diff && d.diff < d.hi && d.lo > 0.3 && d.hi < 0.5, JSON.stringify(d));
    const same = cotVsDirect(direct, direct);
    assert.deepEqual([same.diff, same.lo, same.hi], [0, 0, 0]);
    const flipped = cotVsDirect(cot, direct);
    assert.ok(Math.abs(flipped.diff + 0.4) < 1e-12 && flipped.hi < 0);
  });

  test("refuses evaluations of different problems", () => {
    assert.throws(() => cotVsDirect([ex("a", true)], [ex("b", true)]), /not of the same problems/);
    assert.throws(() => cotVsDirect([ex("a", true)], []), /not of the same problems/);
  });

  test("the printed table states the difference, its interval and the chance level", () => {
    const r = {
      accuracy_strict: 0.1,
      accuracy_flexible: 0.1,
      step_validity: 0,
      bleu: 0,
      rougeL: 0,
      train_tokens: 1,
      seconds: 1,
    };
    const summary = {
      heldout: 300,
      eval_set: "test",
      seed: 0,
      results: { direct: r, cot: r, mixed: r },
      chance_accuracy: 0.125,
      cot_minus_direct: { diff: -0.02, lo: -0.081, hi: 0.04, level: 0.95, resamples: 2000, method: "" },
      machine: { cores: 2 },
      total_seconds: 60,
    } as unknown as DemoSummary;
    assert.match(
      formatResultsTable(summary),
      /Chain of thought − direct: −2\.0 points \(95% interval −8\.1 to \+4\.0, .*\)\. Chance .*: 12\.5%\.$/,
    );
  });
});
