/**
 * Step checking: does each step of a chain of thought compute what it claims,
 * and does it follow from what came before?
 *
 *   splitSteps(chain, {sentences})      → steps: non-empty lines, answer lines dropped; sentences when
 *                                         the chain is one line (data/tasks/types.ts, shared with the tasks)
 *   findClaims(step)                    → arithmetic claims `e₀ = e₁ (= e₂ …)` found in the text (step-claims.ts,
 *                                         over the tokens of step-lexer.ts)
 *   numbersIn(text)                     → the numbers a text gives later steps (step-numbers.ts)
 *   checkChain({question, chain}, opts) → per-step verdicts, chain validity, first invalid step + reason (here)
 *
 * A claim is an equality between two expressions written in the text: `a op b = c`,
 * chains `a + b - c = d`, `(a + b) × c = d = e`, percentages `20% of 50 = 10`. Numbers may
 * carry thousands separators (1,250), decimals (0.25, .5), a currency sign ($, €, £, ¥),
 * a percent sign, and a unit word ("5 apples + 3 apples = 8 apples"). Operators: + - − – * ×
 * · x ÷ /, and the words plus, minus, times, "divided by", "multiplied by", and "of" between
 * two numbers ("20% of 50"). Every claim is verified with EXACT rational arithmetic (the answer
 * module's Rational, data/answer/): 0.1 + 0.2 = 0.3 is true, 1/3 stays 1/3.
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

import { parseNumber, Rational } from "../data/answer/index.ts";
import { type Problem, splitSteps, type StepVerdict as TaskStepVerdict } from "../data/tasks/types.ts";
import { type Claim, findClaims } from "./step-claims.ts";
import { numbersIn } from "./step-numbers.ts";

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

const keyOf = (r: Rational) => r.toString();

function constantValue(c: number): Rational {
  const v = parseNumber(String(c), { units: false });
  if (v === null) throw new RangeError(`checkChain: constants: ${c} is not a finite decimal number`);
  return v;
}

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
        known.add(keyOf(new Rational(d)));
        known.add(keyOf(new Rational(d * place)));
      }
    }
  }
  const constants = new Set((opts.constants ?? DEFAULT_CONSTANTS).map((c) => keyOf(constantValue(c))));
  const provenance = opts.checkProvenance ?? true;
  const steps: StepVerdict[] = [];
  let checkedClaims = 0;
  for (const [index, text] of splitSteps(input.chain, { sentences: true }).entries()) {
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
          const vals = [t.value, ...(t.percent ? [t.value.div(Rational.of(100))!] : [])].map(keyOf);
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
      const steps = splitSteps(input.chain);
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
