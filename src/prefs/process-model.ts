/**
 * The process reward model (Lightman et al. 2023; TRL's PRMTrainer): the reward model's trunk
 * and scalar head (reward-model.ts, same folder layout, `stepwise_reward.kind: "process"`),
 * read at every step separator instead of only at the last token:
 *
 *   z_k = w · h_{s_k},   p_k = σ(z_k) = P(step k is valid | prompt, steps ≤ k)
 *
 * where s_k is the position of the separator token that ends step k. Tokenisation follows
 * PRMTrainer: the prompt (with special tokens), then for each step its tokens followed by the
 * separator's ("\n", TRL's default step_separator); only the separator positions carry a label.
 * The first step is tokenised with a leading space, as SFT targets start (" {chain}"), so
 * the PRM reads the chain the policy writes. No EOS is added (PRMTrainer adds none).
 *
 * Loss (per-step binary cross-entropy at the separators, summed over labelled positions and
 * divided by their count through the shared loop):
 *
 *   S(θ; b) = Σ_{r,k} ℓ(z_{r,k}, y_{r,k}),   ℓ(z, y) = −[y log σ(z) + (1 − y) log(1 − σ(z))]
 *   count   = number of labelled steps
 *
 * Departure from TRL: PRMTrainer trains a token-classification head with two labels and
 * cross-entropy; one logit with BCE is the same model (softmax over two logits depends only on
 * their difference) and keeps the ForSequenceClassification tensor `score.weight` [1, C], whose
 * per-token output transformers computes before pooling at the last token.
 */
import { splitSteps } from "../data/tasks/index.ts";
import { type Array, jit, np } from "../engine/jax.ts";
import { binaryCrossEntropyWithLogits } from "../engine/losses.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { checkTokenIds, forwardHidden } from "../model/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Objective } from "../train/loop.ts";
import { loadRewardModel, type RewardModel, rewardKindOf, SCORE_WEIGHT, trunkConfig } from "./reward-model.ts";
import type { StepRow } from "./steps.ts";

/** TRL's default step_separator; the demo's chains put one step per line. */
export const STEP_SEPARATOR = "\n";

export interface TokenizedSteps {
  /** Index of the row in its file. */
  index: number;
  ids: number[];
  /** Position of the separator token ending each step. */
  sep: number[];
  /** 1 = valid, 0 = invalid, one per step (empty when scoring). */
  labels: number[];
}

/** Token ids of prompt ⊕ (step_k ⊕ separator)_k and the separator positions (see the header). */
export function tokenizeSteps(
  tokenizer: Tokenizer,
  prompt: string,
  steps: readonly string[],
): { ids: number[]; sep: number[] } {
  const sepIds = tokenizer.encode(STEP_SEPARATOR, { addSpecialTokens: false });
  if (sepIds.length === 0) throw new Error("process reward model: the tokenizer encodes the step separator to nothing");
  const ids = tokenizer.encode(prompt, { addSpecialTokens: true });
  const sep: number[] = [];
  steps.forEach((step, k) => {
    ids.push(...tokenizer.encode(k === 0 ? ` ${step}` : step, { addSpecialTokens: false }), ...sepIds);
    sep.push(ids.length - 1);
  });
  return { ids, sep };
}

/** Tokenise labelled rows; rows longer than maxLength are dropped (counted). */
export function tokenizeStepRows(
  tokenizer: Tokenizer,
  rows: readonly StepRow[],
  maxLength: number,
): { rows: TokenizedSteps[]; dropped: number } {
  const out: TokenizedSteps[] = [];
  rows.forEach((r, index) => {
    const t = tokenizeSteps(tokenizer, r.prompt, r.completions);
    if (t.ids.length <= maxLength) out.push({ index, ...t, labels: r.labels.map((l) => (l ? 1 : 0)) });
  });
  return { rows: out, dropped: rows.length - out.length };
}

export interface StepBatch {
  rows: number; // B
  seqLen: number; // T
  ids: Int32Array; // [B, T]
  /** 1 at the separator positions of real rows. */
  sep: Float32Array; // [B, T]
  labels: Float32Array; // [B, T]
}

/** The smallest T holding every row, rounded up to a multiple of m (m ≤ 0: exactly cap). */
export function stepSeqLen(rows: readonly TokenizedSteps[], cap: number, multiple: number): number {
  if (multiple <= 0) return cap;
  const longest = rows.reduce((m, r) => Math.max(m, r.ids.length), 1);
  return Math.min(cap, Math.ceil(longest / multiple) * multiple);
}

/** A fixed-shape batch of `size` rows (padding rows repeat the first with no labelled position). */
export function toStepBatch(rows: readonly TokenizedSteps[], size: number, seqLen: number, padId: number): StepBatch {
  if (rows.length === 0 || rows.length > size)
    throw new RangeError(`toStepBatch: got ${rows.length} rows for a batch of ${size}`);
  const T = seqLen;
  const out: StepBatch = {
    rows: size,
    seqLen: T,
    ids: new Int32Array(size * T).fill(padId),
    sep: new Float32Array(size * T),
    labels: new Float32Array(size * T),
  };
  for (let b = 0; b < size; b++) {
    const real = b < rows.length;
    const r = rows[real ? b : 0]!;
    if (r.ids.length > T) throw new RangeError(`toStepBatch: a row of ${r.ids.length} tokens exceeds seqLen ${T}`);
    for (let t = 0; t < r.ids.length; t++) out.ids[b * T + t] = r.ids[t]!;
    if (!real) continue;
    r.sep.forEach((pos, k) => {
      out.sep[b * T + pos] = 1;
      out.labels[b * T + pos] = r.labels[k] ?? 0;
    });
  }
  return out;
}

/** Consecutive batches over all rows in order (the last one padded). */
export function stepBatchesInOrder(
  rows: readonly TokenizedSteps[],
  size: number,
  cap: number,
  multiple: number,
  padId: number,
): StepBatch[] {
  const out: StepBatch[] = [];
  for (let s = 0; s < rows.length; s += size) {
    const chunk = rows.slice(s, s + size);
    out.push(toStepBatch(chunk, size, stepSeqLen(chunk, cap, multiple), padId));
  }
  return out;
}

/** Per-token logits z_t = w · h_t: ids [R, T] → [R, T]. Consumes params and ids. */
export function stepLogits(params: Params, config: ModelConfig, ids: Array): Array {
  const { [SCORE_WEIGHT]: w, ...trunk } = params;
  if (!w) throw new Error(`stepLogits: missing parameter "${SCORE_WEIGHT}"`);
  const { hidden } = forwardHidden(trunk, trunkConfig(config), ids); // [R, T, C]
  const [R, T, C] = hidden.shape as [number, number, number];
  const z = np.matmul(hidden.reshape([R * T, C]), np.transpose(w)); // [R·T, 1]
  return z.reshape([R, T]);
}

export type StepArrays = { ids: Array; sep: Array; labels: Array };

/** Per-step BCE at the separators (see the header); aux `steps/accuracy` = Σ [(z > 0) = y]. */
export function processObjective(config: ModelConfig): Objective<StepBatch, StepArrays> {
  return {
    toDevice(b) {
      checkTokenIds(b.ids, config.vocabSize, "step batch ids");
      const shape = [b.rows, b.seqLen];
      return {
        ids: np.array(b.ids, { shape, dtype: np.int32 }),
        sep: np.array(b.sep, { shape, dtype: np.float32 }),
        labels: np.array(b.labels, { shape, dtype: np.float32 }),
      };
    },
    loss(params, b) {
      const z = stepLogits(params, config, b.ids); // [B, T]
      const predicted = np.greater(z.ref, 0).astype(np.float32); // [z > 0]
      // [ŷ = y] = ŷ·y + (1 − ŷ)(1 − y) = 1 − ŷ − y + 2ŷy
      const agree = np.add(
        np.subtract(np.subtract(1, predicted.ref), b.labels.ref),
        np.multiply(np.multiply(predicted, b.labels.ref), 2),
      );
      const sum = binaryCrossEntropyWithLogits(z, b.labels, { mask: b.sep.ref, reduction: "sum" });
      const aux = { "steps/accuracy": np.sum(np.multiply(agree, b.sep.ref)) };
      return { sum, count: np.sum(b.sep), aux };
    },
  };
}

/** What the evaluator and RL call: the per-step validity probabilities of each completion. */
export interface ProcessScorer {
  /**
   * p_k for every step of completion i (split into steps as the task checkers do, answer
   * lines dropped: data/tasks splitSteps); a completion with no step gives [].
   */
  scoreSteps(prompts: readonly string[], completions: readonly string[]): Promise<number[][]>;
  /** The same for completions already split into steps. */
  scoreStepLists(prompts: readonly string[], steps: readonly (readonly string[])[]): Promise<number[][]>;
  dispose(): void;
}

/** A process scorer over a `kind: process` reward-model folder. */
export async function processScorer(
  dir: string,
  opts: { batch?: number; padMultiple?: number; tokenizer?: Tokenizer } = {},
): Promise<ProcessScorer> {
  const rm = await loadRewardModel(dir);
  if (rewardKindOf(rm.hfConfig) !== "process") {
    for (const x of Object.values(rm.params)) x.dispose();
    throw new Error(
      `${dir}: an outcome reward model (stepwise_reward.kind is not "process"); use rewardScorer, or train one with kind: process`,
    );
  }
  return processScorerOf(rm, opts.tokenizer ?? (await Tokenizer.fromDir(dir)), opts);
}

/** A process scorer over a model in memory (takes ownership of rm.params). */
export function processScorerOf(
  rm: RewardModel,
  tokenizer: Tokenizer,
  opts: { batch?: number; padMultiple?: number } = {},
): ProcessScorer {
  const size = opts.batch ?? 16;
  const multiple = opts.padMultiple ?? 32;
  const maxLength = rm.config.maxPositionEmbeddings;
  const pad = (rm.hfConfig.pad_token_id as number | undefined) ?? tokenizer.padId ?? 0;
  const run = jit((params: Params, ids: Array) =>
    np.reciprocal(np.add(1, np.exp(np.negative(stepLogits(params, rm.config, ids))))),
  );
  const scoreStepLists = async (prompts: readonly string[], steps: readonly (readonly string[])[]) => {
    if (prompts.length !== steps.length)
      throw new RangeError(`scoreSteps: ${prompts.length} prompts but ${steps.length} completions`);
    const rows = prompts.map((p, i) => {
      const t = tokenizeSteps(tokenizer, p, steps[i]!);
      if (t.ids.length > maxLength)
        throw new RangeError(`scoreSteps: completion ${i} does not fit the model's ${maxLength} positions`);
      return { index: i, ...t, labels: [] as number[] };
    });
    const out: number[][] = rows.map(() => []);
    const scorable = rows.filter((r) => r.sep.length > 0);
    for (let s = 0; s < scorable.length; s += size) {
      const chunk = scorable.slice(s, s + size);
      const b = toStepBatch(chunk, size, stepSeqLen(chunk, maxLength, multiple), pad);
      checkTokenIds(b.ids, rm.config.vocabSize, "scoreSteps");
      const p = await readFloat32(
        run(keepTree(rm.params), np.array(b.ids, { shape: [b.rows, b.seqLen], dtype: np.int32 })),
      );
      chunk.forEach((r, k) => {
        out[r.index] = r.sep.map((pos) => p[k * b.seqLen + pos]!);
      });
    }
    return out;
  };
  return {
    scoreStepLists,
    scoreSteps: (prompts, completions) =>
      scoreStepLists(
        prompts,
        completions.map((c) => splitSteps(c)),
      ),
    dispose() {
      run.dispose();
      for (const x of Object.values(rm.params)) x.dispose();
    },
  };
}

/**
 * The first step a PRM calls invalid (p_k < threshold), or null when it accepts them all:
 * the prediction that first-error localisation compares with the labels' first false.
 */
export function predictedFirstError(probs: readonly number[], threshold = 0.5): number | null {
  const k = probs.findIndex((p) => p < threshold);
  return k < 0 ? null : k;
}
