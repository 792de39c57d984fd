/**
 * The SFT run config: one YAML file, validated by a zod schema whose fields are
 * documented where they are declared, with `--set a.b=value` overrides applied
 * before validation. Unknown keys and wrong types are errors that name the key
 * path (`batch.microBatch: expected number, received string`), so a typo never
 * silently falls back to a default.
 *
 *   loadSftConfig(path, sets)  → {config, name}   (read, override, validate)
 *   parseSftConfig(obj, where) → SftConfig        (validate an object)
 *   applySet(obj, "a.b=1")                        (one override, value parsed as a YAML scalar)
 *
 * Derived values (total steps from epochs, the run folder) are computed in
 * sft.ts, in one place, once the data size is known.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SOURCE_FORMATS } from "../data/adapters.ts";
import { TASK_NAMES } from "../data/tasks/index.ts";
import { SCHEDULES, type ScheduleKind } from "../engine/schedules.ts";

export class SftConfigError extends Error {
  override name = "SftConfigError";
}

const posInt = z.number().int().min(1);

/** One data file and how to read its rows. */
const DataFile = z.strictObject({
  /** Path of a .jsonl / .json / .csv / .parquet file. */
  path: z.string().min(1),
  /** Source layout of its rows (adapters.ts), converted to chain-of-thought records. Default "cot". */
  format: z.enum(SOURCE_FORMATS).default("cot"),
});

/** Generated chain-of-thought problems (src/data/tasks). */
const Generate = z.strictObject({
  /** Task generators to mix round-robin. */
  tasks: z.array(z.enum(TASK_NAMES)).min(1),
  /** Number of problems. */
  n: posInt,
  /** Seed of the generator (the train/test split never depends on it). */
  seed: z.number().int().min(0).default(0),
  /** Difficulty options per task, e.g. {code-trace: {maxLines: 4}} (each generator's defaults name the keys). */
  options: z.partialRecord(z.enum(TASK_NAMES), z.record(z.string(), z.unknown())).optional(),
});

/** A dataset: files, or generated problems (exactly one). */
const DataSource = z
  .strictObject({
    /** Record files, concatenated in order. */
    files: z.array(DataFile).min(1).optional(),
    /** Problems drawn from the task generators. */
    generate: Generate.optional(),
  })
  .refine((d) => (d.files === undefined) !== (d.generate === undefined), {
    message: "give exactly one of `files` or `generate`",
  });

/** A tokenizer trained on the run's training texts (byte-level BPE, train-bpe.ts). */
const TrainTokenizer = z.strictObject({
  /** Vocabulary size, special tokens and the 256 byte symbols included. */
  vocabSize: z.number().int().min(260),
  /** One token per digit (no merge joins digits), as Llama 1 does: arithmetic is read digit by digit. */
  splitDigits: z.boolean().default(false),
});

/** A model initialised from scratch (init-model's sizes). */
const Init = z.strictObject({
  /** Architecture: a Llama-family decoder or GPT-2. */
  arch: z.enum(["llama", "gpt2"]).default("llama"),
  /** Hidden size C. */
  hidden: posInt,
  /** Transformer blocks. */
  layers: posInt,
  /** Attention heads. */
  heads: posInt,
  /** Key/value heads (default: heads). */
  kvHeads: posInt.optional(),
  /** MLP width (default: llama ≈ 8C/3, gpt2 4C). */
  intermediate: posInt.optional(),
  /** max_position_embeddings (default: batch.seqLen). */
  maxPositions: posInt.optional(),
  /** Std of the weight matrices (transformers' initializer_range). */
  std: z.number().positive().default(0.02),
  /** A tokenizer folder, or `{vocabSize}` to train one on the training texts. */
  tokenizer: z.union([z.string().min(1), TrainTokenizer]),
});

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
  /** Instruction-tuning records (alpaca, dolly, …) mixed into the training set (plain/chat templates). */
  instructions: z.array(DataFile).optional(),
  /** Sample instruction phrasings ("Solve step by step.") into plain/chat prompts. */
  phrasings: z.boolean().default(false),
});

const Batch = z.strictObject({
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
  padMultiple: z.number().int().min(0).default(0),
});

const Optim = z.strictObject({
  /** Peak learning rate. */
  lr: z.number().positive(),
  /** Decoupled weight decay λ (matrices only). */
  weightDecay: z.number().min(0).default(0.01),
  /** AdamW (β1, β2). */
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
  /** AdamW ε. */
  eps: z.number().positive().default(1e-8),
  /** Clip the global gradient norm to this; 0 turns clipping off. */
  clip: z.number().min(0).default(1),
});

const Schedule = z.strictObject({
  /** constant, cosine or linear (engine/schedules.ts). */
  kind: z.enum(Object.keys(SCHEDULES) as [ScheduleKind, ...ScheduleKind[]]).default("cosine"),
  /** Linear warm-up from 0 over this many steps. */
  warmupSteps: z.number().int().min(0).default(0),
  /** Final learning rate of decay schedules. */
  minLr: z.number().min(0).default(0),
});

const Eval = z.strictObject({
  /** Evaluate every N optimizer steps (and at the end); 0 = only at the end. */
  every: z.number().int().min(0).default(0),
  /** Problems whose answers are generated and graded (answer accuracy); 0 = held-out loss only. */
  n: z.number().int().min(0).default(16),
  /** Generation budget per problem. */
  maxNewTokens: posInt.default(64),
  /** Generations written to samples.jsonl per eval. */
  samples: z.number().int().min(0).default(4),
});

const Checkpoint = z.strictObject({
  /** Write checkpoints/step-N every N steps (and at the end); 0 = only at the end. */
  every: z.number().int().min(0).default(0),
  /** Keep the newest K checkpoints (0 = keep all). */
  keep: z.number().int().min(0).default(2),
});

/** Block-wise quantisation of the frozen base for QLoRA (quant.ts). */
const LoraQuant = z.strictObject({
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
 * LoRA / QLoRA fine-tuning (lora.ts): the base model is frozen and only the adapter
 * (A [r, in], B [out, r] per target) is trained, optimised and checkpointed.
 */
const Lora = z.strictObject({
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

function pathOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(top level)" : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".");
}

/** A `lora` block that holds `quant` but no adapter (e.g. only `--set lora.quant.bits=4`). */
function quantWithoutLora(raw: unknown): boolean {
  if (raw === null || typeof raw !== "object") return false;
  const lora = (raw as Record<string, unknown>).lora;
  return lora !== null && typeof lora === "object" && "quant" in lora && !("r" in lora);
}

/** Validate a config object; every problem in one error, each naming its key path. */
export function parseSftConfig(raw: unknown, where = "config"): SftConfig {
  const r = SftConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const quantOnly = quantWithoutLora(raw);
  const lines = r.error.issues.map((i) => {
    if (quantOnly && pathOf(i.path) === "lora.r") {
      return "lora.quant: QLoRA quantises the base under a LoRA adapter; give the adapter too (lora.r, lora.alpha, lora.targetModules)";
    }
    if (i.code === "unrecognized_keys" && i.path.length === 0 && i.keys.includes("quant")) {
      return "quant: quantisation is for QLoRA and lives under the LoRA block (lora.quant, next to lora.r); full fine-tuning keeps a float32 model";
    }
    if (i.code === "unrecognized_keys") {
      return `${pathOf([...i.path, ...(i.keys.length === 1 ? [i.keys[0]!] : [])])}: unknown key${i.keys.length > 1 ? `s ${i.keys.join(", ")}` : ""} (check the spelling; see src/train/config.ts)`;
    }
    return `${pathOf(i.path)}: ${i.message}`;
  });
  throw new SftConfigError(`${where}: invalid SFT config:\n  ${lines.join("\n  ")}`);
}

/**
 * Apply one `--set key.path=value` override in place; the value is parsed as a YAML
 * scalar ("3" → 3, "true" → true, "[0.9, 0.95]" → array, "abc" → "abc").
 */
export function applySet(obj: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new SftConfigError(`--set: expected key.path=value, got "${assignment}"`);
  const keys = assignment.slice(0, eq).trim().split(".");
  if (keys.some((k) => k === "")) throw new SftConfigError(`--set: empty key in "${assignment}"`);
  const value: unknown = parseYaml(assignment.slice(eq + 1));
  let node: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined || next === null) node[k] = {};
    else if (typeof next !== "object" || Array.isArray(next)) {
      throw new SftConfigError(`--set ${assignment}: "${k}" is not a section (it holds ${JSON.stringify(next)})`);
    }
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Read a YAML config, apply overrides, validate. The name defaults to the file's base name. */
export async function loadSftConfig(path: string, sets: readonly string[] = []): Promise<SftConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8"));
  } catch (err) {
    throw new SftConfigError(`${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SftConfigError(`${path}: expected a YAML mapping at the top level`);
  }
  const obj = raw as Record<string, unknown>;
  for (const s of sets) applySet(obj, s);
  if (obj.name === undefined) obj.name = basename(path, extname(path));
  return parseSftConfig(obj, path);
}
