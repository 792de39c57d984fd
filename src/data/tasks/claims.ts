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

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** An exact rational n/d with d > 0, always reduced. */
export class Frac {
  readonly n: bigint;
  readonly d: bigint;
  constructor(n: bigint, d = 1n) {
    if (d === 0n) throw new RangeError("Frac: zero denominator");
    if (d < 0n) [n, d] = [-n, -d];
    const g = gcd(n, d) || 1n;
    this.n = n / g;
    this.d = d / g;
  }
  static of(x: number | bigint): Frac {
    if (typeof x === "bigint") return new Frac(x);
    if (!Number.isInteger(x)) throw new RangeError(`Frac.of: ${x} is not an integer; use parseNumber`);
    return new Frac(BigInt(x));
  }
  add(o: Frac): Frac {
    return new Frac(this.n * o.d + o.n * this.d, this.d * o.d);
  }
  sub(o: Frac): Frac {
    return new Frac(this.n * o.d - o.n * this.d, this.d * o.d);
  }
  mul(o: Frac): Frac {
    return new Frac(this.n * o.n, this.d * o.d);
  }
  /** null on division by zero. */
  div(o: Frac): Frac | null {
    return o.n === 0n ? null : new Frac(this.n * o.d, this.d * o.n);
  }
  eq(o: Frac): boolean {
    return this.n === o.n && this.d === o.d;
  }
  isInteger(): boolean {
    return this.d === 1n;
  }
  /** "12", "-3", "2.5" when the decimal terminates, else "7/3". */
  toString(): string {
    if (this.d === 1n) return this.n.toString();
    let d = this.d;
    let twos = 0;
    let fives = 0;
    while (d % 2n === 0n) [d, twos] = [d / 2n, twos + 1];
    while (d % 5n === 0n) [d, fives] = [d / 5n, fives + 1];
    if (d !== 1n) return `${this.n}/${this.d}`;
    const places = Math.max(twos, fives);
    const scaled = (this.n * 10n ** BigInt(places)) / this.d;
    const neg = scaled < 0n;
    const digits = (neg ? -scaled : scaled).toString().padStart(places + 1, "0");
    return `${neg ? "-" : ""}${digits.slice(0, -places)}.${digits.slice(-places)}`;
  }
}

/** Parse "12", "-3.50", "$1,200", "25%", "7/3", "12 km" into an exact rational; null if not a number. */
export function parseNumber(text: string): Frac | null {
  const t = text
    .trim()
    .replace(/^\$|^-\$/, (m) => (m === "-$" ? "-" : ""))
    .replace(/,(?=\d{3}\b)/g, "")
    .replace(/\s*%$/, "")
    .replace(/\s+[A-Za-z]+$/, "");
  const frac = /^(-?\d+)\s*\/\s*(\d+)$/.exec(t);
  if (frac) return frac[2] === "0" ? null : new Frac(BigInt(frac[1]!), BigInt(frac[2]!));
  const dec = /^(-?)(\d+)(?:\.(\d+))?$/.exec(t);
  if (!dec) return null;
  const frac10 = dec[3] ?? "";
  const n = BigInt(dec[2]! + frac10) * (dec[1] === "-" ? -1n : 1n);
  return new Frac(n, 10n ** BigInt(frac10.length));
}

type Token = { kind: "num"; value: Frac; text: string } | { kind: "op"; op: string };

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
export function evalExpr(expr: string): Frac | null {
  const tokens = tokenize(expr);
  if (!tokens || tokens.length === 0) return null;
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  // expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*; factor := '-' factor | num | '(' expr ')'
  const parseExpr = (): Frac | null => {
    let acc = parseTerm();
    for (let t = peek(); acc && t?.kind === "op" && (t.op === "+" || t.op === "-"); t = peek()) {
      i++;
      const rhs = parseTerm();
      if (!rhs) return null;
      acc = t.op === "+" ? acc.add(rhs) : acc.sub(rhs);
    }
    return acc;
  };
  const parseTerm = (): Frac | null => {
    let acc = parseFactor();
    for (let t = peek(); acc && t?.kind === "op" && (t.op === "*" || t.op === "/"); t = peek()) {
      i++;
      const rhs = parseFactor();
      if (!rhs) return null;
      acc = t.op === "*" ? acc.mul(rhs) : acc.div(rhs);
    }
    return acc;
  };
  const parseFactor = (): Frac | null => {
    const t = tokens[i++];
    if (!t) return null;
    if (t.kind === "num") return t.value;
    if (t.op === "-") return parseFactor()?.mul(new Frac(-1n)) ?? null;
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
  operands: Frac[];
  result: Frac;
  /** The step with the claim cut out. */
  narrative: string;
}

const NUMBER_RE = /\$?\d+(?:\.\d+)?/g;

/** The numbers written in a piece of text, as exact rationals. */
export function numbersIn(text: string): Frac[] {
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
  given: Frac[];
  /** Known constants the chain may use (100 for percents, 60 minutes per hour, conversion factors). */
  constants?: Frac[];
  /** The gold answer; the last step's result must equal it. */
  answer: Frac;
  /** Extra per-step check (e.g. units); return a reason to reject. */
  extra?: (step: string, claim: Claim, index: number) => string | null;
}

/**
 * Check a chain of claim steps. Step k is valid iff it has a claim, the claim is exactly
 * right, each operand is given, a constant or an earlier result, and each narrative number
 * is one of the claim's operands. The chain must end on the answer.
 */
export function checkClaimChain(spec: ClaimChainSpec, steps: string[]): { step: number; reason: string }[] {
  const known: Frac[] = [...spec.given, ...(spec.constants ?? [])];
  const has = (xs: Frac[], x: Frac) => xs.some((y) => y.eq(x));
  let last: Frac | null = null;
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
export function allDistinct(values: Frac[]): boolean {
  for (let i = 0; i < values.length; i++) {
    for (let j = i + 1; j < values.length; j++) if (values[i]!.eq(values[j]!)) return false;
  }
  return true;
}
