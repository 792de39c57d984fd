/**
 * Adapters from public layouts to record kinds, on the real files in ../shared/data
 * (GSM8K test, AQuA-RAT test, a MATH-500 sample) and on small hand-written rows for the
 * rest; boxed-answer extraction; conversions between kinds; the one-line error shapes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  ADAPTERS,
  adapterOf,
  FORMAT_NAMES,
  formatName,
  KIND_NAMES,
  recordKindOf,
  SOURCE_FORMATS,
  sourceFormatOf,
  splitGsm8kAnswer,
  stripCalculator,
} from "../src/data/adapters.ts";
import { adaptRow, CONVERSIONS } from "../src/data/conversions.ts";
import { DataError, type Location } from "../src/data/errors.ts";
import { parseJsonl } from "../src/data/readers.ts";
import { type CoTRecord, RECORD_SCHEMAS, type RecordKind } from "../src/data/records.ts";
import { NO_SHARED_DATA, SHARED_DATA } from "./shared-data.ts";

const DATA = SHARED_DATA;
const loc: Location = { file: "t.jsonl", line: 7, unit: "line" };

function rowsOf(file: string): { value: unknown; loc: Location }[] {
  return parseJsonl(readFileSync(`${DATA}/${file}`), file).map((r) => {
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    return { value: r.value, loc: r.loc };
  });
}

/** The DataError message `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DataError, `not a DataError: ${err}`);
    return err.message;
  }
  assert.fail("did not throw");
}

describe("real datasets", { skip: NO_SHARED_DATA }, () => {
  test("GSM8K test: 1,319 CoT records, answers equal gsm8k_test_answers.json, no calculator annotations", () => {
    const gold: string[] = JSON.parse(readFileSync(`${DATA}/gsm8k_test_answers.json`, "utf8"));
    const recs = rowsOf("gsm8k_test.jsonl").map((r) => adaptRow("gsm8k", "cot", r.value, r.loc) as CoTRecord);
    assert.equal(recs.length, 1319);
    assert.deepEqual(
      recs.map((r) => r.answer),
      gold,
    );
    assert.equal(recs.filter((r) => /<<|>>|####/.test(r.chain_of_thought)).length, 0);
    assert.equal(recs.filter((r) => RECORD_SCHEMAS.cot.safeParse(r).success).length, 1319);
    assert.equal(
      recs[0]!.chain_of_thought,
      "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer’s market.",
    );
    const kept = adaptRow("gsm8k", "cot", rowsOf("gsm8k_test.jsonl")[0]!.value, loc, {
      keepCalculator: true,
    }) as CoTRecord;
    assert.match(kept.chain_of_thought, /= <<16-3-4=9>>9 duck eggs/);
  });

  test("AQuA-RAT test: 254 CoT records, answer = `correct` letter, options appended to the question", () => {
    const rows = rowsOf("aqua_test.jsonl");
    const recs = rows.map((r) => adaptRow("aqua", "cot", r.value, r.loc) as CoTRecord);
    assert.equal(recs.length, 254);
    assert.deepEqual(
      recs.map((r) => r.answer),
      rows.map((r) => (r.value as { correct: string }).correct),
    );
    assert.ok(recs.every((r) => /\nOptions:\nA\) .*\nB\) .*\nC\) .*\nD\) .*\nE\) /.test(r.question)));
    assert.match(recs[0]!.question, /\nA\) 5\(√3 \+ 1\)\n/);
  });

  test("MATH sample: 300 CoT records, answer = last balanced \\boxed{} = the file's own `answer` field", () => {
    const rows = rowsOf("math_sample.jsonl");
    const recs = rows.map((r) => adaptRow("math", "cot", r.value, r.loc) as CoTRecord);
    assert.equal(recs.length, 300);
    assert.deepEqual(
      recs.map((r) => r.answer),
      rows.map((r) => (r.value as { answer: string }).answer),
    );
    const twoBoxed = rows.filter(
      (r) => ((r.value as { solution: string }).solution.match(/\\boxed/g) ?? []).length > 1,
    );
    assert.ok(twoBoxed.length >= 1, "the sample includes rows with two \\boxed");
    assert.ok(
      recs.some((r) => r.answer === "\\{1\\pm\\sqrt{5},-2\\}"),
      "escaped braces kept inside the answer",
    );
    assert.deepEqual(Object.keys(recs[0]!.meta!), ["source", "subject", "level", "unique_id"]);
  });
});

describe("answer extraction", () => {
  test("splitGsm8kAnswer: last ####, thousands separators removed, trimmed", () => {
    assert.deepEqual(splitGsm8kAnswer("a\nb #### 2\n#### 1,234,567 "), { chain: "a\nb #### 2", answer: "1234567" });
    assert.deepEqual(splitGsm8kAnswer("#### -3.5"), { chain: "", answer: "-3.5" });
    assert.equal(splitGsm8kAnswer("no marker"), undefined);
    assert.equal(splitGsm8kAnswer("empty ####  "), undefined);
    assert.equal(stripCalculator("3*4 = <<3*4=12>>12 and <<1+1=2>>2"), "3*4 = 12 and 2");
  });
});

describe("instruction formats", () => {
  test("Alpaca, Dolly, FLAN pair and Super-Natural-Instructions", () => {
    assert.deepEqual(adaptRow("alpaca", "instruction", { instruction: "I", input: "", output: "O" }, loc), {
      instruction: "I",
      input: "",
      output: "O",
    });
    assert.deepEqual(
      adaptRow("dolly", "instruction", { instruction: "I", context: "C", response: "R", category: "qa" }, loc),
      { instruction: "I", output: "R", meta: { source: "dolly", category: "qa" }, input: "C" },
    );
    assert.deepEqual(adaptRow("flan", "instruction", { inputs: "Translate: hi", targets: "salut" }, loc), {
      instruction: "Translate: hi",
      output: "salut",
      meta: { source: "flan" },
    });
    const sni = {
      Definition: ["Answer with the opposite word."],
      "Positive Examples": [
        { input: "hot", output: "cold", explanation: "opposite temperature" },
        { input: "up", output: "down" },
      ],
      Instance: { input: "big", output: ["small", "little"] },
    };
    assert.deepEqual(adaptRow("sni", "instruction", sni, loc), {
      instruction:
        "Answer with the opposite word.\n\n" +
        "Example 1\nInput: hot\nOutput: cold\nExplanation: opposite temperature\n\n" +
        "Example 2\nInput: up\nOutput: down\n\n" +
        "Now complete the following example.",
      input: "big",
      output: "small",
      meta: { source: "sni" },
    });
  });
});

describe("TRL layouts and conversions", () => {
  test("prompt-completion, conversation and preference pass through as-is (extra keys kept)", () => {
    const rows: [RecordKind, unknown][] = [
      ["prompt-completion", { prompt: "p", completion: "c", id: 3 }],
      [
        "prompt-completion",
        { prompt: [{ role: "user", content: "p" }], completion: [{ role: "assistant", content: "c" }] },
      ],
      [
        "conversation",
        {
          messages: [
            { role: "system", content: "s" },
            { role: "user", content: "u" },
          ],
          extra: true,
        },
      ],
      ["preference", { prompt: "p", chosen: "a", rejected: "b" }],
    ];
    for (const [kind, row] of rows) assert.equal(adaptRow(kind, kind, row, loc), row);
  });

  test("cot → instruction / prompt-completion / conversation; instruction → conversation; messages → prompt-completion", () => {
    const cot = { question: "2+2?", chain_of_thought: "2+2 = 4", answer: "4" };
    assert.deepEqual(adaptRow("cot", "instruction", cot, loc), {
      instruction: "2+2?",
      output: "2+2 = 4\n#### 4",
    });
    assert.deepEqual(adaptRow("cot", "prompt-completion", cot, loc), {
      prompt: "2+2?",
      completion: "2+2 = 4\n#### 4",
    });
    assert.deepEqual(adaptRow("cot", "conversation", cot, loc), {
      messages: [
        { role: "user", content: "2+2?" },
        { role: "assistant", content: "2+2 = 4\n#### 4" },
      ],
    });
    assert.deepEqual(adaptRow("alpaca", "conversation", { instruction: "I", input: "X", output: "O" }, loc), {
      messages: [
        { role: "user", content: "I\n\nX" },
        { role: "assistant", content: "O" },
      ],
    });
    const conv = {
      messages: [
        { role: "user", content: "u" },
        { role: "assistant", content: "a" },
      ],
    };
    assert.deepEqual(adaptRow("conversation", "prompt-completion", conv, loc), {
      prompt: [{ role: "user", content: "u" }],
      completion: [{ role: "assistant", content: "a" }],
    });
    assert.equal(
      errorOf(() => adaptRow("conversation", "prompt-completion", { messages: [{ role: "user", content: "u" }] }, loc)),
      't.jsonl:7: field "messages": expected a conversation ending in an assistant message after at least one other, got last role "user" of 1',
    );
    assert.throws(() => adaptRow("alpaca", "cot", { instruction: "I", output: "O" }, loc), /cannot convert alpaca/);
  });

  test("every source format has an adapter whose kind has an identity conversion", () => {
    for (const f of SOURCE_FORMATS) {
      const kind = ADAPTERS[f].kind;
      assert.ok(CONVERSIONS[kind][kind], `${f} → ${kind}`);
    }
  });
});

describe("format and kind names", () => {
  test("`messages` is the canonical name of the conversational layout; `conversation` a synonym", () => {
    assert.equal(sourceFormatOf("messages"), "conversation");
    assert.equal(sourceFormatOf("conversation"), "conversation");
    assert.equal(recordKindOf("messages"), "conversation");
    assert.equal(recordKindOf("conversation"), "conversation");
    assert.equal(sourceFormatOf("constructor"), undefined);
    assert.equal(recordKindOf("toString"), undefined);
    assert.equal(formatName("conversation"), "messages");
    assert.equal(formatName("gsm8k"), "gsm8k");
    assert.ok(FORMAT_NAMES.includes("messages") && !FORMAT_NAMES.includes("conversation"));
    assert.ok(KIND_NAMES.includes("messages") && !KIND_NAMES.includes("conversation"));
    const conv = { messages: [{ role: "user", content: "u" }] };
    assert.equal(adaptRow("messages", "messages", conv, loc), conv);
    assert.equal(adaptRow("conversation", "messages", conv, loc), conv);
    assert.throws(() => adaptRow("alpaca", "cot", { instruction: "I", output: "O" }, loc), {
      message: "cannot convert alpaca (instruction records) to cot",
    });
    assert.throws(() => adaptRow("cot", "preference", {}, loc), {
      message: "cannot convert cot (cot records) to preference",
    });
    assert.throws(() => adaptRow("messages", "cot", conv, loc), {
      message: "cannot convert messages (messages records) to cot",
    });
  });
});

describe("one-line errors name file:line, field, expected and got", () => {
  const cases: [Parameters<typeof adaptRow>[0], unknown, string][] = [
    ["gsm8k", { question: "q" }, 't.jsonl:7: field "answer": expected a string, got nothing (field missing)'],
    ["gsm8k", { question: "q", answer: 42 }, 't.jsonl:7: field "answer": expected a string, got number 42'],
    [
      "gsm8k",
      { question: "", answer: "#### 1" },
      't.jsonl:7: field "question": expected a non-empty string, got string ""',
    ],
    [
      "gsm8k",
      { question: "q", answer: "4" },
      't.jsonl:7: field "answer": expected a worked solution ending in "#### N", got string "4"',
    ],
    ["gsm8k", [1, 2], "t.jsonl:7: expected a JSON object, got array of 2"],
    ["gsm8k", "text", 't.jsonl:7: expected a JSON object, got string "text"'],
    [
      "aqua",
      { question: "q", options: "A)1", rationale: "", correct: "A" },
      't.jsonl:7: field "options": expected an array, got string "A)1"',
    ],
    [
      "aqua",
      { question: "q", options: ["A)1", "B)2"], rationale: "", correct: "C" },
      't.jsonl:7: field "correct": expected one of the option letters A, B, got string "C"',
    ],
    [
      "aqua",
      { question: "q", options: ["A)1", "2"], rationale: "", correct: "A" },
      't.jsonl:7: field "options.1": expected an option like "A)42", got string "2"',
    ],
    [
      "math",
      { problem: "p", solution: "no box" },
      't.jsonl:7: field "solution": expected a solution with \\boxed{answer}, got string "no box"',
    ],
    [
      "messages",
      { messages: [{ role: "bot", content: "x" }] },
      't.jsonl:7: field "messages.0.role": expected one of "system", "user", "assistant", got string "bot"',
    ],
    [
      "prompt-completion",
      { prompt: 3, completion: "c" },
      't.jsonl:7: field "prompt": expected a string or an array, got number 3',
    ],
  ];
  for (const [format, row, message] of cases) {
    test(`${format}: ${message.slice(10, 60)}`, () => {
      assert.equal(
        errorOf(() => adaptRow(format, adapterOf(format).kind, row, loc)),
        message,
      );
    });
  }

  test("Parquet rows are located by row", () => {
    assert.equal(
      errorOf(() => adaptRow("gsm8k", "cot", { question: "q" }, { file: "x.parquet", line: 3, unit: "row" })),
      'x.parquet:row 3: field "answer": expected a string, got nothing (field missing)',
    );
  });
});
