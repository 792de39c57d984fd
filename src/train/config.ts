/**
 * The SFT run config: one YAML file, validated by a zod schema whose fields are documented
 * where they are declared (the shared blocks in config/blocks.ts, the SFT-only `data` block
 * here), with `--set a.b=value` overrides applied before validation (config/load.ts).
 *
 *   loadSftConfig(path, sets)  → SftConfig   (read, override, validate)
 *   parseSftConfig(obj, where) → SftConfig   (validate an object)
 *
 * Derived values (total steps from epochs, the run folder) are computed in sft.ts, in one
 * place, once the data size is known.
 */
import { z } from "zod";
import {
  Batch,
  Checkpoint,
  DataFile,
  DataSource,
  Eval,
  Init,
  LORA_HINTS,
  Lora,
  Optim,
  posInt,
  Schedule,
} from "../config/blocks.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../config/load.ts";

export { applySet } from "../config/load.ts";

export class SftConfigError extends ConfigError {
  override name = "SftConfigError";
}

const TEMPLATES = ["qa", "plain", "chat", "raw"] as const;
export type TemplateName = (typeof TEMPLATES)[number];

const Data = z.strictObject({
  /** Training data. */
  train: DataSource,
  /** Held-out data for eval loss and answer accuracy (generated problems come from the test split). */
  eval: DataSource,
  /**
   * How a (question, chain, answer) becomes prompt + target text:
   *   qa     "Q: {question}\nA: Let's think step by step." then " {chain}\n#### {answer}" —
   *          exactly the prompt `evaluate` uses (zero-cot), so answer accuracy measures what was trained;
   *   plain  format.ts plainTemplate ("{user}\n\nAnswer:\n");
   *   chat   the tokenizer's chat template;
   *   raw    pretraining text: no prompt, the whole "{question}\n{chain}\n#### {answer}" (or, for
   *          direct records, "{question}\n#### {answer}") carries loss.
   */
  template: z.enum(TEMPLATES).default("qa"),
  /** End chain-of-thought prompts with "Let's think step by step." (plain/chat templates). */
  trigger: z.boolean().default(true),
  /** Fraction of records trained with a direct answer (the answer line only) instead of the chain. */
  directFraction: z.number().min(0).max(1).default(0),
  /** Instruction-tuning records (alpaca, dolly, …) mixed into the training set (every template). */
  instructions: z.array(DataFile).optional(),
  /**
   * Share of the training examples that are instruction records, in [0, 1): that many
   * (round(f / (1 − f) · #problems)) are drawn from `instructions`, shuffled with the seed and
   * cycled if the files hold fewer. Absent = every instruction record once.
   */
  instructionFraction: z.number().min(0).lt(1).optional(),
  /**
   * Wrap questions in sampled instruction phrasings (format.ts COT_PHRASINGS for chains,
   * DIRECT_PHRASINGS for direct targets: "Explain your reasoning and solve. …"). plain/chat:
   * every prompt; qa: `phrasingFraction` of them ("Q: {phrasing} {question}\nA: …").
   */
  phrasings: z.boolean().default(false),
  /** qa template: share of the records whose question is wrapped, so unwrapped prompts (evaluate's) stay in the mix. */
  phrasingFraction: z.number().min(0).max(1).default(0.5),
  /**
   * qa template: share of the records written bare, in the raw pretraining text's form
   * ("{question}\n" → "{chain}\n#### {answer}", loss on the target only): a second prompt
   * format beside "Q: … A:", so that the model meets one problem in both.
   */
  bareFraction: z.number().min(0).max(1).default(0),
});

export const SftConfigSchema = z
  .strictObject({
    /** Run name; default the config file's name. The run folder is runs/<name> unless `out` is given. */
    name: z.string().min(1).optional(),
    /** A Hugging Face model folder to fine-tune (its tokenizer files too). */
    model: z.string().min(1).optional(),
    /** Or: a model initialised from scratch. */
    init: Init.optional(),
    data: Data,
    batch: Batch,
    optim: Optim,
    schedule: Schedule.prefault({}),
    /** Optimizer steps. Give `steps` or `epochs`. */
    steps: posInt.optional(),
    /** Or: passes over the training set (steps = ceil(epochs · N / (microBatch · gradAccum))). */
    epochs: z.number().positive().optional(),
    eval: Eval.prefault({}),
    checkpoint: Checkpoint.prefault({}),
    /** Seed of initialisation and data order; the data order is a pure function of (seed, step). */
    seed: z.number().int().min(0).default(0),
    /** Run folder (default runs/<name>). */
    out: z.string().min(1).optional(),
    /** Print a plain line every N steps when not on a TTY. */
    logEvery: posInt.default(10),
    /** Fine-tune a LoRA adapter (QLoRA with `lora.quant`) instead of every weight. Absent = full fine-tuning. */
    lora: Lora.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.model === undefined) === (c.init === undefined)) {
      ctx.addIssue({ code: "custom", path: ["model"], message: "give exactly one of `model` (a folder) or `init`" });
    }
    if (c.data.instructionFraction !== undefined && !c.data.instructions?.length) {
      ctx.addIssue({
        code: "custom",
        path: ["data", "instructionFraction"],
        message: "needs `data.instructions` (the instruction files to draw from)",
      });
    }
    if ((c.steps === undefined) === (c.epochs === undefined)) {
      ctx.addIssue({ code: "custom", path: ["steps"], message: "give exactly one of `steps` or `epochs`" });
    }
    if (c.schedule.warmupSteps > 0 && c.steps !== undefined && c.schedule.warmupSteps > c.steps) {
      ctx.addIssue({
        code: "custom",
        path: ["schedule", "warmupSteps"],
        message: `warmupSteps (${c.schedule.warmupSteps}) exceeds steps (${c.steps})`,
      });
    }
  });

export type SftConfig = z.infer<typeof SftConfigSchema>;

const PARSE = { what: "SFT config", docs: "src/train/config.ts", hints: LORA_HINTS, errorClass: SftConfigError };

/** Validate a config object; every problem in one error, each naming its key path. */
export function parseSftConfig(raw: unknown, where = "config"): SftConfig {
  return parseConfig(SftConfigSchema, raw, { ...PARSE, where });
}

/** Read a YAML config, apply overrides, validate. The name defaults to the file's base name. */
export async function loadSftConfig(path: string, sets: readonly string[] = []): Promise<SftConfig> {
  return loadConfigFile(SftConfigSchema, path, sets, { ...PARSE, nameFromFile: true });
}

/** The settings every fine-tuning experiment names the same way (demo, generalization, distill). */
export interface SftRecipeSettings {
  microBatch: number;
  seqLen: number;
  padMultiple: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  minLr: number;
}

/**
 * The `batch`, `optim` and `schedule` blocks of the experiments' fine-tunings, one recipe for
 * all: gradients clipped at norm 1, a cosine schedule from `lr` down to `minLr` after warm-up.
 */
export function sftRecipeBlocks(s: SftRecipeSettings) {
  return {
    batch: { microBatch: s.microBatch, seqLen: s.seqLen, padMultiple: s.padMultiple },
    optim: { lr: s.lr, weightDecay: s.weightDecay, clip: 1 },
    schedule: { kind: "cosine" as const, warmupSteps: s.warmupSteps, minLr: s.minLr },
  };
}
