/**
 * Logic: ordering puzzles and boolean expressions.
 *
 * Ordering: adjacent facts about a line of people ("Ava is taller than Ben", "Cal is
 * shorter than Ben"), shuffled; "Who is the tallest?" Two chain styles, one checker:
 *
 * - "eliminate" (default): one given fact per step, in the question's order; each rules out
 *   the person it shows is not the answer and restates who still can be (at first everyone,
 *   in order of first mention), until one person remains:
 *     "Ava is taller than Ben, so the tallest is Ava or Cal."
 *     "Cal is shorter than Ava, so the tallest is Ava."
 *   The answer is derived, never guessed first: every step is a local edit of the one before.
 *   (Worded with the tokens the demo's base already has, so a chain costs few tokens.)
 * - "transitive": transitivity one link at a time from the end that is asked about:
 *     "Ava is taller than Ben and Ben is taller than Cal, so Ava is taller than Cal."
 *     "So Ava is the tallest."
 *   Its first line already names the answer, so it is the harder chain to learn to write.
 *
 * The checker tracks what is known (the facts, plus every transitive conclusion) and who is
 * left (everyone, minus each person ruled out): a transitive step's premises must be known
 * and share their middle person, and its conclusion must join the outer two; an elimination
 * step's fact must be known, and its list must be exactly who was left before, minus the
 * person that fact rules out; the chain is complete when one person is left, or with a final
 * "So X is the tallest." when X alone is left or is known to be taller than everyone else.
 *
 * Boolean: an expression over True/False with and/or/not; one reduction per step,
 * innermost first, each with the expression it leaves:
 *   "not False = True, so (True and True) or False."   "True and True = True, so True or False."
 *   "True or False = True."
 * The checker evaluates the reduced sub-expression, finds it in the current expression
 * and requires the stated remainder to be exactly the current expression with it replaced.
 */
import type { Rng } from "../../engine/rng.ts";
import { checkFinalAnswer, type StepVerdict, type TaskGenerator, verdict } from "./types.ts";

export interface LogicOptions {
  kinds: ("ordering" | "boolean")[];
  /** People in an ordering puzzle (at least 3). */
  maxPeople: number;
  /** Depth of a boolean expression tree (at least 2). */
  maxDepth: number;
  /** How an ordering puzzle's gold chain reasons (see above); the checker accepts both. */
  orderingChain: OrderingChain;
}

export const ORDERING_CHAINS = ["eliminate", "transitive"] as const;
export type OrderingChain = (typeof ORDERING_CHAINS)[number];

export type LogicStructured =
  | {
      kind: "ordering";
      /** Tallest first. */
      order: string[];
      /** Fact i relates order[pairs[i]] and order[pairs[i] + 1]; `shorter` phrases it from the shorter side. */
      facts: { pair: number; shorter: boolean }[];
      ask: "tallest" | "shortest";
    }
  | { kind: "boolean"; expr: string };

const PEOPLE = ["Ava", "Ben", "Cal", "Dina", "Eli", "Fay", "Gus", "Hana", "Ian", "Jo", "Kai", "Lea"];

// ---------------------------------------------------------------- ordering

type Rel = [tall: string, short: string];
type Ordering = Extract<LogicStructured, { kind: "ordering" }>;

/** "X is taller than Y" → [X, Y]; "X is shorter than Y" → [Y, X]. */
function parseRel(text: string): Rel | null {
  const m = /^\s*(\w+) is (taller|shorter) than (\w+)\s*$/.exec(text);
  if (!m) return null;
  return m[2] === "taller" ? [m[1]!, m[3]!] : [m[3]!, m[1]!];
}
const showRel = ([t, s]: Rel, shorter: boolean) => (shorter ? `${s} is shorter than ${t}` : `${t} is taller than ${s}`);
const relKey = ([t, s]: Rel) => `${t}>${s}`;

function orderingFacts(s: Ordering): Rel[] {
  return s.facts.map((f) => [s.order[f.pair]!, s.order[f.pair + 1]!]);
}

/** The tallest is first in `order`, the shortest last. */
const orderingAnswer = (s: Ordering) => (s.ask === "tallest" ? s.order[0]! : s.order[s.order.length - 1]!);

/** Everyone in the puzzle, in order of first mention in the question. */
function peopleByMention(s: Ordering): string[] {
  const seen = new Set<string>();
  for (const [i, [t, sh]] of orderingFacts(s).entries()) {
    for (const p of s.facts[i]!.shorter ? [sh, t] : [t, sh]) seen.add(p);
  }
  return [...seen];
}

/** "Ava is taller than Ben" rules out Ben as the tallest and Ava as the shortest. */
const ruledOut = ([t, sh]: Rel, ask: Ordering["ask"]) => (ask === "tallest" ? sh : t);
/** "Ava", "Ava or Cal", "Ava, Ben or Cal". */
const showLeft = (left: string[]) =>
  left.length <= 1 ? (left[0] ?? "nobody") : `${left.slice(0, -1).join(", ")} or ${left[left.length - 1]}`;

function transitiveSteps(s: Ordering): string[] {
  const o = s.order;
  const n = o.length;
  const steps: string[] = [];
  if (s.ask === "tallest") {
    for (let k = 2; k < n; k++) {
      const p1 = showRel([o[0]!, o[k - 1]!], false);
      const p2 = showRel([o[k - 1]!, o[k]!], false);
      steps.push(`${p1} and ${p2}, so ${showRel([o[0]!, o[k]!], false)}.`);
    }
  } else {
    for (let k = n - 3; k >= 0; k--) {
      const p1 = showRel([o[k + 1]!, o[n - 1]!], true);
      const p2 = showRel([o[k]!, o[k + 1]!], true);
      steps.push(`${p1} and ${p2}, so ${showRel([o[k]!, o[n - 1]!], true)}.`);
    }
  }
  return steps;
}

function eliminationSteps(s: Ordering): string[] {
  let left = peopleByMention(s);
  return orderingFacts(s).map((rel, i) => {
    const out = ruledOut(rel, s.ask);
    left = left.filter((p) => p !== out);
    return `${showRel(rel, s.facts[i]!.shorter)}, so the ${s.ask} is ${showLeft(left)}.`;
  });
}

function orderingSteps(s: Ordering, style: OrderingChain): string[] {
  if (style === "eliminate") return eliminationSteps(s);
  return [...transitiveSteps(s), `So ${orderingAnswer(s)} is the ${s.ask}.`];
}

function checkOrdering(s: Ordering, steps: string[]): StepVerdict {
  const known = new Set(orderingFacts(s).map(relKey));
  const people = s.order;
  let left = new Set(people);
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!.replace(/\.$/, "");
    const fin = /^So (\w+) is the (tallest|shortest)$/.exec(step);
    if (fin) {
      const x = fin[1]!;
      const others = people.filter((p) => p !== x);
      const alone = left.size === 1 && left.has(x);
      const missing = others.find((p) => !known.has(fin[2] === "tallest" ? `${x}>${p}` : `${p}>${x}`));
      if (!people.includes(x) || (!alone && missing !== undefined)) {
        return verdict([
          {
            step: k,
            reason: `the ${s.ask} is still ${showLeft([...left])}, and it is not yet known that ${x} is ${fin[2] === "tallest" ? "taller" : "shorter"} than ${missing ?? "everyone"}`,
          },
        ]);
      }
      if (fin[2] !== s.ask || k !== steps.length - 1)
        return verdict([{ step: k, reason: `the question asks who is the ${s.ask}, and this must be the last step` }]);
      return verdict(fin[1] === orderingAnswer(s) ? [] : [{ step: k, reason: "wrong person" }]);
    }
    const elim = /^(.+), so the (tallest|shortest) is (.+)$/.exec(step);
    if (elim) {
      const rel = parseRel(elim[1]!);
      if (!rel || !known.has(relKey(rel)))
        return verdict([{ step: k, reason: `"${elim[1]}" is neither given nor derived yet` }]);
      if (elim[2] !== s.ask) return verdict([{ step: k, reason: `the question asks who is the ${s.ask}` }]);
      const out = ruledOut(rel, s.ask);
      const expected = [...left].filter((p) => p !== out);
      const stated = elim[3]!.split(/, | or /);
      if (
        new Set(stated).size !== stated.length ||
        stated.length !== expected.length ||
        stated.some((p) => !expected.includes(p))
      )
        return verdict([{ step: k, reason: `without ${out}, the ${s.ask} is ${showLeft(expected)}, not ${elim[3]}` }]);
      left = new Set(expected);
      continue;
    }
    const m = /^(.+) and (.+), so (.+)$/.exec(step);
    const rels = m ? [parseRel(m[1]!), parseRel(m[2]!), parseRel(m[3]!)] : [];
    const [p1, p2, c] = rels;
    if (!p1 || !p2 || !c)
      return verdict([
        {
          step: k,
          reason: `expected "<fact>, so the ${s.ask} is X or Y.", "<fact> and <fact>, so <conclusion>." or "So X is the ${s.ask}.", got "${steps[k]}"`,
        },
      ]);
    for (const p of [p1, p2]) {
      if (!known.has(relKey(p)))
        return verdict([{ step: k, reason: `"${showRel(p, false)}" is neither given nor derived yet` }]);
    }
    const chained = (a: Rel, b: Rel) => a[1] === b[0] && a[0] === c[0] && b[1] === c[1];
    if (!chained(p1, p2) && !chained(p2, p1)) {
      return verdict([
        { step: k, reason: `${showRel(c, false)} does not follow from the two premises by transitivity` },
      ]);
    }
    known.add(relKey(c));
  }
  if (left.size === 1) return verdict([]); // every step valid and one person left: the true answer
  return verdict([{ step: steps.length, reason: `the chain never concludes who is the ${s.ask}` }]);
}

// ---------------------------------------------------------------- boolean

type BoolExpr =
  | { kind: "lit"; v: boolean }
  | { kind: "not"; x: BoolExpr }
  | { kind: "and" | "or"; l: BoolExpr; r: BoolExpr };

const isBin = (e: BoolExpr) => e.kind === "and" || e.kind === "or";
export function showBool(e: BoolExpr): string {
  const wrap = (c: BoolExpr) => (isBin(c) ? `(${showBool(c)})` : showBool(c));
  if (e.kind === "lit") return e.v ? "True" : "False";
  if (e.kind === "not") return `not ${wrap(e.x)}`;
  return `${wrap(e.l)} ${e.kind} ${wrap(e.r)}`;
}

/** Parse with precedence not > and > or; null if malformed. */
export function parseBool(text: string): BoolExpr | null {
  const t = text.match(/True|False|and|or|not|[()]|\S+/g) ?? [];
  let i = 0;
  const or = (): BoolExpr | null => {
    let l = and();
    while (l && t[i] === "or") {
      i++;
      const r = and();
      l = r && { kind: "or", l, r };
    }
    return l;
  };
  const and = (): BoolExpr | null => {
    let l = unary();
    while (l && t[i] === "and") {
      i++;
      const r = unary();
      l = r && { kind: "and", l, r };
    }
    return l;
  };
  const unary = (): BoolExpr | null => {
    const tok = t[i++];
    if (tok === "True" || tok === "False") return { kind: "lit", v: tok === "True" };
    if (tok === "not") {
      const x = unary();
      return x && { kind: "not", x };
    }
    if (tok !== "(") return null;
    const e = or();
    return t[i++] === ")" ? e : null;
  };
  const e = or();
  return i === t.length ? e : null;
}

/** Value of a node whose children are literals, else null. */
function reduce(e: BoolExpr): boolean | null {
  if (e.kind === "not") return e.x.kind === "lit" ? !e.x.v : null;
  if (e.kind === "lit" || e.l.kind !== "lit" || e.r.kind !== "lit") return null;
  return e.kind === "and" ? e.l.v && e.r.v : e.l.v || e.r.v;
}

/** Every expression obtained by replacing one occurrence of `target` (by rendering) with `value`. */
function replacements(e: BoolExpr, target: string, value: boolean): BoolExpr[] {
  const out: BoolExpr[] = showBool(e) === target ? [{ kind: "lit", v: value }] : [];
  if (e.kind === "not") for (const x of replacements(e.x, target, value)) out.push({ kind: "not", x });
  if (e.kind === "and" || e.kind === "or") {
    for (const l of replacements(e.l, target, value)) out.push({ ...e, l });
    for (const r of replacements(e.r, target, value)) out.push({ ...e, r });
  }
  return out;
}

/** The leftmost innermost reducible node. */
function firstRedex(e: BoolExpr): BoolExpr | null {
  if (e.kind === "lit") return null;
  const inner = e.kind === "not" ? firstRedex(e.x) : (firstRedex(e.l) ?? firstRedex(e.r));
  return inner ?? (reduce(e) !== null ? e : null);
}

function booleanSteps(expr: BoolExpr): string[] {
  const steps: string[] = [];
  let e = expr;
  while (e.kind !== "lit") {
    const redex = firstRedex(e)!;
    const value = reduce(redex)!;
    e = replacements(e, showBool(redex), value)[0]!;
    const lit = value ? "True" : "False";
    steps.push(e.kind === "lit" ? `${showBool(redex)} = ${lit}.` : `${showBool(redex)} = ${lit}, so ${showBool(e)}.`);
  }
  return steps;
}

function checkBoolean(expr: BoolExpr, steps: string[]): StepVerdict {
  let e = expr;
  for (let k = 0; k < steps.length; k++) {
    const m = /^(.+?) = (True|False)(?:, so (.+?))?\.?$/.exec(steps[k]!);
    const redex = m && parseBool(m[1]!);
    if (!m || !redex)
      return verdict([{ step: k, reason: `expected "<sub-expression> = True|False, so <rest>.", got "${steps[k]}"` }]);
    const value = reduce(redex);
    if (value === null) return verdict([{ step: k, reason: `"${m[1]}" is not one operation on literals` }]);
    if ((value ? "True" : "False") !== m[2])
      return verdict([{ step: k, reason: `${showBool(redex)} is ${value ? "True" : "False"}` }]);
    const options = replacements(e, showBool(redex), value).map(showBool);
    if (options.length === 0)
      return verdict([{ step: k, reason: `"${showBool(redex)}" does not occur in ${showBool(e)}` }]);
    const stated = m[3] === undefined ? { kind: "lit" as const, v: value } : parseBool(m[3]);
    if (!stated || !options.includes(showBool(stated))) {
      return verdict([{ step: k, reason: `reducing it in ${showBool(e)} leaves ${options[0]}, not ${m[3] ?? m[2]}` }]);
    }
    e = stated;
  }
  if (e.kind !== "lit") return verdict([{ step: steps.length, reason: `the chain stops at ${showBool(e)}` }]);
  return verdict([]);
}

function randomBool(rng: Rng, depth: number, allowNot = true): BoolExpr {
  if (depth === 0) return { kind: "lit", v: rng.int(0, 1) === 1 };
  if (allowNot && rng.float() < 0.25) return { kind: "not", x: randomBool(rng, depth - 1, false) };
  const kind = rng.pick(["and", "or"] as const);
  return { kind, l: randomBool(rng, rng.int(0, depth - 1)), r: randomBool(rng, depth - 1) };
}

/** Surface forms of an ordering puzzle and a boolean expression (wordings.ts); 0 is the default. */
export const LOGIC_WORDINGS = {
  ordering: [
    "{facts} Who is the {ask}?",
    "Who is the {ask}? {facts}",
    "{facts} Which person is the {ask}?",
    "Find the {ask} person. {facts}",
    "{facts} Name the {ask}.",
    "Facts: {facts} Question: who is the {ask}?",
    "Work out who is the {ask}. {facts}",
    "{facts} Who is the {ask}",
    "Read the facts and say who is the {ask}: {facts}",
    "{facts} What is the name of the {ask} person?",
    "Solve this puzzle. {facts} Who is the {ask}?",
  ],
  boolean: [
    "Evaluate: {expr}",
    "What is {expr}?",
    "Find the value of {expr}.",
    "Is {expr} True or False?",
    "Work out {expr}",
    "Compute the truth value of {expr}.",
    "{expr} = ?",
    "Evaluate the boolean expression {expr}",
    "Determine whether {expr} is True or False.",
    "Simplify {expr} to True or False.",
  ],
} as const;

const factsText = (s: Ordering) =>
  s.facts.map((f) => `${showRel([s.order[f.pair]!, s.order[f.pair + 1]!], f.shorter)}.`).join(" ");

export const logic: TaskGenerator<LogicStructured, LogicOptions> = {
  name: "logic",
  description: "Ordering puzzles (elimination or transitivity) and boolean expression evaluation",
  defaults: { kinds: ["ordering", "boolean"], maxPeople: 5, maxDepth: 3, orderingChain: "eliminate" },
  generate(rng, opts) {
    const o = { ...this.defaults, ...opts };
    if (!ORDERING_CHAINS.includes(o.orderingChain))
      throw new Error(
        `logic: orderingChain must be one of ${ORDERING_CHAINS.join(", ")}, got ${JSON.stringify(o.orderingChain)}`,
      );
    const kind = rng.pick(o.kinds);
    if (kind === "boolean") {
      const e = randomBool(rng, rng.int(2, Math.max(2, o.maxDepth)), false);
      const expr = showBool(e);
      const steps = booleanSteps(e);
      return {
        task: "logic",
        question: `Evaluate: ${expr}`,
        steps,
        answer: String(/(True|False)\.$/.exec(steps[steps.length - 1]!)![1]),
        structured: { kind, expr },
        canonical: JSON.stringify([kind, expr]),
      };
    }
    const n = rng.int(3, Math.max(3, o.maxPeople));
    const order = rng.shuffle([...PEOPLE]).slice(0, n);
    const facts = rng.shuffle(Array.from({ length: n - 1 }, (_, pair) => ({ pair, shorter: rng.int(0, 1) === 1 })));
    const s = { kind, order, facts, ask: rng.pick(["tallest", "shortest"] as const) };
    const text = factsText(s);
    return {
      task: "logic",
      question: `${text} Who is the ${s.ask}?`,
      steps: orderingSteps(s, o.orderingChain),
      answer: orderingAnswer(s),
      structured: s,
      canonical: JSON.stringify([kind, order, facts, s.ask]),
    };
  },
  wordings: {
    pools: LOGIC_WORDINGS,
    kindOf: (s) => s.kind,
    slots: (s): Record<string, string> =>
      s.kind === "boolean" ? { expr: s.expr } : { facts: factsText(s), ask: s.ask },
  },
  checkAnswer: checkFinalAnswer,
  checkSteps(problem, steps) {
    const s = problem.structured;
    if (s.kind === "ordering") return checkOrdering(s, steps);
    const e = parseBool(s.expr);
    if (!e) throw new Error(`logic.checkSteps: stored expression "${s.expr}" does not parse`);
    return checkBoolean(e, steps);
  },
};
