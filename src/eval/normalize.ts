/**
 * Answer normalisation: turn an extracted answer into a canonical form so that two answers
 * written differently ("$1,234.50", "1234.5") compare equal, and decide equality per task.
 *
 * Rules (applied in this order by `parseNumber`):
 *   1. trim; unicode minus (U+2212) → "-"; a trailing sentence period is dropped ("18." → "18").
 *   2. a leading "+" is dropped; a sign may stand before or after a currency symbol ("-$5" = "$-5" = -5).
 *   3. currency: "$", "\$", "€", "£", "¥" before the number and the words "dollars", "euros", "cents" … after
 *      it are stripped (cents are *not* converted: "50 cents" = 50).
 *   4. percent: a trailing "%" / "\%" / " percent" is stripped and the value kept as written ("50%" = 50, not
 *      0.5), which is what GSM8K-style gold answers do.
 *   5. units: a tail of at most three words made of letters only is stripped ("12 apples", "3 km per hour").
 *   6. thousands separators: commas are removed only when they separate groups of exactly three digits
 *      ("1,234,567" = 1234567); "1,23" is not a number. Spaces as separators are not accepted.
 *   7. the rest must be an integer, a decimal (".5", "12.50"), a simple fraction "a/b" of integers or decimals,
 *      a mixed number "1 1/2", or LaTeX "\frac{a}{b}" / "\dfrac" / "\tfrac" / "\frac12" with an optional sign.
 * Numbers are compared as exact rationals (bigint numerator/denominator), never as floats, so 1/3 ≠ 0.333
 * and 1/2 = 0.5 = 0.50 = 2/4. Scientific notation and number words ("forty-two") are not parsed.
 *
 * MATH-style answers (`normalizeLatex`) are compared as strings after removing presentation-only LaTeX
 * (a trailing "\text{ unit}", \left \right, \text{} wrappers, \dfrac → \frac, spacing commands, ^\circ, \%, \$, all whitespace, a
 * trailing period), and as exact rationals when both sides parse as numbers. Symbolic equivalence
 * ("\sqrt{2}/2" vs "\frac{\sqrt2}{2}") is out of scope.
 */

/** The tasks the extractor and matcher know. "number" is any task whose answer is a single number. */
/**
 * How a task's answers are extracted and compared: gsm8k and number (numeric), math (LaTeX in
 * \boxed{}), mc (a letter A–E), text (a short free-text answer after "####", e.g. a name or
 * True/False, compared case-insensitively with spaces collapsed and a final period dropped).
 */
export type AnswerTask = "gsm8k" | "math" | "mc" | "number" | "text";

/** An exact rational number num/den with den > 0 and gcd(|num|, den) = 1. */
export interface Rational {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** Reduce num/den to lowest terms with a positive denominator. Throws on a zero denominator. */
export function rational(num: bigint, den: bigint): Rational {
  if (den === 0n) throw new Error(`rational: zero denominator in ${num}/${den}`);
  const sign = den < 0n ? -1n : 1n;
  const g = gcd(num, den) || 1n;
  return { num: (sign * num) / g, den: (sign * den) / g };
}

/** "12.50" → 1250/100 reduced; "-.5" → -1/2. Returns null unless the text is a plain decimal. */
function parseDecimal(text: string): Rational | null {
  const m = /^([-+]?)(\d*)(?:\.(\d+))?$/.exec(text);
  if (!m || (m[2] === "" && m[3] === undefined)) return null;
  const intPart = m[2] === "" ? "0" : m[2]!;
  const frac = m[3] ?? "";
  const num = BigInt(intPart + frac) * (m[1] === "-" ? -1n : 1n);
  return rational(num, 10n ** BigInt(frac.length));
}

function div(a: Rational, b: Rational): Rational | null {
  if (b.num === 0n) return null;
  return rational(a.num * b.den, a.den * b.num);
}

const CURRENCY_PREFIX = /^(?:\\\$|\$|€|£|¥|US\$|USD|EUR|GBP)\s*/i;
const CURRENCY_WORDS = /\s*\b(?:dollars?|euros?|pounds?|cents?|usd|eur|gbp|bucks)\b\.?$/i;
const PERCENT_SUFFIX = /\s*(?:\\%|%|\bpercent\b|\bper cent\b)$/i;
const UNIT_TAIL = /^(.*?\d)\s*(?:[A-Za-z]+\.?)(?:\s+[A-Za-z]+\.?){0,2}$/;

/**
 * Parse a human-written number to an exact rational, following the rules in the file header.
 * Returns null when the text is not a single number.
 */
export function parseNumber(input: string, options: { units?: boolean } = {}): Rational | null {
  const units = options.units ?? true;
  let s = input.trim().replace(/\u2212/g, "-");
  s = s.replace(/\.$/, "").trim();
  if (s === "") return null;
  // LaTeX fractions and wrappers first (they contain braces that the rules below would reject).
  if (s.includes("\\")) {
    s = stripLatexPresentation(s);
    const frac = /^([-+]?)\\frac\{([^{}]+)\}\{([^{}]+)\}$/.exec(s);
    if (frac) {
      const a = parseNumber(frac[2]!, options);
      const b = parseNumber(frac[3]!, options);
      if (!a || !b) return null;
      const q = div(a, b);
      return q && frac[1] === "-" ? rational(-q.num, q.den) : q;
    }
  }
  let sign = 1n;
  const leadSign = /^([-+])\s*/.exec(s);
  if (leadSign) {
    if (leadSign[1] === "-") sign = -1n;
    s = s.slice(leadSign[0].length);
  }
  s = s.replace(CURRENCY_PREFIX, "");
  const innerSign = /^([-+])\s*/.exec(s);
  if (innerSign) {
    if (innerSign[1] === "-") sign = -sign;
    s = s.slice(innerSign[0].length);
  }
  if (units) s = s.replace(CURRENCY_WORDS, "");
  s = s.replace(PERCENT_SUFFIX, "").trim();
  const unit = units ? UNIT_TAIL.exec(s) : null;
  if (unit) s = unit[1]!;
  // thousands separators: only groups of exactly three digits.
  if (s.includes(",")) {
    if (!/^\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(s)) return null;
    s = s.replace(/,/g, "");
  }
  let value: Rational | null;
  const mixed = /^(\d+)\s+(\d+)\s*\/\s*(\d+)$/.exec(s);
  const frac = /^(\d*\.?\d+)\s*\/\s*(\d*\.?\d+)$/.exec(s);
  if (mixed) {
    const whole = BigInt(mixed[1]!);
    const den = BigInt(mixed[3]!);
    value = den === 0n ? null : rational(whole * den + BigInt(mixed[2]!), den);
  } else if (frac) {
    const a = parseDecimal(frac[1]!);
    const b = parseDecimal(frac[2]!);
    value = a && b ? div(a, b) : null;
  } else {
    value = parseDecimal(s);
  }
  return value && rational(sign * value.num, value.den);
}

/** True when den has no prime factor other than 2 and 5, i.e. the rational has a finite decimal form. */
function isFiniteDecimal(den: bigint): boolean {
  let d = den;
  while (d % 2n === 0n) d /= 2n;
  while (d % 5n === 0n) d /= 5n;
  return d === 1n;
}

/**
 * Canonical text of a rational: an integer ("12"), a finite decimal without trailing zeros ("12.5",
 * "-0.25"), or "a/b" when the decimal does not terminate ("1/3"). Zero is "0", never "-0".
 */
export function formatRational(r: Rational): string {
  if (r.den === 1n) return r.num.toString();
  if (!isFiniteDecimal(r.den)) return `${r.num}/${r.den}`;
  let scale = 0;
  let p = 1n;
  while ((r.num * p) % r.den !== 0n) {
    p *= 10n;
    scale += 1;
  }
  const scaled = (r.num * p) / r.den;
  const neg = scaled < 0n;
  const digits = (neg ? -scaled : scaled).toString().padStart(scale + 1, "0");
  return `${neg ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** Canonical number string for `text`, or null when it is not a number ("$1,234.50" → "1234.5"). */
export function normalizeNumber(text: string): string | null {
  const r = parseNumber(text);
  return r ? formatRational(r) : null;
}

/** Index just past the "}" that closes the "{" at `open`, or -1 when the braces never balance. */
export function matchBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\") {
      i++; // an escaped character such as \{ or \} does not count
      continue;
    }
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Replace every `\cmd{X}` (balanced) by X. */
function unwrapCommand(text: string, cmd: string): string {
  let out = text;
  for (;;) {
    const at = out.indexOf(`\\${cmd}{`);
    if (at < 0) return out;
    const open = at + cmd.length + 1;
    const close = matchBrace(out, open);
    if (close < 0) return out;
    out = out.slice(0, at) + out.slice(open + 1, close - 1) + out.slice(close);
  }
}

/** Remove LaTeX that changes only presentation. Whitespace is kept (callers decide). */
function stripLatexPresentation(text: string): string {
  let s = text;
  for (const cmd of ["text", "textbf", "textit", "mathrm", "mathbf", "mbox", "displaystyle"]) s = unwrapCommand(s, cmd);
  s = s
    .replace(/\\[dt]frac/g, "\\frac")
    .replace(/\\frac(\d)(\d)/g, "\\frac{$1}{$2}")
    .replace(/\\left\b|\\right\b/g, "")
    .replace(/\\[!,;:]|\\ |\\quad|\\qquad|\\displaystyle/g, "")
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°/g, "")
    .replace(/\\%|\\\$/g, "")
    .replace(/^\$+|\$+$/g, "");
  return s.trim();
}

/**
 * Canonical text of a MATH-style answer: a trailing unit written as "\text{ cm}" / "\mbox{ inches}" (letters
 * and spaces only, after something else) removed, presentation LaTeX removed, whitespace removed, a trailing
 * period removed; a number (incl. \frac{a}{b}) becomes its canonical number string. Bare letters are NOT
 * treated as units here ("5x" and "6i" are not 5 and 6).
 */
export function normalizeLatex(text: string): string {
  const withoutUnit = text.trim().replace(/(\S)\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z ]*\}\s*\.?$/, "$1");
  const s = stripLatexPresentation(withoutUnit.replace(/\u2212/g, "-"))
    .replace(/\s+/g, "")
    .replace(/\.$/, "");
  const n = parseNumber(s, { units: false });
  return n ? formatRational(n) : s;
}

/** Canonical multiple-choice letter: "(c)", "C.", " c " → "C"; null when it is not a single letter A–Z. */
export function normalizeChoice(text: string): string | null {
  const m = /^\s*\(?\s*([A-Za-z])\s*\)?\s*\.?\s*$/.exec(text);
  return m ? m[1]!.toUpperCase() : null;
}

/**
 * The canonical form used for equality and for majority voting: numbers → `normalizeNumber`
 * (falling back to trimmed lowercase text), MATH → `normalizeLatex`, multiple choice → upper-case letter.
 */
export function canonicalAnswer(text: string, task: AnswerTask): string {
  switch (task) {
    case "gsm8k":
    case "number":
      return normalizeNumber(text) ?? text.trim().toLowerCase();
    case "math":
      return normalizeLatex(text);
    case "mc":
      return normalizeChoice(text) ?? text.trim().toUpperCase();
    case "text":
      return normalizeText(text);
  }
}

/** Free-text answers: trimmed, final period dropped, runs of whitespace collapsed, lower case. */
export function normalizeText(text: string): string {
  return text.trim().replace(/\.$/, "").trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * Is the predicted answer equal to the gold answer for this task? A null prediction (nothing extracted)
 * is never correct. Numbers compare as exact rationals; MATH answers compare after `normalizeLatex`;
 * multiple choice compares letters case-insensitively.
 */
export function answersMatch(pred: string | null, gold: string, task: AnswerTask): boolean {
  if (pred === null) return false;
  return canonicalAnswer(pred, task) === canonicalAnswer(gold, task);
}
