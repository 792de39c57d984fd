/**
 * The config blocks every trainer shares, declared once: data files and generated problems,
 * a model from a folder or from sizes, the optimizer (chosen from engine/optim.ts's registry),
 * the schedule, batching, checkpoints, evaluation and LoRA. SFT (train/config.ts), RL, the
 * reward model and DPO compose their schemas from these, so a key means the same thing, with
 * the same default, in every config.
 */
import { z } from "zod";
import { SOURCE_FORMATS } from "../data/adapters.ts";
import { TASK_NAMES, WORDING_CHOICES } from "../data/tasks/index.ts";
import { OPTIMIZERS, type Optimizer, type OptimizerKind } from "../engine/optim.ts";
import { SCHEDULES, type ScheduleKind } from "../engine/schedules.ts";

export const posInt = z.number().int().min(1);
export const nonNegInt = z.number().int().min(0);

/** One data file and how to read its rows. */
export const DataFile = z.strictObject({
  /** Path of a .jsonl / .json / .csv / .parquet file. */
  path: z.string().min(1),
  /** Source layout of its rows (adapters.ts), converted to chain-of-thought records. Default "cot". */
  format: z.enum(SOURCE_FORMATS).default("cot"),
});
export type DataFileConfig = z.infer<typeof DataFile>;

/** Generated chain-of-thought problems (src/data/tasks). */
export const Generate = z.strictObject({
  /** Task generators to mix round-robin. */
  tasks: z.array(z.enum(TASK_NAMES)).min(1),
  /** Number of problems. */
  n: posInt,
  /** Seed of the generator (the train/test split never depends on it). */
  seed: nonNegInt.default(0),
  /** Difficulty options per task, e.g. {code-trace: {maxLines: 4}} (each generator's defaults name the keys). */
  options: z.partialRecord(z.enum(TASK_NAMES), z.record(z.string(), z.unknown())).optional(),
  /**
   * Question wordings (src/data/tasks/wordings.ts): "default" = each generator's one wording;
   * "train" / "heldout" = a template from that part of the wording pool, picked per problem.
   * Absent = "default".
   */
  wordings: z.enum(WORDING_CHOICES).optional(),
  /** Share of each problem kind's wording pool held out (default 0.25). */
  wordingHeldOut: z.number().gt(0).lt(1).optional(),
});

/** A dataset: files, or generated problems (exactly one). */
export const DataSource = z
  .strictObject({
    /** Record files, concatenated in order. */
    files: z.array(DataFile).min(1).optional(),
    /** Problems drawn from the task generators. */
    generate: Generate.optional(),
  })
  .refine((d) => (d.files === undefined) !== (d.generate === undefined), {
    message: "give exactly one of `files` or `generate`",
  });
export type DataSourceConfig = z.infer<typeof DataSource>;

/** One line per source for summary.json: the file paths, or "generate: tasks (n, seed)". */
export function describeSource(src: DataSourceConfig): string[] {
  if (src.generate)
    return [
      `generate: ${src.generate.tasks.join(", ")} (n=${src.generate.n}, seed ${src.generate.seed}` +
        `${src.generate.wordings && src.generate.wordings !== "default" ? `, ${src.generate.wordings} wordings` : ""})`,
    ];
  return (src.files ?? []).map((f) => `${f.path} (${f.format})`);
}

/** A tokenizer trained on the run's training texts (byte-level BPE, train-bpe.ts). */
export const TrainTokenizer = z.strictObject({
  /** Vocabulary size, special tokens and the 256 byte symbols included. */
  vocabSize: z.number().int().min(260),
  /** One token per digit (no merge joins digits), as Llama 1 does: arithmetic is read digit by digit. */
  splitDigits: z.boolean().default(false),
});

/** A model initialised from scratch (init-model's sizes). */
export const Init = z.strictObject({
  /** Architecture: a Llama-family decoder, GPT-2, GPT-J, GPT-NeoX or the encoder–decoder T5 (model/config.ts). */
  arch: z.enum(["llama", "gpt2", "gptj", "gpt_neox", "t5"]).default("llama"),
  /** Hidden size C. */
  hidden: posInt,
  /** Transformer blocks. */
  layers: posInt,
  /** Attention heads. */
  heads: posInt,
  /** Key/value heads (default: heads). */
  kvHeads: posInt.optional(),
  /** MLP width (default: llama ≈ 8C/3, gpt2, gptj and gpt_neox 4C, t5 2C gated). */
  intermediate: posInt.optional(),
  /** max_position_embeddings (default: batch.seqLen). */
  maxPositions: posInt.optional(),
  /** Std of the weight matrices (transformers' initializer_range). */
  std: z.number().positive().default(0.02),
  /** A tokenizer folder, or `{vocabSize}` to train one on the training texts. */
  tokenizer: z.union([z.string().min(1), TrainTokenizer]),
});
export type InitConfig = z.infer<typeof Init>;

export const Batch = z.strictObject({
  /** Rows per jit-compiled micro-step. */
  microBatch: posInt,
  /** Micro-steps whose gradients are summed into one optimizer step. */
  gradAccum: posInt.default(1),
  /** Model input length T: every row is padded (right) to T, examples longer than T + 1 tokens are dropped. */
  seqLen: posInt,
  /**
   * 0: every micro-batch is padded to seqLen (one compiled shape). m > 0: a micro-batch is padded
   * only to the next multiple of m that holds its longest row (at most seqLen): at most seqLen/m
   * compiled shapes and far less padding when lengths vary (short direct-answer targets).
   * The data order and the loss are the same either way; only the work changes.
   */
  padMultiple: nonNegInt.default(0),
});

const OPTIMIZER_KINDS = Object.keys(OPTIMIZERS) as [OptimizerKind, ...OptimizerKind[]];

/** The optimizer, from engine/optim.ts's registry, and global-norm clipping. */
export const Optim = z
  .strictObject({
    /** adamw (torch.optim.AdamW) or sgd (torch.optim.SGD). */
    kind: z.enum(OPTIMIZER_KINDS).default("adamw"),
    /** Peak learning rate. */
    lr: z.number().positive(),
    /** Weight decay λ (matrices only): decoupled for AdamW, an L2 term in the gradient for SGD. */
    weightDecay: z.number().min(0).default(0.01),
    /** AdamW (β1, β2). */
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    /** AdamW ε. */
    eps: z.number().positive().default(1e-8),
    /** SGD momentum μ (sgd only). */
    momentum: z.number().min(0).lt(1).default(0),
    /** SGD Nesterov momentum (sgd only; needs momentum > 0). */
    nesterov: z.boolean().default(false),
    /** Clip the global gradient norm to this; 0 turns clipping off. */
    clip: z.number().min(0).default(1),
  })
  .superRefine((o, ctx) => {
    if (o.kind !== "sgd" && (o.momentum !== 0 || o.nesterov)) {
      ctx.addIssue({
        code: "custom",
        path: ["momentum"],
        message: `momentum/nesterov apply to kind: sgd, not ${o.kind}`,
      });
    }
    if (o.nesterov && o.momentum === 0) {
      ctx.addIssue({ code: "custom", path: ["nesterov"], message: "nesterov needs momentum > 0" });
    }
  });
export type OptimConfig = z.infer<typeof Optim>;

/** The optimizer an `optim` block names, built from the registry. */
export function optimizerOf(o: OptimConfig): Optimizer {
  const build: { [K in OptimizerKind]: () => Optimizer } = {
    adamw: () => OPTIMIZERS.adamw({ beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay }),
    sgd: () => OPTIMIZERS.sgd({ momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay }),
  };
  return build[o.kind]();
}

export const Schedule = z.strictObject({
  /** constant, cosine or linear (engine/schedules.ts). */
  kind: z.enum(Object.keys(SCHEDULES) as [ScheduleKind, ...ScheduleKind[]]).default("cosine"),
  /** Linear warm-up from 0 over this many steps. */
  warmupSteps: nonNegInt.default(0),
  /** Final learning rate of decay schedules. */
  minLr: z.number().min(0).default(0),
});

export const Eval = z.strictObject({
  /** Evaluate every N optimizer steps (and at the end); 0 = only at the end. */
  every: nonNegInt.default(0),
  /** Problems whose answers are generated and graded (answer accuracy); 0 = held-out loss only. */
  n: nonNegInt.default(16),
  /** Generation budget per problem. */
  maxNewTokens: posInt.default(64),
  /** Generations written to samples.jsonl per eval. */
  samples: nonNegInt.default(4),
});

export const Checkpoint = z.strictObject({
  /** Write checkpoints/step-N every N steps (and at the end); 0 = only at the end. */
  every: nonNegInt.default(0),
  /** Keep the newest K checkpoints (0 = keep all). At least 2 leave a fallback if the newest is damaged. */
  keep: nonNegInt.default(2),
});

/** Block-wise quantisation of the frozen base for QLoRA (quant.ts). */
export const LoraQuant = z.strictObject({
  /** 4 → NF4 (QLoRA's 4-bit NormalFloat), 8 → int8 absmax. */
  bits: z.union([z.literal(4), z.literal(8)]),
  /** Values per float32 scale, a positive multiple of 8. Default 64 (QLoRA's). */
  block: z
    .number()
    .int()
    .min(8)
    .refine((b) => b % 8 === 0, { message: "must be a multiple of 8" })
    .default(64),
});

/** A regular expression the whole module path must match (PEFT's string form of target_modules). */
const TargetRegex = z.string().superRefine((s, ctx) => {
  if (s === "") ctx.addIssue({ code: "custom", message: "an empty regular expression targets nothing" });
  try {
    new RegExp(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `not a valid regular expression (${(err as Error).message})` });
  }
});

/**
 * LoRA / QLoRA fine-tuning (model/adapters/lora.ts): the base model is frozen and only the
 * adapter (A [r, in], B [out, r] per target) is trained, optimised and checkpointed.
 */
export const Lora = z.strictObject({
  /** Rank r of the update W + (α/r)·B A. */
  r: posInt,
  /** α; the update is scaled by α / r. Default 2r. */
  alpha: z.number().positive().optional(),
  /**
   * PEFT's lora_dropout. Only 0 is accepted: the adapter is folded into the weight before the
   * forward pass (lora.ts explains), where dropout on the adapter's input cannot be expressed,
   * and accepting a value we would not apply would misreport how the adapter was trained.
   */
  dropout: z
    .number()
    .refine((v) => v === 0, {
      message: "LoRA dropout is not implemented (the adapter is merged into the weight before the forward pass); use 0",
    })
    .default(0),
  /**
   * Modules to adapt: a list of names matched as PEFT does (equal to, or ending in
   * "." + name: q_proj, v_proj, gate_proj, ...), or one regular expression the whole
   * module path must match. Linear (2-D) weights only. Default: q_proj, v_proj (c_attn for GPT-2).
   */
  targetModules: z.union([z.array(z.string().min(1)).min(1), TargetRegex]).optional(),
  /** QLoRA: store the frozen base block-quantised, dequantised on the fly inside the step. Absent = float32 base. */
  quant: LoraQuant.optional(),
});
export type LoraBlock = z.infer<typeof Lora>;

/** A `lora` block that holds `quant` but no adapter (e.g. only `--set lora.quant.bits=4`). */
function quantWithoutLora(raw: unknown): boolean {
  if (raw === null || typeof raw !== "object") return false;
  const lora = (raw as Record<string, unknown>).lora;
  return lora !== null && typeof lora === "object" && "quant" in lora && !("r" in lora);
}

/** Clearer wording for the LoRA/QLoRA mistakes a user makes (config/load.ts IssueHint). */
export const LORA_HINTS = [
  (i: z.core.$ZodIssue, raw: unknown): string | null =>
    quantWithoutLora(raw) && i.path.join(".") === "lora.r"
      ? "lora.quant: QLoRA quantises the base under a LoRA adapter; give the adapter too (lora.r, lora.alpha, lora.targetModules)"
      : null,
  (i: z.core.$ZodIssue): string | null =>
    i.code === "unrecognized_keys" && i.path.length === 0 && i.keys.includes("quant")
      ? "quant: quantisation is for QLoRA and lives under the LoRA block (lora.quant, next to lora.r); full fine-tuning keeps a float32 model"
      : null,
] as const;
