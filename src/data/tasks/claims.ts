/**
 * Exact arithmetic for step checking: bigint rationals, a small expression evaluator,
 * and the parser for a step's claim "a op b = c" (the last `=` in the step).
 *
 * A step reads "She buys 3 packs at $4 each: 3 * 4 = 12." — narrative, then one claim.
 * `checkClaimChain` is the shared checker for chains of such steps: every claim must be
 * exactly right, every operand must come from the question, the task's constants or an
 * earlier step's result, every number in the narrative must be one of the claim's
 * operands, and the last result must be the answer.
 */
import { parseNumber, type Rational } from "../answer/index.ts";

type Token = { kind: "num"; value: Rational; text: string } | { kind: "op"; op: string };

function tokenize(expr: string): Token[] | null {
  const tokens: Token[] = [];
  const re = /\s*(?:(\$?\d+(?:\.\d+)?)|([-+*/()]))/y;
  let pos = 0;
  while (pos < expr.length) {
    if (expr.slice(pos).trim() === "") break;
    re.lastIndex = pos;
    const m = re.exec(expr);
    if (!m) return null;
    pos = re.lastIndex;
    if (m[1] !== undefined) tokens.push({ kind: "num", value: parseNumber(m[1])!, text: m[1].replace("$", "") });
    else tokens.push({ kind: "op", op: m[2]! });
  }
  return tokens;
}

/** Evaluate an expression of numbers, + - * / and parentheses, exactly; null if malformed or dividing by zero. */
export function evalExpr(expr: string): Rational | null {
  const tokens = tokenize(expr);
  if (!tokens || tokens.length === 0) return null;
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  // expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*; factor := '-' factor | num | '(' expr ')'
  const parseExpr = (): Rational | null => {
    let acc = parseTerm();
    for (let t = peek(); acc && t?.kind === "op" && (t.op === "+" || t.op === "-"); t = peek()) {
      i++;
      const rhs = parseTerm();
      if (!rhs) return null;
      acc = t.op === "+" ? acc.add(rhs) : acc.sub(rhs);
    }
    return acc;
  };
  const parseTerm = (): Rational | null => {
    let acc = parseFactor();
    for (let t = peek(); acc && t?.kind === "op" && (t.op === "*" || t.op === "/"); t = peek()) {
      i++;
      const rhs = parseFactor();
      if (!rhs) return null;
      acc = t.op === "*" ? acc.mul(rhs) : acc.div(rhs);
    }
    return acc;
  };
  const parseFactor = (): Rational | null => {
    const t = tokens[i++];
    if (!t) return null;
    if (t.kind === "num") return t.value;
    if (t.op === "-") return parseFactor()?.neg() ?? null;
    if (t.op !== "(") return null;
    const inner = parseExpr();
    const close = tokens[i++];
    return close?.kind === "op" && close.op === ")" ? inner : null;
  };
  const value = parseExpr();
  return i === tokens.length ? value : null;
}

/** A parsed claim "expr = result" and the narrative around it. */
export interface Claim {
  expr: string;
  operands: Rational[];
  result: Rational;
  /** The step with the claim cut out. */
  narrative: string;
}

const NUMBER_RE = /\$?\d+(?:\.\d+)?/g;

/** The numbers written in a piece of text, as exact rationals. */
export function numbersIn(text: string): Rational[] {
  return (text.match(NUMBER_RE) ?? []).map((s) => parseNumber(s)!);
}

/** The claim of a step: the expression left of its last " = " (at least one operator) and the number right of it. */
export function parseClaim(step: string): Claim | null {
  const eq = step.lastIndexOf(" = ");
  if (eq < 0) return null;
  const right = /^\s*(-?\$?\d+(?:\.\d+)?)/.exec(step.slice(eq + 3));
  if (!right) return null;
  let start = eq;
  while (start > 0 && /[\d.+\-*/() $]/.test(step[start - 1]!)) start--;
  let expr = step.slice(start, eq).trim();
  // A sentence period glued to the front ("... 5. 3 * 4") is not part of the expression.
  expr = expr.replace(/^[.\s]+/, "");
  if (!/\d\s*[-+*/]\s*[-(\d$]/.test(expr)) return null;
  const tokens = tokenize(expr);
  if (!tokens) return null;
  const operands = tokens.flatMap((t) => (t.kind === "num" ? [t.value] : []));
  const end = eq + 3 + right[0].length;
  const narrative = step.slice(0, step.indexOf(expr, start)) + " " + step.slice(end);
  return { expr, operands, result: parseNumber(right[1]!)!, narrative };
}

/** Options for `checkClaimChain`. */
export interface ClaimChainSpec {
  /** Numbers given in the question. */
  given: Rational[];
  /** Known constants the chain may use (100 for percents, 60 minutes per hour, conversion factors). */
  constants?: Rational[];
  /** The gold answer; the last step's result must equal it. */
  answer: Rational;
  /** Extra per-step check (e.g. units); return a reason to reject. */
  extra?: (step: string, claim: Claim, index: number) => string | null;
}

/**
 * Check a chain of claim steps. Step k is valid iff it has a claim, the claim is exactly
 * right, each operand is given, a constant or an earlier result, and each narrative number
 * is one of the claim's operands. The chain must end on the answer.
 */
export function checkClaimChain(spec: ClaimChainSpec, steps: string[]): { step: number; reason: string }[] {
  const known: Rational[] = [...spec.given, ...(spec.constants ?? [])];
  const has = (xs: Rational[], x: Rational) => xs.some((y) => y.eq(x));
  let last: Rational | null = null;
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    const claim = parseClaim(step);
    if (!claim) return [{ step: k, reason: `no claim of the form "a op b = c" in "${step}"` }];
    const value = evalExpr(claim.expr);
    if (!value) return [{ step: k, reason: `cannot evaluate "${claim.expr}"` }];
    if (!value.eq(claim.result)) {
      return [{ step: k, reason: `${claim.expr} = ${value}, not ${claim.result}` }];
    }
    const unknown = claim.operands.find((x) => !has(known, x));
    if (unknown) return [{ step: k, reason: `${unknown} is neither in the question nor an earlier result` }];
    const stray = numbersIn(claim.narrative).find((x) => !has(claim.operands, x));
    if (stray) return [{ step: k, reason: `the text mentions ${stray}, which the calculation does not use` }];
    const extra = spec.extra?.(step, claim, k);
    if (extra) return [{ step: k, reason: extra }];
    known.push(claim.result);
    last = claim.result;
  }
  if (!last?.eq(spec.answer)) {
    return [{ step: steps.length, reason: `the chain ends at ${last ?? "nothing"} without reaching ${spec.answer}` }];
  }
  return [];
}

/** True iff all values are pairwise distinct (generators use this so a dropped or swapped step cannot hide). */
export function allDistinct(values: Rational[]): boolean {
  for (let i = 0; i < values.length; i++) {
    for (let j = i + 1; j < values.length; j++) if (values[i]!.eq(values[j]!)) return false;
  }
  return true;
}
