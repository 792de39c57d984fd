/**
 * The answer module (src/data/answer/): the one exact-rational type, the one number parser,
 * the LaTeX helpers and the one `answersMatch`, with the table of tricky cases run through
 * every place that used to compare answers on its own: the evaluation (`answersMatch` with a
 * task, `exactMatch`, `majAtK`, `majorityVote`, `scoreOutput`) and every task generator's
 * `checkAnswer`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type AnswerTask,
  answersMatch,
  canonicalAnswer,
  findBoxed,
  formatRational,
  gcd,
  lastBoxed,
  normalizeLatex,
  normalizeNumber,
  parseNumber,
  Rational,
} from "../src/data/answer/index.ts";
import type { CoTRecord } from "../src/data/records.ts";
import { TASK_NAMES, TASKS } from "../src/data/tasks/index.ts";
import { Rng } from "../src/engine/rng.ts";
import { exactMatch, majAtK, majorityVote } from "../src/eval/metrics.ts";
import { answerTaskOf, scoreOutput } from "../src/eval/score.ts";

describe("Rational", () => {
  test("reduced, positive denominator; exact arithmetic; 0.1 + 0.2 = 0.3", () => {
    const r = new Rational(6n, -4n);
    assert.deepEqual([r.n, r.d], [-3n, 2n]);
    assert.ok(parseNumber("0.1")!.add(parseNumber("0.2")!).eq(parseNumber("0.3")!));
    const third = Rational.of(1).div(Rational.of(3))!;
    assert.ok(third.mul(Rational.of(3)).eq(Rational.of(1)));
    assert.equal(Rational.of(1).sub(third).toString(), "2/3");
    assert.equal(Rational.of(1).div(Rational.of(0)), null);
    assert.ok(third.lessOrEqual(new Rational(1n, 2n)) && !new Rational(1n, 2n).lessOrEqual(third));
    assert.ok(new Rational(-5n, 2n).abs().eq(new Rational(5n, 2n)));
    assert.throws(() => new Rational(1n, 0n), /zero denominator/);
    assert.throws(() => Rational.of(0.5), /not an integer; use parseNumber/);
    assert.equal(gcd(-12n, 18n), 6n);
    assert.equal(gcd(0n, 0n), 0n);
  });

  test("formatRational: integer, else the finite decimal, else a/b (decided once: decimals read like gold answers)", () => {
    const cases: [Rational, string][] = [
      [new Rational(5n, 2n), "2.5"],
      [new Rational(-1n, 8n), "-0.125"],
      [new Rational(3n, 10n), "0.3"],
      [new Rational(2469n, 2n), "1234.5"],
      [new Rational(-7n, 3n), "-7/3"],
      [new Rational(1n, 6n), "1/6"],
      [new Rational(-0n), "0"],
      [new Rational(12n), "12"],
    ];
    for (const [r, want] of cases) {
      assert.equal(formatRational(r), want);
      assert.equal(String(r), want, "toString is formatRational");
    }
  });

  test("property: the canonical text parses back to the same value (one string per value)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 6n }),
        (n, d) => {
          const r = new Rational(n, d);
          const text = formatRational(r);
          assert.ok(parseNumber(text)!.eq(r), `${n}/${d} → ${text}`);
          assert.equal(normalizeNumber(`${n}/${d}`), text);
        },
      ),
      { seed: 1, numRuns: 500 },
    );
  });
});

describe("parseNumber", () => {
  // [text, canonical value or null]
  const cases: [string, string | null][] = [
    ["12", "12"],
    ["12.50", "12.5"],
    [".5", "0.5"],
    ["-.250", "-0.25"],
    ["+5", "5"],
    ["\u22123", "-3"],
    ["- 5", "-5"],
    ["18.", "18"],
    ["1,234,567", "1234567"],
    ["$1,234.50", "1234.5"],
    ["-$5", "-5"],
    ["$-5", "-5"],
    ["$ 5", "5"],
    ["\\$5", "5"],
    ["€5", "5"],
    ["USD 5", "5"],
    ["50%", "50"],
    ["50 percent", "50"],
    ["10\\%", "10"],
    ["12 apples", "12"],
    ["12 apples each", "12"],
    ["3 km per hour", "3"],
    ["18 dollars", "18"],
    ["50 cents", "50"],
    ["12km", "12"],
    ["2/6", "1/3"],
    ["2.5/5", "0.5"],
    ["1 1/2", "1.5"],
    ["-1 1/2", "-1.5"],
    ["1 1/2 cups", "1.5"],
    ["\\frac{1}{2}", "0.5"],
    ["\\dfrac{3}{4}", "0.75"],
    ["\\frac12", "0.5"],
    ["-\\frac{6}{4}", "-1.5"],
    ["123456789012345678901234567890.0", "123456789012345678901234567890"],
    // not numbers
    ["", null],
    ["abc", null],
    ["forty-two", null],
    ["1e3", null],
    ["7/0", null],
    ["1 1/0", null],
    ["1,23", null],
    ["1,2345", null],
    ["1 000", null],
    ["12 big red apple pies", null], // four trailing words
    ["\\frac{1}{0}", null],
    ["\\sqrt{2}", null],
  ];
  for (const [text, want] of cases) {
    test(`${JSON.stringify(text)} → ${want ?? "not a number"}`, () => {
      assert.equal(parseNumber(text)?.toString() ?? null, want);
    });
  }
  test("units: false keeps trailing letters (MATH answers: 5x is not 5)", () => {
    assert.equal(parseNumber("5x", { units: false }), null);
    assert.equal(parseNumber("5x")?.toString(), "5");
  });
});

describe("LaTeX: boxes and presentation", () => {
  test("findBoxed / lastBoxed: balanced, nested, escaped braces, \\fbox, brace-less, unclosed", () => {
    const cases: [string, string | undefined][] = [
      ["$\\boxed{2}$ and later $\\boxed{3}$", "3"],
      ["\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"],
      ["\\boxed{\\{1,2\\}}.", "\\{1,2\\}"],
      ["\\boxed{a \\} b}", "a \\} b"],
      ["\\fbox{7} then \\boxed{8}", "8"],
      ["\\boxed{8} then \\fbox{x^{2}}", "x^{2}"],
      ["\\boxed 5$", "5"],
      ["\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"],
      ["\\boxed{1} and \\boxed{unclosed", "1"],
      ["\\boxed{\\boxed{4}}", "\\boxed{4}"],
      ["\\boxedx{1}", undefined],
      ["no box", undefined],
    ];
    for (const [s, want] of cases) assert.equal(lastBoxed(s), want, s);
    assert.deepEqual(findBoxed("\\boxed{a{b}c} x \\boxed{ d }"), ["a{b}c", "d"]);
  });
  test("normalizeLatex removes presentation only", () => {
    assert.equal(normalizeLatex("\\left( 1, 2 \\right)."), "(1,2)");
    assert.equal(normalizeLatex("18\\text{ inches}"), "18");
    assert.equal(normalizeLatex("\\dfrac{6}{4}"), "1.5");
  });
});

// [a, b, task, equal?] — per task, symmetric.
const EQUIV: [string, string, AnswerTask, boolean][] = [
  ["12.50", "12.5", "gsm8k", true],
  ["12.0", "12", "gsm8k", true],
  ["+7", "7", "gsm8k", true],
  ["1,234", "1234", "gsm8k", true],
  ["$1,234.00", "1234", "gsm8k", true],
  ["€5", "5", "number", true],
  ["£5.", "5", "number", true],
  ["-$5", "-5", "gsm8k", true],
  ["$-5", "-5", "gsm8k", true],
  ["\u22125", "-5", "gsm8k", true],
  ["50%", "50", "gsm8k", true],
  ["50 percent", "50", "gsm8k", true],
  ["30 minutes", "30", "gsm8k", true],
  ["18 dollars", "18", "gsm8k", true],
  ["1/2", "0.5", "gsm8k", true],
  ["2/4", ".5", "number", true],
  ["1 1/2", "1.5", "number", true],
  ["0.1", "1/10", "number", true],
  ["1/3", "0.333", "number", false],
  ["1/3", "2/6", "number", true],
  ["-0", "0", "number", true],
  ["0.0010", "1/1000", "number", true],
  ["12", "12.01", "gsm8k", false],
  ["1,23", "123", "gsm8k", false],
  ["1,2", "12", "gsm8k", false],
  ["5", "-5", "gsm8k", false],
  ["50%", "0.5", "gsm8k", false],
  ["forty-two", "42", "gsm8k", false],
  ["123456789012345678901234567890", "123456789012345678901234567890.0", "number", true],
  ["\\frac{1}{2}", "0.5", "math", true],
  ["\\dfrac{3}{4}", "\\frac34", "math", true],
  ["\\tfrac{3}{4}", "0.75", "math", true],
  ["-\\frac{2}{4}", "-1/2", "math", true],
  ["\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", "math", true],
  ["\\text{Evelyn}", "Evelyn", "math", true],
  ["90^\\circ", "90", "math", true],
  ["90^{\\circ}", "90", "math", true],
  ["10\\%", "10", "math", true],
  ["\\$5.00", "5", "math", true],
  ["3\\sqrt{13}", "3 \\sqrt{13}", "math", true],
  ["x=5", "5", "math", false],
  ["5x", "5", "math", false],
  ["6i", "6", "math", false],
  ["18\\text{ inches}", "18", "math", true],
  ["\\text{(B)}", "(B)", "math", true],
  ["\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", "math", false],
  ["6 - 5i", "6-5i", "math", true],
  ["(c)", "C", "mc", true],
  ["c.", "C", "mc", true],
  ["B", "C", "mc", false],
  ["False.", "false", "text", true],
  ["  Eli ", "eli", "text", true],
  ["Eli", "Eliza", "text", false],
  ["True", "False", "text", false],
];

describe("answersMatch per task: equivalences and non-equivalences", () => {
  for (const [a, b, task, eq] of EQUIV) {
    test(`${task}: ${JSON.stringify(a)} ${eq ? "==" : "!="} ${JSON.stringify(b)}`, () => {
      assert.equal(answersMatch(a, b, { task }), eq);
      assert.equal(answersMatch(b, a, { task }), eq, "symmetric");
    });
  }
  test("a null prediction (nothing extracted) is never correct", () => {
    for (const task of ["gsm8k", "math", "mc", "number", "text"] as const) {
      assert.equal(answersMatch(null, "5", { task }), false);
    }
  });
});

/**
 * The tricky cases, each through every former caller. `was` names the verdict the former
 * functions gave where it differs (tasks = data/tasks/types.ts answersMatch(gold, answer),
 * eval = eval/normalize.ts answersMatch(pred, gold, task)). `hashes` is the verdict of
 * `scoreOutput` on the output "#### {predicted}" where the GSM8K extractor reads less than
 * the whole answer (it takes the first number token after "####": no mixed numbers, no LaTeX).
 */
interface Tricky {
  predicted: string;
  gold: string;
  match: boolean;
  was?: string;
  hashes?: boolean;
}
const TRICKY: Tricky[] = [
  { predicted: "1 1/2", gold: "1.5", match: true, was: "tasks: false (no mixed numbers)", hashes: false },
  { predicted: "1.5", gold: "1 1/2", match: true, was: "tasks: false (gold not parsed, compared as text)" },
  { predicted: "3/2", gold: "1.5", match: true },
  { predicted: "\u22123", gold: "-3", match: true, was: "tasks: false (no Unicode minus)" },
  { predicted: "+5", gold: "5", match: true, was: "tasks: false (no leading +)" },
  { predicted: "- 5", gold: "-5", match: true, was: "tasks: false" },
  { predicted: "\\frac{1}{2}", gold: "0.5", match: true, was: "tasks: false (no LaTeX)", hashes: false },
  { predicted: "\\dfrac{3}{4}", gold: "0.75", match: true, was: "tasks: false (no LaTeX)", hashes: false },
  { predicted: "12 apples each", gold: "12", match: true, was: "tasks: false (one trailing word only)" },
  { predicted: "3 km per hour", gold: "3", match: true, was: "tasks: false (one trailing word only)" },
  { predicted: "12km", gold: "12", match: true, was: "tasks: false (a unit word needed a space)" },
  { predicted: ".5", gold: "0.5", match: true, was: "tasks: false (no leading-dot decimals)" },
  { predicted: "$ 5", gold: "5", match: true, was: "tasks: false (no space after $)" },
  { predicted: "€5", gold: "5", match: true, was: "tasks: false (only $)" },
  { predicted: "2.5/5", gold: "0.5", match: true, was: "tasks: false (integer fractions only)" },
  { predicted: "12.", gold: "12", match: true },
  { predicted: "12.0", gold: "12", match: true },
  { predicted: "$1,200", gold: "1200", match: true },
  { predicted: "24/2", gold: "12", match: true },
  { predicted: "12 km", gold: "12", match: true },
  { predicted: "50%", gold: "50", match: true },
  { predicted: "50%", gold: "0.5", match: false },
  { predicted: "1/3", gold: "0.333", match: false },
  { predicted: "1,23", gold: "123", match: false },
  { predicted: "12", gold: "-12", match: false },
  { predicted: "12", gold: "12.01", match: false },
  { predicted: "forty-two", gold: "42", match: false },
  { predicted: "1e3", gold: "1000", match: false },
  { predicted: "7/0", gold: "0", match: false },
  { predicted: "", gold: "5", match: false },
  {
    predicted: "12 red apple pies dollars",
    gold: "12",
    match: false,
    was: "eval: true (currency words had a rule of their own before the three-word tail)",
    hashes: true,
  },
  { predicted: "Alice.", gold: "alice", match: true, was: "eval (gsm8k, non-numeric gold): false" },
  { predicted: "Alice .", gold: "alice", match: true, was: "tasks: false (no trim after the final period)" },
  { predicted: "True", gold: "true", match: true },
  { predicted: "True", gold: "False", match: false },
  { predicted: "Alice  Smith", gold: "alice smith", match: true, was: "eval (gsm8k, non-numeric gold): false" },
];

describe("the tricky cases, through every former caller", () => {
  // One generated problem per task; its gold answer is replaced by the table's.
  const problems = TASK_NAMES.map((name) => TASKS[name].generate(new Rng(0)));
  const record = (gold: string): CoTRecord => ({
    question: "q",
    chain_of_thought: "",
    answer: gold,
    // a non-numeric gold is a generated logic answer (names, True/False): compared as text
    meta: parseNumber(gold) === null ? { task: "logic" } : {},
  });

  for (const c of TRICKY) {
    const name = `${JSON.stringify(c.predicted)} ${c.match ? "==" : "!="} ${JSON.stringify(c.gold)}${c.was ? ` (was ${c.was})` : ""}`;
    test(name, () => {
      // the one function, default task and the numeric tasks, both argument orders
      assert.equal(answersMatch(c.predicted, c.gold), c.match, "answersMatch");
      assert.equal(answersMatch(c.gold, c.predicted), c.match, "answersMatch, symmetric");
      const task = answerTaskOf(record(c.gold));
      assert.equal(answersMatch(c.predicted, c.gold, { task }), c.match, `answersMatch task ${task}`);
      if (task === "gsm8k") assert.equal(answersMatch(c.predicted, c.gold, { task: "number" }), c.match);
      // evaluation: metrics and the scoring of one output
      assert.equal(exactMatch(c.predicted, c.gold, task), c.match ? 1 : 0, "exactMatch");
      assert.equal(majAtK([c.predicted], c.gold, task, 1), c.match ? 1 : 0, "majAtK");
      const ex = scoreOutput(record(c.gold), `#### ${c.predicted}`, { index: 0 });
      assert.equal(ex.correct_strict, c.hashes ?? c.match, `scoreOutput strict (extracted ${ex.extracted_strict})`);
      assert.equal(ex.correct_strict, answersMatch(ex.extracted_strict, c.gold, { task }), "scoreOutput wiring");
      // every task generator's checker
      for (const p of problems) {
        assert.equal(
          TASKS[p.task as (typeof TASK_NAMES)[number]].checkAnswer({ ...p, answer: c.gold }, c.predicted),
          c.match,
          `${p.task}.checkAnswer`,
        );
      }
    });
  }

  test("majority vote groups equal answers however written", () => {
    const v = majorityVote(["1 1/2", "2", "1.5", "3/2", "2"], "number");
    assert.deepEqual([v.answer, v.key, v.votes, v.voters], ["1 1/2", "1.5", 3, 5]);
    assert.equal(canonicalAnswer("\u22123"), "-3");
  });
});
