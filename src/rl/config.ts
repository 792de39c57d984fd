/**
 * The RL run config (`stepwise rl --config FILE.yaml`): one strict zod schema composed from the
 * shared blocks (config/blocks.ts: Optim, Schedule, Batch, Eval, Checkpoint, Lora, DataSource)
 * and the RL-only blocks below, each field documented where it is declared. Cross-field rules
 * are checked up front, with the values and the fix in the message.
 *
 * Field names follow TRL's GRPOConfig where one exists (num_generations → rollout.groupSize,
 * max_completion_length → rollout.maxNewTokens, epsilon / epsilon_high → loss.clipLow /
 * loss.clipHigh, beta → loss.beta, num_iterations → iterations, scale_rewards →
 * advantage.scaling, loss_type → loss.aggregation, mask_truncated_completions →
 * loss.maskTruncated).
 */
import { z } from "zod";
import {
  Batch,
  Checkpoint,
  DataSource,
  Eval,
  LORA_HINTS,
  Lora,
  nonNegInt,
  Optim,
  posInt,
  Schedule,
} from "../config/blocks.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../config/load.ts";
import { EXPLOIT_NAMES } from "../guard/exploits.ts";
import { checkMonitorOptions, GUARD_MONITOR_FIELDS } from "../guard/guard.ts";
import { RL_ADVANTAGE_KINDS } from "./advantages.ts";
import { KL_ESTIMATORS } from "./kl.ts";
import { AGGREGATIONS, POLICY_LOSS_KINDS } from "./policy-loss.ts";
import { parseRewardSpec } from "./rewards.ts";

export class RlConfigError extends ConfigError {
  override name = "RlConfigError";
}

const Rollout = z.strictObject({
  /** Prompts per step N. */
  prompts: posInt.default(8),
  /** Completions per prompt G (TRL num_generations). */
  groupSize: z.number().int().min(2).default(8),
  /** Generation budget L_max per completion (TRL max_completion_length). */
  maxNewTokens: posInt.default(128),
  /** Sampling temperature τ; the loss's log-probabilities are taken at the same τ (TRL). */
  temperature: z.number().positive().default(1),
  /** Nucleus mass (1 = off). */
  topP: z.number().gt(0).max(1).default(1),
  /** Prompts are left-padded to this many tokens (fixed shapes); longer prompts are dropped with a notice. */
  promptColumns: posInt.default(64),
  /**
   * DAPO's dynamic sampling: groups whose rewards are all equal (no signal) are replaced by
   * fresh prompts, for up to this many extra rollouts per step (0 = off). Groups still without
   * signal after that stay in the batch (their advantage is 0).
   */
  resampleRounds: nonNegInt.default(0),
});

const Advantage = z.strictObject({
  /**
   * grpo, dr_grpo, rloo or reinforce_pp (rl/advantages.ts GROUP_ADVANTAGES), or gae (PPO with
   * the value head, TOKEN_ADVANTAGES; `algorithm: ppo` selects it).
   */
  estimator: z.enum(RL_ADVANTAGE_KINDS).default("grpo"),
  /** grpo: divide by the group std, the batch std, or not at all (TRL scale_rewards). */
  scaling: z.enum(["group", "batch", "none"]).default("group"),
  /** ε in the std division. */
  eps: z.number().positive().default(1e-4),
  /** reinforce_pp: subtract the group mean before the batch whitening. */
  groupBaseline: z.boolean().default(true),
  /** gae: discount γ over the completion's tokens (verl/OpenRLHF default 1). */
  gamma: z.number().min(0).max(1).default(1),
  /** gae: λ of GAE(γ, λ) (verl default 1, OpenRLHF 0.95). */
  lam: z.number().min(0).max(1).default(0.95),
  /** gae: whiten the advantages over the batch's valid tokens (verl masked_whiten). */
  whiten: z.boolean().default(true),
});

/** PPO's value head (rl/value.ts); read only with advantage.estimator gae. */
const Value = z.strictObject({
  /** c_V, the value loss's coefficient in the total loss (TRL vf_coef 0.1). */
  coef: z.number().min(0).default(0.1),
  /** ε_v: V is clipped to V_old ± ε_v in the loss (TRL cliprange_value 0.2, verl cliprange_value 0.5). */
  clip: z.number().positive().default(0.2),
  /** The head's learning rate is optim.lr × lrScale (a fresh head must outpace a policy at 1e-5; see value.ts withHeadLr). */
  lrScale: z.number().positive().default(100),
});

const Loss = z.strictObject({
  /** clip (the PPO/GRPO clipped surrogate) or reinforce (−Â log π, nanochat). */
  kind: z.enum(POLICY_LOSS_KINDS).default("clip"),
  /** ε_low (TRL epsilon). */
  clipLow: z.number().min(0).lt(1).default(0.2),
  /** ε_high (TRL epsilon_high; DAPO clip-higher 0.28). */
  clipHigh: z.number().min(0).default(0.28),
  /** Dual-clip c > 1 for negative advantages (verl clip_ratio_c = 3); 0 = off. */
  dualClip: z.number().min(0).default(0),
  /** token-mean (DAPO, TRL's default), seq-mean-token-mean (GRPO), seq-mean-token-sum-norm (Dr. GRPO). */
  aggregation: z.enum(AGGREGATIONS).default("token-mean"),
  /** KL coefficient β (0 = no reference pass). */
  beta: z.number().min(0).default(0),
  /** The KL estimator: k1, k2 or k3 (TRL's β term is k3). */
  kl: z.enum(KL_ESTIMATORS).default("k3"),
  /** Put β·KL in the loss, or subtract β·Σ_t k1 from the reward. */
  klIn: z.enum(["loss", "reward"]).default("loss"),
  /** Entropy bonus coefficient (0 = none). */
  entropyCoef: z.number().min(0).default(0),
  /** Completions cut at the budget (finish reason "length") carry no loss (DAPO overlong filtering). */
  maskTruncated: z.boolean().default(false),
  /** Subtracted from the reward of a completion that never ended (no EOS within the budget). */
  noEosPenalty: z.number().min(0).default(0),
});

const Reward = z.strictObject({
  /** Named functions with weights, e.g. "correct:1,format:0.1" (rl/rewards.ts). */
  spec: z.string().min(1).default("correct:1"),
  /** overlong: the soft band L_cache before the budget. */
  overlongBuffer: posInt.default(32),
  /** repetition: n-gram size. */
  ngram: posInt.default(3),
});

const Guard = z
  .strictObject({
    /** Training records the reward's exploit battery is built from before training (guard/test-reward.ts). */
    sample: posInt.default(50),
    /**
     * Exploits (guard/exploits.ts) whose holes are accepted: training starts despite them (they are
     * still printed). Any other hole stops `stepwise rl` before the first step.
     */
    acceptHoles: z.array(z.enum(EXPLOIT_NAMES)).default([]),
    /** Whether a tie with the honest wrong completion counts as a hole ("ok": reported only). */
    ties: z.enum(["ok", "hole"]).default("ok"),
    /** Live reward-hacking monitors and their actions (src/guard/guard.ts). */
    ...GUARD_MONITOR_FIELDS,
  })
  .superRefine(checkMonitorOptions);

const Data = z.strictObject({
  /** Problems whose prompts the policy is trained on. */
  train: DataSource,
  /** Held-out (validation) problems for the greedy accuracy in eval.jsonl. */
  eval: DataSource,
});

const RlConfigObject = z
  .strictObject({
    /** Run name; default the config file's name. Folder runs/<name> unless `out`. */
    name: z.string().min(1).optional(),
    /** The starting policy: a Hugging Face model folder (its tokenizer too). */
    model: z.string().min(1),
    data: Data,
    rollout: Rollout.prefault({}),
    reward: Reward.prefault({}),
    /** The reward battery run before training; holes stop the run unless accepted. */
    guard: Guard.prefault({}),
    advantage: Advantage.prefault({}),
    loss: Loss.prefault({}),
    /**
     * grpo (the group estimators, no value head) or ppo (advantage.estimator gae with the value
     * head); default from advantage.estimator. `algorithm: ppo` alone selects gae.
     */
    algorithm: z.enum(["grpo", "ppo"]).optional(),
    value: Value.prefault({}),
    /** μ: optimizer updates per rollout batch (TRL num_iterations). */
    iterations: posInt.default(1),
    /**
     * Rows per compiled micro-step; the N·G completions of a step are split into micro-batches of
     * this size. padMultiple m > 0 sorts them by length and cuts each micro-batch to the next
     * multiple of m columns holding its longest row (rollout.ts planMicroBatches): the same loss,
     * less padding, at most ⌈T/m⌉ compiled widths.
     */
    batch: Batch.pick({ microBatch: true, padMultiple: true }),
    optim: Optim,
    schedule: Schedule.prefault({}),
    /** Optimizer steps (rollouts = steps / iterations). */
    steps: posInt,
    eval: Eval.prefault({}),
    checkpoint: Checkpoint.prefault({}),
    seed: nonNegInt.default(0),
    out: z.string().min(1).optional(),
    /** Print a plain line every N steps when not on a TTY. */
    logEvery: posInt.default(1),
    /** Completions per step written to samples.jsonl. */
    samplesPerStep: nonNegInt.default(4),
    /** Train a LoRA adapter; the reference is then the base with the adapter off (no second copy). */
    lora: Lora.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.algorithm !== undefined && (c.algorithm === "ppo") !== (c.advantage.estimator === "gae")) {
      ctx.addIssue({
        code: "custom",
        path: ["advantage", "estimator"],
        message: `algorithm ${c.algorithm} does not go with advantage.estimator ${c.advantage.estimator}: ppo uses gae (its value head), grpo the group estimators (grpo, dr_grpo, rloo, reinforce_pp)`,
      });
    }
    const rows = c.rollout.prompts * c.rollout.groupSize;
    if (rows % c.batch.microBatch !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["batch", "microBatch"],
        message: `rollout.prompts × rollout.groupSize = ${rows} completions must split into micro-batches of ${c.batch.microBatch}; pick a divisor of ${rows}`,
      });
    }
    if (c.steps % c.iterations !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["steps"],
        message: `steps (${c.steps}) must be a multiple of iterations (${c.iterations}): each rollout gets μ updates`,
      });
    }
    if (c.checkpoint.every % c.iterations !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["checkpoint", "every"],
        message: `checkpoint.every (${c.checkpoint.every}) must be a multiple of iterations (${c.iterations}) so a resume starts on a fresh rollout`,
      });
    }
    try {
      parseRewardSpec(c.reward.spec, "reward.spec");
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["reward", "spec"], message: (err as Error).message });
    }
    if (c.schedule.warmupSteps > c.steps) {
      ctx.addIssue({
        code: "custom",
        path: ["schedule", "warmupSteps"],
        message: `warmupSteps (${c.schedule.warmupSteps}) exceeds steps (${c.steps})`,
      });
    }
  });

/** `algorithm: ppo` without an estimator means gae (filled in before validation). */
function algorithmDefaults(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || (raw as { algorithm?: unknown }).algorithm !== "ppo") return raw;
  const r = raw as { advantage?: unknown };
  const adv = r.advantage ?? {};
  if (typeof adv !== "object" || adv === null || "estimator" in adv) return raw;
  return { ...r, advantage: { ...adv, estimator: "gae" } };
}

export const RlConfigSchema = z.preprocess(algorithmDefaults, RlConfigObject);

export type RlConfig = z.infer<typeof RlConfigSchema>;

/** PPO: the estimator needs the value head. */
export function usesValueHead(c: RlConfig): boolean {
  return c.advantage.estimator === "gae";
}

const PARSE = { what: "RL config", docs: "src/rl/config.ts", hints: LORA_HINTS, errorClass: RlConfigError };

export function parseRlConfig(raw: unknown, where = "config"): RlConfig {
  return parseConfig(RlConfigSchema, raw, { ...PARSE, where });
}

export async function loadRlConfig(path: string, sets: readonly string[] = []): Promise<RlConfig> {
  return loadConfigFile(RlConfigSchema, path, sets, { ...PARSE, nameFromFile: true });
}
