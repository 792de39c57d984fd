/**
 * The tokens of a chain-of-thought step, for the step checker (steps.ts): numbers with their
 * notation (thousands separators, decimals, currency, percent, a unit word after them),
 * operators written as symbols (+ - − – * × · ÷ /) or words (plus, minus, times, x,
 * "divided by", "multiplied by", "of" after a percent or a fraction), parentheses, "=",
 * variables ("x", "2x") and the remaining words. Number values come from the answer
 * module's one parser (data/answer/parse.ts).
 */
import { parseNumber, type Rational } from "../data/answer/index.ts";

export type Op = "+" | "-" | "*" | "/";

export interface NumTok {
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
export type Tok =
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

/** The tokens of a step: numbers, operators (symbols and words), parentheses, "=", variables, words. */
export function lex(text: string): Tok[] {
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
      toks.push({ kind: "num", value: parseNumber(digits)!, percent, decimals, text: raw, unit: false, start: i });
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
      const frac = t.value.div(den.value)!;
      Object.assign(prev, { value: prev.value.add(frac), text: `${prev.text} ${t.text}/${den.text}` });
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
