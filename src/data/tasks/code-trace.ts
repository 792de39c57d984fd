/**
 * Code tracing: a short program over integers — assignments and at most one `for`
 * loop with a one-line body — and the final value of one variable. The chain has one
 * step per executed assignment, with the variables substituted by their current values:
 *   "Line 2: y = 4 + 3 = 7."
 *   "Line 4 (i = 1): y = 7 + 1 = 8."
 * The checker re-executes the program and compares each step with the execution at the
 * same position: the line, the loop counter, the variable, the substituted operands, and
 * the value (the claim's arithmetic is also recomputed).
 */
import type { Rng } from "../../engine/rng.ts";
import { parseNumber } from "../answer/index.ts";
import { evalExpr } from "./claims.ts";
import { checkFinalAnswer, type TaskGenerator, verdict } from "./types.ts";

export interface CodeTraceOptions {
  /** Top-level lines before the loop is counted (3..maxLines). */
  maxLines: number;
  /** Largest literal. */
  maxLiteral: number;
  /** Largest loop trip count. */
  maxIterations: number;
}

type Operand = string | number;
/** `v = a op b`, or `v = a` when op is absent. */
export interface Assign {
  v: string;
  a: Operand;
  op?: "+" | "-" | "*";
  b?: Operand;
}
export type Stmt = { kind: "set"; assign: Assign } | { kind: "for"; from: number; to: number; body: Assign };

export interface CodeTraceStructured {
  program: Stmt[];
  ask: string;
}

const VARS = ["a", "b", "x", "y", "z"];
const MAX_ABS = 100_000;

const showOperand = (x: Operand) => String(x);
const showAssign = (s: Assign) => `${s.v} = ${showOperand(s.a)}${s.op ? ` ${s.op} ${showOperand(s.b!)}` : ""}`;

/** Program text, one statement per line, loop bodies indented. */
export function showProgram(program: Stmt[]): string[] {
  return program.flatMap((s) =>
    s.kind === "set" ? [showAssign(s.assign)] : [`for i in ${s.from} to ${s.to}:`, `    ${showAssign(s.body)}`],
  );
}

interface Event {
  line: number;
  i?: number;
  v: string;
  /** Substituted expression, e.g. "4 + 3"; undefined for `v = literal`. */
  expr?: string;
  value: number;
}

/** Execute, recording every assignment. */
export function trace(program: Stmt[]): { events: Event[]; env: Map<string, number> } {
  const env = new Map<string, number>();
  const events: Event[] = [];
  let line = 0;
  const val = (x: Operand, i?: number) => (typeof x === "number" ? x : x === "i" ? i! : env.get(x)!);
  const run = (s: Assign, line: number, i?: number) => {
    const a = val(s.a, i);
    if (!s.op) {
      env.set(s.v, a);
      events.push({ line, v: s.v, value: a, ...(i === undefined ? {} : { i }) });
      return;
    }
    const b = val(s.b!, i);
    const value = s.op === "+" ? a + b : s.op === "-" ? a - b : a * b;
    env.set(s.v, value);
    events.push({ line, v: s.v, expr: `${a} ${s.op} ${b}`, value, ...(i === undefined ? {} : { i }) });
  };
  for (const s of program) {
    line++;
    if (s.kind === "set") run(s.assign, line);
    else {
      const bodyLine = ++line;
      for (let i = s.from; i <= s.to; i++) run(s.body, bodyLine, i);
    }
  }
  return { events, env };
}

/** "1: x = 7" per line, so steps can name lines. */
const numbered = (code: string) =>
  code
    .split("\n")
    .map((line, k) => `${k + 1}: ${line}`)
    .join("\n");

const showEvent = (e: Event) =>
  `Line ${e.line}${e.i === undefined ? "" : ` (i = ${e.i})`}: ${e.v} = ${e.expr === undefined ? e.value : `${e.expr} = ${e.value}`}.`;

function randomProgram(rng: Rng, o: CodeTraceOptions): Stmt[] {
  const defined: string[] = [];
  const program: Stmt[] = [];
  const lines = rng.int(3, Math.max(3, o.maxLines));
  const loopAt = rng.int(0, 1) === 1 ? rng.int(2, lines - 1) : -1;
  // A literal, or a variable other than `not` (so no line reads "x = x - x").
  const operand = (not: string, extra: string[] = []): Operand => {
    const vars = [...defined.filter((v) => v !== not), ...extra];
    return rng.int(0, 2) === 0 || vars.length === 0 ? rng.int(1, o.maxLiteral) : rng.pick(vars);
  };
  for (let k = 0; k < lines; k++) {
    if (k < 2) {
      const v = VARS.filter((x) => !defined.includes(x))[rng.int(0, 2)]!;
      program.push({ kind: "set", assign: { v, a: rng.int(1, o.maxLiteral) } });
      defined.push(v);
      continue;
    }
    const v = rng.int(0, 3) === 0 ? rng.pick(VARS) : rng.pick(defined);
    const op = rng.pick(["+", "+", "-", "*"] as const);
    if (k === loopAt) {
      const from = rng.int(1, 3);
      const to = from + rng.int(1, o.maxIterations - 1);
      const target = rng.pick(defined);
      program.push({
        kind: "for",
        from,
        to,
        body: { v: target, a: target, op: op === "*" ? "+" : op, b: operand(target, ["i"]) },
      });
      continue;
    }
    const a = rng.pick(defined);
    program.push({ kind: "set", assign: { v, a, op, b: operand(a) } });
    if (!defined.includes(v)) defined.push(v);
  }
  return program;
}

/** Surface forms of "what is v after this program" (wordings.ts); 0 is the default. */
export const CODE_TRACE_WORDINGS = {
  trace: [
    "What is the value of {v} after this program runs?\n{code}",
    "Find the final value of {v}.\n{code}",
    "{code}\nWhat is {v} at the end?",
    "Run this program and report {v}:\n{code}",
    "Trace the program below. What does {v} end up as?\n{code}",
    "What does {v} equal once the code finishes?\n{code}",
    "Work out the value of {v} after the last line.\n{code}",
    "Program:\n{code}\nWhat is {v}?",
    "After running the following lines, what is {v}?\n{code}",
    "{code}\nFind {v}.",
  ],
} as const;

export const codeTrace: TaskGenerator<CodeTraceStructured, CodeTraceOptions> = {
  name: "code-trace",
  description: "Trace a short integer program (assignments and a for loop); steps are the values after each line",
  defaults: { maxLines: 5, maxLiteral: 9, maxIterations: 3 },
  generate(rng, opts) {
    const o = { ...this.defaults, ...opts };
    for (;;) {
      const program = randomProgram(rng, o);
      const { events } = trace(program);
      if (events.some((e) => Math.abs(e.value) > MAX_ABS)) continue;
      const last = events[events.length - 1]!;
      const code = showProgram(program).join("\n");
      return {
        task: "code-trace",
        question: `What is the value of ${last.v} after this program runs?\n${numbered(code)}`,
        steps: events.map(showEvent),
        answer: String(last.value),
        structured: { program, ask: last.v },
        canonical: JSON.stringify([code, last.v]),
      };
    }
  },
  wordings: {
    pools: CODE_TRACE_WORDINGS,
    kindOf: () => "trace",
    slots: (s) => ({ v: s.ask, code: numbered(showProgram(s.program).join("\n")) }),
  },
  checkAnswer: checkFinalAnswer,
  checkSteps(problem, steps) {
    const { events } = trace(problem.structured.program);
    const re = /^Line (\d+)(?: \(i = (-?\d+)\))?: (\w+) = (?:(.+) = )?(-?\d+)\.?$/;
    for (let k = 0; k < events.length; k++) {
      const e = events[k]!;
      const step = steps[k];
      if (step === undefined) return verdict([{ step: k, reason: `line ${e.line} (${showEvent(e)}) is never traced` }]);
      const m = re.exec(step);
      if (!m) return verdict([{ step: k, reason: `expected "Line N: v = expr = value.", got "${step}"` }]);
      const where = `line ${e.line}${e.i === undefined ? "" : ` with i = ${e.i}`}`;
      if (Number(m[1]) !== e.line || (m[2] === undefined ? undefined : Number(m[2])) !== e.i || m[3] !== e.v) {
        return verdict([{ step: k, reason: `the program runs ${where} (${e.v}) next` }]);
      }
      if (m[4] !== undefined) {
        const claimed = evalExpr(m[4]);
        if (!claimed?.eq(parseNumber(m[5]!)!))
          return verdict([{ step: k, reason: `${m[4]} = ${claimed}, not ${m[5]}` }]);
      }
      if (m[4] !== e.expr) {
        return verdict([
          { step: k, reason: `at ${where} the values give ${e.expr ?? "a literal"}, not ${m[4] ?? "a literal"}` },
        ]);
      }
      if (Number(m[5]) !== e.value)
        return verdict([{ step: k, reason: `${e.v} becomes ${e.value} at ${where}, not ${m[5]}` }]);
    }
    if (steps.length > events.length)
      return verdict([{ step: events.length, reason: "steps after the program has ended" }]);
    return verdict([]);
  },
};
