/**
 * Verifiable task generators (src/data/tasks/): every checker accepts 100% of its own gold
 * chains and rejects every singly-corrupted chain at the corrupted step (property tests over
 * seeds, one per corruption kind); answer checks; rendering.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseNumber, Rational } from "../src/data/answer/index.ts";
import { evalExpr, parseClaim } from "../src/data/tasks/claims.ts";
import { type Problem, TASK_NAMES, TASKS, type TaskName } from "../src/data/tasks/index.ts";
import { ANSWER_LINE, answerLine, renderTarget, splitSteps, toRecord } from "../src/data/tasks/types.ts";
import { Rng } from "../src/engine/rng.ts";

const RUNS = 300;

const problemOf = (task: TaskName, seed: number, options: Record<string, unknown> = {}): Problem =>
  TASKS[task].generate(new Rng(seed), options);

/** Change one token of a step: a number to a fresh value, else a boolean literal/operator or a name. */
function changeToken(step: string, pick: number, delta: number, last = false): string {
  const nums = [...step.matchAll(/\d+/g)];
  if (nums.length > 0) {
    const m = last ? nums[nums.length - 1]! : nums[pick % nums.length]!;
    const present = new Set(nums.map((x) => x[0]));
    let v = Number(m[0]) + delta;
    while (present.has(String(v))) v++;
    return step.slice(0, m.index) + String(v) + step.slice(m.index! + m[0].length);
  }
  const words = [...step.matchAll(/\b(True|False|and|or|[A-Z][a-z]+)\b/g)].filter((w) => w[0] !== "So");
  const w = last ? words[words.length - 1]! : words[pick % words.length]!;
  const swap: Record<string, string> = { True: "False", False: "True", and: "or", or: "and" };
  const names = ["Ava", "Ben", "Cal", "Dina", "Eli", "Fay", "Gus", "Hana", "Ian", "Jo", "Kai", "Lea"];
  const repl = swap[w[0]] ?? names.filter((n) => n !== w[0])[(pick + delta) % (names.length - 1)]!;
  return step.slice(0, w.index) + repl + step.slice(w.index! + w[0].length);
}

type Corruption = "number" | "result" | "drop" | "swap";
/** The corrupted chain and the index the checker must flag (drop: the gap; swap: the earlier of the two). */
function corrupt(steps: string[], kind: Corruption, a: number, b: number, delta: number): [string[], number] | null {
  const s = [...steps];
  const i = a % s.length;
  if (kind === "number" || kind === "result") {
    s[i] = changeToken(s[i]!, b, delta, kind === "result");
    return s[i] === steps[i] ? null : [s, i];
  }
  if (kind === "drop") {
    s.splice(i, 1);
    return [s, i];
  }
  if (s.length < 2) return null;
  const j = (i + 1 + (b % (s.length - 1))) % s.length;
  if (s[i] === s[j]) return null;
  [s[i], s[j]] = [s[j]!, s[i]!];
  return [s, Math.min(i, j)];
}

describe("exact claims", () => {
  test("the answer module's Rational and parseNumber serve the claims", () => {
    assert.ok(parseNumber("12.0")!.eq(Rational.of(12)));
    assert.ok(parseNumber("$1,200")!.eq(Rational.of(1200)));
    assert.ok(parseNumber("7/14")!.eq(new Rational(1n, 2n)));
    assert.equal(parseNumber("twelve"), null);
    assert.equal(new Rational(5n, 2n).toString(), "2.5");
    assert.equal(new Rational(-7n, 3n).toString(), "-7/3");
  });
  test("evalExpr: precedence, parentheses, exact division, errors", () => {
    assert.equal(evalExpr("12 + 2 * 3")!.toString(), "18");
    assert.equal(evalExpr("25 / 100 * 80")!.toString(), "20");
    assert.equal(evalExpr("(1 + 2) / 3 * -4")!.toString(), "-4");
    assert.equal(evalExpr("1 / 3 + 1 / 6")!.toString(), "0.5");
    assert.equal(evalExpr("5 / 0"), null);
    assert.equal(evalExpr("5 +"), null);
  });
  test("parseClaim finds the claim and the narrative", () => {
    const c = parseClaim("She buys 3 packs at $4 each: 3 * 4 = 12 dollars.")!;
    assert.equal(c.expr, "3 * 4");
    assert.equal(c.result.toString(), "12");
    assert.deepEqual(
      c.operands.map((x) => x.toString()),
      ["3", "4"],
    );
    assert.match(c.narrative, /She buys 3 packs at \$4 each:/);
    assert.equal(parseClaim("No numbers here."), null);
  });
});

/** Every generator with its defaults, plus the logic generator's other ordering-chain style. */
const VARIANTS: { task: TaskName; label: string; options: Record<string, unknown> }[] = [
  ...TASK_NAMES.map((task) => ({ task, label: task, options: {} })),
  { task: "logic", label: "logic (transitive ordering chains)", options: { orderingChain: "transitive" } },
];

for (const { task, label, options } of VARIANTS) {
  const gen = TASKS[task];
  const problemOf = (t: TaskName, seed: number) => TASKS[t].generate(new Rng(seed), options);
  describe(`task ${label}`, () => {
    test(`checkSteps and checkAnswer accept 100% of gold chains (${RUNS * 4} seeds)`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
          const p = problemOf(task, seed);
          assert.ok(p.steps.length > 0 && p.question.length > 0 && p.answer.length > 0);
          const v = gen.checkSteps(p, p.steps);
          assert.deepEqual(v, { valid: true, reasons: [] }, `${p.question}\n${p.steps.join("\n")}`);
          assert.ok(gen.checkAnswer(p, p.answer));
        }),
        { numRuns: RUNS * 4, seed: 1 },
      );
    });

    for (const kind of ["number", "result", "drop", "swap"] as const) {
      test(`a chain with one ${kind === "number" ? "changed number/token" : kind === "result" ? "replaced result" : `${kind}ped step`} is rejected at that step`, (t) => {
        let checked = 0;
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 2 ** 31 }),
            fc.nat(1000),
            fc.nat(1000),
            fc.integer({ min: 1, max: 9 }),
            (seed, a, b, delta) => {
              const p = problemOf(task, seed);
              const c = corrupt(p.steps, kind, a, b, delta);
              if (c === null) return;
              checked++;
              const [steps, at] = c;
              const v = gen.checkSteps(p, steps);
              const msg = `${kind} at ${at}\n${p.question}\n--- gold\n${p.steps.join("\n")}\n--- corrupted\n${steps.join("\n")}\n${JSON.stringify(v)}`;
              assert.equal(v.valid, false, msg);
              assert.ok(v.reasons.length > 0, msg);
              // Exact position for every kind (the brief allows "at or before" for drop/swap).
              assert.equal(v.firstInvalid, at, msg);
            },
          ),
          { numRuns: RUNS, seed: 2 },
        );
        // Swaps need two steps; some units problems have one.
        assert.ok(checked > RUNS / 4, `only ${checked} of ${RUNS} draws could be corrupted`);
        t.diagnostic(`${task} ${kind}: ${checked} corrupted chains rejected`);
      });
    }

    test("checkers never throw on arbitrary model output, and reject it", () => {
      const junk = fc.oneof(
        fc.string(),
        fc.constantFrom(
          "x = 0",
          "Divide both sides by 0: x = 1",
          "1 / 0 = 0",
          "Line 1: x = 1 / 0 = 2",
          "= 5",
          "#### 5",
        ),
      );
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 2 ** 31 }),
          fc.array(junk, { maxLength: 6 }),
          fc.nat(),
          (seed, extra, at) => {
            const p = problemOf(task, seed);
            const steps = [...p.steps];
            steps.splice(at % (steps.length + 1), 0, ...extra);
            const v = gen.checkSteps(p, steps);
            if (extra.some((e) => e.trim() !== "")) assert.equal(v.valid, false, JSON.stringify(steps));
            assert.equal(typeof gen.checkAnswer(p, extra.join(" ")), "boolean");
          },
        ),
        { numRuns: RUNS, seed: 3 },
      );
    });

    test("wrong final answers are rejected", () => {
      for (let seed = 0; seed < 200; seed++) {
        const p = problemOf(task, seed);
        const n = parseNumber(p.answer);
        const wrong = n
          ? n.add(Rational.of(1)).toString()
          : p.answer === "True"
            ? "False"
            : p.answer === "False"
              ? "True"
              : "Nobody";
        assert.equal(gen.checkAnswer(p, wrong), false, `${p.answer} vs ${wrong}`);
        assert.equal(gen.checkAnswer(p, ""), false);
      }
    });

    test("gold chains round-trip through a record and its rendered target", () => {
      const p = problemOf(task, 7);
      const r = toRecord(p);
      assert.equal(r.meta?.task, task);
      assert.deepEqual(splitSteps(r.chain_of_thought), p.steps);
      const target = renderTarget(r);
      assert.ok(target.endsWith(`\n#### ${p.answer}`));
      assert.deepEqual(splitSteps(target), p.steps);
    });
  });
}

describe("answer formats", () => {
  const find = (task: TaskName, ok: (p: Problem) => boolean) => {
    for (let seed = 0; ; seed++) {
      const p = problemOf(task, seed);
      if (ok(p)) return p;
    }
  };
  test("numbers compare exactly: 12 = 12.0 = $12 = 12 km = 24/2; 1,200 = 1200", () => {
    const p = find("arithmetic", (q) => Number(q.answer) >= 1000);
    const n = Number(p.answer);
    for (const a of [`${n}`, `${n}.0`, `$${n}`, `${n} km`, ` ${n}. `, `${2 * n}/2`, n.toLocaleString("en-US")]) {
      assert.ok(TASKS.arithmetic.checkAnswer(p, a), a);
    }
    for (const a of [`${n + 1}`, `${n}.5`, `${n}0`, "x"]) assert.equal(TASKS.arithmetic.checkAnswer(p, a), false, a);
  });
  test("algebra accepts 'x = 4'; logic answers are case-insensitive", () => {
    const alg = problemOf("algebra", 3);
    assert.ok(TASKS.algebra.checkAnswer(alg, `x = ${alg.answer}`));
    const bool = find("logic", (q) => q.answer === "True" || q.answer === "False");
    assert.ok(TASKS.logic.checkAnswer(bool, bool.answer.toLowerCase()));
    const name = find("logic", (q) => q.answer !== "True" && q.answer !== "False");
    assert.ok(TASKS.logic.checkAnswer(name, ` ${name.answer.toUpperCase()}.`));
  });
  test("ANSWER_LINE is '#### {answer}'", () => {
    assert.equal(ANSWER_LINE, "#### {answer}");
    assert.equal(answerLine("42"), "#### 42");
    assert.equal(renderTarget({ chain_of_thought: "1 + 1 = 2.", answer: "2" }), "1 + 1 = 2.\n#### 2");
  });
});

describe("checker reasons name the step and the fix", () => {
  test("a wrong product in a word problem", () => {
    const p = problemOf("arithmetic", 11);
    const steps = [...p.steps];
    const claim = parseClaim(steps[0]!)!;
    steps[0] = steps[0]!.replace(` = ${claim.result}`, ` = ${claim.result.add(Rational.of(1))}`);
    const v = TASKS.arithmetic.checkSteps(p, steps);
    assert.equal(v.firstInvalid, 0);
    assert.match(v.reasons[0]!, new RegExp(`^step 1: .* = ${claim.result}, not ${claim.result.add(Rational.of(1))}`));
  });
  test("an empty chain stops short at step 0", () => {
    for (const task of TASK_NAMES) {
      const v = TASKS[task].checkSteps(problemOf(task, 1), []);
      assert.equal(v.valid, false, task);
      assert.equal(v.firstInvalid, 0, task);
    }
  });
});

describe("logic ordering chains: elimination (default) and transitive", () => {
  const orderingOf = (seed0: number, ask: "tallest" | "shortest", n: number) => {
    for (let seed = seed0; ; seed++) {
      const p = problemOf("logic", seed);
      const s = p.structured as { kind: string; ask?: string; order?: string[] };
      if (s.kind === "ordering" && s.ask === ask && s.order!.length === n) return { seed, p };
    }
  };

  test("both styles pose the same problem with the same answer; elimination derives it one fact at a time", () => {
    for (const ask of ["tallest", "shortest"] as const) {
      const { seed, p } = orderingOf(0, ask, 4);
      const t = problemOf("logic", seed, { orderingChain: "transitive" });
      assert.equal(t.question, p.question);
      assert.equal(t.answer, p.answer);
      assert.equal(t.canonical, p.canonical);
      assert.equal(t.steps.at(-1), `So ${p.answer} is the ${ask}.`);
      // One step per given fact, in the question's order; the list shrinks by one each time
      // (3, 2, then 1 of the 4 people) and ends on the answer.
      const facts = p.question.split(". ").slice(0, 3);
      assert.equal(p.steps.length, 3);
      for (const [i, step] of p.steps.entries()) {
        assert.ok(step.startsWith(`${facts[i]!.replace(/\.$/, "")}, so the ${ask} is `), step);
        assert.equal(step.split(/, so the \w+ is /)[1]!.split(/, | or /).length, 3 - i, step);
      }
      assert.ok(p.steps[2]!.endsWith(`so the ${ask} is ${p.answer}.`));
    }
  });

  test("an elimination step needs a known fact and exactly who is left without the person it rules out", () => {
    const p: Problem = {
      ...problemOf("logic", 0),
      question: "Ava is taller than Ben. Cal is shorter than Ben. Who is the tallest?",
      steps: [],
      answer: "Ava",
      structured: {
        kind: "ordering",
        order: ["Ava", "Ben", "Cal"],
        facts: [
          { pair: 0, shorter: false },
          { pair: 1, shorter: true },
        ],
        ask: "tallest",
      },
    };
    const check = (...steps: string[]) => TASKS.logic.checkSteps(p, steps);
    const first = "Ava is taller than Ben, so the tallest is Ava or Cal.";
    const second = "Cal is shorter than Ben, so the tallest is Ava.";
    assert.deepEqual(check(first, second), { valid: true, reasons: [] });
    assert.deepEqual(check(first, second, "So Ava is the tallest."), { valid: true, reasons: [] });
    // The list may come in any order; the facts may be used in any order.
    assert.equal(
      check("Cal is shorter than Ben, so the tallest is Ben or Ava.", "Ava is taller than Ben, so the tallest is Ava.")
        .valid,
      true,
    );
    const reason = (...steps: string[]) => check(...steps).reasons[0]!;
    assert.match(
      reason("Ava is taller than Cal, so the tallest is Ava or Ben."),
      /^step 1: "Ava is taller than Cal" is neither given nor derived yet/,
    );
    assert.match(
      reason("Ava is taller than Ben, so the tallest is Ben or Cal."),
      /^step 1: without Ben, the tallest is Ava or Cal, not Ben or Cal/,
    );
    assert.match(
      reason("Ava is taller than Ben, so the tallest is Ava."),
      /without Ben, the tallest is Ava or Cal, not Ava$/,
    );
    assert.match(reason("Ava is taller than Ben, so the tallest is Ava or Ava."), /not Ava or Ava/);
    assert.match(
      reason("Ava is taller than Ben, so the shortest is Ava or Cal."),
      /the question asks who is the tallest/,
    );
    // Stopping, or concluding, while two are left is not yet justified.
    assert.equal(check(first).firstInvalid, 1);
    assert.match(reason(first, "So Ava is the tallest."), /^step 2: the tallest is still Ava or Cal/);
    // A transitive conclusion is a known fact, so it may rule someone out too.
    const mixed = check(
      "Ava is taller than Ben and Ben is taller than Cal, so Ava is taller than Cal.",
      "Ava is taller than Cal, so the tallest is Ava or Ben.",
      "Ava is taller than Ben, so the tallest is Ava.",
    );
    assert.deepEqual(mixed, { valid: true, reasons: [] });
  });

  test("an unknown chain style is refused by name", () => {
    assert.throws(
      () => problemOf("logic", 0, { orderingChain: "guess" }),
      /orderingChain must be one of eliminate, transitive, got "guess"/,
    );
  });
});
