/**
 * Step checking: does each step of a chain of thought compute what it claims,
 * and does it follow from what came before?
 *
 *   splitSteps(chain)                   → steps: non-empty lines; sentences when the chain is one line
 *   findClaims(step)                    → arithmetic claims `e₀ = e₁ (= e₂ …)` found in the text
 *   checkChain({question, chain}, opts) → per-step verdicts, chain validity, first invalid step + reason
 *
 * A claim is an equality between two expressions written in the text: `a op b = c`,
 * chains `a + b - c = d`, `(a + b) × c = d = e`, percentages `20% of 50 = 10`. Numbers may
 * carry thousands separators (1,250), decimals (0.25, .5), a currency sign ($, €, £, ¥),
 * a percent sign, and a unit word ("5 apples + 3 apples = 8 apples"). Operators: + - − – * ×
 * · x ÷ /, and the words plus, minus, times, "divided by", "multiplied by", and "of" between
 * two numbers ("20% of 50"). Every claim is verified with EXACT rational arithmetic (BigInt
 * numerator / denominator): 0.1 + 0.2 = 0.3 is true, 1/3 stays 1/3.
 *
 * Documented leniencies (each one is a switch in StepCheckOptions):
 *  - rounding: a result written with k decimals is accepted when it is the exact value
 *    rounded to k decimals (10 / 3 = 3.33). Integers are never rounded (10 / 3 = 3 is false).
 *  - percent: `%` means ÷100; if that reading fails, the claim is read again with every `%`
 *    ignored (100 - 20 = 80%), as people write both.
 *  - a link whose left side has no operator names a quantity ("8 batches = 5.5 * 8",
 *    "3 hours = 180 minutes") and is skipped, unless it continues a chain (10 + 5 = 15 = 16);
 *    claims with a variable (x + 2x = 30) are skipped.
 *
 * "Follows": every operand of a claim must be
 *  - a number of the question: digits, number words ("twice", "a dozen", "half"), a fraction
 *    a/b; a percentage p% also gives p/100 and 100 ± p;
 *  - a digit of a question number, alone or at its place value (column arithmetic: 723 gives
 *    7, 2, 3, 700, 20; `digitsFromQuestion`);
 *  - a number written in an earlier step or earlier in the same step (results included);
 *  - an allowed constant (DEFAULT_CONSTANTS: 0, 1, 2, 10, 100, 1000 and the unit conversions
 *    7, 12, 24, 52, 60, 365; `constants`).
 * Otherwise the step is flagged "unsupported". The left side of a chained link
 * (`3 + 2 × 10 = 3 + 20 = 23`) rewrites an expression already checked, so its numbers need
 * no source. This is a heuristic: a correct step can use a number computed in the head.
 *
 * Task checkers take precedence: when the record's task is known and a checker is registered
 * for it (src/data/tasks' `checkSteps`), `checkChain` uses it instead of the generic rules.
 *
 * Departure from a full parser: we do not solve algebra or read numbers written in words
 * inside claims; such steps are reported with zero checked claims, never as errors.
 */

import type { Problem, StepVerdict as TaskStepVerdict } from "../data/tasks/types.ts";
import { splitSteps as splitTaskSteps } from "../data/tasks/types.ts";

// ---------------------------------------------------------------------------
// Exact rationals.

/** n / d in lowest terms, d > 0. */
export interface Rational {
  readonly n: bigint;
  readonly d: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

export function rational(n: bigint, d = 1n): Rational {
  if (d === 0n) throw new RangeError("rational: zero denominator");
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  return g > 1n ? { n: n / g, d: d / g } : { n, d };
}

export const add = (a: Rational, b: Rational): Rational => rational(a.n * b.d + b.n * a.d, a.d * b.d);
export const sub = (a: Rational, b: Rational): Rational => rational(a.n * b.d - b.n * a.d, a.d * b.d);
export const mul = (a: Rational, b: Rational): Rational => rational(a.n * b.n, a.d * b.d);
/** a / b, or null when b = 0. */
export const div = (a: Rational, b: Rational): Rational | null => (b.n === 0n ? null : rational(a.n * b.d, a.d * b.n));
export const eq = (a: Rational, b: Rational): boolean => a.n === b.n && a.d === b.d;
const abs = (a: Rational): Rational => (a.n < 0n ? { n: -a.n, d: a.d } : a);
const lessOrEqual = (a: Rational, b: Rational): boolean => a.n * b.d <= b.n * a.d;

/** "1,234.50" → 123450/100 → 2469/2 (separators and trailing zeros are only notation). */
export function parseDecimal(text: string): Rational {
  const clean = text.replace(/,/g, "");
  const m = /^(-?)(\d*)(?:\.(\d+))?$/.exec(clean);
  if (!m || (m[2] === "" && m[3] === undefined)) throw new SyntaxError(`parseDecimal: not a decimal number: "${text}"`);
  const frac = m[3] ?? "";
  const n = BigInt(`${m[2] || "0"}${frac}`);
  return rational(m[1] === "-" ? -n : n, 10n ** BigInt(frac.length));
}

/** "3/4", "-2", "0.75" (exact), for display and for keys. */
export function formatRational(r: Rational): string {
  return r.d === 1n ? r.n.toString() : `${r.n}/${r.d}`;
}

// ---------------------------------------------------------------------------
// Tokens of a step.

type Op = "+" | "-" | "*" | "/";

interface NumTok {
  kind: "num";
  /** The value as written, % not applied. */
  value: Rational;
  percent: boolean;
  /** Number of digits after the decimal point as written. */
  decimals: number;
  text: string;
  /** A unit word was written right after it (and absorbed). */
  unit: boolean;
  start: number;
}
type Tok =
  | NumTok
  | { kind: "op"; op: Op; text: string; start: number }
  | { kind: "lparen" | "rparen" | "eq" | "var" | "sep"; text: string; start: number }
  | { kind: "word"; text: string; start: number; glued: boolean };

const NUMBER_RE =
  /(?:[$€£¥]\s?)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:\s?%|\s?percent\b)?|(?:[$€£¥]\s?)?\.\d+(?:\s?%)?/y;
const OP_CHARS: Record<string, Op> = {
  "+": "+",
  "-": "-",
  "−": "-",
  "–": "-",
  "*": "*",
  "×": "*",
  "·": "*",
  "÷": "/",
  "/": "/",
};
const WORD_OPS: Record<string, Op> = { x: "*", X: "*", times: "*", plus: "+", minus: "-", of: "*" };

function lex(text: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m) {
      const raw = m[0];
      const percent = /%|percent$/.test(raw);
      const digits = raw.replace(/[$€£¥%\s]|percent$/g, "");
      const decimals = digits.includes(".") ? digits.split(".")[1]!.length : 0;
      toks.push({ kind: "num", value: parseDecimal(digits), percent, decimals, text: raw, unit: false, start: i });
      i += raw.length;
      continue;
    }
    const op = OP_CHARS[c];
    if (op) toks.push({ kind: "op", op, text: c, start: i });
    else if (c === "(" || c === "[") toks.push({ kind: "lparen", text: c, start: i });
    else if (c === ")" || c === "]") toks.push({ kind: "rparen", text: c, start: i });
    else if (c === "=") toks.push({ kind: "eq", text: c, start: i });
    else if (/\p{L}/u.test(c)) {
      const w = /[\p{L}']+/uy;
      w.lastIndex = i;
      const word = w.exec(text)![0];
      const prev = toks[toks.length - 1];
      const glued = prev !== undefined && prev.kind === "num" && prev.start + prev.text.length === i;
      toks.push({ kind: "word", text: word, start: i, glued });
      i += word.length;
      continue;
    } else toks.push({ kind: "sep", text: c, start: i });
    i++;
  }
  return resolveWords(toks);
}

const isOperandEnd = (t: Tok | undefined) => t !== undefined && (t.kind === "num" || t.kind === "rparen");
const isOperandStart = (t: Tok | undefined) => t !== undefined && (t.kind === "num" || t.kind === "lparen");
const isSlash = (t: Tok | undefined) => t !== undefined && t.kind === "op" && t.op === "/";
const isWord = (t: Tok | undefined, w?: string): t is Extract<Tok, { kind: "word" }> =>
  t !== undefined && t.kind === "word" && (w === undefined || t.text.toLowerCase() === w);

/**
 * Words between numbers: operator words become operators ("5 x 3", "20% of 50",
 * "divided by"), unit words after a number before an operator are absorbed
 * ("5 apples + 3"), "/hour" after a number is a unit, single letters next to an
 * operator or glued to a number ("2x") are variables.
 */
function resolveWords(toks: Tok[]): Tok[] {
  const out: Tok[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prev = out[out.length - 1];
    if (t.kind === "word") {
      const lower = t.text.toLowerCase();
      const next = toks[i + 1];
      if ((lower === "divided" || lower === "multiplied") && isWord(next, "by") && isOperandEnd(prev)) {
        out.push({ kind: "op", op: lower === "divided" ? "/" : "*", text: `${t.text} by`, start: t.start });
        i++;
        continue;
      }
      const wop = WORD_OPS[t.text] ?? WORD_OPS[lower];
      // "of" multiplies only after a percent or a fraction: "20% of 50", "1/4 of 20"
      const ofOk = lower !== "of" || (prev?.kind === "num" && (prev.percent || isSlash(out[out.length - 2])));
      if (wop && ofOk && (!t.glued || lower === "x") && isOperandEnd(prev) && isOperandStart(next)) {
        out.push({ kind: "op", op: wop, text: t.text, start: t.start });
        continue;
      }
      const single = t.text.length === 1 && lower !== "a" && lower !== "i";
      const nearOp = (u: Tok | undefined) => u !== undefined && (u.kind === "op" || u.kind === "eq");
      if ((single && (nearOp(prev) || nearOp(next))) || (t.glued && t.text.length <= 2 && !isUnitAfter(toks, i))) {
        out.push({ kind: "var", text: t.text, start: t.start });
        continue;
      }
    }
    // "$5/hour": a slash followed by a word after a number is part of the unit.
    if (t.kind === "op" && t.op === "/" && isOperandEnd(prev) && isWord(toks[i + 1])) {
      let j = i + 1;
      while (isWord(toks[j])) j++;
      if (prev?.kind === "num") prev.unit = true;
      i = j - 1;
      continue;
    }
    // Unit words after a number ("5 apples + 3", "$7 for the fare + $5"): absorbed when an
    // operator, an operator word, "=" or ")" follows them. Single letters are never units.
    if (t.kind === "word" && prev?.kind === "num" && t.text.length > 1) {
      let j = i;
      const isOpWord = (k: number) => {
        const w = toks[k]!.text.toLowerCase();
        return WORD_OPS[w] !== undefined && w !== "of" && isOperandStart(toks[k + 1]);
      };
      while (j < toks.length && j - i < 4 && isWord(toks[j]) && toks[j]!.text.length > 1 && !isOpWord(j)) j++;
      const after = toks[j];
      const opAfter = after !== undefined && (after.kind === "op" || after.kind === "eq" || after.kind === "rparen");
      if (j > i && (opAfter || (isWord(after) && isOpWord(j)))) {
        prev.unit = true;
        i = j - 1;
        continue;
      }
    }
    // Implicit multiplication: "3(98)", "55(.20)", "(2)(3)", "(4 + 5)2".
    if ((t.kind === "lparen" && isOperandEnd(prev)) || (t.kind === "num" && prev?.kind === "rparen")) {
      out.push({ kind: "op", op: "*", text: "", start: t.start });
    }
    // Mixed numbers: "2 1/2" is 5/2.
    const slash = toks[i + 1];
    const den = toks[i + 2];
    if (
      t.kind === "num" &&
      prev?.kind === "num" &&
      prev.decimals === 0 &&
      !prev.percent &&
      t.decimals === 0 &&
      slash?.kind === "op" &&
      slash.op === "/" &&
      den?.kind === "num" &&
      den.decimals === 0 &&
      den.value.n > t.value.n
    ) {
      const frac = div(t.value, den.value)!;
      Object.assign(prev, { value: add(prev.value, frac), text: `${prev.text} ${t.text}/${den.text}` });
      i += 2;
      continue;
    }
    out.push(t);
  }
  return out;
}

/** "2nd", "5th", "3rd", "10kg": letters glued to a number that are not a variable. */
function isUnitAfter(toks: Tok[], i: number): boolean {
  const w = (toks[i] as { text: string }).text.toLowerCase();
  return ["st", "nd", "rd", "th", "k", "m", "kg", "g", "cm", "mm", "km", "lb", "oz", "ml", "l", "h", "s"].includes(w);
}

// ---------------------------------------------------------------------------
// Expressions.

type ExprTok = Exclude<Tok, { kind: "word" | "sep" | "eq" }>;
const isExprTok = (t: Tok): t is ExprTok =>
  t.kind === "num" || t.kind === "op" || t.kind === "lparen" || t.kind === "rparen" || t.kind === "var";

/** Value of a token span under standard precedence, or null if it is not one whole expression (or divides by 0). */
function evaluate(toks: readonly ExprTok[], percentAsFraction: boolean): Rational | null | "var" {
  let pos = 0;
  let sawVar = false;
  const HUNDRED = rational(100n);
  const factor = (): Rational | null => {
    const t = toks[pos];
    if (!t) return null;
    if (t.kind === "op" && (t.op === "-" || t.op === "+")) {
      pos++;
      const f = factor();
      return f && t.op === "-" ? rational(-f.n, f.d) : f;
    }
    if (t.kind === "num") {
      pos++;
      return t.percent && percentAsFraction ? div(t.value, HUNDRED) : t.value;
    }
    if (t.kind === "var") {
      pos++;
      sawVar = true;
      return rational(0n);
    }
    if (t.kind === "lparen") {
      pos++;
      const e = expr();
      if (!e || toks[pos]?.kind !== "rparen") return null;
      pos++;
      return e;
    }
    return null;
  };
  const term = (): Rational | null => {
    let acc = factor();
    for (let t = toks[pos]; acc && t?.kind === "op" && (t.op === "*" || t.op === "/"); t = toks[pos]) {
      pos++;
      const f = factor();
      if (!f) return null;
      acc = t.op === "*" ? mul(acc, f) : div(acc, f);
    }
    return acc;
  };
  const expr = (): Rational | null => {
    let acc = term();
    for (let t = toks[pos]; acc && t?.kind === "op" && (t.op === "+" || t.op === "-"); t = toks[pos]) {
      pos++;
      const f = term();
      if (!f) return null;
      acc = t.op === "+" ? add(acc, f) : sub(acc, f);
    }
    return acc;
  };
  const v = expr();
  if (v === null || pos !== toks.length) return null;
  return sawVar ? "var" : v;
}

const parses = (toks: readonly ExprTok[]) => toks.length > 0 && evaluate(toks, true) !== null;

// ---------------------------------------------------------------------------
// Claims.

export type ClaimStatus = "ok" | "wrong" | "skipped";

export interface Claim {
  /** The two sides as written (`lhs = rhs`). */
  lhs: string;
  rhs: string;
  /** Exact values ("7/3"), null when a side could not be evaluated (variable, division by zero). */
  lhsValue: string | null;
  rhsValue: string | null;
  status: ClaimStatus;
  /** Why it was skipped or how it passed ("rounded to 2 decimals", "percent signs ignored"). */
  note?: string;
  /** Operand numbers of the left side (values as written, % not applied). */
  operands: NumTok[];
  /** Character offset of the left side in the step. */
  start: number;
  /** The left side is the previous link's right side (`a + b = c + d = e`): its numbers need no source. */
  chained: boolean;
}

function spanText(text: string, toks: readonly ExprTok[]): string {
  if (toks.length === 0) return "";
  const last = toks[toks.length - 1]!;
  const end = last.start + ("text" in last ? last.text.length : 1);
  return text.slice(toks[0]!.start, end).trim();
}

/** Longest suffix (fromEnd) or prefix of `toks` that parses as one expression. */
function longestExpr(toks: readonly ExprTok[], fromEnd: boolean): ExprTok[] {
  for (let k = toks.length; k > 0; k--) {
    const cand = fromEnd ? toks.slice(toks.length - k) : toks.slice(0, k);
    if (parses(cand)) return cand;
  }
  return [];
}

function sideValue(side: readonly ExprTok[], percent: boolean): Rational | null | "var" {
  return side.length === 0 ? null : evaluate(side, percent);
}

/** Is `value` the exact `exact` rounded to `decimals` places (half-interval tolerance)? */
function roundsTo(exact: Rational, value: Rational, decimals: number): boolean {
  const half = rational(5n, 10n ** BigInt(decimals + 1));
  return lessOrEqual(abs(sub(exact, value)), half);
}

/** Every `lhs = rhs` in a step, each verified (see the file header for the rules). */
export function findClaims(text: string, opts: Pick<StepCheckOptions, "allowRounding"> = {}): Claim[] {
  const toks = lex(text);
  // Segments between "=" signs; each keeps its tokens.
  const segments: Tok[][] = [[]];
  for (const t of toks) {
    if (t.kind === "eq") segments.push([]);
    else segments[segments.length - 1]!.push(t);
  }
  const claims: Claim[] = [];
  for (let s = 0; s + 1 < segments.length; s++) {
    const left = segments[s]!;
    const right = segments[s + 1]!;
    // the left side: trailing run of expression tokens; the right side: leading run
    let a = left.length;
    while (a > 0 && isExprTok(left[a - 1]!)) a--;
    let b = 0;
    while (b < right.length && isExprTok(right[b]!)) b++;
    const lhs = longestExpr(left.slice(a) as ExprTok[], true);
    const rhs = longestExpr(right.slice(0, b) as ExprTok[], false);
    if (lhs.length === 0 || rhs.length === 0) continue;
    const continuesChain = s > 0 && a === 0 && lhs.length === left.length && claims.length > 0;
    const claim: Claim = {
      lhs: spanText(text, lhs),
      rhs: spanText(text, rhs),
      lhsValue: null,
      rhsValue: null,
      status: "skipped",
      operands: lhs.filter((t): t is NumTok => t.kind === "num"),
      start: lhs[0]!.start,
      chained: continuesChain,
    };
    claims.push(claim);
    const lv = sideValue(lhs, true);
    const rv = sideValue(rhs, true);
    if (lv === "var" || rv === "var") {
      claim.note = "has a variable";
      continue;
    }
    if (lv === null || rv === null) {
      claim.note = "a side does not evaluate (division by zero)";
      continue;
    }
    claim.lhsValue = formatRational(lv);
    claim.rhsValue = formatRational(rv);
    // A left side without an operator is a name for what follows ("8 batches = 5.5 * 8",
    // "3 hours = 180 minutes"), unless it continues a chain ("10 + 5 = 15 = 16").
    if (!lhs.some((t) => t.kind === "op") && !continuesChain) {
      claim.note = "a left side without an operator names a quantity; not arithmetic";
      continue;
    }
    claim.status = agrees(lhs, rhs, lv, rv, opts.allowRounding ?? true, claim) ? "ok" : "wrong";
  }
  return claims;
}

function agrees(
  lhs: readonly ExprTok[],
  rhs: readonly ExprTok[],
  lv: Rational,
  rv: Rational,
  allowRounding: boolean,
  claim: Claim,
): boolean {
  const readings: [Rational, Rational, string | undefined][] = [[lv, rv, undefined]];
  if ([...lhs, ...rhs].some((t) => t.kind === "num" && t.percent)) {
    const l2 = sideValue(lhs, false);
    const r2 = sideValue(rhs, false);
    if (l2 && r2 && l2 !== "var" && r2 !== "var") readings.push([l2, r2, "percent signs ignored"]);
  }
  const rhsNum = rhs.length === 1 && rhs[0]!.kind === "num" ? rhs[0] : null;
  for (const [l, r, note] of readings) {
    if (eq(l, r)) {
      if (note) claim.note = note;
      return true;
    }
    if (allowRounding && rhsNum && rhsNum.decimals > 0 && roundsTo(l, r, rhsNum.decimals)) {
      claim.note = `${note ? `${note}, ` : ""}rounded to ${rhsNum.decimals} decimal(s)`;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Steps and chains.

/** Non-empty trimmed lines; a single line is split into sentences (". " before a capital, digit or "$"). */
export function splitSteps(chain: string): string[] {
  const lines = chain
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  if (lines.length !== 1) return lines;
  return lines[0]!
    .split(/(?<=[.!?])\s+(?=[A-Z0-9$(])/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** GSM8K's calculator annotations `<<48/2=24>>` removed, leaving the prose ("48/2 = 24"). */
export function stripCalculatorAnnotations(text: string): string {
  return text.replace(/<<[^<>]*>>/g, "");
}

const NUMBER_WORDS: Record<string, Rational[]> = (() => {
  const w: Record<string, Rational[]> = {};
  const units =
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(
      " ",
    );
  units.forEach((u, i) => {
    w[u] = [rational(BigInt(i))];
  });
  "twenty thirty forty fifty sixty seventy eighty ninety".split(" ").forEach((t, i) => {
    w[t] = [rational(BigInt(20 + 10 * i))];
  });
  const r = (n: bigint, d = 1n) => rational(n, d);
  Object.assign(w, {
    hundred: [r(100n)],
    thousand: [r(1000n)],
    million: [r(1000000n)],
    dozen: [r(12n)],
    dozens: [r(12n)],
    half: [r(1n, 2n), r(2n)],
    halves: [r(1n, 2n), r(2n)],
    twice: [r(2n)],
    double: [r(2n)],
    doubles: [r(2n)],
    triple: [r(3n)],
    triples: [r(3n)],
    thrice: [r(3n)],
    quadruple: [r(4n)],
    third: [r(1n, 3n), r(3n)],
    thirds: [r(1n, 3n), r(3n)],
    quarter: [r(1n, 4n), r(4n)],
    quarters: [r(1n, 4n), r(4n)],
    fourth: [r(1n, 4n), r(4n)],
    fifth: [r(1n, 5n), r(5n)],
    sixth: [r(1n, 6n), r(6n)],
    seventh: [r(1n, 7n), r(7n)],
    eighth: [r(1n, 8n), r(8n)],
    ninth: [r(1n, 9n), r(9n)],
    tenth: [r(1n, 10n), r(10n)],
    pair: [r(2n)],
    pairs: [r(2n)],
    once: [r(1n)],
  });
  return w;
})();

/** Every number a text mentions, as written and with % applied, plus number words and a/b fractions. */
export function numbersIn(text: string): Rational[] {
  const out: Rational[] = [];
  const toks = lex(text);
  toks.forEach((t, i) => {
    if (t.kind === "num") {
      out.push(t.value);
      if (t.percent) {
        // p% also gives 100 - p and 100 + p, as percents and fractions ("90% of the price", "× 1.20")
        const h = rational(100n);
        for (const v of [t.value, sub(h, t.value), add(h, t.value)]) out.push(v, div(v, h)!);
      }
      const slash = toks[i + 1];
      const den = toks[i + 2];
      if (slash?.kind === "op" && slash.op === "/" && den?.kind === "num") {
        const q = div(t.value, den.value);
        if (q) out.push(q);
      }
    }
  });
  for (const word of text.toLowerCase().split(/[^a-z]+/)) {
    const v = NUMBER_WORDS[word];
    if (v) out.push(...v);
  }
  // hyphenated compounds: "twenty-five"
  for (const m of text.toLowerCase().matchAll(/\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(\w+)/g)) {
    const tens = NUMBER_WORDS[m[1]!]![0]!;
    const unit = NUMBER_WORDS[m[2]!]?.[0];
    if (unit && unit.d === 1n && unit.n < 10n) out.push(add(tens, unit));
  }
  return out;
}

/** Constants any step may use without a source (StepCheckOptions.constants replaces them). */
export const DEFAULT_CONSTANTS: readonly number[] = [0, 1, 2, 10, 100, 1000, 7, 12, 24, 52, 60, 365];

export interface StepCheckOptions {
  /** Numbers any step may use without a source (default DEFAULT_CONSTANTS). */
  constants?: readonly number[];
  /** Accept a decimal result that is the exact value rounded to its written decimals (default true). */
  allowRounding?: boolean;
  /** Count each digit of a question number, at its place value too, as given (723 → 7, 2, 3, 700, 20; default true). */
  digitsFromQuestion?: boolean;
  /** Check that operands come from the question or earlier steps (default true). */
  checkProvenance?: boolean;
}

export type StepProblem = "arithmetic" | "unsupported" | "task";

export interface StepVerdict {
  index: number;
  text: string;
  valid: boolean;
  claims: Claim[];
  problem?: StepProblem;
  reason?: string;
}

export interface ChainVerdict {
  valid: boolean;
  steps: StepVerdict[];
  /** Index of the first invalid step, null when all are valid. */
  firstInvalid: number | null;
  /** The first invalid step's reason, null when valid. */
  reason: string | null;
  /** Which checker judged: "generic" or "task:NAME". */
  checker: string;
  /** Claims checked (status ok or wrong) over the chain. */
  checkedClaims: number;
}

export interface StepCheckInput {
  question: string;
  chain: string;
  /** The record's task name (meta.task), which selects a task checker when one is registered. */
  task?: string;
  /** The generated problem behind the record, when known: task checkers need its structured form. */
  problem?: Problem;
}

/** A task's own step checker; returns null to fall back to the generic checker. */
export type TaskStepChecker = (input: StepCheckInput) => ChainVerdict | null;

const keyOf = (r: Rational) => formatRational(r);

/** The generic checker: arithmetic of every claim, then provenance of its operands, step by step. */
export function checkChainGeneric(input: StepCheckInput, opts: StepCheckOptions = {}): ChainVerdict {
  const known = new Set<string>(numbersIn(input.question).map(keyOf));
  // Column arithmetic works on digits: 723 also gives 7, 2, 3 and 700, 20.
  if (opts.digitsFromQuestion ?? true) {
    for (const m of input.question.matchAll(/\d+/g)) {
      const digits = m[0];
      for (let i = 0; i < digits.length; i++) {
        const place = 10n ** BigInt(digits.length - 1 - i);
        const d = BigInt(digits[i]!);
        known.add(keyOf(rational(d)));
        known.add(keyOf(rational(d * place)));
      }
    }
  }
  const constants = new Set((opts.constants ?? DEFAULT_CONSTANTS).map((c) => keyOf(parseDecimal(String(c)))));
  const provenance = opts.checkProvenance ?? true;
  const steps: StepVerdict[] = [];
  let checkedClaims = 0;
  for (const [index, text] of splitSteps(input.chain).entries()) {
    const claims = findClaims(text, opts);
    const verdict: StepVerdict = { index, text, valid: true, claims };
    const wrong = claims.find((c) => c.status === "wrong");
    checkedClaims += claims.filter((c) => c.status !== "skipped").length;
    if (wrong) {
      Object.assign(verdict, {
        valid: false,
        problem: "arithmetic",
        reason: `${wrong.lhs} = ${wrong.rhs} is false: ${wrong.lhs} is ${wrong.lhsValue}`,
      });
    } else if (provenance) {
      for (const claim of claims) {
        if (claim.status === "skipped" || claim.chained) continue;
        const before = new Set(numbersIn(text.slice(0, claim.start)).map(keyOf));
        const missing = claim.operands.find((t) => {
          const vals = [t.value, ...(t.percent ? [div(t.value, rational(100n))!] : [])].map(keyOf);
          return !vals.some((v) => known.has(v) || constants.has(v) || before.has(v));
        });
        if (missing) {
          Object.assign(verdict, {
            valid: false,
            problem: "unsupported",
            reason: `${missing.text.trim()} in ${claim.lhs} appears neither in the question nor in earlier steps`,
          });
          break;
        }
      }
    }
    for (const v of numbersIn(text)) known.add(keyOf(v));
    steps.push(verdict);
  }
  const first = steps.find((s) => !s.valid) ?? null;
  return {
    valid: first === null,
    steps,
    firstInvalid: first ? first.index : null,
    reason: first ? `step ${first.index + 1}: ${first.reason}` : null,
    checker: "generic",
    checkedClaims,
  };
}

export interface CheckChainOptions extends StepCheckOptions {
  /** Task checkers by task name; the one for `input.task` takes precedence over the generic rules. */
  checkers?: { readonly [task: string]: TaskStepChecker | undefined };
}

/** What a task generator offers the step checker (src/data/tasks/types.ts TaskGenerator has it). */
export interface TaskCheckerSource {
  name: string;
  checkSteps(problem: Problem, steps: string[]): TaskStepVerdict;
}

/**
 * Adapt task generators' `checkSteps` into TaskStepCheckers keyed by task name. A checker
 * runs only when the input carries the problem of its own task (it needs the structured
 * form); otherwise it returns null and the generic rules apply. Steps are split as the
 * tasks split them (one per line, the "#### N" line dropped).
 */
export function taskCheckers(generators: Iterable<TaskCheckerSource>): Record<string, TaskStepChecker> {
  const out: Record<string, TaskStepChecker> = {};
  for (const g of generators) {
    out[g.name] = (input) => {
      if (!input.problem || input.problem.task !== g.name) return null;
      const steps = splitTaskSteps(input.chain);
      const v = g.checkSteps(input.problem, steps);
      const first = v.valid ? null : (v.firstInvalid ?? 0);
      const reason = v.valid ? null : (v.reasons[0] ?? `step ${first! + 1} is invalid`);
      return {
        valid: v.valid,
        steps: steps.map((text, index) => ({
          index,
          text,
          valid: first === null || index !== first,
          claims: [],
          ...(first === index ? { problem: "task" as const, reason: reason! } : {}),
        })),
        firstInvalid: first,
        reason,
        checker: `task:${g.name}`,
        checkedClaims: steps.length,
      };
    };
  }
  return out;
}

/** Check a chain: the task's own checker when `input.task` has one registered, else the generic rules. */
export function checkChain(input: StepCheckInput, opts: CheckChainOptions = {}): ChainVerdict {
  const own = input.task !== undefined ? opts.checkers?.[input.task] : undefined;
  if (own) {
    const v = own(input);
    if (v) return v;
  }
  return checkChainGeneric(input, opts);
}
