/**
 * Arithmetic claims in a step: every equality `e₀ = e₁ (= e₂ …)` written in its text, each
 * side evaluated under standard precedence with exact rationals, and a verdict per claim
 * (ok, wrong, or skipped with the reason). The rules and leniencies are listed in steps.ts's
 * header; the tokens come from step-lexer.ts.
 */
import { Rational } from "../data/answer/index.ts";
import type { NumTok, Tok } from "./step-lexer.ts";
import { lex } from "./step-lexer.ts";

type ExprTok = Exclude<Tok, { kind: "word" | "sep" | "eq" }>;
const isExprTok = (t: Tok): t is ExprTok =>
  t.kind === "num" || t.kind === "op" || t.kind === "lparen" || t.kind === "rparen" || t.kind === "var";

/** Value of a token span under standard precedence, or null if it is not one whole expression (or divides by 0). */
function evaluate(toks: readonly ExprTok[], percentAsFraction: boolean): Rational | null | "var" {
  let pos = 0;
  let sawVar = false;
  const HUNDRED = Rational.of(100);
  const factor = (): Rational | null => {
    const t = toks[pos];
    if (!t) return null;
    if (t.kind === "op" && (t.op === "-" || t.op === "+")) {
      pos++;
      const f = factor();
      return f && t.op === "-" ? f.neg() : f;
    }
    if (t.kind === "num") {
      pos++;
      return t.percent && percentAsFraction ? t.value.div(HUNDRED) : t.value;
    }
    if (t.kind === "var") {
      pos++;
      sawVar = true;
      return Rational.of(0);
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
      acc = t.op === "*" ? acc.mul(f) : acc.div(f);
    }
    return acc;
  };
  const expr = (): Rational | null => {
    let acc = term();
    for (let t = toks[pos]; acc && t?.kind === "op" && (t.op === "+" || t.op === "-"); t = toks[pos]) {
      pos++;
      const f = term();
      if (!f) return null;
      acc = t.op === "+" ? acc.add(f) : acc.sub(f);
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
  const half = new Rational(5n, 10n ** BigInt(decimals + 1));
  return exact.sub(value).abs().lessOrEqual(half);
}

export interface FindClaimsOptions {
  /** Accept a decimal result that is the exact value rounded to its written decimals (default true). */
  allowRounding?: boolean;
}

/** Every `lhs = rhs` in a step, each verified (see the file header for the rules). */
export function findClaims(text: string, opts: FindClaimsOptions = {}): Claim[] {
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
    claim.lhsValue = lv.toString();
    claim.rhsValue = rv.toString();
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
    if (l.eq(r)) {
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
