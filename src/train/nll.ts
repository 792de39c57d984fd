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
 *
 * Encoder–decoder models (T5), as transformers' T5ForConditionalGeneration(labels=…) trains:
 * the prompt's tokens (with the tokenizer's specials: T5's template appends </s>) are the
 * encoder input x, right-padded to S with an encoder mask; the target's tokens and EOS are the
 * labels y, and the decoder reads them shifted right behind decoder_start_token_id:
 *
 *   S(θ; b) = −Σ_{rows,t} M_{b,t} log p_θ(y_{b,t} | x_b, y_{b,<t}),   decoder ids = [start, y_0 … y_{T−2}]
 *
 * One token budget holds for every family: batch.seqLen + 1 bounds prompt + target + EOS
 * together (the tokenizer drops or truncates as for a decoder), so encoder and decoder each fit
 * in seqLen.
 */
import type { TokenizedExample } from "../data/tokenize.ts";
import { type Array, np } from "../engine/jax.ts";
import { tokenNll } from "../engine/losses.ts";
import { isSeq2seq, type ModelConfig } from "../model/config.ts";
import { checkTokenIds, forward, forwardSeq2seq } from "../model/model.ts";
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
  /** Encoder–decoder only: the prompts, right-padded to `seqLen` S; `ids` are then the decoder's inputs. */
  encoder?: { seqLen: number; ids: Int32Array; mask: Float32Array };
}

type TokenArrays = { ids: Array; targets: Array; mask: Array };
type Seq2seqArrays = TokenArrays & { encoderIds: Array; encoderMask: Array };

/** SFT's objective for `config`: token NLL of a decoder, or of an encoder–decoder's decoder targets. */
export function sftObjective(config: ModelConfig): Objective<MicroBatch, TokenArrays | Seq2seqArrays> {
  // Each objective's loss only ever sees the arrays its own toDevice made.
  return (isSeq2seq(config) ? seq2seqNllObjective(config) : tokenNllObjective(config)) as Objective<
    MicroBatch,
    TokenArrays | Seq2seqArrays
  >;
}

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

/**
 * The token NLL of an encoder–decoder's decoder targets given the encoder input (see the
 * header); micro-batches come from toSeq2seqMicroBatch.
 */
export function seq2seqNllObjective(config: ModelConfig): Objective<MicroBatch, Seq2seqArrays> {
  return {
    toDevice(b) {
      const enc = b.encoder;
      if (!enc) throw new Error("seq2seq micro-batch: no encoder ids (build it with toSeq2seqMicroBatch)");
      const shape = [b.rows, b.seqLen];
      const encShape = [b.rows, enc.seqLen];
      checkTokenIds(enc.ids, config.vocabSize, "micro-batch encoder ids");
      checkTokenIds(b.ids, config.vocabSize, "micro-batch decoder ids");
      checkTokenIds(b.targets, config.vocabSize, "micro-batch targets");
      return {
        ids: np.array(b.ids, { shape, dtype: np.int32 }),
        targets: np.array(b.targets, { shape, dtype: np.int32 }),
        mask: np.array(b.mask, { shape, dtype: np.float32 }),
        encoderIds: np.array(enc.ids, { shape: encShape, dtype: np.int32 }),
        encoderMask: np.array(enc.mask, { shape: encShape, dtype: np.float32 }),
      };
    },
    loss(params, b) {
      const { logits } = forwardSeq2seq(params, config, b.encoderIds, b.ids, { encoderMask: b.encoderMask }); // [B, T, V]
      const count = np.sum(b.mask.ref); // n_b = Σ M
      return { sum: tokenNll(logits, b.targets, b.mask, { reduction: "sum" }), count }; // Σ M·(−log p)
    },
  };
}

/** Where an example's target starts: its first loss-mask 1 (the prompt is the part before). */
function targetStart(ex: TokenizedExample): number {
  const k = ex.loss_mask.indexOf(1);
  if (k < 1)
    throw new Error(
      `seq2seq example: ${k < 0 ? "no target token" : "an empty prompt"} (the encoder needs a prompt, the decoder a target)`,
    );
  return k;
}

/**
 * Rows → an encoder–decoder micro-batch (see the header): encoder ids = the prompt [0..k),
 * padded to encLen with mask 0; labels y = the target and EOS [k..n), padded to decLen;
 * decoder ids = [start, y_0 … y_{n−k−2}].
 */
export function toSeq2seqMicroBatch(
  rows: readonly TokenizedExample[],
  lengths: { encLen: number; decLen: number },
  padId: number,
  decoderStartId: number,
): MicroBatch {
  const B = rows.length;
  const { encLen, decLen } = lengths;
  const encIds = new Int32Array(B * encLen).fill(padId);
  const encMask = new Float32Array(B * encLen);
  const ids = new Int32Array(B * decLen).fill(padId);
  const targets = new Int32Array(B * decLen).fill(padId);
  const mask = new Float32Array(B * decLen);
  let targetTokens = 0;
  rows.forEach((ex, b) => {
    const k = targetStart(ex);
    const n = ex.input_ids.length;
    if (k > encLen || n - k > decLen) {
      throw new Error(
        `toSeq2seqMicroBatch: prompt ${k} / target ${n - k} tokens exceed encoder ${encLen} / decoder ${decLen}`,
      );
    }
    for (let t = 0; t < k; t++) {
      encIds[b * encLen + t] = ex.input_ids[t]!;
      encMask[b * encLen + t] = 1;
    }
    for (let t = 0; t < n - k; t++) {
      ids[b * decLen + t] = t === 0 ? decoderStartId : ex.input_ids[k + t - 1]!;
      targets[b * decLen + t] = ex.input_ids[k + t]!;
      mask[b * decLen + t] = ex.loss_mask[k + t]!;
      targetTokens += ex.loss_mask[k + t]!;
    }
  });
  return {
    rows: B,
    seqLen: decLen,
    ids,
    targets,
    mask,
    targetTokens,
    encoder: { seqLen: encLen, ids: encIds, mask: encMask },
  };
}

/**
 * `batch.padMultiple`'s rule: the smallest multiple of m that holds n (at least 1) columns,
 * capped at seqLen; seqLen itself when m = 0. SFT's micro-batches and RL's planMicroBatches
 * (rl/rollout.ts) both pad by it.
 */
export function padToMultiple(n: number, seqLen: number, padMultiple: number): number {
  if (padMultiple <= 0) return seqLen;
  return Math.min(seqLen, Math.ceil(Math.max(n, 1) / padMultiple) * padMultiple);
}

/**
 * Encoder and decoder lengths of a seq2seq micro-batch: seqLen each, or with padMultiple m > 0
 * the smallest multiples of m that hold the longest prompt and the longest target + EOS.
 */
export function seq2seqLengths(
  rows: readonly TokenizedExample[],
  seqLen: number,
  padMultiple: number,
): { encLen: number; decLen: number } {
  if (padMultiple <= 0) return { encLen: seqLen, decLen: seqLen };
  const round = (n: number) => padToMultiple(n, seqLen, padMultiple);
  const k = rows.map(targetStart);
  return {
    encLen: round(Math.max(...k)),
    decLen: round(Math.max(...rows.map((r, i) => r.input_ids.length - k[i]!))),
  };
}

/** Zero the loss mask of rows [from, B): filler rows that complete a held-out micro-batch. */
export function maskRowsFrom(b: MicroBatch, from: number): MicroBatch {
  const mask = b.mask.slice();
  mask.fill(0, from * b.seqLen);
  let targetTokens = 0;
  for (const m of mask) targetTokens += m;
  return { ...b, mask, targetTokens };
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
  return padToMultiple(longest, seqLen, padMultiple);
}
