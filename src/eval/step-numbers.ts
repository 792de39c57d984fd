/**
 * The numbers a text gives a step checker (provenance, steps.ts): every number written, a
 * percentage p% also as p/100 and 100 ± p, a fraction a/b also as its value, and number
 * words ("twice", "a dozen", "half", "twenty-five").
 */
import { Rational } from "../data/answer/index.ts";
import { lex } from "./step-lexer.ts";

const NUMBER_WORDS: Record<string, Rational[]> = (() => {
  const w: Record<string, Rational[]> = {};
  const units =
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split(
      " ",
    );
  units.forEach((u, i) => {
    w[u] = [Rational.of(i)];
  });
  "twenty thirty forty fifty sixty seventy eighty ninety".split(" ").forEach((t, i) => {
    w[t] = [Rational.of(20 + 10 * i)];
  });
  const r = (n: bigint, d = 1n) => new Rational(n, d);
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
        const h = Rational.of(100);
        for (const v of [t.value, h.sub(t.value), h.add(t.value)]) out.push(v, v.div(h)!);
      }
      const slash = toks[i + 1];
      const den = toks[i + 2];
      if (slash?.kind === "op" && slash.op === "/" && den?.kind === "num") {
        const q = t.value.div(den.value);
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
    if (unit && unit.d === 1n && unit.n < 10n) out.push(tens.add(unit));
  }
  return out;
}

/** Constants any step may use without a source (StepCheckOptions.constants replaces them). */
