/**
 * The one number parser: a human- or model-written number to an exact `Rational`, or null
 * when the text is not a single number. Rules, in the order `parseNumber` applies them:
 *
 *   1. trim; the Unicode minus U+2212 becomes "-"; a trailing sentence period is dropped ("18." = 18).
 *   2. LaTeX (text with a backslash): presentation markup removed (latex.ts), then
 *      "\frac{a}{b}" / "\dfrac" / "\tfrac" / "\frac12" with an optional sign, a and b numbers.
 *   3. a leading "+" or "-"; the sign may stand before or after a currency symbol ("-$5" = "$-5" = -5).
 *   4. currency before the number: "$", "\$", "€", "£", "¥", "US$", "USD", "EUR", "GBP".
 *   5. percent: a trailing "%" / "\%" / "percent" / "per cent" is dropped and the value kept as
 *      written ("50%" = 50, not 0.5), as GSM8K-style gold answers do.
 *   6. units and trailing words, ONE rule: a tail of at most three words of letters after the
 *      last digit is dropped ("12 apples", "12 apples each", "3 km per hour", "18 dollars",
 *      "50 cents" = 50: cents are not converted). `units: false` turns this off (MATH answers,
 *      where "5x" is not 5).
 *   7. thousands separators: commas only between groups of exactly three digits ("1,234,567");
 *      "1,23" is not a number; spaces as separators are not accepted.
 *   8. what is left must be an integer, a decimal (".5", "12.50"), a fraction "a/b" of integers
 *      or decimals ("2.5/5"), or a mixed number "1 1/2" (= 3/2).
 * Scientific notation and number words ("forty-two") are not parsed; a zero denominator is
 * not a number.
 */
import { stripLatexPresentation } from "./latex.ts";
import { Rational } from "./rational.ts";

export interface ParseNumberOptions {
  /** Drop a tail of up to three words after the number (rule 6). Default true. */
  units?: boolean;
}

/** "12.50" → 25/2, "-.5" → -1/2; null unless the text is a plain signed decimal. */
function parseDecimal(text: string): Rational | null {
  const m = /^([-+]?)(\d*)(?:\.(\d+))?$/.exec(text);
  if (!m || (m[2] === "" && m[3] === undefined)) return null;
  const frac = m[3] ?? "";
  const n = BigInt(`${m[2] || "0"}${frac}`);
  return new Rational(m[1] === "-" ? -n : n, 10n ** BigInt(frac.length));
}

const CURRENCY_PREFIX = /^(?:\\\$|\$|€|£|¥|US\$|USD|EUR|GBP)\s*/i;
const PERCENT_SUFFIX = /\s*(?:\\%|%|\bpercent\b|\bper cent\b)$/i;
const UNIT_TAIL = /^(.*?\d)\s*(?:[A-Za-z]+\.?)(?:\s+[A-Za-z]+\.?){0,2}$/;

/** Parse a written number (rules in the file header); null when the text is not one number. */
export function parseNumber(input: string, options: ParseNumberOptions = {}): Rational | null {
  const units = options.units ?? true;
  let s = input.trim().replace(/\u2212/g, "-");
  s = s.replace(/\.$/, "").trim();
  if (s === "") return null;
  // LaTeX first: its braces would fail every rule below.
  if (s.includes("\\")) {
    s = stripLatexPresentation(s);
    const frac = /^([-+]?)\\frac\{([^{}]+)\}\{([^{}]+)\}$/.exec(s);
    if (frac) {
      const a = parseNumber(frac[2]!, options);
      const b = parseNumber(frac[3]!, options);
      const q = a && b ? a.div(b) : null;
      return q && frac[1] === "-" ? q.neg() : q;
    }
  }
  let negative = false;
  const leadSign = /^([-+])\s*/.exec(s);
  if (leadSign) {
    negative = leadSign[1] === "-";
    s = s.slice(leadSign[0].length);
  }
  s = s.replace(CURRENCY_PREFIX, "");
  const innerSign = /^([-+])\s*/.exec(s);
  if (innerSign) {
    if (innerSign[1] === "-") negative = !negative;
    s = s.slice(innerSign[0].length);
  }
  s = s.replace(PERCENT_SUFFIX, "").trim();
  const unit = units ? UNIT_TAIL.exec(s) : null;
  if (unit) s = unit[1]!;
  if (s.includes(",")) {
    if (!/^\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(s)) return null;
    s = s.replace(/,/g, "");
  }
  const value = parseUnsigned(s);
  return value && negative ? value.neg() : value;
}

/** Rule 8: an unsigned integer, decimal, fraction or mixed number. */
function parseUnsigned(s: string): Rational | null {
  const mixed = /^(\d+)\s+(\d+)\s*\/\s*(\d+)$/.exec(s);
  if (mixed) {
    const den = BigInt(mixed[3]!);
    return den === 0n ? null : new Rational(BigInt(mixed[1]!) * den + BigInt(mixed[2]!), den);
  }
  const frac = /^(\d*\.?\d+)\s*\/\s*(\d*\.?\d+)$/.exec(s);
  if (frac) {
    const a = parseDecimal(frac[1]!);
    const b = parseDecimal(frac[2]!);
    return a && b ? a.div(b) : null;
  }
  return parseDecimal(s);
}

/** Canonical number text for `text` ("$1,234.50" → "1234.5"), or null when it is not a number. */
export function normalizeNumber(text: string): string | null {
  return parseNumber(text)?.toString() ?? null;
}
