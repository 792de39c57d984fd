/**
 * Supervised fine-tuning's objective: the token NLL of the target tokens, and the fixed-shape
 * micro-batches it runs on.
 *
 *   S(θ; b) = −Σ_{rows,t} M_{b,t} log p_θ(y_{b,t} | x_{b,<t})      count n_b = Σ M_{b,t}
 *
 * so the loop's step (loop.ts) minimises the mean NLL per target token of the accumulated batch.
 *
 * Shapes: every row is right-padded to a fixed length T (one compiled micro-step per T).
 * Causal attention means right padding never changes the logits of real positions, so no
 * attention mask is needed; padded positions carry loss mask 0.
 */
import type { TokenizedExample } from "../data/tokenize.ts";
import { type Array, np } from "../engine/jax.ts";
import { tokenNll } from "../engine/losses.ts";
import type { ModelConfig } from "../model/config.ts";
import { checkTokenIds, forward } from "../model/model.ts";
import type { Objective } from "./loop.ts";

/** One micro-batch on the host: rows right-padded to a fixed length T (one compiled shape). */
export interface MicroBatch {
  rows: number; // B
  seqLen: number; // T
  ids: Int32Array; // [B, T] model inputs
  targets: Int32Array; // [B, T] next tokens
  mask: Float32Array; // [B, T] 1 on target tokens
  /** Σ mask: target tokens in this micro-batch. */
  targetTokens: number;
}

type TokenArrays = { ids: Array; targets: Array; mask: Array };

/** The token-NLL objective of `config`'s model over MicroBatches (ids checked against the vocabulary). */
export function tokenNllObjective(config: ModelConfig): Objective<MicroBatch, TokenArrays> {
  return {
    toDevice(b) {
      const shape = [b.rows, b.seqLen];
      checkTokenIds(b.ids, config.vocabSize, "micro-batch ids");
      checkTokenIds(b.targets, config.vocabSize, "micro-batch targets");
      return {
        ids: np.array(b.ids, { shape, dtype: np.int32 }),
        targets: np.array(b.targets, { shape, dtype: np.int32 }),
        mask: np.array(b.mask, { shape, dtype: np.float32 }),
      };
    },
    loss(params, b) {
      const { logits } = forward(params, config, b.ids); // [B, T, V]
      const count = np.sum(b.mask.ref); // n_b = Σ M
      return { sum: tokenNll(logits, b.targets, b.mask, { reduction: "sum" }), count }; // Σ M·(−log p)
    },
  };
}

/** Rows → a fixed-shape micro-batch: ids = x[0..T), targets = x[1..T], mask = loss_mask[1..T]. */
export function toMicroBatch(rows: readonly TokenizedExample[], seqLen: number, padId: number): MicroBatch {
  const B = rows.length;
  const ids = new Int32Array(B * seqLen).fill(padId);
  const targets = new Int32Array(B * seqLen).fill(padId);
  const mask = new Float32Array(B * seqLen);
  let targetTokens = 0;
  rows.forEach((ex, b) => {
    const n = ex.input_ids.length;
    if (n > seqLen + 1) throw new Error(`toMicroBatch: example of ${n} tokens exceeds seqLen + 1 = ${seqLen + 1}`);
    for (let t = 0; t < n - 1; t++) {
      ids[b * seqLen + t] = ex.input_ids[t]!;
      targets[b * seqLen + t] = ex.input_ids[t + 1]!;
      mask[b * seqLen + t] = ex.loss_mask[t + 1]!;
      targetTokens += ex.loss_mask[t + 1]!;
    }
  });
  return { rows: B, seqLen, ids, targets, mask, targetTokens };
}

/**
 * The input length T of a micro-batch: seqLen, or with padMultiple m > 0 the smallest multiple
 * of m that holds the longest row's n − 1 inputs, capped at seqLen.
 */
export function paddedLength(rows: readonly TokenizedExample[], seqLen: number, padMultiple: number): number {
  if (padMultiple <= 0) return seqLen;
  const longest = rows.reduce((m, r) => Math.max(m, r.input_ids.length - 1), 1);
  return Math.min(seqLen, Math.ceil(longest / padMultiple) * padMultiple);
}
