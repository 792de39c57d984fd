/**
 * The step checker: claim finding (chains, percents, money,
 * units, negatives), step splitting, provenance, task-checker precedence, and the
 * acceptance properties — every generated gold chain accepted, every singly-corrupted
 * chain flagged at the corrupted step — plus the acceptance rate on real GSM8K golds.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import { stripCalculator } from "../src/data/adapters.ts";
import { parseNumber, Rational } from "../src/data/answer/index.ts";
import { TASKS } from "../src/data/tasks/index.ts";
import type { Problem, TaskGenerator } from "../src/data/tasks/types.ts";
import { splitSteps } from "../src/data/tasks/types.ts";
import { Rng } from "../src/engine/rng.ts";
import { findClaims } from "../src/eval/step-claims.ts";
import { checkChain, taskCheckers } from "../src/eval/steps.ts";
import { NO_SHARED_DATA, sharedFile } from "./shared-data.ts";

/** Every registered task generator: a new task is covered by the acceptance tests automatically. */
const GENERATORS: TaskGenerator[] = Object.values(TASKS);
const algebra = TASKS.algebra;

const status = (text: string) => findClaims(text).map((c) => c.status);

describe("findClaims", () => {
  const cases: [string, string[]][] = [
    ["0.1 + 0.2 = 0.3", ["ok"]],
    ["0.1 + 0.2 = 0.30000000000000004", ["wrong"]],
    ["1/3 + 1/3 = 2/3", ["ok"]],
    ["10 / 3 = 3.33", ["ok"]], // rounded to the written decimals
    ["10 / 3 = 3.34", ["wrong"]],
    ["10 / 3 = 3", ["wrong"]], // integers are never rounded
    ["20% of 50 = 10", ["ok"]],
    ["50 * 20% = 10", ["ok"]],
    ["100% - 20% = 80%", ["ok"]],
    ["100 - 20 = 80%", ["ok"]], // percent signs ignored on the second reading
    ["20% of 50 = 11", ["wrong"]],
    ["She pays $1,200 + $300 = $1,500 in total.", ["ok"]],
    ["She pays $1,200 + $300 = $1,600 in total.", ["wrong"]],
    ["3 apples + 4 apples = 7 apples", ["ok"]],
    ["He spent $7 for the fare + $5 on bananas = $12", ["ok"]],
    ["2.5 kg * $4/kg = $10", ["ok"]],
    ["-5 + 3 = -2", ["ok"]],
    ["2 − 7 = −5", ["ok"]],
    ["-5 + 3 = 2", ["wrong"]],
    ["(4 + 5) × 3 = 27", ["ok"]],
    ["4 + 5 × 3 = 19", ["ok"]],
    ["10 + 5 - 3 = 12", ["ok"]],
    ["10 + 5 = 15 = 16", ["ok", "wrong"]],
    ["3 + 2 * 10 = 3 + 20 = 23", ["ok", "ok"]],
    ["5 x 3 = 15 and 12 divided by 4 = 3", ["ok", "ok"]],
    ["8x2 = 16", ["ok"]],
    ["3(98)=294 miles", ["ok"]],
    ["2 + 1/2 = 2 1/2 pieces", ["ok"]],
    ["x + 2x = 30", ["skipped"]],
    ["8 batches = 5.5 * 8 = 44 cups", ["skipped", "ok"]],
    ["3 hours = 180 minutes", ["skipped"]],
    ["The answer is 42.", []],
  ];
  for (const [text, want] of cases) {
    test(`${text} → ${want.join(", ") || "no claim"}`, () => assert.deepEqual(status(text), want));
  }
  test("sides and exact values are reported", () => {
    const [c] = findClaims("So 7 / 2 = 3.5 apples each.");
    assert.deepEqual([c!.lhs, c!.rhs, c!.lhsValue, c!.rhsValue, c!.status], ["7 / 2", "3.5", "3.5", "3.5", "ok"]);
  });
});

describe("splitSteps", () => {
  test("one step per non-empty line, answer lines dropped", () => {
    assert.deepEqual(splitSteps("a = 1\n\n  b = 2  \r\n#### 3\n"), ["a = 1", "b = 2"]);
    assert.deepEqual(splitSteps("a = 1\n#### 3", { sentences: true }), ["a = 1"]);
  });
  test("with `sentences`, a single line splits into sentences, not at decimal points", () => {
    const line = "He has 2.5 kg. Then 2.5 * 2 = 5 kg. $5 is left.";
    assert.deepEqual(splitSteps(line), [line]);
    assert.deepEqual(splitSteps(line, { sentences: true }), ["He has 2.5 kg.", "Then 2.5 * 2 = 5 kg.", "$5 is left."]);
  });
  test("GSM8K calculator annotations are removed", () => {
    assert.equal(stripCalculator("10 / 2 = $<<10/2=5>>5."), "10 / 2 = $5.");
  });
});

describe("checkChain (generic)", () => {
  const question = "Tom has 5 apples and buys 7 more. He triples them. How many does he have?";
  test("a correct chain is valid", () => {
    const v = checkChain({ question, chain: "5 + 7 = 12 apples.\n12 * 3 = 36 apples.\n#### 36" });
    assert.deepEqual([v.valid, v.firstInvalid, v.reason, v.checkedClaims], [true, null, null, 2]);
  });
  test("a wrong claim names the step, the claim and the true value", () => {
    const v = checkChain({ question, chain: "5 + 7 = 12 apples.\n12 * 3 = 35 apples." });
    assert.equal(v.firstInvalid, 1);
    assert.equal(v.steps[1]!.problem, "arithmetic");
    assert.equal(v.reason, "step 2: 12 * 3 = 35 is false: 12 * 3 is 36");
  });
  test("a number from nowhere is a step that does not follow", () => {
    const v = checkChain({ question, chain: "5 + 7 = 12 apples.\n12 * 4 = 48 apples." });
    assert.equal(v.firstInvalid, 1);
    assert.equal(v.steps[1]!.problem, "unsupported");
    assert.match(v.reason!, /step 2: 4 in 12 \* 4 appears neither in the question nor in earlier steps/);
  });
  test("number words and configurable constants count as sources", () => {
    const q = "A box holds a dozen eggs. How many eggs are in three boxes?";
    assert.equal(checkChain({ question: q, chain: "12 * 3 = 36" }).valid, true);
    const v = checkChain({ question: "What is 5 + 8?", chain: "5 + 8 = 13\n13 * 3 = 39" });
    assert.equal(v.valid, false);
    assert.equal(
      checkChain({ question: "What is 5 + 8?", chain: "5 + 8 = 13\n13 * 3 = 39" }, { constants: [3] }).valid,
      true,
    );
  });
  test("a task checker takes precedence when the problem is known", () => {
    const p = algebra.generate(new Rng(3));
    const checkers = taskCheckers([algebra]);
    const chain = p.steps.join("\n");
    const v = checkChain({ question: p.question, chain, task: p.task, problem: p }, { checkers });
    assert.equal(v.checker, "task:algebra");
    assert.equal(v.valid, true);
    // without the problem the generic rules judge
    assert.equal(checkChain({ question: p.question, chain, task: p.task }, { checkers }).checker, "generic");
  });
});

// ---------------------------------------------------------------------------
// Acceptance: gold chains accepted, single corruptions flagged at their step.

/** Replace the number at [start, end) of `text` by `value`. */
const splice = (text: string, start: number, end: number, value: string) =>
  text.slice(0, start) + value + text.slice(end);

/** Positions of the result number (first number right of the claim's "=") of each ok claim of a step. */
function resultSpans(step: string): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  for (const c of findClaims(step)) {
    if (c.status !== "ok") continue;
    const eqAt = step.indexOf("=", c.start + c.lhs.length);
    const m = /\d[\d,]*(?:\.\d+)?/.exec(step.slice(eqAt));
    if (m) spans.push({ start: eqAt + m.index, end: eqAt + m.index + m[0].length });
  }
  return spans;
}

/** Corrupt one claim's result by +delta; returns null when the step has no checked claim. */
function corrupt(steps: string[], k: number, pick: number, delta: number): string[] | null {
  const spans = resultSpans(steps[k]!);
  if (spans.length === 0) return null;
  const s = spans[pick % spans.length]!;
  const old = parseNumber(steps[k]!.slice(s.start, s.end).replace(/,/g, ""))!; // "12," before a clause
  const bumped = old.add(Rational.of(delta));
  const text =
    bumped.d === 1n
      ? bumped.n.toString()
      : steps[k]!.slice(s.start, s.end).replace(/^\d+/, (d) => String(Number(d) + delta));
  return steps.map((t, i) => (i === k ? splice(t, s.start, s.end, text) : t));
}

const checkers = taskCheckers(GENERATORS);

function judge(p: Problem, chain: string, withTask: boolean) {
  return checkChain(
    { question: p.question, chain, task: p.task, ...(withTask ? { problem: p } : {}) },
    withTask ? { checkers } : {},
  );
}

describe("acceptance: generated gold chains", () => {
  for (const g of GENERATORS) {
    test(`${g.name}: 300 gold chains accepted by the generic checker and by the task's own`, () => {
      const rng = new Rng(11);
      const rejected: string[] = [];
      let claims = 0;
      for (let i = 0; i < 300; i++) {
        const p = g.generate(rng);
        const chain = p.steps.join("\n");
        const generic = judge(p, chain, false);
        claims += generic.checkedClaims;
        if (!generic.valid) rejected.push(`${generic.reason} | ${chain}`);
        assert.equal(judge(p, chain, true).valid, true, `task checker rejects its own gold: ${chain}`);
      }
      assert.deepEqual(rejected, []);
      console.log(`# ${g.name}: 300/300 gold chains accepted, ${claims} claims checked`);
    });

    test(`${g.name}: a corrupted claim result is flagged at its step (property)`, () => {
      let tried = 0;
      fc.assert(
        fc.property(fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 50 }), (seed, kRaw, pick, delta) => {
          const p = g.generate(new Rng(seed));
          const k = kRaw % p.steps.length;
          const bad = corrupt(p.steps, k, pick, delta);
          if (bad === null) return true; // a step without arithmetic (algebra, final line): see the task checker
          tried++;
          const v = judge(p, bad.join("\n"), false);
          assert.equal(
            v.firstInvalid,
            k,
            `generic: expected step ${k + 1} flagged, got ${v.reason}\n${bad.join("\n")}`,
          );
          const t = judge(p, bad.join("\n"), true);
          assert.equal(t.valid, false, `task checker accepts a corrupted chain:\n${bad.join("\n")}`);
          return true;
        }),
        { seed: 42, numRuns: 300 },
      );
      console.log(`# ${g.name}: ${tried} corrupted chains checked`);
    });

    test(`${g.name}: with the problem known, the task's checker flags a corrupted number at its step (property)`, () => {
      let tried = 0;
      fc.assert(
        fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 50 }), (seed, kRaw, delta) => {
          const p = g.generate(new Rng(seed));
          const k = kRaw % p.steps.length;
          const nums = [...p.steps[k]!.matchAll(/\d+/g)];
          if (nums.length === 0) return true;
          const m = nums[nums.length - 1]!;
          const bad = p.steps.map((t, i) =>
            i === k ? splice(t, m.index, m.index + m[0].length, String(Number(m[0]) + delta)) : t,
          );
          tried++;
          const v = judge(p, bad.join("\n"), true);
          assert.equal(v.firstInvalid, k, `expected step ${k + 1} flagged, got ${v.reason}\n${bad.join("\n")}`);
          return true;
        }),
        { seed: 7, numRuns: 200 },
      );
      console.log(`# ${g.name}: ${tried} corrupted chains judged by the task checker`);
    });
  }
});

describe("acceptance: real GSM8K gold solutions (../shared/data/gsm8k_train_sample.jsonl)", {
  skip: NO_SHARED_DATA,
}, () => {
  const rows: { question: string; answer: string }[] = readFileSync(sharedFile("gsm8k_train_sample.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const chainOf = (a: string) => stripCalculator(a.split("####")[0]!);

  test("acceptance rate of the golds, failures listed with their reason", () => {
    const failures: string[] = [];
    for (const r of rows) {
      const v = checkChain({ question: r.question, chain: chainOf(r.answer) });
      if (!v.valid) failures.push(`${v.steps[v.firstInvalid!]!.problem}: ${v.reason}`);
    }
    const rate = (rows.length - failures.length) / rows.length;
    console.log(
      `# GSM8K golds accepted: ${rows.length - failures.length}/${rows.length} (${(100 * rate).toFixed(1)}%)`,
    );
    for (const f of failures) console.log(`#   ${f}`);
    assert.ok(rate >= 0.95, `acceptance fell to ${rate}`);
  });

  test("a corrupted result in an accepted GSM8K gold is flagged at its step", () => {
    let tried = 0;
    rows.forEach((r, i) => {
      const steps = splitSteps(chainOf(r.answer), { sentences: true });
      if (!checkChain({ question: r.question, chain: steps.join("\n") }).valid) return;
      const k = i % steps.length;
      const bad = corrupt(steps, k, i, 1 + (i % 7));
      if (bad === null) return;
      tried++;
      const v = checkChain({ question: r.question, chain: bad.join("\n") });
      assert.equal(v.firstInvalid, k, `row ${i}: expected step ${k + 1}, got ${v.reason}\n${bad.join("\n")}`);
    });
    console.log(`# GSM8K: ${tried} corrupted golds, all flagged at the corrupted step`);
    assert.ok(tried > 100);
  });
});
