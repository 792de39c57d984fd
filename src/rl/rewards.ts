/**
 * Reward functions for RL on chain-of-thought records, one signature for all (TRL's shape):
 * a batch of {prompt, completion, record, finishReason, completionTokens} in, one
 * `number | null` per item out, where null means "does not apply" (left out of the weighted
 * sum, not counted as 0: TRL's NaN-and-nansum convention).
 *
 *   correct           1 only for a strict, finished, reasoned answer, else 0 (hardened against the exploit
 *                     battery, guard/exploits.ts): the completion ended (finish reason not "length"); it holds
 *                     exactly one answer line ("#### A"), the last non-empty line; A as a whole matches the gold
 *                     answer (so "#### 8 or 9" and "#### 3, 8" are not 8); and the chain before it is valid
 *                     reasoning (eval/reasoning.ts: at least one step, every step accepted by the step checker)
 *   correct_flexible  the same gates with flexible extraction of the answer (eval/extract.ts): no answer line
 *                     needed, but at most one, and it must hold a single answer
 *   format            1 if the completion holds exactly one answer line, it is the last line, it holds one answer
 *                     of the record's kind (nothing enumerated, not empty), and at least one step comes before it
 *   steps             the share of the chain's steps credited by the step checker (eval/reasoning.ts: steps
 *                     before the first invalid one; the task's own checker when the record carries its problem);
 *                     0 for a chain with no steps; null for a record no checker knows (no meta.task)
 *   overlong          DAPO's soft overlong punishment (Yu et al. 2025, eq. 13) over completion tokens:
 *                       0 if |y| ≤ L_max − L_cache;  (L_max − L_cache − |y|) / L_cache if |y| ≤ L_max;  −1 beyond
 *   repetition        −(1 − distinct n-grams / n-grams) over whitespace words (open-r1's repetition penalty);
 *                     null for a completion shorter than n words
 *   multiple_answers  −1 if the completion holds more than one answer line, or its answer line enumerates
 *                     candidates (two numbers for a numeric answer; "or", ",", ";", "/", "|" between words), else 0
 *   no_eos            −1 if the completion never ended (finish reason "length": cut at the budget), else 0
 *   substring         FLAWED ON PURPOSE, for the reward-hacking demo (`stepwise demo hacking`): 1 if the gold
 *                     answer appears anywhere in the completion, else 0. Enumerating candidates or scattering
 *                     digits games it; `stepwise guard test-reward --reward substring` shows the holes. Never
 *                     train on it for real.
 *
 * A reward spec names functions and weights: "correct:1,format:0.1" (a missing weight is 1).
 * The total of an item is Σ_k w_k r_k over the functions that applied; 0 when none did.
 *
 * Departure from TRL: TRL warns when every function returns None for an item and uses NaN;
 * we use 0 so advantages stay finite, and count such items in the log.
 */

import { answersMatch } from "../data/answer/index.ts";
import type { CoTRecord } from "../data/records.ts";
import { ANSWER_PREFIX, splitSteps } from "../data/tasks/index.ts";
import { extractBoth, findNumbers } from "../eval/extract.ts";
import { reasoningOf } from "../eval/reasoning.ts";
import { answerTaskOf, taskOf } from "../eval/score.ts";

export interface RewardInput {
  record: CoTRecord;
  prompt: string;
  completion: string;
  finishReason: "eos" | "stop" | "length";
  /** Completion length in tokens (overlong reads it). */
  completionTokens: number;
}

export type RewardFn = (batch: readonly RewardInput[]) => (number | null)[];

export const REWARD_KINDS = [
  "correct",
  "correct_flexible",
  "format",
  "steps",
  "overlong",
  "repetition",
  "multiple_answers",
  "no_eos",
  "substring",
] as const;
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

function answerLines(text: string): number[] {
  const lines = text.split("\n");
  const at: number[] = [];
  lines.forEach((l, i) => {
    if (l.trim().startsWith(ANSWER_PREFIX.trim())) at.push(i);
  });
  return at;
}

/** The content of the one final answer line ("#### A" → "A"), or null unless there is exactly one and it is last. */
export function finalAnswerLine(completion: string): string | null {
  const text = completion.trimEnd();
  const lines = text.split("\n");
  const at = answerLines(text);
  if (at.length !== 1 || at[0] !== lines.length - 1) return null;
  return lines[at[0]]!.trim().slice(ANSWER_PREFIX.trim().length).trim();
}

/** More than one answer: several answer lines, or candidates enumerated in the last one (see the header). */
export function enumeratesAnswers(completion: string, record: CoTRecord): boolean {
  const at = answerLines(completion);
  if (at.length > 1) return true;
  if (at.length === 0) return false;
  const content = completion.split("\n")[at[0]!]!.trim().slice(ANSWER_PREFIX.trim().length).trim();
  const task = answerTaskOf(record);
  if (task === "gsm8k" || task === "number") return findNumbers(content).length > 1;
  return /\s(?:or|and)\s|[,;|]|\w\s*\/\s*[A-Za-z]/i.test(content);
}

function correctWith(mode: "strict" | "flexible"): RewardFn {
  return (batch) =>
    batch.map(({ record, completion, finishReason }) => {
      if (finishReason === "length") return 0;
      const task = answerTaskOf(record);
      if (mode === "strict") {
        const line = finalAnswerLine(completion);
        if (line === null || !answersMatch(line, record.answer, { task })) return 0;
      } else {
        if (answerLines(completion).length > 1 || enumeratesAnswers(completion, record)) return 0;
        if (!answersMatch(extractBoth(completion, task).flexible, record.answer, { task })) return 0;
      }
      return reasoningOf(record, completion).valid ? 1 : 0;
    });
}

/** The built-in reward functions by name. */
export const REWARDS: { [K in RewardKind]: (opts: RewardOptions) => RewardFn } = {
  correct: () => correctWith("strict"),
  correct_flexible: () => correctWith("flexible"),
  format: () => (batch) =>
    batch.map(({ record, completion }) => {
      const line = finalAnswerLine(completion);
      if (line === null || line === "" || enumeratesAnswers(completion, record)) return 0;
      const task = answerTaskOf(record);
      if (task !== "text" && !answersMatch(extractBoth(`${ANSWER_PREFIX}${line}`, task).strict, line, { task }))
        return 0;
      const before = completion.trimEnd().split("\n").slice(0, -1).join("\n");
      return splitSteps(before).length > 0 ? 1 : 0;
    }),
  steps: () => (batch) =>
    batch.map(({ record, completion }) => {
      if (taskOf(record) === "default") return null;
      const v = reasoningOf(record, completion);
      return v.steps === 0 ? 0 : v.credited / v.steps;
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
  multiple_answers: () => (batch) =>
    batch.map(({ record, completion }) => (enumeratesAnswers(completion, record) ? -1 : 0)),
  no_eos: () => (batch) => batch.map(({ finishReason }) => (finishReason === "length" ? -1 : 0)),
  // Flawed on purpose (see the header): the hacking demo's proxy reward.
  substring: () => (batch) =>
    batch.map(({ record, completion }) => (completion.includes(record.answer.trim()) ? 1 : 0)),
};

export interface RewardTerm {
  name: RewardKind;
  weight: number;
}

/** "correct:1,format:0.1" → terms; errors name the term and list the known functions. */
export function parseRewardSpec(spec: string, where = "reward spec"): RewardTerm[] {
  const terms = spec
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (terms.length === 0) throw new RewardError(`${where}: empty; expected e.g. "correct:1,format:0.1"`);
  const seen = new Set<string>();
  return terms.map((t) => {
    const [name, weightText, ...rest] = t.split(":").map((s) => s.trim());
    if (!(REWARD_KINDS as readonly string[]).includes(name!)) {
      throw new RewardError(`${where}: unknown reward "${name}" in "${t}"; known: ${REWARD_KINDS.join(", ")}`);
    }
    if (rest.length > 0) throw new RewardError(`${where}: "${t}" has more than one ":"; expected name:weight`);
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (!Number.isFinite(weight))
      throw new RewardError(`${where}: weight of "${name}" is "${weightText}", not a number`);
    if (seen.has(name!)) throw new RewardError(`${where}: "${name}" appears twice`);
    seen.add(name!);
    return { name: name as RewardKind, weight };
  });
}

export interface ScoredBatch {
  /** Σ_k w_k r_k over the functions that applied (0 if none did), per item. */
  totals: number[];
  /** Each function's values, null where it did not apply. */
  byName: Record<string, (number | null)[]>;
}

/** Score a batch with every term of a spec (see the header). */
export function scoreRewards(
  terms: readonly RewardTerm[],
  batch: readonly RewardInput[],
  opts: RewardOptions = DEFAULT_REWARD_OPTIONS,
): ScoredBatch {
  const byName: Record<string, (number | null)[]> = {};
  const totals = batch.map(() => 0);
  for (const { name, weight } of terms) {
    const values = REWARDS[name](opts)(batch);
    if (values.length !== batch.length) {
      throw new RewardError(`reward "${name}" returned ${values.length} values for a batch of ${batch.length}`);
    }
    values.forEach((v, i) => {
      if (v !== null) totals[i]! += weight * v;
    });
    byName[name] = values;
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
