/**
 * Multi-step arithmetic word problems: rates (distance = speed × time, time = distance /
 * speed), percentages, shopping with quantities and prices, ages, averages. Every gold
 * chain is linear — each step uses the previous step's result — with one claim per
 * step, and the generator redraws until
 * all given numbers, constants and intermediate results are distinct, so dropping or
 * swapping a step always leaves some step using a number it has not derived yet.
 */
import type { Rng } from "../../engine/rng.ts";
import { Rational } from "../answer/index.ts";
import { allDistinct, checkClaimChain } from "./claims.ts";
import { checkFinalAnswer, type TaskGenerator, verdict } from "./types.ts";

export interface ArithmeticOptions {
  /** Largest quantity / count drawn. */
  maxCount: number;
  /** Largest unit price, speed or age drawn. */
  maxValue: number;
}

export const ARITHMETIC_TEMPLATES = [
  "rate-sum",
  "rate-scale",
  "trip-time",
  "discount",
  "shopping",
  "ages",
  "average",
] as const;
export type ArithmeticTemplate = (typeof ARITHMETIC_TEMPLATES)[number];

export interface ArithmeticStructured {
  template: ArithmeticTemplate;
  numbers: number[];
  name: string;
}

const NAMES = ["Mia", "Leo", "Ava", "Noah", "Zoe", "Omar", "Ivy", "Sam", "Lena", "Ravi"];
const ITEMS = [
  ["notebooks", "pens"],
  ["apples", "pears"],
  ["tickets", "snacks"],
  ["books", "bookmarks"],
] as const;

interface Drawn {
  question: string;
  steps: string[];
  results: number[];
  given: number[];
  constants: number[];
}

type Builder = (nums: number[], name: string) => Drawn;

/** For each template: how to draw its numbers, and how to write question and chain from them. */
const TEMPLATES: { [K in ArithmeticTemplate]: { draw: (rng: Rng, o: ArithmeticOptions) => number[]; build: Builder } } =
  {
    "rate-sum": {
      draw: (rng, o) => [
        rng.int(2, o.maxValue) * 5,
        rng.int(2, o.maxCount),
        rng.int(2, o.maxValue) * 5,
        rng.int(2, o.maxCount),
      ],
      build: ([v1, t1, v2, t2], name) => {
        const d1 = v1! * t1!;
        const d = d1 + v2! * t2!;
        return {
          question: `${name} drives at ${v1} km per hour for ${t1} hours, then at ${v2} km per hour for ${t2} hours. How many kilometers does ${name} drive in total?`,
          steps: [
            `At ${v1} km per hour for ${t1} hours: ${v1} * ${t1} = ${d1} km.`,
            `Then at ${v2} km per hour for ${t2} hours: ${d1} + ${v2} * ${t2} = ${d} km.`,
          ],
          results: [d1, d],
          given: [v1!, t1!, v2!, t2!],
          constants: [],
        };
      },
    },
    "rate-scale": {
      draw: (rng, o) => {
        const speed = rng.int(2, o.maxValue) * 5;
        const hours = rng.int(2, o.maxCount);
        return [speed * hours, hours, rng.int(2, o.maxCount + 4)];
      },
      build: ([dist, hours, later], name) => {
        const speed = dist! / hours!;
        const d = speed * later!;
        return {
          question: `${name} rides a train that travels ${dist} km in ${hours} hours. At the same speed, how many kilometers does it travel in ${later} hours?`,
          steps: [
            `Its speed is ${dist} km in ${hours} hours: ${dist} / ${hours} = ${speed} km per hour.`,
            `In ${later} hours: ${speed} * ${later} = ${d} km.`,
          ],
          results: [speed, d],
          given: [dist!, hours!, later!],
          constants: [],
        };
      },
    },
    "trip-time": {
      draw: (rng, o) => {
        const speed = rng.int(2, o.maxValue);
        return [speed * rng.int(2, o.maxCount), speed, rng.int(2, o.maxCount)];
      },
      build: ([dist, speed, rest], name) => {
        const riding = dist! / speed!;
        const total = riding + rest!;
        return {
          question: `${name} cycles ${dist} km at ${speed} km per hour and also rests for ${rest} hours. How many hours does the trip take?`,
          steps: [
            `Riding ${dist} km at ${speed} km per hour takes ${dist} / ${speed} = ${riding} hours.`,
            `With ${rest} hours of rest: ${riding} + ${rest} = ${total} hours.`,
          ],
          results: [riding, total],
          given: [dist!, speed!, rest!],
          constants: [],
        };
      },
    },
    average: {
      draw: (rng) => {
        const scores = [rng.int(50, 100), rng.int(50, 100)];
        // The third score makes the sum divisible by 3, so the average is whole.
        const third = 50 + ((3 - ((scores[0]! + scores[1]! + 50) % 3)) % 3) + 3 * rng.int(0, 16);
        return [...scores, third];
      },
      build: ([s1, s2, s3], name) => {
        const sum2 = s1! + s2!;
        const sum = sum2 + s3!;
        const avg = sum / 3;
        return {
          question: `${name} scores ${s1}, ${s2} and ${s3} on 3 tests. What is the average score?`,
          steps: [
            `The first two scores add up to ${s1} + ${s2} = ${sum2}.`,
            `Adding the third: ${sum2} + ${s3} = ${sum}.`,
            `The average over 3 tests is ${sum} / 3 = ${avg}.`,
          ],
          results: [sum2, sum, avg],
          given: [s1!, s2!, s3!, 3],
          constants: [],
        };
      },
    },
    discount: {
      draw: (rng, o) => [rng.pick([10, 20, 25, 50]), rng.int(2, o.maxValue) * 20, rng.int(2, o.maxCount)],
      build: ([pct, price, qty], name) => {
        const off = (pct! * price!) / 100;
        const sale = price! - off;
        const total = sale * qty!;
        return {
          question: `A jacket costs $${price}. It is on sale for ${pct}% off. ${name} buys ${qty} jackets on sale. How many dollars does ${name} pay?`,
          steps: [
            `The discount is ${pct}% of $${price}: ${pct} / 100 * ${price} = ${off} dollars.`,
            `The sale price is ${price} - ${off} = ${sale} dollars.`,
            `For ${qty} jackets: ${sale} * ${qty} = ${total} dollars.`,
          ],
          results: [off, sale, total],
          given: [pct!, price!, qty!],
          constants: [100],
        };
      },
    },
    shopping: {
      draw: (rng, o) => {
        const q1 = rng.int(2, o.maxCount);
        const p1 = rng.int(2, o.maxValue);
        const q2 = rng.int(2, o.maxCount);
        const p2 = rng.int(2, o.maxValue);
        const bill = rng.pick([50, 100, 200, 500].filter((b) => b > q1 * p1 + q2 * p2));
        return [q1, p1, q2, p2, bill, rng.int(0, ITEMS.length - 1)];
      },
      build: ([q1, p1, q2, p2, bill, item], name) => {
        const [a, b] = ITEMS[item!]!;
        const c1 = q1! * p1!;
        const c = c1 + q2! * p2!;
        const change = bill! - c;
        return {
          question: `${name} buys ${q1} ${a} at $${p1} each and ${q2} ${b} at $${p2} each, and pays with a $${bill} bill. How many dollars of change does ${name} get?`,
          steps: [
            `${q1} ${a} at $${p1} each cost ${q1} * ${p1} = ${c1} dollars.`,
            `Adding ${q2} ${b} at $${p2} each: ${c1} + ${q2} * ${p2} = ${c} dollars.`,
            `The change from $${bill} is ${bill} - ${c} = ${change} dollars.`,
          ],
          results: [c1, c, change],
          given: [q1!, p1!, q2!, p2!, bill!],
          constants: [],
        };
      },
    },
    ages: {
      draw: (rng, o) => [rng.int(2, Math.min(o.maxCount, 6)), rng.int(2, 12), rng.int(2, o.maxCount + 10)],
      build: ([times, son, years], name) => {
        const now = times! * son!;
        const later = now + years!;
        return {
          question: `${name} is ${times} times as old as a nephew who is ${son} years old. How old will ${name} be in ${years} years?`,
          steps: [
            `${name} is ${times} times ${son}: ${times} * ${son} = ${now} years old.`,
            `In ${years} years: ${now} + ${years} = ${later} years old.`,
          ],
          results: [now, later],
          given: [times!, son!, years!],
          constants: [],
        };
      },
    },
  };

function drawn(s: ArithmeticStructured): Drawn {
  return TEMPLATES[s.template].build(s.numbers, s.name);
}

/**
 * Surface forms of a word problem (wordings.ts), the same for every template: {story} is the
 * question up to its last sentence, {ask} that sentence, {askBare} it without "?". 0 is the default.
 */
const WORD_PROBLEM_FORMS = [
  "{story} {ask}",
  "{ask} {story}",
  "Solve: {story} {ask}",
  "{story} {ask} Give the answer as a number.",
  "Problem: {story} Question: {ask}",
  "Work out the answer. {story} {ask}",
  "{story} Find the answer: {askBare}.",
  "Read the problem and answer it. {story} {ask}",
  "{story} Now answer this: {ask}",
  "Here is a word problem. {story} {ask} Show your work.",
];
export const ARITHMETIC_WORDINGS = Object.fromEntries(ARITHMETIC_TEMPLATES.map((t) => [t, WORD_PROBLEM_FORMS]));

/** A question split at its last sentence: {story} {ask}. */
function storySlots(question: string): Record<string, string> {
  const cut = question.lastIndexOf(". ");
  const story = question.slice(0, cut + 1);
  const ask = question.slice(cut + 2);
  return { story, ask, askBare: ask.replace(/\?$/, "") };
}

export const arithmetic: TaskGenerator<ArithmeticStructured, ArithmeticOptions> = {
  name: "arithmetic",
  description: "Multi-step word problems: rates, percentages, shopping, ages",
  defaults: { maxCount: 9, maxValue: 20 },
  generate(rng, opts) {
    const o = { ...this.defaults, ...opts };
    for (;;) {
      const template = rng.pick(ARITHMETIC_TEMPLATES);
      const structured: ArithmeticStructured = {
        template,
        numbers: TEMPLATES[template].draw(rng, o),
        name: rng.pick(NAMES),
      };
      const d = drawn(structured);
      const all = [...d.given, ...d.constants, ...d.results];
      if (!all.every((x) => Number.isInteger(x) && x > 0) || !allDistinct(all.map(Rational.of))) continue;
      return {
        task: "arithmetic",
        question: d.question,
        steps: d.steps,
        answer: String(d.results[d.results.length - 1]),
        structured,
        canonical: JSON.stringify([template, structured.numbers]),
      };
    }
  },
  wordings: { pools: ARITHMETIC_WORDINGS, kindOf: (s) => s.template, slots: (s) => storySlots(drawn(s).question) },
  checkAnswer: checkFinalAnswer,
  checkSteps(problem, steps) {
    const d = drawn(problem.structured);
    return verdict(
      checkClaimChain(
        {
          given: d.given.map(Rational.of),
          constants: d.constants.map(Rational.of),
          answer: Rational.of(Number(problem.answer)),
        },
        steps,
      ),
    );
  },
};
