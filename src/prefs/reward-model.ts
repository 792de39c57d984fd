/**
 * The outcome reward model: a transformer trunk with a scalar head read at the last token,
 *
 *   r(x, y) = w · h_{n−1},   h = forwardHidden(θ, x ⊕ y ⊕ EOS)  [C],   w = score.weight [1, C]
 *
 * in transformers' *ForSequenceClassification layout with num_labels = 1, so a saved folder
 * loads there too (LlamaForSequenceClassification / GPT2ForSequenceClassification):
 *
 *   config.json        the base config + architectures [...ForSequenceClassification],
 *                      num_labels 1, id2label/label2id, pad_token_id (transformers needs it to
 *                      find the last non-pad token), stepwise_reward {kind: "outcome"}
 *   model.safetensors  the trunk's tensors (model.* / transformer.*, no lm_head) + score.weight
 *   tokenizer files    copied from the base
 *
 * Where the head reads: transformers reads the rightmost token that is not pad_token_id; we
 * read position n−1 of each unpadded row (batch.ts `last`). These agree whenever the sequence
 * itself holds no pad token, which `score` checks.
 *
 * Departure: transformers initialises score.weight N(0, initializer_range²) with no bias; so do
 * we (std 0.02, seeded). The lm head of a causal-LM starting point is dropped (not trained,
 * not saved). For a Llama trunk the forward pass runs with tie_word_embeddings on, so the
 * trunk never asks for the absent lm_head (its head closure is released unused).
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tokenizeExample } from "../data/tokenize.ts";
import { pathExists } from "../engine/files.ts";
import { type Array, jit, np, random } from "../engine/jax.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { keyFor } from "../engine/rng.ts";
import { readSafetensorsFolder, writeSafetensorsFolder } from "../engine/safetensors.ts";
import { arrayToHost, hostToArray } from "../engine/tensors.ts";
import { CheckpointError, matchTensors, TOKENIZER_FILES } from "../model/checkpoint.ts";
import { type ModelConfig, parseModelConfig } from "../model/config.ts";
import { checkTokenIds, forwardHidden, type Model, paramShapes } from "../model/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";

/** The scalar head's tensor, as transformers names it. */
export const SCORE_WEIGHT = "score.weight";

/** outcome: one reward per completion at its last token; process: a step-validity logit at each step separator (process-model.ts). */
export type RewardKind = "outcome" | "process";

/** The kind recorded in a folder's config.json (`stepwise_reward.kind`; outcome when absent). */
export function rewardKindOf(hfConfig: Record<string, unknown>): RewardKind {
  const k = (hfConfig.stepwise_reward as { kind?: unknown } | undefined)?.kind;
  return k === "process" ? "process" : "outcome";
}

export interface RewardModel {
  /** The base model's config (as in its config.json). */
  config: ModelConfig;
  /** Trunk tensors (no lm_head) + score.weight [1, C]. */
  params: Params;
  /** The config.json object written back (with the classification keys). */
  hfConfig: Record<string, unknown>;
}

/** The config the trunk runs with: tied head for Llama, so lm_head is never needed (see the header). */
export function trunkConfig(config: ModelConfig): ModelConfig {
  return config.arch === "llama" ? { ...config, tieWordEmbeddings: true } : config;
}

/** The trunk tensor names of a config (no lm_head). */
function trunkNames(config: ModelConfig): string[] {
  return paramShapes(trunkConfig(config)).map(([n]) => n);
}

/**
 * A reward model started from a causal LM: its trunk (taken, not copied: the model's lm_head
 * is disposed) and a fresh head N(0, std²) seeded by `seed`. Consumes `model.params`.
 */
export function rewardModelFrom(model: Model, seed: number, std = 0.02, kind: RewardKind = "outcome"): RewardModel {
  const keep = new Set(trunkNames(model.config));
  const params: Params = {};
  for (const [name, x] of Object.entries(model.params)) {
    if (keep.has(name)) params[name] = x;
    else x.dispose();
  }
  const C = model.config.hiddenSize;
  params[SCORE_WEIGHT] = np.multiply(random.normal(keyFor(seed, "init", SCORE_WEIGHT), [1, C]), std);
  return { config: model.config, params, hfConfig: classificationConfig(model.hfConfig, model.config, kind) };
}

/** The config.json keys of a *ForSequenceClassification model with one label. */
export function classificationConfig(
  hf: Record<string, unknown>,
  config: ModelConfig,
  kind: RewardKind = "outcome",
): Record<string, unknown> {
  const arch = config.arch === "gpt2" ? "GPT2ForSequenceClassification" : "LlamaForSequenceClassification";
  const pad = config.padTokenId ?? config.eosTokenIds[0] ?? null;
  if (pad === null) {
    throw new Error(
      "reward model: the base has neither pad_token_id nor eos_token_id; transformers needs one to find the last token",
    );
  }
  return {
    ...hf,
    architectures: [arch],
    num_labels: 1,
    id2label: { "0": "LABEL_0" },
    label2id: { LABEL_0: 0 },
    pad_token_id: pad,
    problem_type: "regression",
    stepwise_reward: kind === "process" ? { kind, step_separator: "\n" } : { kind },
  };
}

/**
 * Rewards of rows: ids [R, T], last [R, T] one-hot at each row's last token → [R].
 * Consumes params, ids and last (pass keepTree(params) to keep the weights).
 */
export function rewardsAt(params: Params, config: ModelConfig, ids: Array, last: Array): Array {
  const { [SCORE_WEIGHT]: w, ...trunk } = params;
  if (!w) throw new Error(`rewardsAt: missing parameter "${SCORE_WEIGHT}"`);
  const { hidden } = forwardHidden(trunk, trunkConfig(config), ids); // [R, T, C]
  const atLast = np.sum(np.multiply(hidden, np.expandDims(last, -1)), 1); // Σ_t h_t·[t = n−1] → [R, C]
  return scalarHead(atLast, w); // [R]
}

/**
 * The scalar head shared by the reward model and the RL value head (rl/value.ts):
 * h [..., C] → w · h (+ b) [...], with w [1, C] and an optional bias b [1]. Consumes all three.
 */
export function scalarHead(hidden: Array, w: Array, b?: Array): Array {
  const shape = hidden.shape.slice(0, -1);
  const C = hidden.shape[hidden.shape.length - 1]!;
  const flat = np.matmul(hidden.reshape([-1, C]), np.transpose(w)); // [N, C] @ [C, 1] → [N, 1]
  const out = flat.reshape(shape); // [...]
  return b ? np.add(out, b.reshape([])) : out;
}

/** Write the folder (see the header). Does not consume the params. */
export async function saveRewardModel(
  dir: string,
  rm: RewardModel,
  opts: { tokenizerFrom?: string } = {},
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors: Record<string, Awaited<ReturnType<typeof arrayToHost>>> = {};
  for (const name of [...trunkNames(rm.config), SCORE_WEIGHT]) {
    const x = rm.params[name];
    if (!x) throw new CheckpointError(dir, `saveRewardModel: missing parameter "${name}"`);
    tensors[name] = await arrayToHost(x.ref);
  }
  await writeSafetensorsFolder(dir, tensors);
  await writeFile(join(dir, "config.json"), `${JSON.stringify({ ...rm.hfConfig, torch_dtype: "float32" }, null, 2)}\n`);
  if (opts.tokenizerFrom) {
    for (const name of TOKENIZER_FILES) {
      const from = join(opts.tokenizerFrom, name);
      if (await pathExists(from)) await copyFile(from, join(dir, name));
    }
  }
}

/** Read a reward-model folder; errors name the folder and what is missing or wrong. */
export async function loadRewardModel(dir: string): Promise<RewardModel> {
  const configPath = join(dir, "config.json");
  if (!(await pathExists(configPath))) throw new CheckpointError(dir, "no config.json in this folder");
  const hfConfig = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
  const archs = hfConfig.architectures;
  if (
    !globalThis.Array.isArray(archs) ||
    !(archs as unknown[]).some((a) => typeof a === "string" && a.endsWith("ForSequenceClassification"))
  ) {
    throw new CheckpointError(
      dir,
      `not a reward model: config.json architectures is ${JSON.stringify(archs)}, expected [...ForSequenceClassification] (train one with \`stepwise rm\`)`,
    );
  }
  if (hfConfig.num_labels !== undefined && hfConfig.num_labels !== 1) {
    throw new CheckpointError(
      dir,
      `config.json num_labels is ${JSON.stringify(hfConfig.num_labels)}, expected 1 (a scalar reward)`,
    );
  }
  const config = parseModelConfig(hfConfig, configPath);
  const tensors = await readSafetensorsFolder(dir);
  const head = tensors.get(SCORE_WEIGHT);
  if (!head) throw new CheckpointError(dir, `no "${SCORE_WEIGHT}" tensor: not a reward-model folder`);
  if (head.shape.length !== 2 || head.shape[0] !== 1 || head.shape[1] !== config.hiddenSize) {
    throw new CheckpointError(
      dir,
      `"${SCORE_WEIGHT}" has shape ${JSON.stringify(head.shape)}, expected [1, ${config.hiddenSize}]`,
    );
  }
  tensors.delete(SCORE_WEIGHT);
  const params: Params = {};
  for (const [name, t] of matchTensors(tensors, trunkConfig(config), dir))
    params[name] = hostToArray(t, `${dir}: "${name}"`);
  params[SCORE_WEIGHT] = hostToArray(head, `${dir}: "${SCORE_WEIGHT}"`);
  return { config, params, hfConfig };
}

/** What the RL trainer and the evaluator call: one reward per (prompt, completion). */
export interface RewardScorer {
  /**
   * r(prompt_i, completion_i) for every i, each tokenised as in training (prompt, completion,
   * EOS appended). Completions are plain text, without EOS.
   */
  score(prompts: readonly string[], completions: readonly string[]): Promise<number[]>;
  /** Release the weights and compiled functions. */
  dispose(): void;
}

export interface ScorerOptions {
  /** Rows per compiled call (default 16). */
  batch?: number;
  /** Row length is rounded up to a multiple of this (default 32), bounding the compiled shapes. */
  padMultiple?: number;
}

/** A scorer over a loaded reward model and its tokenizer (the folder's, unless given). */
export async function rewardScorer(
  dir: string,
  opts: ScorerOptions & { tokenizer?: Tokenizer } = {},
): Promise<RewardScorer> {
  const rm = await loadRewardModel(dir);
  const tokenizer = opts.tokenizer ?? (await Tokenizer.fromDir(dir));
  return scorerOf(rm, tokenizer, opts);
}

/** A scorer over a reward model in memory (takes ownership of rm.params; dispose releases them). */
export function scorerOf(rm: RewardModel, tokenizer: Tokenizer, opts: ScorerOptions = {}): RewardScorer {
  const rows = opts.batch ?? 16;
  const multiple = opts.padMultiple ?? 32;
  const maxLength = rm.config.maxPositionEmbeddings;
  const pad = (rm.hfConfig.pad_token_id as number | undefined) ?? tokenizer.padId ?? 0;
  const run = jit((params: Params, ids: Array, last: Array) => rewardsAt(params, rm.config, ids, last));
  return {
    async score(prompts, completions) {
      if (prompts.length !== completions.length) {
        throw new RangeError(`score: ${prompts.length} prompts but ${completions.length} completions`);
      }
      const seqs = prompts.map((prompt, i) => {
        const ex = tokenizeExample(
          tokenizer,
          { prompt, target: completions[i]! },
          { maxLength, addEos: true, overflow: "truncate-prompt", checkRoundTrip: false },
        );
        if (!ex) throw new RangeError(`score: completion ${i} does not fit the reward model's ${maxLength} positions`);
        if (ex.input_ids.slice(0, -1).includes(pad)) {
          // transformers would read the reward before this token; refuse rather than disagree.
          throw new RangeError(`score: sequence ${i} contains the pad token ${pad} before its end`);
        }
        return ex.input_ids;
      });
      const out: number[] = [];
      for (let s = 0; s < seqs.length; s += rows) {
        const chunk = seqs.slice(s, s + rows);
        const longest = chunk.reduce((m, x) => Math.max(m, x.length), 1);
        const T = Math.min(maxLength, Math.ceil(longest / multiple) * multiple);
        const ids = new Int32Array(rows * T).fill(pad);
        const last = new Float32Array(rows * T);
        for (let r = 0; r < rows; r++) {
          const x = chunk[r] ?? chunk[0]!;
          for (let t = 0; t < x.length; t++) ids[r * T + t] = x[t]!;
          last[r * T + x.length - 1] = 1;
        }
        checkTokenIds(ids, rm.config.vocabSize, "score");
        const r = run(
          keepTree(rm.params),
          np.array(ids, { shape: [rows, T], dtype: np.int32 }),
          np.array(last, { shape: [rows, T], dtype: np.float32 }),
        );
        const values = await readFloat32(r);
        for (let k = 0; k < chunk.length; k++) out.push(values[k]!);
      }
      return out;
    },
    dispose() {
      run.dispose();
      for (const x of Object.values(rm.params)) x.dispose();
    },
  };
}

/** The RL reward shape (issue 15: a batch of {prompt, completion, …} in, one number per item out). */
export function asRewardFn(
  scorer: RewardScorer,
): (batch: readonly { prompt: string; completion: string }[]) => Promise<number[]> {
  return (batch) =>
    scorer.score(
      batch.map((b) => b.prompt),
      batch.map((b) => b.completion),
    );
}
