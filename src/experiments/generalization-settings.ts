/**
 * What `stepwise experiment generalization` computes (stored in its summary): one validated
 * config, each field documented where it is declared; `--config FILE` and `--set key=value`
 * fill it (src/config/load.ts), and `--base`, `--steps`, `--seed` are shortcuts for three keys.
 */
import { z } from "zod";
import { defaultsOf } from "../config/load.ts";
import { TASK_NAMES } from "../data/tasks/index.ts";

const Task = z.enum(TASK_NAMES);

export const GeneralizationSettingsSchema = z.strictObject({
  seed: z.number().int().min(0).default(0),
  /** A model folder (config.json, weights, tokenizer), or a tiny model built from the seed (tests). */
  base: z
    .discriminatedUnion("kind", [
      z.strictObject({ kind: z.literal("pretrained"), dir: z.string().min(1) }),
      z.strictObject({
        kind: z.literal("scratch"),
        vocabSize: z.number().int().positive(),
        hidden: z.number().int().positive(),
        layers: z.number().int().positive(),
        heads: z.number().int().positive(),
        intermediate: z.number().int().positive(),
      }),
    ])
    .default({ kind: "pretrained", dir: "assets/varied-base" }),
  /** Task families fine-tuned on. */
  tasks: z.array(Task).min(1).default(["algebra", "code-trace"]),
  /** The family none of them fine-tunes on, evaluated zero-shot. */
  heldOutTask: Task.default("logic"),
  /** The generators' difficulty options, by task (each generator's `defaults` names the keys). */
  taskOptions: z.record(z.string(), z.record(z.string(), z.unknown())).default({ "code-trace": { maxLines: 4 } }),
  /** Training problems, the same ones (in their own wordings) for every arm. */
  trainProblems: z.number().int().positive().default(8000),
  /** Held-out problems per evaluation set. */
  evalProblems: z.number().int().positive().default(300),
  /** "test": the figures reported; "validation": other held-out problems, for choosing settings. */
  evalSet: z.enum(["test", "validation"]).default("test"),
  /** Every arm: the same steps, batch, schedule and data-order seed. */
  steps: z.number().int().positive().default(250),
  microBatch: z.number().int().positive().default(32),
  seqLen: z.number().int().positive().default(128),
  padMultiple: z.number().int().positive().default(16),
  // Chosen on validation problems (`--validation`, 400 per set; README): at 1e-3 every arm forgets
  // the held-out family (mixed 9.0%, chance 34.3%); at 3e-4 mixed drops 5.75 points on held-out
  // wordings; at 1e-4 all three acceptance lines held. Nothing here is tuned on the test problems.
  lr: z.number().positive().default(1e-4),
  warmupSteps: z.number().int().min(0).default(15),
  minLr: z.number().min(0).default(5e-6),
  weightDecay: z.number().min(0).default(0.01),
  /** The mixed arm: share of direct targets, of wrapped questions, of instruction examples, of bare prompts. */
  mixed: z
    .strictObject({
      directFraction: z.number().min(0).max(1).default(0.25),
      phrasingFraction: z.number().min(0).max(1).default(0.5),
      instructionFraction: z.number().min(0).lt(1).default(0.15),
      /** Share written bare, as the base's pretraining text was ("{question}\n" → chain and answer). */
      bareFraction: z.number().min(0).max(1).default(0),
    })
    .prefault({}),
  /** Instruction records for the mixed arm (alpaca layout). */
  instructions: z.string().min(1).default("../shared/data/alpaca_sample.json"),
  /** Greedy evaluation: tokens per answer at most, prompts per batch. */
  maxNewTokens: z.number().int().positive().default(128),
  evalBatch: z.number().int().positive().default(50),
});

export type GeneralizationSettings = z.infer<typeof GeneralizationSettingsSchema>;

/**
 * `stepwise experiment generalization` defaults: the demo's size (8,000 problems, 250 steps of 32)
 * from the base of scripts/pretrain-varied-base.ts; about 20 min on 2 cores (README has the measured time).
 */
export const GENERALIZATION_DEFAULTS: GeneralizationSettings = defaultsOf(GeneralizationSettingsSchema);

/** Seconds-long settings for the end-to-end test: every stage runs, nothing is expected to be learnt. */
export const GENERALIZATION_QUICK: GeneralizationSettings = {
  ...GENERALIZATION_DEFAULTS,
  base: { kind: "scratch", vocabSize: 400, hidden: 16, layers: 1, heads: 2, intermediate: 32 },
  trainProblems: 24,
  evalProblems: 4,
  steps: 3,
  microBatch: 4,
  seqLen: 256,
  warmupSteps: 1,
  minLr: 0,
  maxNewTokens: 12,
  evalBatch: 8,
};
