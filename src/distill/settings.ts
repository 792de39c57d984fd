/**
 * What the distillation experiment computes (stored in settings.json): one validated config,
 * each field documented where it is declared; `--config FILE` and `--set key=value` fill it.
 * The defaults are the README's measured run: 1,200 questions, 300 held-out problems, 150 steps
 * of 32 rows per student, about 15 minutes on a quiet 2-core machine (one thread). For a quick
 * look, lower them (e.g. --set questions=64 --set heldout=60 --set steps=40 --set microBatch=16).
 */
import { z } from "zod";
import { TASK_NAMES } from "../data/tasks/index.ts";

export const DistillSettingsSchema = z.strictObject({
  seed: z.number().int().min(0).default(0),
  /** The task family (one generator): its questions, held-out problems and step checker. */
  task: z.enum(TASK_NAMES).default("algebra"),
  /** The generator's difficulty options (its `defaults` names the keys). */
  taskOptions: z.record(z.string(), z.unknown()).default({}),
  /** Training questions, given to the teacher with their gold answers only. */
  questions: z.number().int().positive().default(1200),
  /** Held-out problems evaluated (the test set, and as many validation problems for choosing settings). */
  heldout: z.number().int().positive().default(300),
  /** The teacher model folder, served with `stepwise serve` on loopback. */
  teacher: z.string().min(1).default("runs/demo/cot/final"),
  /** The base every student fine-tunes. */
  base: z.string().min(1).default("assets/demo-base"),
  /**
   * Record files whose problems are left out of the questions: the teacher's own training
   * data, so that it is asked about problems it never trained on.
   */
  exclude: z.array(z.string().min(1)).default(["runs/demo/data/train.jsonl"]),
  /** Chains asked per question (n of one request), their sampling and length. */
  k: z.number().int().min(1).max(64).default(4),
  temperature: z.number().min(0).max(2).default(0.7),
  topP: z.number().gt(0).max(1).default(1),
  maxTokens: z.number().int().positive().default(64),
  /** STaR rationalisation: ask again with the gold answer as a hint where no chain was kept. */
  rationalize: z.boolean().default(true),
  /** Teacher requests in flight (the server batches them into one generation). */
  concurrency: z.number().int().positive().default(8),
  /** Rows per batched generation of the server (its --max-batch). */
  serveBatch: z.number().int().positive().default(32),
  /** Every student: the same steps, batch, schedule and data-order seed (the demo's recipe). */
  steps: z.number().int().positive().default(150),
  microBatch: z.number().int().positive().default(32),
  seqLen: z.number().int().positive().default(96),
  padMultiple: z.number().int().positive().default(16),
  lr: z.number().positive().default(1e-3),
  warmupSteps: z.number().int().min(0).default(4),
  minLr: z.number().min(0).default(5e-5),
  weightDecay: z.number().min(0).default(0.01),
  /** Greedy evaluation: tokens per answer at most, prompts per batch. */
  maxNewTokens: z.number().int().positive().default(64),
  evalBatch: z.number().int().positive().default(60),
});

export type DistillSettings = z.infer<typeof DistillSettingsSchema>;
