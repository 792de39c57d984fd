/**
 * The shapes the demo writes (runs/demo/summary.json) and the report reads.
 *
 * Three fine-tunings of the same base on the same training problems, differing only in
 * the training targets:
 *   direct  the answer line only                       ("#### 42")
 *   cot     the chain of thought, then the answer line ("x - 5 = 5. ... #### 10")
 *   mixed   half direct, half chain of thought, with varied instruction phrasings
 */
import type { EvalExample } from "../eval/score.ts";
import type { Machine } from "../runs/version.ts";

export const VARIANTS = ["direct", "cot", "mixed"] as const;
export type Variant = (typeof VARIANTS)[number];

/** One variant's row of the results table (summary.json → results[variant]). */
export interface VariantResult {
  /** Strict answer accuracy on the held-out problems: the "#### N" line equals the gold answer. */
  accuracy_strict: number;
  /** Flexible: the last number / answer-like span of the output equals the gold answer. */
  accuracy_flexible: number;
  /**
   * Strict accuracy on the same held-out problems asked in held-out wordings of the wording pool,
   * which no training saw (absent from summaries written before it was measured).
   */
  accuracy_heldout_wordings?: number;
  /** Strict accuracy, as generated minus in held-out wordings, paired by problem. */
  wording_drop?: CotVsDirect;
  /** Share of held-out outputs whose every step checks out and reaches the answer (task checkers). */
  step_validity: number;
  /** Corpus BLEU (0–100) of generated chains against the reference chains. */
  bleu: number;
  /** Mean ROUGE-L F-measure (0–1) of generated chains against the reference chains. */
  rougeL: number;
  /** Target tokens the run trained on (Σ loss-mask over every step). */
  train_tokens: number;
  /** Wall time of the fine-tuning (not the evaluation), seconds. */
  seconds: number;
}

/** A difference of accuracies (chain of thought − direct) and its paired bootstrap interval. */
export interface CotVsDirect {
  diff: number;
  lo: number;
  hi: number;
  level: number;
  resamples: number;
  method: string;
}

/** summary.json. */
export interface DemoSummary {
  heldout: number;
  /** "test": the held-out problems the README reports; "validation": others, for choosing settings. */
  eval_set: "test" | "validation";
  seed: number;
  results: Record<Variant, VariantResult>;
  /** Strict accuracy of answering every problem with its task's most common training answer. */
  chance_accuracy: number;
  /** Chain-of-thought minus direct strict accuracy, with its bootstrap interval. */
  cot_minus_direct: CotVsDirect;
  /** Per-task strict accuracy of each variant: task → variant → accuracy. */
  by_task: Record<string, Record<Variant, number>>;
  /** Every seed the run used (data, held-out data, init, training order, evaluation). */
  seeds: Record<string, number>;
  versions: Record<string, string>;
  machine: Machine;
  /** The resolved demo settings (tasks, model sizes, steps, …). */
  settings: Record<string, unknown>;
  /** Wall time of the whole demo so far, seconds (includes resumed parts). */
  total_seconds: number;
  /** ISO date of the run's end. */
  finished: string;
}

/** One point of a training curve (metrics.jsonl). */
export interface CurvePoint {
  step: number;
  loss: number;
}

/** One held-out evaluation during training (eval.jsonl). */
export interface HeldOutPoint {
  step: number;
  loss: number;
  accuracy: number | null;
}

/** Everything the report shows about one variant. */
export interface VariantReport {
  variant: Variant;
  /** A human label, e.g. "Direct answer". */
  label: string;
  /** What the targets look like, one sentence. */
  description: string;
  result: VariantResult;
  /** Training loss per optimizer step. */
  curve: CurvePoint[];
  /** Held-out loss (and accuracy if measured) at evaluation points. */
  heldOut: HeldOutPoint[];
  /** The held-out evaluation's examples (the report picks a few to show). */
  examples: EvalExample[];
}
