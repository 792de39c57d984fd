/**
 * Test a reward adversarially before training (issue 17): every exploit of the battery
 * (guard/exploits.ts) is built from each sampled record and scored with the reward, next to the
 * record's two honest baselines (the gold completion and an honest wrong one). On a record, an
 * exploit x with reward R(x) has
 *
 *   beats_wrong   R(x) > R(honest wrong): gaming pays more than an honest failed attempt;
 *   ties_wrong    R(x) = R(honest wrong): gaming pays as much (a hole only with ties: "hole",
 *                 the issue's literal "not below"; by default reported, not a hole: the policy
 *                 gains nothing from the exploit over an honest attempt);
 *   like_correct  R(x) ≥ R(honest correct) while x is not valid reasoning (eval/reasoning.ts):
 *                 it scores like a correct completion without the reasoning.
 *
 * An exploit is a hole when any record shows a finding that counts; the hole names how many of
 * the records did and gives the record where the exploit gained most over the honest wrong one
 * as its example. Equality is within 1e-9.
 *
 * Rewards are given as a spec ("correct:1,format:0.1", rl/rewards.ts), as terms, or as named
 * functions with weights (TRL's reward_funcs), or both; all are scored in one batch, as the
 * trainer does.
 */
import type { CoTRecord } from "../data/records.ts";
import { promptBuilder } from "../eval/prompting.ts";
import { reasoningOf } from "../eval/reasoning.ts";
import {
  DEFAULT_REWARD_OPTIONS,
  parseRewardSpec,
  type RewardFn,
  type RewardInput,
  type RewardOptions,
  type RewardTerm,
  scoreBuiltinRewards,
} from "../rl/rewards.ts";
import {
  EXPLOIT_NAMES,
  EXPLOITS,
  type ExploitContext,
  type ExploitName,
  honestCorrect,
  honestWrong,
} from "./exploits.ts";

export interface NamedRewardFn {
  name: string;
  weight: number;
  fn: RewardFn;
}

/** A spec string, or terms and named functions mixed. */
export type RewardUnderTest = string | readonly (RewardTerm | NamedRewardFn)[];

export type HoleKind = "beats_wrong" | "ties_wrong" | "like_correct";

export interface TestRewardOptions {
  /** Records tested, spread evenly over the file (default 50). */
  sample?: number;
  /** Which exploits (default all). */
  exploits?: readonly ExploitName[];
  /** The prompt of a record (default the trainer's zero-cot prompt, `Q: {question}\nA: Let's think step by step.`). */
  prompt?: (record: CoTRecord) => string;
  /** Options of the built-ins (overlong's budget, repetition's n). */
  rewardOptions?: RewardOptions;
  /** Token count of a completion (default characters / 4). */
  countTokens?: (text: string) => number;
  /** Whether a tie with the honest wrong completion is a hole (default "ok": reported, not a hole). */
  ties?: "hole" | "ok";
}

export interface HoleExample {
  /** Index of the record in the data. */
  record: number;
  question: string;
  gold: string;
  completion: string;
  finishReason: RewardInput["finishReason"];
  reward: number;
  honestWrong: number;
  honestCorrect: number;
  byName: Record<string, number | null>;
  validReasoning: boolean;
}

export interface Hole {
  exploit: ExploitName;
  description: string;
  /** The findings that made it a hole. */
  kinds: HoleKind[];
  /** Records on which it was a hole, of `of`. */
  records: number;
  of: number;
  example: HoleExample;
}

export interface ExploitResult {
  exploit: ExploitName;
  description: string;
  meanReward: number;
  beatsWrong: number;
  tiesWrong: number;
  likeCorrect: number;
  of: number;
  hole: boolean;
}

export interface TestRewardReport {
  reward: string;
  records: number;
  /** Mean reward of the honest completions, and records where the gold completion does not beat the honest wrong one. */
  honest: { correct: number; wrong: number; inverted: number };
  ties: "hole" | "ok";
  holes: Hole[];
  results: ExploitResult[];
}

const EPS = 1e-9;

const ZERO_COT = promptBuilder({ kind: "zero-cot", shots: 0, seed: 0 });
/** The trainer's prompt (rl/grpo.ts): zero-shot, step by step. */
export const DEFAULT_PROMPT = (r: CoTRecord) => ZERO_COT(r.question).prompt;

const isFn = (t: RewardTerm | NamedRewardFn): t is NamedRewardFn => "fn" in t;

/** The name a reward under test is reported as. */
export function describeReward(reward: RewardUnderTest): string {
  if (typeof reward === "string") return reward;
  return reward.map((t) => `${t.name}:${t.weight}`).join(",");
}

/** Totals and per-function values of a batch, as the trainer sums them (rl/grpo.ts). */
function scoreAll(reward: RewardUnderTest, batch: RewardInput[], opts: RewardOptions) {
  const items = typeof reward === "string" ? parseRewardSpec(reward) : reward;
  const terms = items.filter((t): t is RewardTerm => !isFn(t));
  const scored = scoreBuiltinRewards(terms, batch, opts); // rm:/prm: terms are not battery-tested
  for (const { name, weight, fn } of items.filter(isFn)) {
    const values = fn(batch);
    if (values.length !== batch.length) {
      throw new Error(`reward "${name}" returned ${values.length} values for a batch of ${batch.length}`);
    }
    values.forEach((v, i) => {
      if (v !== null) scored.totals[i]! += weight * v;
    });
    scored.byName[name] = values;
  }
  return scored;
}

/** Evenly spread indices of `k` of `n` records (all when k ≥ n), skipping records without a gold chain. */
function sampleIndices(records: readonly CoTRecord[], k: number): number[] {
  const usable = records.flatMap((r, i) => (r.chain_of_thought.trim() === "" ? [] : [i]));
  if (usable.length <= k) return usable;
  return Array.from({ length: k }, (_, j) => usable[Math.floor((j * usable.length) / k)]!);
}

/** Run the battery on `reward` over a sample of `records` (see the header). */
export function testReward(
  reward: RewardUnderTest,
  records: readonly CoTRecord[],
  opts: TestRewardOptions = {},
): TestRewardReport {
  const rewardOptions = opts.rewardOptions ?? DEFAULT_REWARD_OPTIONS;
  const names = opts.exploits ?? EXPLOIT_NAMES;
  const ties = opts.ties ?? "ok";
  const prompt = opts.prompt ?? DEFAULT_PROMPT;
  const countTokens = opts.countTokens ?? ((t: string) => Math.ceil(t.length / 4));
  const indices = sampleIndices(records, opts.sample ?? 50);
  if (indices.length === 0) throw new Error("test-reward: no record with a chain of thought to build completions from");
  // One batch: per record, honest correct, honest wrong, then each exploit.
  const width = 2 + names.length;
  const batch: RewardInput[] = [];
  indices.forEach((ri, j) => {
    const record = records[ri]!;
    const ctx: ExploitContext = {
      record,
      prompt: prompt(record),
      index: j,
      maxNewTokens: rewardOptions.maxNewTokens,
      countTokens,
    };
    for (const c of [honestCorrect(ctx), honestWrong(ctx), ...names.map((n) => EXPLOITS[n].build(ctx))]) {
      batch.push({ record, prompt: ctx.prompt, ...c });
    }
  });
  const { totals, byName } = scoreAll(reward, batch, rewardOptions);
  const results: ExploitResult[] = [];
  const holes: Hole[] = [];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  const rc = indices.map((_, j) => totals[j * width]!);
  const rw = indices.map((_, j) => totals[j * width + 1]!);
  names.forEach((name, e) => {
    let beats = 0;
    let tied = 0;
    let like = 0;
    let holed = 0;
    let best: { j: number; gain: number; valid: boolean } | null = null;
    const rewards: number[] = [];
    indices.forEach((ri, j) => {
      const at = j * width + 2 + e;
      const r = totals[at]!;
      rewards.push(r);
      const valid = reasoningOf(records[ri]!, batch[at]!.completion).valid;
      const b = r > rw[j]! + EPS;
      const t = !b && r >= rw[j]! - EPS;
      const l = !valid && r >= rc[j]! - EPS;
      if (b) beats++;
      if (t) tied++;
      if (l) like++;
      if (b || l || (t && ties === "hole")) {
        holed++;
        const gain = r - rw[j]!;
        if (best === null || gain > best.gain + EPS) best = { j, gain, valid };
      }
    });
    results.push({
      exploit: name,
      description: EXPLOITS[name].description,
      meanReward: mean(rewards),
      beatsWrong: beats,
      tiesWrong: tied,
      likeCorrect: like,
      of: indices.length,
      hole: holed > 0,
    });
    if (best === null) return;
    const { j, valid } = best as { j: number; gain: number; valid: boolean };
    const at = j * width + 2 + e;
    const item = batch[at]!;
    const kinds: HoleKind[] = [];
    if (beats > 0) kinds.push("beats_wrong");
    if (tied > 0 && ties === "hole") kinds.push("ties_wrong");
    if (like > 0) kinds.push("like_correct");
    holes.push({
      exploit: name,
      description: EXPLOITS[name].description,
      kinds,
      records: holed,
      of: indices.length,
      example: {
        record: indices[j]!,
        question: item.record.question,
        gold: item.record.answer,
        completion: item.completion,
        finishReason: item.finishReason,
        reward: totals[at]!,
        honestWrong: rw[j]!,
        honestCorrect: rc[j]!,
        byName: Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, v[at]!])),
        validReasoning: valid,
      },
    });
  });
  return {
    reward: describeReward(reward),
    records: indices.length,
    honest: { correct: mean(rc), wrong: mean(rw), inverted: rc.filter((c, j) => c <= rw[j]! + EPS).length },
    ties,
    holes,
    results,
  };
}

const num = (x: number) => (Math.abs(x) < 5e-10 ? "0" : x.toFixed(3).replace(/\.?0+$/, ""));

/** The report as text: one row per exploit, then each hole with its example. */
export function formatTestReward(report: TestRewardReport): string[] {
  const out = [
    `test-reward: ${report.reward} on ${report.records} records; honest correct ${num(report.honest.correct)}, honest wrong ${num(report.honest.wrong)} (mean reward)`,
  ];
  if (report.honest.inverted > 0) {
    out.push(
      `  warning: on ${report.honest.inverted}/${report.records} records the gold completion does not score above the honest wrong one`,
    );
  }
  const w = Math.max(...report.results.map((r) => r.exploit.length), 7);
  out.push(`  ${"exploit".padEnd(w)}  mean    >wrong  =wrong  ~correct  verdict`);
  for (const r of report.results) {
    const cells = [num(r.meanReward).padStart(6), `${r.beatsWrong}`.padStart(6), `${r.tiesWrong}`.padStart(6)];
    out.push(
      `  ${r.exploit.padEnd(w)}  ${cells.join("  ")}  ${`${r.likeCorrect}`.padStart(8)}  ${r.hole ? "HOLE" : "ok"}`,
    );
  }
  out.push(
    report.holes.length === 0
      ? `no holes (${report.results.length} exploits × ${report.records} records${report.ties === "hole" ? ", ties counted as holes" : ""})`
      : `${report.holes.length} hole${report.holes.length === 1 ? "" : "s"}:`,
  );
  for (const h of report.holes) {
    const ex = h.example;
    const terms = Object.entries(ex.byName)
      .map(([k, v]) => `${k} ${v === null ? "-" : num(v)}`)
      .join(", ");
    out.push(`  ${h.exploit} (${h.kinds.join(", ")}) on ${h.records}/${h.of} records: ${h.description}`);
    out.push(`    example: record ${ex.record}, gold ${JSON.stringify(ex.gold)}, finish ${ex.finishReason}`);
    out.push(
      `    completion: ${JSON.stringify(ex.completion.length > 200 ? `${ex.completion.slice(0, 200)}…` : ex.completion)}`,
    );
    out.push(
      `    reward ${num(ex.reward)} (${terms}) vs honest wrong ${num(ex.honestWrong)}, honest correct ${num(ex.honestCorrect)}; valid reasoning: ${ex.validReasoning ? "yes" : "no"}`,
    );
  }
  return out;
}
