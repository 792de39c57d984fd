/**
 * The run configs of `stepwise rm` and `stepwise dpo`: YAML validated by zod, composed from the
 * shared blocks (config/blocks.ts: batch, optim, schedule, checkpoint, lora), with `--set k=v`
 * applied before validation (config/load.ts). Batch sizes count PAIRS: a micro-batch of B pairs
 * runs 2B rows (chosen and rejected) of batch.seqLen tokens.
 */
import { z } from "zod";
import { Batch, Checkpoint, LORA_HINTS, Lora, nonNegInt, Optim, posInt, Schedule } from "../config/blocks.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../config/load.ts";
import { TASK_NAMES } from "../data/tasks/index.ts";
import { DPO_LOSS_KINDS, DPO_LOSSES } from "./losses.ts";
import { CORRUPTIONS } from "./pairs.ts";

export class PrefsConfigError extends ConfigError {
  override name = "PrefsConfigError";
}

/** Pairs built from the task generators: gold chain vs a checker-rejected corruption (pairs.ts). */
const GeneratePairs = z.strictObject({
  /** Task generators to mix round-robin. */
  tasks: z.array(z.enum(TASK_NAMES)).min(1),
  /** Problems drawn (a problem whose chain admits no checked corruption gives no pair). */
  n: posInt,
  /** Seed of the generator and of the corruptions. */
  seed: nonNegInt.default(0),
  /** Generator split: train for training, test for held-out pairs (problems never seen in training). */
  split: z.enum(["train", "test"]),
  /** Corruption kinds (default all): leave one out of training to test generalisation to it. */
  corruptions: z
    .array(z.enum(CORRUPTIONS))
    .min(1)
    .default([...CORRUPTIONS]),
  /** Difficulty options per task (as SFT's data.generate.options). */
  options: z.partialRecord(z.enum(TASK_NAMES), z.record(z.string(), z.unknown())).optional(),
});

/**
 * Preference pairs: TRL-layout files (prompt/chosen/rejected), or generated pairs (exactly one).
 * For a process reward model (kind: process) the same source gives step-labelled chains.
 */
export const PairSource = z
  .strictObject({
    /** .jsonl / .json / .csv / .parquet files of {prompt, chosen, rejected[, margin]} rows. */
    files: z.array(z.string().min(1)).min(1).optional(),
    generate: GeneratePairs.optional(),
  })
  .refine((d) => (d.files === undefined) !== (d.generate === undefined), {
    message: "give exactly one of `files` or `generate`",
  });
export type PairSourceConfig = z.infer<typeof PairSource>;

const PairData = z.strictObject({
  train: PairSource,
  /** Held-out pairs: loss and reward accuracy at each evaluation. */
  eval: PairSource.optional(),
});

const Common = {
  /** Run name; default the config file's name. The run folder is runs/<name> unless `out` is given. */
  name: z.string().min(1).optional(),
  /** The starting model: a Hugging Face causal-LM folder (e.g. runs/demo/cot/final). */
  model: z.string().min(1),
  data: PairData,
  batch: Batch,
  optim: Optim,
  schedule: Schedule.prefault({}),
  /** Optimizer steps. Give `steps` or `epochs`. */
  steps: posInt.optional(),
  /** Or: passes over the training pairs. */
  epochs: z.number().positive().optional(),
  eval: z
    .strictObject({
      /** Evaluate the held-out pairs every N steps (and at the end); 0 = only at the end. */
      every: nonNegInt.default(0),
    })
    .prefault({}),
  checkpoint: Checkpoint.prefault({}),
  /** Seed of the head's initialisation, the data order and generated pairs. */
  seed: nonNegInt.default(0),
  /** Run folder (default runs/<name>). */
  out: z.string().min(1).optional(),
  /** Print a plain line every N steps when not on a TTY. */
  logEvery: posInt.default(10),
};

function stepsOrEpochs(c: { steps?: number | undefined; epochs?: number | undefined }, ctx: z.RefinementCtx): void {
  if ((c.steps === undefined) === (c.epochs === undefined)) {
    ctx.addIssue({ code: "custom", path: ["steps"], message: "give exactly one of `steps` or `epochs`" });
  }
}

export const RmConfigSchema = z
  .strictObject({
    ...Common,
    /**
     * outcome: one reward per completion, read at its last token (Bradley–Terry on pairs);
     * process: a validity probability at each step separator (per-step BCE on step-labelled
     * chains: TRL prompt/completions/labels files, or `generate`, which labels the gold chain
     * and a corruption from the step checkers; process-model.ts).
     */
    kind: z.enum(["outcome", "process"]).default("outcome"),
    /** λ_c, TRL's center_rewards_coefficient: + λ_c (r_c + r_r)² keeps rewards centred on 0. */
    centerCoef: z.number().min(0).default(0),
  })
  .superRefine(stepsOrEpochs);
export type RmConfig = z.infer<typeof RmConfigSchema>;

export const DpoLoss = z
  .strictObject({
    /** sigmoid (DPO), robust, hinge, ipo (losses.ts). */
    kind: z.enum(DPO_LOSS_KINDS).default("sigmoid"),
    /** β. */
    beta: z.number().positive().default(0.1),
    /** ε, the label-flip probability of cDPO / robust DPO (sigmoid and robust only), in [0, 0.5). */
    labelSmoothing: z.number().min(0).lt(0.5).default(0),
    /** RPO's α: + α · NLL of the chosen completion (0 = off). */
    rpoAlpha: z.number().min(0).default(0),
  })
  .superRefine((l, ctx) => {
    if (l.labelSmoothing > 0 && !DPO_LOSSES[l.kind].usesLabelSmoothing) {
      ctx.addIssue({
        code: "custom",
        path: ["labelSmoothing"],
        message: `label smoothing applies to kind sigmoid or robust, not ${l.kind}; set it to 0`,
      });
    }
  });

export const DpoConfigSchema = z
  .strictObject({
    ...Common,
    loss: DpoLoss.prefault({}),
    /** Train a LoRA adapter; the reference is then the base with the adapter off. Absent = full. */
    lora: Lora.optional(),
  })
  .superRefine(stepsOrEpochs);
export type DpoConfig = z.infer<typeof DpoConfigSchema>;

const opts = (what: string) => ({ what, docs: "src/prefs/config.ts", hints: LORA_HINTS, errorClass: PrefsConfigError });

export function parseRmConfig(raw: unknown, where = "config"): RmConfig {
  return parseConfig(RmConfigSchema, raw, { ...opts("reward-model config"), where });
}
export function loadRmConfig(path: string, sets: readonly string[] = []): Promise<RmConfig> {
  return loadConfigFile(RmConfigSchema, path, sets, { ...opts("reward-model config"), nameFromFile: true });
}
export function parseDpoConfig(raw: unknown, where = "config"): DpoConfig {
  return parseConfig(DpoConfigSchema, raw, { ...opts("DPO config"), where });
}
export function loadDpoConfig(path: string, sets: readonly string[] = []): Promise<DpoConfig> {
  return loadConfigFile(DpoConfigSchema, path, sets, { ...opts("DPO config"), nameFromFile: true });
}
