/**
 * Answer extraction (strict and flexible side by side); matching is tested in answer.test.ts.
 * Real-data smoke: every GSM8K test solution's "#### N" and every MATH-500 sample's last \boxed{}.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { type AnswerTask, answersMatch } from "../src/data/answer/index.ts";
import { extractAnswer, extractBoth, findNumbers } from "../src/eval/extract.ts";
import { NO_SHARED_DATA, sharedFile } from "./shared-data.ts";

interface Case {
  why: string;
  task: AnswerTask;
  text: string;
  strict: string | null;
  flexible: string | null;
}

// Outputs a model might write. `strict` is null where the task's declared format is absent.
const CASES: Case[] = [
  // --- GSM8K "#### N" ---------------------------------------------------------------------------------
  { why: "plain ####", task: "gsm8k", text: "5 + 7 = 12\n#### 12", strict: "12", flexible: "12" },
  {
    why: "#### with thousands",
    task: "gsm8k",
    text: "So 1,000 + 234 = 1,234\n#### 1,234",
    strict: "1234",
    flexible: "1234",
  },
  { why: "#### negative", task: "gsm8k", text: "The change is 5 - 15 = -10\n#### -10", strict: "-10", flexible: "-10" },
  { why: "#### money", task: "gsm8k", text: "She earns $18 a day.\n#### $18", strict: "18", flexible: "18" },
  { why: "#### then trailing period", task: "gsm8k", text: "#### 42.", strict: "42", flexible: "42" },
  { why: "#### decimal", task: "gsm8k", text: "Each costs 2.50.\n#### 2.50", strict: "2.50", flexible: "2.50" },
  { why: "####  no space", task: "gsm8k", text: "####7", strict: "7", flexible: "7" },
  { why: "#### with trailing unit", task: "gsm8k", text: "#### 30 minutes", strict: "30", flexible: "30" },
  { why: "#### percent", task: "gsm8k", text: "The discount is 25%.\n#### 25%", strict: "25", flexible: "25" },
  { why: "#### empty then text", task: "gsm8k", text: "#### \nI am not sure.", strict: null, flexible: null },
  {
    why: "two #### lines, last wins",
    task: "gsm8k",
    text: "#### 4\nWait, I mis-added.\n#### 5",
    strict: "5",
    flexible: "5",
  },
  {
    why: "recited few-shot exemplars, real answer last",
    task: "gsm8k",
    text: "Q: 2 apples + 3 apples?\nA: 2 + 3 = 5\n#### 5\n\nQ: 6 pens minus 2?\nA: 6 - 2 = 4\n#### 4\n\nQ: real\nA: 9 * 3 = 27\n#### 27",
    strict: "27",
    flexible: "27",
  },
  { why: "unicode minus", task: "gsm8k", text: "#### \u22123", strict: "-3", flexible: "-3" },
  { why: "markdown bold after ####", task: "gsm8k", text: "#### **64**", strict: "64", flexible: "64" },
  // --- "The answer is N" --------------------------------------------------------------------------------
  { why: "answer is", task: "gsm8k", text: "6 * 7 = 42. The answer is 42.", strict: "42", flexible: "42" },
  { why: "answer is, lower case", task: "gsm8k", text: "so the answer is 9", strict: "9", flexible: "9" },
  { why: "final answer is", task: "gsm8k", text: "The final answer is 1,050.", strict: "1050", flexible: "1050" },
  { why: "answer is money", task: "gsm8k", text: "The answer is $3.75.", strict: "3.75", flexible: "3.75" },
  { why: "answer is escaped dollar", task: "gsm8k", text: "The answer is \\$12.", strict: "12", flexible: "12" },
  { why: "answer is + boxed", task: "gsm8k", text: "The answer is $\\boxed{42}$.", strict: "42", flexible: "42" },
  { why: "answer is inside \\( \\)", task: "gsm8k", text: "The answer is \\(7\\).", strict: "7", flexible: "7" },
  { why: "answer is negative", task: "gsm8k", text: "The answer is -8 degrees.", strict: "-8", flexible: "-8" },
  { why: "answer is bold", task: "gsm8k", text: "The answer is **17**.", strict: "17", flexible: "17" },
  { why: "answer is: colon", task: "gsm8k", text: "The answer is: 256", strict: "256", flexible: "256" },
  { why: "answer is across a line break", task: "gsm8k", text: "The answer\nis 33", strict: "33", flexible: "33" },
  { why: "answer is percent", task: "gsm8k", text: "The answer is 40%.", strict: "40", flexible: "40" },
  { why: "answer is fraction", task: "gsm8k", text: "The answer is 3/4.", strict: "3/4", flexible: "3/4" },
  { why: "answer is 0.5", task: "gsm8k", text: "The answer is .5", strict: ".5", flexible: ".5" },
  {
    why: "recited 'The answer is' exemplars, real answer last",
    task: "gsm8k",
    text: "Q: Tom has 3 cars... The answer is 5.\nQ: Ann reads 10 pages... The answer is 30.\nQ: ours\nA: 12 / 4 = 3. The answer is 3.",
    strict: "3",
    flexible: "3",
  },
  {
    why: "#### after answer is: text order wins",
    task: "gsm8k",
    text: "The answer is 10.\n#### 11",
    strict: "11",
    flexible: "11",
  },
  {
    why: "answer is after ####: text order wins",
    task: "gsm8k",
    text: "#### 11\nActually the answer is 12.",
    strict: "12",
    flexible: "12",
  },
  // --- no declared format: strict null, flexible falls back ---------------------------------------------
  { why: "last number fallback", task: "gsm8k", text: "She has 3 + 4 = 7 apples.", strict: null, flexible: "7" },
  { why: "last number is money", task: "gsm8k", text: "In total she pays $1,200.", strict: null, flexible: "1200" },
  { why: "last number negative", task: "gsm8k", text: "The temperature drops to -4.", strict: null, flexible: "-4" },
  {
    why: "hyphen is not a minus",
    task: "gsm8k",
    text: "They played on a 3-4 scale, so 7-2",
    strict: null,
    flexible: "2",
  },
  { why: "comma list vs thousands", task: "gsm8k", text: "The numbers are 1, 2, 3", strict: null, flexible: "3" },
  { why: "comma list without spaces", task: "gsm8k", text: "Values: 1,2,3", strict: null, flexible: "3" },
  { why: "thousands then period", task: "gsm8k", text: "She saved 12,500.", strict: null, flexible: "12500" },
  {
    why: "answer in words (not parsed)",
    task: "gsm8k",
    text: "The answer is forty-two.",
    strict: null,
    flexible: null,
  },
  {
    why: "words, with a digit elsewhere",
    task: "gsm8k",
    text: "After 2 days the answer is forty-two.",
    strict: null,
    flexible: "2",
  },
  {
    why: "boxed in gsm8k is flexible only",
    task: "gsm8k",
    text: "So the total is $\\boxed{18}$",
    strict: null,
    flexible: "18",
  },
  {
    why: "boxed money in gsm8k",
    task: "gsm8k",
    text: "Total: \\boxed{\\$1,234.50}",
    strict: null,
    flexible: "1234.50",
  },
  { why: "no number at all", task: "gsm8k", text: "I cannot solve this.", strict: null, flexible: null },
  { why: "empty output", task: "gsm8k", text: "", strict: null, flexible: null },
  {
    why: "trailing zeros kept as written",
    task: "gsm8k",
    text: "It costs 12.50 dollars",
    strict: null,
    flexible: "12.50",
  },
  { why: "percent in text", task: "gsm8k", text: "That is an increase of 15%", strict: null, flexible: "15" },
  { why: "euro and pound", task: "gsm8k", text: "First €5, then £7", strict: null, flexible: "7" },
  // --- generic numeric task ("number"): boxed is declared -----------------------------------------------
  { why: "boxed", task: "number", text: "Hence $\\boxed{-7}$.", strict: "-7", flexible: "-7" },
  { why: "boxed frac", task: "number", text: "\\boxed{\\frac{1}{2}}", strict: "1/2", flexible: "1/2" },
  { why: "boxed with text unit", task: "number", text: "\\boxed{18 \\text{ dollars}}", strict: "18", flexible: "18" },
  { why: "answer is then boxed", task: "number", text: "The answer is 4. \\boxed{5}", strict: "5", flexible: "5" },
  { why: "boxed then answer is", task: "number", text: "\\boxed{5}. The answer is 6.", strict: "6", flexible: "6" },
  // --- MATH: last \boxed{...} with balanced braces -------------------------------------------------------
  { why: "simple boxed", task: "math", text: "Thus $x = \\boxed{3}$.", strict: "3", flexible: "3" },
  {
    why: "nested braces",
    task: "math",
    text: "So \\boxed{\\frac{\\sqrt{3}}{2}}.",
    strict: "\\frac{\\sqrt{3}}{2}",
    flexible: "\\frac{\\sqrt{3}}{2}",
  },
  {
    why: "two boxed, last wins",
    task: "math",
    text: "First \\boxed{1}, corrected: \\boxed{2}",
    strict: "2",
    flexible: "2",
  },
  {
    why: "escaped braces inside",
    task: "math",
    text: "\\boxed{\\{1, 2\\}}",
    strict: "\\{1, 2\\}",
    flexible: "\\{1, 2\\}",
  },
  {
    why: "tuple with left/right",
    task: "math",
    text: "\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}",
    strict: "\\left( 3, \\frac{\\pi}{2} \\right)",
    flexible: "\\left( 3, \\frac{\\pi}{2} \\right)",
  },
  {
    why: "unbalanced boxed ignored",
    task: "math",
    text: "\\boxed{3} then \\boxed{\\frac{1}{2}",
    strict: "3",
    flexible: "3",
  },
  { why: "\\boxed without braces", task: "math", text: "$\\boxed 5$", strict: "5", flexible: "5" },
  { why: "fbox", task: "math", text: "\\fbox{x+1}", strict: "x+1", flexible: "x+1" },
  {
    why: "answer is, no box",
    task: "math",
    text: "The answer is $\\frac{3}{4}$.",
    strict: null,
    flexible: "\\frac{3}{4}",
  },
  { why: "last number fallback", task: "math", text: "we get x = 14", strict: null, flexible: "14" },
  {
    why: "boxed text",
    task: "math",
    text: "\\boxed{\\text{Evelyn}}",
    strict: "\\text{Evelyn}",
    flexible: "\\text{Evelyn}",
  },
  // --- multiple choice ----------------------------------------------------------------------------------
  { why: "answer is (C)", task: "mc", text: "The speed is 5 km/h. The answer is (C).", strict: "C", flexible: "C" },
  { why: "Answer: B", task: "mc", text: "Answer: B", strict: "B", flexible: "B" },
  { why: "answer is D bare", task: "mc", text: "so the answer is D", strict: "D", flexible: "D" },
  {
    why: "lower-case letter is not strict",
    task: "mc",
    text: "the answer is a good guess",
    strict: null,
    flexible: null,
  },
  { why: "(E) without phrase", task: "mc", text: "Checking each option, (E) fits.", strict: null, flexible: "E" },
  { why: "option b", task: "mc", text: "I pick option b", strict: null, flexible: "B" },
  { why: "letter alone on last line", task: "mc", text: "Reasoning...\nA", strict: null, flexible: "A" },
  {
    why: "recited exemplars, real last",
    task: "mc",
    text: "Q1 ... The answer is (A).\nQ2 ... The answer is (E).\nQ3 ... The answer is (B).",
    strict: "B",
    flexible: "B",
  },
  { why: "Answer D without colon", task: "mc", text: "704/22 = 32\nAnswer D", strict: null, flexible: "D" },
  { why: "ANS:D", task: "mc", text: "(4 + 6) = 10 ANS:D", strict: null, flexible: "D" },
  { why: "correct option is C", task: "mc", text: "12.5 hours.\nThe correct option is C", strict: null, flexible: "C" },
  {
    why: "X is the correct choice",
    task: "mc",
    text: "40 sales\nD is the correct choice",
    strict: null,
    flexible: "D",
  },
  { why: "P(B) is not an answer", task: "mc", text: "P(A/B) = P(A n B)/P(B) = 0.2\nA", strict: null, flexible: "A" },
  {
    why: "Answer Choices list is not an answer",
    task: "mc",
    text: "Answer Choices: (A) 5 (B) 6",
    strict: null,
    flexible: "B",
  },
  {
    why: "lower-case letter after an upper-case one",
    task: "mc",
    text: "Answer D\nso the answer is a sure thing",
    strict: null,
    flexible: "D",
  },
  { why: "answer is option C", task: "mc", text: "The answer is option C.", strict: "C", flexible: "C" },
  {
    why: "several letters mentioned",
    task: "mc",
    text: "(A) is too small and (D) too large; answer: (B)",
    strict: "B",
    flexible: "B",
  },
  // --- free text after "####" (generated logic problems: names, True/False) -----------------------------
  {
    why: "text: name after ####",
    task: "text",
    text: "So Eli is the shortest.\n#### Eli",
    strict: "Eli",
    flexible: "Eli",
  },
  {
    why: "text: last #### wins",
    task: "text",
    text: "#### True\nno wait\n#### False",
    strict: "False",
    flexible: "False",
  },
  { why: "text: empty #### line", task: "text", text: "Cal is tallest.\n####\n", strict: null, flexible: "####" },
  { why: "text: answer is phrase", task: "text", text: "The answer is Kai. Done", strict: null, flexible: "Kai" },
  {
    why: "text: last line fallback",
    task: "text",
    text: "Ben is shorter than Ava.\nAva",
    strict: null,
    flexible: "Ava",
  },
  { why: "text: nothing", task: "text", text: "  \n ", strict: null, flexible: null },
  {
    why: "text: repeated markers",
    task: "text",
    text: "#### Ava\n#### #### ####",
    strict: "Ava",
    flexible: "Ava",
  },
];

describe("extractAnswer: strict vs flexible table", () => {
  test(`the table has at least 60 cases (has ${CASES.length})`, () => {
    assert.ok(CASES.length >= 60);
  });
  for (const c of CASES) {
    test(`${c.task}: ${c.why}`, () => {
      assert.equal(extractAnswer(c.text, { task: c.task, mode: "strict" }), c.strict, "strict");
      assert.equal(extractAnswer(c.text, { task: c.task, mode: "flexible" }), c.flexible, "flexible");
      assert.deepEqual(extractBoth(c.text, c.task), { strict: c.strict, flexible: c.flexible });
    });
  }
  test("flexible always agrees with strict when strict finds an answer", () => {
    for (const c of CASES) if (c.strict !== null) assert.equal(c.flexible, c.strict, c.why);
  });
});

describe("helpers", () => {
  test("findNumbers splits lists and keeps thousands", () => {
    assert.deepEqual(findNumbers("1,234 and 1, 2 and 3.5 and -2 and $7"), ["1234", "1", "2", "3.5", "-2", "7"]);
  });
});

describe("real data", { skip: NO_SHARED_DATA }, () => {
  test("GSM8K test: strict extraction of all 1,319 gold solutions equals the published answers", () => {
    const rows = readFileSync(sharedFile("gsm8k_test.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { answer: string });
    const answers = JSON.parse(readFileSync(sharedFile("gsm8k_test_answers.json"), "utf8")) as string[];
    assert.equal(rows.length, 1319);
    assert.equal(answers.length, 1319);
    const wrong = rows
      .map((r, i) => ({ i, got: extractAnswer(r.answer, { task: "gsm8k", mode: "strict" }), want: answers[i] }))
      .filter((x) => x.got !== x.want);
    assert.deepEqual(wrong, []);
  });
  test("AQuA test and dev rationales: strict is never wrong when it fires; flexible finds ≥ 90%", () => {
    for (const file of ["aqua_test.jsonl", "aqua_dev.jsonl"]) {
      const rows = readFileSync(sharedFile(file), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { rationale: string; correct: string });
      const got = rows.map((r) => ({ ...extractBoth(r.rationale, "mc"), gold: r.correct }));
      const strictFired = got.filter((g) => g.strict !== null);
      // measured: test 157 fired / 157 right, 235/254 flexible right; dev 154/154, 237/254
      assert.ok(strictFired.length >= 150, `${file}: strict fired ${strictFired.length}`);
      assert.deepEqual(
        strictFired.filter((g) => g.strict !== g.gold),
        [],
        file,
      );
      const flexRight = got.filter((g) => g.flexible === g.gold).length;
      assert.ok(flexRight >= 0.9 * rows.length, `${file}: flexible right ${flexRight}/${rows.length}`);
    }
  });
  test("MATH-500 sample: the last \\boxed{} of each of the 300 solutions equals its answer field", () => {
    const rows = readFileSync(sharedFile("math_sample.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { solution: string; answer: string });
    assert.equal(rows.length, 300);
    const wrong = rows.filter((r) => extractAnswer(r.solution, { task: "math", mode: "strict" }) !== r.answer);
    assert.deepEqual(
      wrong.map((r) => r.answer),
      [],
    );
    assert.ok(
      rows.every((r) =>
        answersMatch(extractAnswer(r.solution, { task: "math", mode: "flexible" }), r.answer, { task: "math" }),
      ),
    );
  });
});
