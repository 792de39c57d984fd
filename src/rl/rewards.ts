/**
 * Reward functions for RL on chain-of-thought records, one signature for all (TRL's shape):
 * a batch of {prompt, completion, record, finishReason, completionTokens} in, one
 * `number | null` per item out, where null means "does not apply" (left out of the weighted
 * sum, not counted as 0: TRL's NaN-and-nansum convention).
 *
 *   correct           1 if the strict answer line ("#### A") matches the gold answer, else 0
 *   correct_flexible  the same with flexible extraction (eval/extract.ts)
 *   format            1 if the completion holds exactly one answer line and it is the last line, else 0
 *   steps             the share of the chain's steps the step checker accepts; 0 for a chain with no steps;
 *                     null for a record no checker knows (no meta.task)
 *   overlong          DAPO's soft overlong punishment (Yu et al. 2025, eq. 13) over completion tokens:
 *                       0 if |y| ≤ L_max − L_cache;  (L_max − L_cache − |y|) / L_cache if |y| ≤ L_max;  −1 beyond
 *   repetition        −(1 − distinct n-grams / n-grams) over whitespace words (open-r1's repetition penalty);
 *                     null for a completion shorter than n words
 *
 *   rm:DIR            an outcome reward model's score r(prompt, completion) (prefs/reward-model.ts)
 *   prm:DIR           a process reward model's per-step scores, aggregated over the steps
 *                     (@min, the default, or @prod); null for a chain without steps
 *   rm:A+B, prm:A+B   an ensemble of reward models, aggregated @mean (default), @min or
 *                     @mean-Kstd (mean − K·std, uncertainty-penalised); the option syntax is in
 *                     prefs/verifier.ts. Reward models load once per process and are cached.
 *
 * A reward spec names functions and weights: "correct:1,format:0.1" (a missing weight is 1),
 * "correct:1,rm:runs/orm/final:0.5", "prm:runs/prm/final@prod:0.5", "rm:runs/a+runs/b@mean-1std".
 * For rm:/prm: terms the weight is the last ":NUMBER"; folders may not contain , + @ or :.
 * The total of an item is Σ_k w_k r_k over the functions that applied; 0 when none did.
 *
 * Departure from TRL: TRL warns when every function returns None for an item and uses NaN;
 * we use 0 so advantages stay finite, and count such items in the log.
 */

import { answersMatch } from "../data/answer/index.ts";
import type { CoTRecord } from "../data/records.ts";
import { ANSWER_PREFIX, splitSteps, TASKS } from "../data/tasks/index.ts";
import { extractBoth } from "../eval/extract.ts";
import { answerTaskOf, chainOf, taskOf } from "../eval/score.ts";
import { checkChain, taskCheckers } from "../eval/steps.ts";
import {
  DEFAULT_SCORERS,
  parseVerifier,
  type ScorerCache,
  VERIFIER_KINDS,
  type VerifierKind,
  type VerifierSpec,
  verifierScores,
  verifierText,
} from "../prefs/verifier.ts";

export interface RewardInput {
  record: CoTRecord;
  prompt: string;
  completion: string;
  finishReason: "eos" | "stop" | "length";
  /** Completion length in tokens (overlong reads it). */
  completionTokens: number;
}

export type RewardFn = (batch: readonly RewardInput[]) => (number | null)[];

export const REWARD_KINDS = ["correct", "correct_flexible", "format", "steps", "overlong", "repetition"] as const;
export type RewardKind = (typeof REWARD_KINDS)[number];

/** Options of the built-ins that take any (the trainer fills them from its config). */
export interface RewardOptions {
  /** overlong: L_max (the generation budget) and L_cache (the soft band before it). */
  maxNewTokens: number;
  overlongBuffer: number;
  /** repetition: n-gram size. */
  ngram: number;
}

export const DEFAULT_REWARD_OPTIONS: RewardOptions = { maxNewTokens: 128, overlongBuffer: 32, ngram: 3 };

export class RewardError extends Error {
  override name = "RewardError";
}

const CHECKERS = taskCheckers(Object.values(TASKS));

function answerLines(text: string): number[] {
  const lines = text.split("\n");
  const at: number[] = [];
  lines.forEach((l, i) => {
    if (l.trim().startsWith(ANSWER_PREFIX.trim())) at.push(i);
  });
  return at;
}

function correctWith(mode: "strict" | "flexible"): RewardFn {
  return (batch) =>
    batch.map(({ record, completion }) => {
      const task = answerTaskOf(record);
      return answersMatch(extractBoth(completion, task)[mode], record.answer, { task }) ? 1 : 0;
    });
}

/** The built-in reward functions by name. */
export const REWARDS: { [K in RewardKind]: (opts: RewardOptions) => RewardFn } = {
  correct: () => correctWith("strict"),
  correct_flexible: () => correctWith("flexible"),
  format: () => (batch) =>
    batch.map(({ completion }) => {
      const lines = completion.trimEnd().split("\n");
      const at = answerLines(completion.trimEnd());
      return at.length === 1 && at[0] === lines.length - 1 ? 1 : 0;
    }),
  steps: () => (batch) =>
    batch.map(({ record, completion }) => {
      if (taskOf(record) === "default") return null;
      const chain = chainOf(completion);
      if (splitSteps(chain).length === 0) return 0;
      const v = checkChain({ question: record.question, chain, task: taskOf(record) }, { checkers: CHECKERS });
      if (v.steps.length === 0) return 0;
      return v.steps.filter((s) => s.valid).length / v.steps.length;
    }),
  overlong:
    ({ maxNewTokens: lMax, overlongBuffer: lCache }) =>
    (batch) =>
      batch.map(({ completionTokens: n }) => {
        if (n <= lMax - lCache) return 0;
        if (n <= lMax) return (lMax - lCache - n) / lCache;
        return -1;
      }),
  repetition:
    ({ ngram }) =>
    (batch) =>
      batch.map(({ completion }) => {
        const words = completion.split(/\s+/).filter((w) => w !== "");
        if (words.length < ngram) return null;
        const grams = new Set<string>();
        const total = words.length - ngram + 1;
        for (let i = 0; i < total; i++) grams.add(words.slice(i, i + ngram).join(" "));
        return -(1 - grams.size / total);
      }),
};

/** A built-in function, or a reward model (`verifier`) logged under its canonical spec text. */
export type RewardTerm =
  | { name: RewardKind; weight: number; verifier?: undefined }
  | { name: string; weight: number; verifier: VerifierSpec };

function parseWeight(text: string | undefined, name: string, where: string): number {
  const weight = text === undefined ? 1 : Number(text);
  if (!Number.isFinite(weight) || text?.trim() === "") {
    throw new RewardError(`${where}: weight of "${name}" is "${text}", not a number`);
  }
  return weight;
}

/** "rm:DIR[+DIR][@opt][:weight]" (see the header); errors name the term. */
function parseVerifierTerm(t: string, kind: VerifierKind, where: string): RewardTerm {
  const body = t.slice(kind.length + 1);
  const colon = body.lastIndexOf(":");
  const spec = colon >= 0 ? body.slice(0, colon) : body;
  const weightText = colon >= 0 ? body.slice(colon + 1).trim() : undefined;
  let verifier: VerifierSpec;
  try {
    verifier = parseVerifier(kind, spec.trim(), where);
  } catch (err) {
    throw new RewardError((err as Error).message);
  }
  if (verifier.dirs.some((d) => d.includes(":"))) {
    throw new RewardError(`${where}: "${t}" has more than one ":" after ${kind}:DIR; expected ${kind}:DIR:weight`);
  }
  const name = verifierText(verifier);
  return { name, weight: parseWeight(weightText, name, where), verifier };
}

/** "correct:1,format:0.1,rm:runs/orm/final:0.5" → terms; errors name the term and list the known functions. */
export function parseRewardSpec(spec: string, where = "reward spec"): RewardTerm[] {
  const terms = spec
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (terms.length === 0) throw new RewardError(`${where}: empty; expected e.g. "correct:1,format:0.1"`);
  const seen = new Set<string>();
  return terms.map((t) => {
    const kind = VERIFIER_KINDS.find((k) => t.startsWith(`${k}:`));
    let term: RewardTerm;
    if (kind !== undefined) term = parseVerifierTerm(t, kind, where);
    else {
      const [name, weightText, ...rest] = t.split(":").map((s) => s.trim());
      if (!(REWARD_KINDS as readonly string[]).includes(name!)) {
        const known = [...REWARD_KINDS, "rm:DIR", "prm:DIR"].join(", ");
        throw new RewardError(`${where}: unknown reward "${name}" in "${t}"; known: ${known}`);
      }
      if (rest.length > 0) throw new RewardError(`${where}: "${t}" has more than one ":"; expected name:weight`);
      term = { name: name as RewardKind, weight: parseWeight(weightText, name!, where) };
    }
    if (seen.has(term.name)) throw new RewardError(`${where}: "${term.name}" appears twice`);
    seen.add(term.name);
    return term;
  });
}

export interface ScoredBatch {
  /** Σ_k w_k r_k over the functions that applied (0 if none did), per item. */
  totals: number[];
  /** Each function's values, null where it did not apply. */
  byName: Record<string, (number | null)[]>;
}

/**
 * Score a batch with every term of a spec (see the header). Asynchronous because reward models
 * run on the device; they load once into `scorers` (the process-wide cache by default).
 */
export async function scoreRewards(
  terms: readonly RewardTerm[],
  batch: readonly RewardInput[],
  opts: RewardOptions = DEFAULT_REWARD_OPTIONS,
  scorers: ScorerCache = DEFAULT_SCORERS,
): Promise<ScoredBatch> {
  const byName: Record<string, (number | null)[]> = {};
  const totals = batch.map(() => 0);
  for (const term of terms) {
    const values = term.verifier
      ? await verifierScores(
          term.verifier,
          batch.map((b) => b.prompt),
          batch.map((b) => b.completion),
          scorers,
        )
      : REWARDS[term.name](opts)(batch);
    if (values.length !== batch.length) {
      throw new RewardError(`reward "${term.name}" returned ${values.length} values for a batch of ${batch.length}`);
    }
    values.forEach((v, i) => {
      if (v !== null) totals[i]! += term.weight * v;
    });
    byName[term.name] = values;
  }
  return { totals, byName };
}

/** mean and std (ddof 0) over the non-null values; null when none applied. */
export function rewardStats(values: readonly (number | null)[]): { mean: number; std: number } | null {
  const xs = values.filter((v): v is number => v !== null);
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std };
}
