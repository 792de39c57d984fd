/**
 * Long addition and multiplication with a scratchpad.
 *
 * Addition, one step per column from the right:
 *   "Column 1: 7 + 5 + 0 = 12, write 2, carry 1."
 *   ...
 *   "The result is 912."
 * Multiplication, one partial product per digit of the multiplier, then a running sum:
 *   "Ones digit 7: 345 * 7 = 2415."   "Tens digit 2: 345 * 20 = 6900."
 *   "Add: 2415 + 6900 = 9315."
 * The checker re-derives each step from the question and the previous step (the carry,
 * the running sum) and compares every number, so a changed, dropped or swapped step is
 * caught at its position.
 */
import type { Rng } from "../../engine/rng.ts";
import { checkFinalAnswer, type Problem, type TaskGenerator, verdict } from "./types.ts";

export interface LongArithOptions {
  /** Digits of the first operand (addition: both), inclusive range. */
  minDigits: number;
  maxDigits: number;
  /** Digits of the multiplier. */
  maxMultiplierDigits: number;
}

export interface LongArithStructured {
  op: "+" | "*";
  a: string;
  b: string;
}

const PLACES = ["Ones", "Tens", "Hundreds", "Thousands", "Ten-thousands", "Hundred-thousands"];

function randomNumber(rng: Rng, digits: number): string {
  let s = String(rng.int(1, 9));
  for (let i = 1; i < digits; i++) s += String(rng.int(0, 9));
  return s;
}

/** The digit of `n` at column k from the right (0 beyond its length). */
function digitAt(n: string, k: number): number {
  return k < n.length ? Number(n[n.length - 1 - k]) : 0;
}

function additionSteps(a: string, b: string): string[] {
  const steps: string[] = [];
  let carry = 0;
  for (let k = 0; k < Math.max(a.length, b.length) || carry > 0; k++) {
    const da = digitAt(a, k);
    const db = digitAt(b, k);
    const s = da + db + carry;
    steps.push(`Column ${k + 1}: ${da} + ${db} + ${carry} = ${s}, write ${s % 10}, carry ${Math.floor(s / 10)}.`);
    carry = Math.floor(s / 10);
  }
  steps.push(`The result is ${BigInt(a) + BigInt(b)}.`);
  return steps;
}

function multiplicationSteps(a: string, b: string): string[] {
  const steps: string[] = [];
  const partials: bigint[] = [];
  for (let k = 0; k < b.length; k++) {
    const d = digitAt(b, k);
    const factor = BigInt(d) * 10n ** BigInt(k);
    partials.push(BigInt(a) * factor);
    steps.push(`${PLACES[k]} digit ${d}: ${a} * ${factor} = ${BigInt(a) * factor}.`);
  }
  let sum = partials[0]!;
  for (let k = 1; k < partials.length; k++) {
    steps.push(`Add: ${sum} + ${partials[k]} = ${sum + partials[k]!}.`);
    sum += partials[k]!;
  }
  return steps;
}

type Err = { step: number; reason: string };

function checkAddition(a: string, b: string, steps: string[]): Err[] {
  let carry = 0;
  let k = 0;
  const written: number[] = [];
  for (; k < Math.max(a.length, b.length) || carry > 0; k++) {
    const step = steps[k];
    if (step === undefined) return [{ step: k, reason: `column ${k + 1} is missing` }];
    const m = /^Column (\d+): (\d+) \+ (\d+) \+ (\d+) = (\d+), write (\d+), carry (\d+)\.?$/.exec(step);
    if (!m)
      return [{ step: k, reason: `expected "Column ${k + 1}: a + b + carry = s, write d, carry c", got "${step}"` }];
    const [col, da, db, c, s, w, co] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const want = { col: k + 1, da: digitAt(a, k), db: digitAt(b, k), c: carry };
    if (col !== want.col) return [{ step: k, reason: `this should be column ${want.col}, not ${col}` }];
    if (da !== want.da || db !== want.db) {
      return [{ step: k, reason: `column ${col} has digits ${want.da} and ${want.db}, not ${da} and ${db}` }];
    }
    if (c !== carry) return [{ step: k, reason: `the carry into column ${col} is ${carry}, not ${c}` }];
    if (da + db + c !== s) return [{ step: k, reason: `${da} + ${db} + ${c} = ${da + db + c}, not ${s}` }];
    if (w !== s % 10 || co !== Math.floor(s / 10)) {
      return [{ step: k, reason: `${s} gives write ${s % 10}, carry ${Math.floor(s / 10)}` }];
    }
    written.push(w);
    carry = co;
  }
  const final = steps[k];
  const read = written
    .reverse()
    .join("")
    .replace(/^0+(?=\d)/, "");
  if (final === undefined) return [{ step: k, reason: "the result line is missing" }];
  const m = /^The result is (\d+)\.?$/.exec(final);
  if (!m || m[1] !== read) return [{ step: k, reason: `the written digits read ${read}, got "${final}"` }];
  if (steps.length > k + 1) return [{ step: k + 1, reason: "extra steps after the result" }];
  return [];
}

function checkMultiplication(a: string, b: string, steps: string[]): Err[] {
  const partials: bigint[] = [];
  for (let k = 0; k < b.length; k++) {
    const step = steps[k];
    if (step === undefined) return [{ step: k, reason: `the partial product for digit ${k + 1} is missing` }];
    const m = /^([A-Za-z-]+) digit (\d+): (\d+) \* (\d+) = (\d+)\.?$/.exec(step);
    if (!m) return [{ step: k, reason: `expected "${PLACES[k]} digit d: ${a} * f = p", got "${step}"` }];
    const d = digitAt(b, k);
    const factor = BigInt(d) * 10n ** BigInt(k);
    if (m[1] !== PLACES[k] || Number(m[2]) !== d)
      return [{ step: k, reason: `this should be ${PLACES[k]} digit ${d}` }];
    if (m[3] !== a || BigInt(m[4]!) !== factor) return [{ step: k, reason: `the partial product is ${a} * ${factor}` }];
    if (BigInt(m[5]!) !== BigInt(a) * factor) return [{ step: k, reason: `${a} * ${factor} = ${BigInt(a) * factor}` }];
    partials.push(factor * BigInt(a));
  }
  let sum = partials[0]!;
  for (let j = 1; j < partials.length; j++) {
    const k = b.length + j - 1;
    const step = steps[k];
    if (step === undefined) return [{ step: k, reason: `adding partial product ${j + 1} is missing` }];
    const m = /^Add: (\d+) \+ (\d+) = (\d+)\.?$/.exec(step);
    if (!m) return [{ step: k, reason: `expected "Add: s + p = t", got "${step}"` }];
    if (BigInt(m[1]!) !== sum || BigInt(m[2]!) !== partials[j]) {
      return [{ step: k, reason: `this step should add ${sum} and ${partials[j]}` }];
    }
    if (BigInt(m[3]!) !== sum + partials[j]!)
      return [{ step: k, reason: `${sum} + ${partials[j]} = ${sum + partials[j]!}` }];
    sum += partials[j]!;
  }
  const n = 2 * b.length - 1;
  if (steps.length > n) return [{ step: n, reason: "extra steps after the product" }];
  return [];
}

/** Surface forms of a sum and a product (wordings.ts); 0 is the default. */
export const LONG_ARITH_WORDINGS = {
  add: [
    "What is {a} + {b}?",
    "Add {a} and {b}.",
    "Find the sum of {a} and {b}.",
    "Compute {a} + {b}",
    "Work out {a} plus {b}.",
    "{a} + {b} = ?",
    "What is the total of {a} and {b}?",
    "Calculate {a} + {b}.",
    "Solve: {a} + {b}",
    "What do you get when you add {b} to {a}?",
  ],
  mul: [
    "What is {a} * {b}?",
    "Multiply {a} by {b}.",
    "Find the product of {a} and {b}.",
    "Compute {a} * {b}",
    "Work out {a} times {b}.",
    "{a} * {b} = ?",
    "What is {a} multiplied by {b}?",
    "Calculate {a} * {b}.",
    "Solve: {a} * {b}",
    "What do you get when you multiply {a} by {b}?",
  ],
} as const;

export const longArith: TaskGenerator<LongArithStructured, LongArithOptions> = {
  name: "long-arith",
  description: "Long addition (column by column with carries) and multiplication (partial products)",
  defaults: { minDigits: 2, maxDigits: 5, maxMultiplierDigits: 3 },
  generate(rng, opts) {
    const o = { ...this.defaults, ...opts };
    const op = rng.pick(["+", "*"] as const);
    const a = randomNumber(rng, rng.int(o.minDigits, o.maxDigits));
    const bDigits = op === "+" ? rng.int(o.minDigits, o.maxDigits) : rng.int(1, o.maxMultiplierDigits);
    // A one-digit multiplier of 1 would be a trivial problem.
    const b = bDigits === 1 && op === "*" ? String(rng.int(2, 9)) : randomNumber(rng, bDigits);
    const answer = (op === "+" ? BigInt(a) + BigInt(b) : BigInt(a) * BigInt(b)).toString();
    return {
      task: "long-arith",
      question: op === "+" ? `What is ${a} + ${b}?` : `What is ${a} * ${b}?`,
      steps: op === "+" ? additionSteps(a, b) : multiplicationSteps(a, b),
      answer,
      structured: { op, a, b },
      canonical: JSON.stringify([op, a, b]),
    };
  },
  wordings: {
    pools: LONG_ARITH_WORDINGS,
    kindOf: (s) => (s.op === "+" ? "add" : "mul"),
    slots: (s) => ({ a: s.a, b: s.b }),
  },
  checkAnswer: checkFinalAnswer,
  checkSteps(problem: Problem<LongArithStructured>, steps) {
    const { op, a, b } = problem.structured;
    return verdict(op === "+" ? checkAddition(a, b, steps) : checkMultiplication(a, b, steps));
  },
};
