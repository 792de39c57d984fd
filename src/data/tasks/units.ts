/**
 * Unit conversion chains: one step per rung of a unit ladder (km → m → cm → mm,
 * weeks → days → hours → minutes → seconds, tonnes → kg → g, liters → mL,
 * TB → GB → MB → kB), in either
 * direction:
 *   "There are 60 minutes in an hour: 3 * 60 = 180 minutes."
 *   "There are 60 seconds in a minute: 180 * 60 = 10800 seconds."
 * Checked with the shared claim checker (exact arithmetic, every operand given, a
 * conversion factor or an earlier result), plus a unit check: the quantity a step
 * states must be the starting quantity converted exactly into the unit it names.
 */
import { Rational } from "../answer/index.ts";
import { allDistinct, checkClaimChain } from "./claims.ts";
import { checkFinalAnswer, type TaskGenerator, verdict } from "./types.ts";

export interface UnitsOptions {
  /** Largest starting quantity (before scaling for upward conversions). */
  maxQuantity: number;
  /** Most conversion steps in one problem. */
  maxSteps: number;
}

interface Rung {
  /** Plural unit name as written. */
  unit: string;
  /** Singular with its article, for "in a ..." phrases. */
  one: string;
  /** How many of the next (smaller) unit make one of this; 0 on the last rung. */
  factor: number;
}

export const LADDERS = {
  length: [
    { unit: "km", one: "a km", factor: 1000 },
    { unit: "m", one: "a meter", factor: 100 },
    { unit: "cm", one: "a centimeter", factor: 10 },
    { unit: "mm", one: "a millimeter", factor: 0 },
  ],
  time: [
    { unit: "weeks", one: "a week", factor: 7 },
    { unit: "days", one: "a day", factor: 24 },
    { unit: "hours", one: "an hour", factor: 60 },
    { unit: "minutes", one: "a minute", factor: 60 },
    { unit: "seconds", one: "a second", factor: 0 },
  ],
  mass: [
    { unit: "tonnes", one: "a tonne", factor: 1000 },
    { unit: "kg", one: "a kilogram", factor: 1000 },
    { unit: "g", one: "a gram", factor: 0 },
  ],
  volume: [
    { unit: "liters", one: "a liter", factor: 1000 },
    { unit: "mL", one: "a milliliter", factor: 0 },
  ],
  data: [
    { unit: "TB", one: "a TB", factor: 1000 },
    { unit: "GB", one: "a GB", factor: 1000 },
    { unit: "MB", one: "an MB", factor: 1000 },
    { unit: "kB", one: "a kB", factor: 0 },
  ],
} as const satisfies Record<string, readonly Rung[]>;
export type Ladder = keyof typeof LADDERS;

export interface UnitsStructured {
  ladder: Ladder;
  /** Rung indices: from, to (from < to converts down, multiplying). */
  from: number;
  to: number;
  quantity: number;
}

/** How many of rung `to` make one of rung `from` (a rational when converting up). */
function scale(ladder: readonly Rung[], from: number, to: number): Rational {
  let f = Rational.of(1);
  for (let i = Math.min(from, to); i < Math.max(from, to); i++) f = f.mul(Rational.of(ladder[i]!.factor));
  return from <= to ? f : Rational.of(1).div(f)!;
}

function render(s: UnitsStructured): { question: string; steps: string[]; results: Rational[]; factors: Rational[] } {
  const ladder: readonly Rung[] = LADDERS[s.ladder];
  const dir = s.to > s.from ? 1 : -1;
  const steps: string[] = [];
  const results: Rational[] = [];
  const factors: Rational[] = [];
  let value = Rational.of(s.quantity);
  for (let i = s.from; i !== s.to; i += dir) {
    const big = ladder[Math.min(i, i + dir)]!;
    const small = ladder[Math.max(i, i + dir)]!;
    const factor = Rational.of(big.factor);
    const next = dir > 0 ? value.mul(factor) : value.div(factor)!;
    const op = dir > 0 ? "*" : "/";
    steps.push(
      `There are ${big.factor} ${small.unit} in ${big.one}: ${value} ${op} ${big.factor} = ${next} ${ladder[i + dir]!.unit}.`,
    );
    results.push(next);
    factors.push(factor);
    value = next;
  }
  const from = ladder[s.from]!.unit;
  const to = ladder[s.to]!.unit;
  const question =
    dir > 0 ? `How many ${to} are there in ${s.quantity} ${from}?` : `Convert ${s.quantity} ${from} to ${to}.`;
  return { question, steps, results, factors };
}

const UNIT_FORMS = [
  "What is {q} {from} in {to}?",
  "Express {q} {from} in {to}.",
  "{q} {from} is how many {to}?",
  "Work out {q} {from} in {to}",
  "Change {q} {from} into {to}.",
  "Find the number of {to} in {q} {from}.",
  "Solve: convert {q} {from} into {to}",
  "How many {to} make {q} {from}?",
];
/** Surface forms of a conversion to a smaller ("down") or larger ("up") unit (wordings.ts); 0 is the default. */
export const UNITS_WORDINGS = {
  down: ["How many {to} are there in {q} {from}?", "Convert {q} {from} to {to}.", ...UNIT_FORMS],
  up: ["Convert {q} {from} to {to}.", "How many {to} are there in {q} {from}?", ...UNIT_FORMS],
} as const;

export const units: TaskGenerator<UnitsStructured, UnitsOptions> = {
  name: "units",
  description: "Unit conversion chains over length, time, mass and volume ladders",
  defaults: { maxQuantity: 50, maxSteps: 3 },
  generate(rng, opts) {
    const o = { ...this.defaults, ...opts };
    for (;;) {
      const ladder = rng.pick(Object.keys(LADDERS) as Ladder[]);
      const rungs: readonly Rung[] = LADDERS[ladder];
      const span = rng.int(1, Math.min(o.maxSteps, rungs.length - 1));
      const lo = rng.int(0, rungs.length - 1 - span);
      const down = rng.int(0, 1) === 1;
      const [from, to] = down ? [lo, lo + span] : [lo + span, lo];
      const base = rng.int(2, o.maxQuantity);
      // Upward conversions start from a multiple of the total factor so every step is whole.
      const quantity = down ? base : Number(Rational.of(base).div(scale(rungs, from, to))!.n);
      const s: UnitsStructured = { ladder, from, to, quantity };
      const r = render(s);
      const uniqueFactors = r.factors.filter((f, i) => r.factors.findIndex((g) => g.eq(f)) === i);
      if (!allDistinct([Rational.of(quantity), ...uniqueFactors, ...r.results])) continue;
      return {
        task: "units",
        question: r.question,
        steps: r.steps,
        answer: r.results[r.results.length - 1]!.toString(),
        structured: s,
        canonical: JSON.stringify([ladder, from, to, quantity]),
      };
    }
  },
  wordings: {
    pools: UNITS_WORDINGS,
    kindOf: (s) => (s.to > s.from ? "down" : "up"),
    slots: (s) => ({ q: String(s.quantity), from: LADDERS[s.ladder][s.from]!.unit, to: LADDERS[s.ladder][s.to]!.unit }),
  },
  checkAnswer: checkFinalAnswer,
  checkSteps(problem, steps) {
    const s = problem.structured;
    const ladder: readonly Rung[] = LADDERS[s.ladder];
    const factors = ladder.filter((r) => r.factor > 0).map((r) => Rational.of(r.factor));
    const unitCheck = (step: string): string | null => {
      const m = / = -?[\d.]+ (\S+?)\.?$/.exec(step);
      const rung = m ? ladder.findIndex((r) => r.unit === m[1]) : -1;
      if (rung < 0) return `the result names no ${s.ladder} unit (${ladder.map((r) => r.unit).join(", ")})`;
      const want = Rational.of(s.quantity).mul(scale(ladder, s.from, rung));
      const claimed = / = (-?[\d.]+) /.exec(step.slice(step.lastIndexOf(" = ")));
      if (!claimed || claimed[1] !== want.toString()) {
        return `${s.quantity} ${ladder[s.from]!.unit} is ${want} ${ladder[rung]!.unit}, not ${claimed?.[1]}`;
      }
      return null;
    };
    return verdict(
      checkClaimChain(
        {
          given: [Rational.of(s.quantity)],
          constants: factors,
          answer: Rational.of(Number(problem.answer)),
          extra: unitCheck,
        },
        steps,
      ),
    );
  },
};
