/**
 * Two numbers that say whether the demo's headline holds, from the files it wrote:
 *
 *   chance      the accuracy of a model that ignores the question and answers the most
 *               common training answer of the problem's task (the "majority class"
 *               baseline; True/False and four names make it far from 0 for logic)
 *   difference  chain-of-thought minus direct strict accuracy on the same held-out
 *               problems, with a paired bootstrap 95% interval (eval/bootstrap.ts)
 */
import type { CoTRecord } from "../data/records.ts";
import { pairedBootstrap } from "../eval/bootstrap.ts";
import type { EvalExample } from "../eval/score.ts";
import type { CotVsDirect } from "./types.ts";

const taskOf = (r: CoTRecord) => String(r.meta?.task ?? "");

/** Accuracy on `heldout` of answering each problem with its task's most common answer in `train`. */
export function majorityBaseline(train: readonly CoTRecord[], heldout: readonly CoTRecord[]): number {
  if (heldout.length === 0) return 0;
  const counts = new Map<string, Map<string, number>>();
  for (const r of train) {
    const c = counts.get(taskOf(r)) ?? new Map<string, number>();
    c.set(r.answer.trim(), (c.get(r.answer.trim()) ?? 0) + 1);
    counts.set(taskOf(r), c);
  }
  const majority = new Map<string, string>();
  for (const [task, c] of counts) {
    // Ties go to the answer seen first, so the baseline is deterministic.
    let best = "";
    let n = -1;
    for (const [answer, k] of c) if (k > n) [best, n] = [answer, k];
    majority.set(task, best);
  }
  return heldout.filter((r) => majority.get(taskOf(r)) === r.answer.trim()).length / heldout.length;
}

export const BOOTSTRAP = { resamples: 2000, seed: 0, level: 0.95 } as const;

/** Chain-of-thought minus direct strict accuracy, paired by held-out problem. */
export function cotVsDirect(direct: readonly EvalExample[], cot: readonly EvalExample[]): CotVsDirect {
  if (direct.length !== cot.length || direct.some((e, i) => e.question !== cot[i]!.question)) {
    throw new Error("cotVsDirect: the two evaluations are not of the same problems in the same order");
  }
  return pairedStrict(direct, cot);
}

/**
 * A variant's accuracy on the held-out problems as generated minus on the same problems in
 * held-out wordings (a positive drop: the wording costs accuracy), paired by problem (its id:
 * the questions differ by design).
 */
export function wordingDrop(generated: readonly EvalExample[], reworded: readonly EvalExample[]): CotVsDirect {
  if (generated.length !== reworded.length || generated.some((e, i) => e.id !== reworded[i]!.id)) {
    throw new Error("wordingDrop: the two evaluations are not of the same problems in the same order");
  }
  return pairedStrict(reworded, generated);
}

/** b − a strict accuracy with a paired bootstrap interval. */
function pairedStrict(a: readonly EvalExample[], b: readonly EvalExample[]): CotVsDirect {
  const score = (xs: readonly EvalExample[]) => xs.map((e) => (e.correct_strict ? 1 : 0));
  const r = pairedBootstrap(score(a), score(b), BOOTSTRAP);
  return {
    diff: r.diff ?? 0,
    lo: r.ci?.lo ?? 0,
    hi: r.ci?.hi ?? 0,
    level: BOOTSTRAP.level,
    resamples: BOOTSTRAP.resamples,
    method: "paired bootstrap over the held-out problems (eval/bootstrap.ts)",
  };
}
