/**
 * Solve for x: linear equations with integer solutions, in three shapes
 *   a x + b = c,    a(x + b) = c,    a x + b = d x + e.
 * Each step names one transformation and the equation it gives:
 *   "Subtract 5 from both sides: 3x = 12."
 *   "Divide both sides by 3: x = 4."
 * The checker applies the named transformation to the previous equation (the question's
 * for the first step) and requires the stated equation to be the same linear equation —
 * both sides compared as exact coefficient pairs — so every step is equivalent to the
 * original by construction, and the last one must read "x = <answer>".
 */
import type { Rng } from "../../engine/rng.ts";
import { Rational } from "../answer/index.ts";
import { checkFinalAnswer, type TaskGenerator, verdict } from "./types.ts";

export interface AlgebraOptions {
  /** Largest |x| of the solution. */
  maxSolution: number;
  /** Largest coefficient. */
  maxCoefficient: number;
}

export type AlgebraShape = "ax+b=c" | "a(x+b)=c" | "ax+b=dx+e";

export interface AlgebraStructured {
  shape: AlgebraShape;
  /** Coefficients in the order of the shape's letters. */
  coefficients: number[];
  solution: number;
}

/** a·x + b, exactly. */
export interface Linear {
  a: Rational;
  b: Rational;
}
type Equation = [Linear, Linear];

const lin = (a: number, b: number): Linear => ({ a: Rational.of(a), b: Rational.of(b) });
const linEq = (p: Linear, q: Linear) => p.a.eq(q.a) && p.b.eq(q.b);

/** "3x + 5", "x - 2", "-x", "12". */
export function showLinear({ a, b }: Linear): string {
  const zero = Rational.of(0);
  const xs = a.eq(zero) ? "" : a.eq(Rational.of(1)) ? "x" : a.eq(Rational.of(-1)) ? "-x" : `${a}x`;
  if (xs === "") return b.toString();
  if (b.eq(zero)) return xs;
  return b.n < 0n ? `${xs} - ${b.mul(Rational.of(-1))}` : `${xs} + ${b}`;
}

/** Parse one side: numbers, x, + - * /, parentheses, implicit products ("3x", "4(x - 2)"); null if not linear. */
export function parseLinear(text: string): Linear | null {
  const tokens = text.match(/\d+(?:\.\d+)?|x|[-+*/()]|\S/g) ?? [];
  let i = 0;
  const num = (t: string | undefined) => t !== undefined && /^\d/.test(t);
  const mul = (p: Linear, q: Linear): Linear | null => {
    if (p.a.n !== 0n && q.a.n !== 0n) return null;
    return p.a.n === 0n ? { a: q.a.mul(p.b), b: q.b.mul(p.b) } : { a: p.a.mul(q.b), b: p.b.mul(q.b) };
  };
  const expr = (): Linear | null => {
    let acc = term();
    while (acc && (tokens[i] === "+" || tokens[i] === "-")) {
      const op = tokens[i++];
      const rhs = term();
      if (!rhs) return null;
      acc = op === "+" ? { a: acc.a.add(rhs.a), b: acc.b.add(rhs.b) } : { a: acc.a.sub(rhs.a), b: acc.b.sub(rhs.b) };
    }
    return acc;
  };
  const term = (): Linear | null => {
    let acc = factor();
    for (;;) {
      const t = tokens[i];
      if (!acc || t === undefined) return acc;
      if (t === "*" || t === "/") {
        i++;
        const rhs = factor();
        if (!rhs) return null;
        if (t === "*") acc = mul(acc, rhs);
        else {
          if (rhs.a.n !== 0n || rhs.b.n === 0n) return null;
          acc = { a: acc.a.div(rhs.b)!, b: acc.b.div(rhs.b)! };
        }
      } else if (t === "x" || t === "(" || num(t)) {
        const rhs = factor(); // implicit product
        acc = rhs ? mul(acc, rhs) : null;
      } else return acc;
    }
  };
  const factor = (): Linear | null => {
    const t = tokens[i++];
    if (t === undefined) return null;
    if (t === "x") return lin(1, 0);
    if (num(t))
      return {
        a: Rational.of(0),
        b: new Rational(BigInt(t.replace(".", "")), 10n ** BigInt(t.split(".")[1]?.length ?? 0)),
      };
    if (t === "-") {
      const f = factor();
      return f && { a: f.a.mul(Rational.of(-1)), b: f.b.mul(Rational.of(-1)) };
    }
    if (t !== "(") return null;
    const inner = expr();
    return tokens[i++] === ")" ? inner : null;
  };
  const result = expr();
  return i === tokens.length ? result : null;
}

function parseEquation(text: string): Equation | null {
  const sides = text.replace(/\.$/, "").split("=");
  if (sides.length !== 2) return null;
  const l = parseLinear(sides[0]!);
  const r = parseLinear(sides[1]!);
  return l && r ? [l, r] : null;
}

const showEq = ([l, r]: Equation) => `${showLinear(l)} = ${showLinear(r)}`;

/** A transformation named in a step, applied to both sides. */
function applyOp(op: string, [l, r]: Equation): Equation | null {
  let m = /^(Subtract|Add) (\d*)(x?) (?:from|to) both sides$/.exec(op);
  if (m && (m[2] !== "" || m[3] === "x")) {
    const k = Rational.of(Number(m[2] === "" ? 1 : m[2]) * (m[1] === "Subtract" ? -1 : 1));
    const t: Linear = m[3] === "x" ? { a: k, b: Rational.of(0) } : { a: Rational.of(0), b: k };
    return [
      { a: l.a.add(t.a), b: l.b.add(t.b) },
      { a: r.a.add(t.a), b: r.b.add(t.b) },
    ];
  }
  m = /^Divide both sides by (-?\d+)$/.exec(op);
  if (m && Number(m[1]) !== 0) {
    const k = Rational.of(Number(m[1]));
    return [
      { a: l.a.div(k)!, b: l.b.div(k)! },
      { a: r.a.div(k)!, b: r.b.div(k)! },
    ];
  }
  return null;
}

/** The opposite of adding b to both sides, as a step name. */
function undo(b: number, x = ""): string {
  const term = x !== "" && Math.abs(b) === 1 ? x : `${Math.abs(b)}${x}`;
  return b > 0 ? `Subtract ${term} from both sides` : `Add ${term} to both sides`;
}

function draw(rng: Rng, o: AlgebraOptions): AlgebraStructured {
  const shape = rng.pick(["ax+b=c", "a(x+b)=c", "ax+b=dx+e"] as const);
  const x = rng.int(-o.maxSolution, o.maxSolution);
  const nz = () => (rng.int(0, 1) === 1 ? 1 : -1) * rng.int(1, o.maxCoefficient + 3);
  const a = rng.int(2, o.maxCoefficient);
  const b = nz();
  if (shape === "ax+b=c") return { shape, coefficients: [a, b, a * x + b], solution: x };
  if (shape === "a(x+b)=c") return { shape, coefficients: [a, b, a * (x + b)], solution: x };
  const d = rng.int(1, a - 1);
  const e = (a - d) * x + b;
  return { shape, coefficients: [a, b, d, e], solution: x };
}

/** The question's equation and the gold steps, from the structured form. */
function build(s: AlgebraStructured): { start: Equation; steps: string[] } {
  const [a, b, c, e] = s.coefficients as [number, number, number, number?];
  const steps: string[] = [];
  let eq: Equation;
  const step = (op: string) => {
    eq = applyOp(op, eq)!;
    steps.push(`${op}: ${showEq(eq)}.`);
  };
  if (s.shape === "ax+b=c") {
    eq = [lin(a, b), lin(0, c)];
    const start = eq;
    step(undo(b));
    step(`Divide both sides by ${a}`);
    return { start, steps };
  }
  if (s.shape === "a(x+b)=c") {
    eq = [lin(a, a * b), lin(0, c)];
    const start = eq;
    step(`Divide both sides by ${a}`);
    step(undo(b));
    return { start, steps };
  }
  const d = c;
  eq = [lin(a, b), lin(d, e!)];
  const start = eq;
  step(undo(d, "x"));
  step(undo(b));
  if (a - d !== 1) step(`Divide both sides by ${a - d}`);
  return { start, steps };
}

function showQuestionEq(s: AlgebraStructured): string {
  const [a, b, c, e] = s.coefficients as [number, number, number, number?];
  if (s.shape === "a(x+b)=c") return `${a}(${showLinear(lin(1, b))}) = ${c}`;
  if (s.shape === "ax+b=c") return `${showLinear(lin(a, b))} = ${c}`;
  return `${showLinear(lin(a, b))} = ${showLinear(lin(c, e!))}`;
}

/** Surface forms of "solve this equation for x" (wordings.ts); 0 is the default. */
export const ALGEBRA_WORDINGS = {
  equation: [
    "Solve for x: {eq}",
    "Find the value of x such that {eq}.",
    "What is x if {eq}?",
    "Work out x: {eq}",
    "{eq}. Solve for x.",
    "Given {eq}, what is x?",
    "Solve the equation {eq} for x.",
    "If {eq}, find x.",
    "Determine x when {eq}",
    "x satisfies {eq}. What is x?",
    "Solve {eq} and give x.",
    "What value of x makes {eq} true?",
  ],
} as const;

export const algebra: TaskGenerator<AlgebraStructured, AlgebraOptions> = {
  name: "algebra",
  description: "Solve linear equations for x (integer solutions), one checked transformation per step",
  defaults: { maxSolution: 12, maxCoefficient: 9 },
  generate(rng, opts) {
    const s = draw(rng, { ...this.defaults, ...opts });
    return {
      task: "algebra",
      question: `Solve for x: ${showQuestionEq(s)}`, // = ALGEBRA_WORDINGS.equation[0]
      steps: build(s).steps,
      answer: String(s.solution),
      structured: s,
      canonical: JSON.stringify([s.shape, s.coefficients]),
    };
  },
  wordings: { pools: ALGEBRA_WORDINGS, kindOf: () => "equation", slots: (s) => ({ eq: showQuestionEq(s) }) },
  checkAnswer: (problem, answer) => checkFinalAnswer(problem, answer.replace(/^\s*x\s*=\s*/, "")),
  checkSteps(problem, steps) {
    let eq = build(problem.structured).start;
    for (let k = 0; k < steps.length; k++) {
      const m = /^([^:]+):\s*(.+)$/.exec(steps[k]!);
      if (!m) return verdict([{ step: k, reason: `expected "<transformation>: <equation>", got "${steps[k]}"` }]);
      const want = applyOp(m[1]!.trim(), eq);
      if (!want) return verdict([{ step: k, reason: `unknown transformation "${m[1]}" (add, subtract, divide)` }]);
      const got = parseEquation(m[2]!);
      if (!got) return verdict([{ step: k, reason: `"${m[2]}" is not a linear equation in x` }]);
      if (!linEq(got[0], want[0]) || !linEq(got[1], want[1])) {
        return verdict([{ step: k, reason: `${m[1]} of ${showEq(eq)} gives ${showEq(want)}, not ${showEq(got)}` }]);
      }
      eq = got;
    }
    const [l, r] = eq;
    const solved = l.a.eq(Rational.of(1)) && l.b.n === 0n && r.a.n === 0n;
    if (!solved || !r.b.eq(Rational.of(problem.structured.solution))) {
      return verdict([{ step: steps.length, reason: `the chain ends at ${showEq(eq)}, not x = ${problem.answer}` }]);
    }
    return verdict([]);
  },
};
