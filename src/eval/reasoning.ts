/**
 * "Valid reasoning" of one completion, the one definition the strict rewards (rl/rewards.ts) and
 * the reward battery (guard/test-reward.ts) share, built on the step checker (steps.ts):
 *
 *   chain    the completion without its answer lines (score.ts chainOf);
 *   checker  the record's task checker when the record carries its problem (meta.task and
 *            meta.structured: data/tasks problemFromRecord), else the generic checker;
 *   valid    the chain has at least one step and the checker accepts the chain; with the generic
 *            checker, at least one arithmetic claim must also be checked (a chain of claim-free
 *            sentences, "Let me think.", gives it nothing to verify, so it is not valid reasoning);
 *   credited the steps before the first invalid one (a step after an error stands on it); with
 *            the generic checker a step is credited only when it carries a checked claim.
 *
 * A task checker that reports "stops short of the answer" (firstInvalid = number of steps)
 * marks the chain invalid with every given step credited.
 */
import type { CoTRecord } from "../data/records.ts";
import { problemFromRecord, TASKS } from "../data/tasks/index.ts";
import { chainOf, taskOf } from "./score.ts";
import { checkChain, taskCheckers } from "./steps.ts";

export interface ReasoningVerdict {
  valid: boolean;
  /** Why not (null when valid). */
  reason: string | null;
  /** "generic" or "task:NAME". */
  checker: string;
  /** Steps the checker saw. */
  steps: number;
  /** Steps credited (see the header). */
  credited: number;
}

const CHECKERS = taskCheckers(Object.values(TASKS));

/** Judge the reasoning of `completion` for `record` (see the header). */
export function reasoningOf(record: CoTRecord, completion: string): ReasoningVerdict {
  const chain = chainOf(completion);
  const problem = problemFromRecord(record);
  const v = checkChain(
    { question: record.question, chain, task: taskOf(record), ...(problem ? { problem } : {}) },
    { checkers: CHECKERS },
  );
  const n = v.steps.length;
  if (n === 0) return { valid: false, reason: "no steps before the answer", checker: v.checker, steps: 0, credited: 0 };
  if (v.checker !== "generic") {
    const credited = v.valid ? n : Math.min(v.firstInvalid ?? 0, n);
    return { valid: v.valid, reason: v.reason, checker: v.checker, steps: n, credited };
  }
  let credited = 0;
  for (const s of v.steps) {
    if (!s.valid) break;
    if (s.claims.some((c) => c.status !== "skipped")) credited++;
  }
  if (!v.valid) return { valid: false, reason: v.reason, checker: v.checker, steps: n, credited };
  if (v.checkedClaims === 0) {
    return {
      valid: false,
      reason: "no step makes a claim the checker can verify",
      checker: v.checker,
      steps: n,
      credited,
    };
  }
  return { valid: true, reason: null, checker: v.checker, steps: n, credited };
}
