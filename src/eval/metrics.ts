/**
 * Answer metrics: exact match / accuracy with a per-task breakdown and Wilson intervals, the unbiased
 * pass@k estimator, and self-consistency majority voting (maj@k).
 *
 *   pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1 and Fig. 3):
 *     with n samples of which c are correct,  pass@k = 1 − C(n−c, k) / C(n, k),
 *     computed as the product 1 − ∏_{i=n−c+1}^{n} (1 − k/i), which never forms a large binomial.
 *   maj@k (Wang et al. 2023, "Self-Consistency Improves Chain of Thought Reasoning"): the most frequent
 *     answer among the first k sampled chains; the prediction is correct when that answer matches gold.
 *   Wilson score interval (Wilson 1927) for a binomial proportion p̂ = c/n:
 *     (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n).
 */

import { type AnswerTask, answersMatch, canonicalAnswer } from "../data/answer/index.ts";

/** A two-sided confidence interval. */
export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for `correct` successes out of `n` (z = 1.96 for 95%). n = 0 gives [0, 1]. */
export function wilsonInterval(correct: number, n: number, z = 1.96): Interval {
  if (!Number.isInteger(n) || n < 0 || correct < 0 || correct > n) {
    throw new Error(`wilsonInterval: need 0 <= correct <= n, got correct=${correct}, n=${n}`);
  }
  if (n === 0) return { lo: 0, hi: 1 };
  const p = correct / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = p + z2 / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lo: Math.max(0, (centre - half) / denom), hi: Math.min(1, (centre + half) / denom) };
}

/** One scored example: which task it belongs to and whether it was answered correctly. */
export interface ScoredItem {
  task: string;
  correct: boolean;
}

export interface AccuracyReport {
  n: number;
  correct: number;
  /** correct / n (0 when n = 0). */
  accuracy: number;
  /** 95% Wilson interval of the accuracy. */
  ci: Interval;
}

/** Accuracy overall and per task (keys sorted), each with a 95% Wilson interval. */
export function accuracy(items: readonly ScoredItem[]): AccuracyReport & { byTask: Record<string, AccuracyReport> } {
  const report = (list: readonly ScoredItem[]): AccuracyReport => {
    const correct = list.filter((x) => x.correct).length;
    return {
      n: list.length,
      correct,
      accuracy: list.length ? correct / list.length : 0,
      ci: wilsonInterval(correct, list.length),
    };
  };
  const groups = new Map<string, ScoredItem[]>();
  for (const it of items) {
    const g = groups.get(it.task);
    if (g) g.push(it);
    else groups.set(it.task, [it]);
  }
  const byTask: Record<string, AccuracyReport> = {};
  for (const task of [...groups.keys()].sort()) byTask[task] = report(groups.get(task)!);
  return { ...report(items), byTask };
}

/** Exact match of an extracted prediction against gold (1 or 0), with the task's normalisation. */
export function exactMatch(pred: string | null, gold: string, task: AnswerTask): number {
  return answersMatch(pred, gold, { task }) ? 1 : 0;
}

/**
 * Unbiased pass@k from n samples with c correct: 1 − C(n−c, k)/C(n, k), in Chen et al.'s product form
 * 1 − ∏_{i=n−c+1}^{n} (1 − k/i). Equals 1 when n − c < k (every k-subset contains a correct sample).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (![n, c, k].every(Number.isInteger) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new Error(`passAtK: need integers 0 <= c <= n and 1 <= k <= n, got n=${n}, c=${c}, k=${k}`);
  }
  if (n - c < k) return 1;
  let prodFail = 1; // C(n−c, k)/C(n, k) = ∏_{i=n−c+1}^{n} (1 − k/i)
  for (let i = n - c + 1; i <= n; i++) prodFail *= 1 - k / i;
  return 1 - prodFail;
}

/** Mean pass@k over problems, each given as {n, c}. */
export function meanPassAtK(problems: readonly { n: number; c: number }[], k: number): number {
  if (problems.length === 0) return 0;
  return problems.reduce((s, p) => s + passAtK(p.n, p.c, k), 0) / problems.length;
}

export interface MajorityVote {
  /** The winning answer as first written among its group, or null when every sample abstained. */
  answer: string | null;
  /** Canonical form of the winner (what the votes were grouped by). */
  key: string | null;
  /** Votes for the winner. */
  votes: number;
  /** Samples that produced an answer (null answers abstain). */
  voters: number;
  /** Votes per canonical answer, in order of first appearance. */
  counts: Map<string, number>;
}

/**
 * Majority vote over sampled answers. Answers are grouped by `canonicalAnswer(a, task)` so "0.5" and
 * "1/2" vote together; null answers (nothing extracted) abstain. Ties go to the answer whose first vote
 * came EARLIEST in the sample order — deterministic and independent of Map or sort internals.
 */
export function majorityVote(answers: readonly (string | null)[], task: AnswerTask): MajorityVote {
  const counts = new Map<string, number>();
  const first = new Map<string, string>();
  for (const a of answers) {
    if (a === null) continue;
    const key = canonicalAnswer(a, task);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (!first.has(key)) first.set(key, a);
  }
  let key: string | null = null;
  let votes = 0;
  for (const [k, v] of counts) {
    if (v > votes) {
      key = k;
      votes = v; // strict ">" keeps the earliest key on ties (Map iterates in insertion order)
    }
  }
  const voters = [...counts.values()].reduce((s, v) => s + v, 0);
  return { answer: key === null ? null : first.get(key)!, key, votes, voters, counts };
}

/** maj@k: 1 when the majority answer of the first k samples matches gold, else 0. */
export function majAtK(answers: readonly (string | null)[], gold: string, task: AnswerTask, k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > answers.length) {
    throw new Error(`majAtK: need 1 <= k <= answers.length (${answers.length}), got k=${k}`);
  }
  return answersMatch(majorityVote(answers.slice(0, k), task).answer, gold, { task }) ? 1 : 0;
}
