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
 * "Fit" is the demo's length rule: prompt + chain-of-thought target + EOS within seqLen + 1
 * tokens of the demo's tokenizer, so every problem can be answered within the budget the
 * models were trained with. Validation and test therefore come from one distribution.
 */
import type { CoTRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
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

/** The first n of `records` that fit; `what` names the set in the log line and the error. */
export function takeFitting(
  s: DemoSettings,
  tokenizer: Tokenizer,
  records: CoTRecord[],
  n: number,
  what: string,
  log?: (line: string) => void,
): CoTRecord[] {
  const kept = records.filter(fitsDemo(s, tokenizer));
  if (kept.length < n) {
    throw new DemoError(
      `demo: only ${kept.length} of ${records.length} generated ${what} problems have a worked solution that fits in ` +
        `seqLen ${s.seqLen} tokens, ${n} needed; raise seqLen or use shorter problems (taskOptions)`,
    );
  }
  log?.(`  ${what}: kept ${n} of the ${kept.length}/${records.length} problems that fit in ${s.seqLen} tokens`);
  return kept.slice(0, n);
}

/**
 * The held-out problems: the test set (s.heldout of them), or `n` validation problems (default
 * s.heldout), disjoint from the test set by task and canonical form.
 */
export function heldoutProblems(
  s: DemoSettings,
  tokenizer: Tokenizer,
  which: DemoSettings["evalSet"],
  log?: (line: string) => void,
  n = s.heldout,
): CoTRecord[] {
  const gen = { tasks: s.tasks, options: s.taskOptions };
  const heldCandidates = generateDataset({ ...gen, n: 3 * s.heldout, seed: s.seed + 1, split: "test" });
  const test = takeFitting(s, tokenizer, heldCandidates, s.heldout, "held-out", log);
  if (which === "test") return test;
  const testKeys = new Set(test.map(problemKey));
  const drawn = generateDataset({ ...gen, n: 4 * n, seed: s.seed + 2, split: "test" });
  return takeFitting(
    s,
    tokenizer,
    drawn.filter((r) => !testKeys.has(problemKey(r))),
    n,
    "validation",
    log,
  );
}
