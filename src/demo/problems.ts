/**
 * The demo's problems, drawn the same way everywhere they are needed (the demo's data stage,
 * and the validation file on which later runs such as `stepwise rl` choose their settings):
 *
 *   train       train-split problems, seed s                (2× drawn, first N that fit)
 *   test        held-out-split problems, seed s + 1          (3× drawn, first 300 that fit)
 *   validation  held-out-split problems, seed s + 2, none of the test ones (4× drawn, first n that fit):
 *               300 for `stepwise demo --validation`, VALIDATION_PROBLEMS in data/validation.jsonl
 *               (the generator is prefix-stable, so the first 300 of those are the same 300)
 *
 * Each set can also be read in another wording (`wordings`): the same problems, in the same
 * order, with each question rewritten in a template of that part of the wording pool. Which
 * problems are kept is decided on the generators' own wording, so the held-out problems are the
 * same ones in every wording (the generator draws a problem's wording from a stream of its own).
 *
 * "Fit" is the demo's length rule: prompt + chain-of-thought target + EOS within seqLen + 1
 * tokens of the demo's tokenizer, so every problem can be answered within the budget the
 * models were trained with. Validation and test therefore come from one distribution.
 */
import type { CoTRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
import type { WordingChoice } from "../data/tasks/wordings.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { qaExample } from "../train/sft-data.ts";
import type { DemoSettings } from "./settings.ts";
import { DemoError } from "./stages.ts";

/**
 * Validation problems in data/validation.jsonl. On 300, one paired difference has a standard error
 * of ≈ 2.5 points, and the logic task's mostly guessed answers swing by more than that between
 * two draws (README, issue 15's fifth try), so settings are compared on 1,000.
 */
export const VALIDATION_PROBLEMS = 1000;

const problemKey = (r: CoTRecord) => `${String(r.meta?.task)}\u0000${String(r.meta?.canonical)}`;

/** Candidates for the training set (twice what is needed, for the length filter); cheap and deterministic. */
export function trainCandidates(s: DemoSettings): CoTRecord[] {
  return generateDataset({
    tasks: s.tasks,
    options: s.taskOptions,
    n: 2 * s.trainProblems,
    seed: s.seed,
    split: "train",
    wordings: s.wordings,
  });
}

/** Does the worked solution fit in the demo's sequence length (prompt + target + EOS, as sft tokenises)? */
function fitsDemo(s: DemoSettings, tokenizer: Tokenizer): (r: CoTRecord) => boolean {
  return (r) => {
    const { prompt, target } = qaExample(r, false);
    const n =
      tokenizer.encode(prompt, { addSpecialTokens: true }).length +
      tokenizer.encode(target, { addSpecialTokens: false }).length +
      1;
    return n <= s.seqLen + 1;
  };
}

/** The indices of the first n of `records` that fit; `what` names the set in the log line and the error. */
function fittingIndices(
  s: DemoSettings,
  tokenizer: Tokenizer,
  records: readonly CoTRecord[],
  n: number,
  what: string,
  log?: (line: string) => void,
): number[] {
  const fits = fitsDemo(s, tokenizer);
  const kept = records.flatMap((r, i) => (fits(r) ? [i] : []));
  if (kept.length < n) {
    throw new DemoError(
      `demo: only ${kept.length} of ${records.length} generated ${what} problems have a worked solution that fits in ` +
        `seqLen ${s.seqLen} tokens, ${n} needed; raise seqLen or use shorter problems (taskOptions)`,
    );
  }
  log?.(`  ${what}: kept ${n} of the ${kept.length}/${records.length} problems that fit in ${s.seqLen} tokens`);
  return kept.slice(0, n);
}

/** The first n of `records` that fit; `what` names the set in the log line and the error. */
export function takeFitting(
  s: DemoSettings,
  tokenizer: Tokenizer,
  records: CoTRecord[],
  n: number,
  what: string,
  log?: (line: string) => void,
): CoTRecord[] {
  return fittingIndices(s, tokenizer, records, n, what, log).map((i) => records[i]!);
}

/**
 * The held-out problems: the test set (s.heldout of them), or `n` validation problems (default
 * s.heldout), disjoint from the test set by task and canonical form; in `wordings` (the
 * generators' own by default), the same problems in the same order whichever wording.
 */
export function heldoutProblems(
  s: DemoSettings,
  tokenizer: Tokenizer,
  which: DemoSettings["evalSet"],
  log?: (line: string) => void,
  n = s.heldout,
  wordings: WordingChoice = "default",
): CoTRecord[] {
  const gen = { tasks: s.tasks, options: s.taskOptions };
  const draw = (count: number, seed: number, w: WordingChoice) =>
    generateDataset({ ...gen, n: count, seed, split: "test", wordings: w });
  // Problems are chosen on the default wording, then read in the wording asked for.
  const inWording = (drawn: CoTRecord[], indices: number[], count: number, seed: number): CoTRecord[] => {
    if (wordings === "default") return indices.map((i) => drawn[i]!);
    const worded = draw(count, seed, wordings);
    return indices.map((i) => {
      const r = worded[i]!;
      if (r.meta?.canonical !== drawn[i]!.meta?.canonical)
        throw new DemoError(`demo: the ${wordings} wording of held-out problem ${i} is another problem`);
      return r;
    });
  };
  const heldCandidates = draw(3 * s.heldout, s.seed + 1, "default");
  const testIdx = fittingIndices(s, tokenizer, heldCandidates, s.heldout, "held-out", log);
  if (which === "test") return inWording(heldCandidates, testIdx, 3 * s.heldout, s.seed + 1);
  const testKeys = new Set(testIdx.map((i) => problemKey(heldCandidates[i]!)));
  const drawn = draw(4 * n, s.seed + 2, "default");
  const fresh = drawn.map((r, i) => (testKeys.has(problemKey(r)) ? -1 : i)).filter((i) => i >= 0);
  const kept = fittingIndices(
    s,
    tokenizer,
    fresh.map((i) => drawn[i]!),
    n,
    "validation",
    log,
  ).map((j) => fresh[j]!);
  return inWording(drawn, kept, 4 * n, s.seed + 2);
}
