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
 *   answer            `correct` without the reasoning gate: a finished completion whose one answer line, the
 *                     last, matches the gold answer (TRL's accuracy_reward; what `stepwise eval` scores as
 *                     strict accuracy). It has holes by design (the answer line alone earns it), so
 *                     `stepwise rl` asks for them in guard.acceptHoles; `correct:1,answer:1` pays 2 for a
 *                     reasoned correct answer and 1 for a correct answer whose chain the checker rejects
 *   format            1 if the completion holds exactly one answer line, it is the last line, it holds one answer
 *                     of the record's kind (nothing enumerated, not empty), and at least one step comes before it
 *   steps             the share of the chain's steps credited by the step checker (eval/reasoning.ts: steps
 *                     before the first invalid one; the task's own checker when the record carries its problem);
 *                     0 for a chain with no steps; null for a record no checker knows (no meta.task). A valid
 *                     chain scores credited / written steps (1 with a task checker). An invalid one scores
 *                     credited / max(written, the reference chain's steps, credited + 1), so it never scores 1:
 *                     a chain that stops short after its first easy step earned 1/1 before, and GRPO on
 *                     `correct:1,steps:1` learned exactly that (code-trace chains cut to "Line 1: b = 4.",
 *                     README, issue 15's sixth try); the battery's `stop_short` exploit checks it
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
import { ANSWER_PREFIX, splitSteps } from "../data/tasks/index.ts";
import { extractBoth, findNumbers } from "../eval/extract.ts";
import { reasoningOf } from "../eval/reasoning.ts";
import { answerTaskOf, taskOf } from "../eval/score.ts";
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

export const REWARD_KINDS = [
  "correct",
  "correct_flexible",
  "answer",
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

function correctWith(mode: "strict" | "flexible", reasoned = true): RewardFn {
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
      return !reasoned || reasoningOf(record, completion).valid ? 1 : 0;
    });
}

/** The built-in reward functions by name. */
export const REWARDS: { [K in RewardKind]: (opts: RewardOptions) => RewardFn } = {
  correct: () => correctWith("strict"),
  correct_flexible: () => correctWith("flexible"),
  answer: () => correctWith("strict", false),
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
      if (v.steps === 0) return 0;
      if (v.valid) return v.credited / v.steps;
      const reference = splitSteps(record.chain_of_thought ?? "").length;
      return v.credited / Math.max(v.steps, reference, v.credited + 1);
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

function addTerm(out: ScoredBatch, name: string, weight: number, values: (number | null)[], n: number): void {
  if (values.length !== n)
    throw new RewardError(`reward "${name}" returned ${values.length} values for a batch of ${n}`);
  values.forEach((v, i) => {
    if (v !== null) out.totals[i]! += weight * v;
  });
  out.byName[name] = values;
}

/**
 * The built-in terms of a spec only, synchronously (the exploit battery, guard/test-reward.ts,
 * runs on these); rm:/prm: terms are skipped here, since a reward model runs on the device.
 */
export function scoreBuiltinRewards(
  terms: readonly RewardTerm[],
  batch: readonly RewardInput[],
  opts: RewardOptions = DEFAULT_REWARD_OPTIONS,
): ScoredBatch {
  const out: ScoredBatch = { totals: batch.map(() => 0), byName: {} };
  for (const term of terms) {
    if (!term.verifier) addTerm(out, term.name, term.weight, REWARDS[term.name](opts)(batch), batch.length);
  }
  return out;
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
  const out: ScoredBatch = { totals: batch.map(() => 0), byName: {} };
  for (const term of terms) {
    const values = term.verifier
      ? await verifierScores(
          term.verifier,
          batch.map((b) => b.prompt),
          batch.map((b) => b.completion),
          scorers,
        )
      : REWARDS[term.name](opts)(batch);
    addTerm(out, term.name, term.weight, values, batch.length);
  }
  return out;
}

/** mean and std (ddof 0) over the non-null values; null when none applied. */
export function rewardStats(values: readonly (number | null)[]): { mean: number; std: number } | null {
  const xs = values.filter((v): v is number => v !== null);
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std };
}
