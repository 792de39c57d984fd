/**
 * `stepwise eval --samples K --select …`: one greedy pass and one pass of K sampled chains per
 * problem through `evaluate` (run.ts, the batched generator), the verifier's score of every
 * sampled chain (prefs/verifier.ts, loaded once), then the pick and the side-by-side report
 * (select.ts). Thin: all the math is in select.ts.
 *
 * Each example written keeps the sampled evaluation's fields and adds `greedy_output`,
 * `greedy_correct`, `verifier_scores` (one per sample; absent for majority), `selected_index`,
 * `selected_answer` and `selected_correct`.
 */
import { DEFAULT_SCORERS, folderKind, type ScorerCache, type VerifierKind, verifierScores } from "../prefs/verifier.ts";
import { type EvalReport, type EvaluateOptions, evaluate } from "./run.ts";
import { answerTaskOf, EvalError, type EvalExample } from "./score.ts";
import { SelectError, type Selection, type SelectionReport, selectionReport } from "./select.ts";

export interface SelectEvalOptions extends EvaluateOptions {
  samples: number;
  selection: Selection;
  scorers?: ScorerCache;
  /** Called as each phase starts ("greedy", "sampling", "scoring"). */
  onPhase?: (phase: "greedy" | "sampling" | "scoring") => void;
}

export type SelectedExample = EvalExample & {
  greedy_output: string;
  greedy_correct: boolean;
  verifier_scores?: (number | null)[];
  selected_index: number | null;
  selected_answer: string | null;
  selected_correct: boolean;
};

export interface SelectEvalResult {
  selection: SelectionReport;
  /** The sampled evaluation's report (maj@k, pass@k in both extraction modes, chain metrics). */
  sampled: EvalReport;
  greedy: EvalReport;
  examples: SelectedExample[];
  seconds: { greedy: number; sampling: number; scoring: number };
}

/** weighted:DIR: the kind the folders declare (config.json stepwise_reward.kind). */
async function resolveKind(selection: Selection): Promise<Selection> {
  if (selection.kind !== "weighted" || selection.kindGiven) return selection;
  const kinds = new Set<VerifierKind>();
  for (const dir of selection.verifier.dirs) kinds.add(await folderKind(dir));
  if (kinds.size > 1) {
    throw new SelectError(
      `--select weighted:${selection.verifier.dirs.join("+")}: the ensemble mixes outcome and process models`,
    );
  }
  const kind = [...kinds][0]!;
  return { ...selection, verifier: { ...selection.verifier, kind }, kindGiven: true };
}

/** Greedy, K samples, verifier scores, picks (see the header). Does not consume the model's parameters. */
export async function evaluateWithSelection(opts: SelectEvalOptions): Promise<SelectEvalResult> {
  const { samples: k, scorers = DEFAULT_SCORERS } = opts;
  if (!(Number.isInteger(k) && k > 1)) throw new EvalError(`--select needs --samples K > 1, got ${k}`);
  const selection = await resolveKind(opts.selection);
  opts.onPhase?.("greedy");
  const greedy = await evaluate({ ...opts, samples: 1, temperature: 0 });
  opts.onPhase?.("sampling");
  const sampled = await evaluate({ ...opts, samples: k });
  const t0 = performance.now();
  let scores: (number | null)[][] | undefined;
  if (selection.kind !== "majority") {
    opts.onPhase?.("scoring");
    const prompts = sampled.examples.flatMap((e) => e.outputs!.map(() => e.prompt));
    const flat = await verifierScores(
      selection.verifier,
      prompts,
      sampled.examples.flatMap((e) => e.outputs!),
      scorers,
    );
    scores = sampled.examples.map((_, i) => flat.slice(i * k, (i + 1) * k));
  }
  const seconds = { greedy: greedy.report.seconds, sampling: sampled.report.seconds, scoring: 0 };
  seconds.scoring = (performance.now() - t0) / 1000;
  const { report, picks } = selectionReport(
    sampled.examples.map((e, i) => ({
      gold: e.gold,
      task: answerTaskOf(opts.records[i]!),
      greedyCorrect: greedy.examples[i]!.correct_strict,
      candidates: {
        answers: e.sampled!.extracted_strict,
        correct: e.sampled!.correct_strict,
        ...(scores ? { scores: scores[i]! } : {}),
      },
    })),
    selection,
    { seed: opts.seed ?? 0 },
  );
  const examples = sampled.examples.map(
    (e, i): SelectedExample => ({
      ...e,
      greedy_output: greedy.examples[i]!.output,
      greedy_correct: greedy.examples[i]!.correct_strict,
      ...(scores ? { verifier_scores: scores[i]! } : {}),
      selected_index: picks[i]!.index,
      selected_answer: picks[i]!.answer,
      selected_correct: picks[i]!.correct,
    }),
  );
  return { selection: report, sampled: sampled.report, greedy: greedy.report, examples, seconds };
}
