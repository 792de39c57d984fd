/**
 * Batching tokenised examples, two ways:
 *
 * 1. Packing (`packExamples`): several examples share one fixed-length row of
 *    `seqLen` tokens. Each row carries
 *      segment_ids   1, 1, 1, 2, 2, 3, …, 0 0   (k = k-th example in the row, 0 = padding)
 *      position_ids  0, 1, 2, 0, 1, 0, …, 0 0   (restart per example, so RoPE / learned
 *                                               positions see each example from 0)
 *    and attention must stay inside each example: `blockCausalMask(segment_ids)`
 *    builds the [T, T] block-diagonal causal mask
 *      allowed(i, j) = seg[i] = seg[j] ≠ 0 and j ≤ i,
 *    with padding positions attending only to themselves (so no softmax row is
 *    empty; their loss mask is 0). Without it, packing leaks context across examples
 *    (Krell et al. 2021, "Efficient Sequence Packing without Cross-contamination").
 *    Strategies: "first-fit-decreasing" (longest first, each into the first row with
 *    room; the classic bin-packing heuristic, fewest rows) or "sequential" (input
 *    order, a new row when the next does not fit). Both are deterministic; examples
 *    within a row stay in their input order.
 *
 * 2. Length-bucketed padding (`bucketBatches`): examples sorted by length (stable),
 *    cut into batches of `batchSize`, each padded on the right to its own longest
 *    example (rounded up to `padToMultipleOf`), with an attention (padding) mask.
 *    Batch order is shuffled with the given Rng, or kept in length order without one.
 *
 * Both report their padding efficiency: real tokens / token slots.
 */
import type { Rng } from "../engine/rng.ts";

export class PackingError extends Error {
  override name = "PackingError";
}

/** What packing needs of an example (a TokenizedExample fits). */
export interface SequenceExample {
  input_ids: readonly number[];
  loss_mask: readonly number[];
}

export interface PackedRow {
  input_ids: number[]; // [T]
  loss_mask: number[]; // [T]
  segment_ids: number[]; // [T], 1.. per example, 0 = padding
  position_ids: number[]; // [T]
  /** Input indices of the examples in this row, in row order. */
  examples: number[];
}

export interface PaddingStats {
  /** Rows (packing) or batch rows (bucketing). */
  rows: number;
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Token slots: rows × length summed. */
  slots: number;
  paddingTokens: number;
  /** tokens / slots, 1 = no padding. */
  efficiency: number;
}

export type PackStrategy = "first-fit-decreasing" | "sequential";

export interface PackOptions {
  seqLen: number;
  padId: number;
  /** Default "first-fit-decreasing". */
  strategy?: PackStrategy;
}

export interface PackResult {
  rows: PackedRow[];
  /** For each input example, where it went. */
  placement: { row: number; offset: number }[];
  stats: PaddingStats & { examplesPerRow: number };
}

function checkExample(ex: SequenceExample, i: number, seqLen: number, where: string): void {
  if (ex.input_ids.length !== ex.loss_mask.length) {
    throw new PackingError(
      `${where}: example ${i} has ${ex.input_ids.length} input_ids but ${ex.loss_mask.length} loss_mask entries`,
    );
  }
  if (ex.input_ids.length === 0) throw new PackingError(`${where}: example ${i} is empty`);
  if (ex.input_ids.length > seqLen) {
    throw new PackingError(
      `${where}: example ${i} has ${ex.input_ids.length} tokens > seqLen ${seqLen}; ` +
        "tokenize with maxLength ≤ seqLen (over-long examples are dropped and reported there)",
    );
  }
}

function stats(rows: number, tokens: number, slots: number): PaddingStats {
  return { rows, tokens, slots, paddingTokens: slots - tokens, efficiency: slots === 0 ? 1 : tokens / slots };
}

/** Pack examples into rows of exactly `seqLen` tokens (see the file header). */
export function packExamples(examples: readonly SequenceExample[], opts: PackOptions): PackResult {
  const { seqLen, padId } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 1)
    throw new PackingError(`packExamples: seqLen must be ≥ 1, got ${seqLen}`);
  examples.forEach((ex, i) => {
    checkExample(ex, i, seqLen, "packExamples");
  });
  // Assign examples to bins (lists of input indices).
  const bins: number[][] = [];
  const free: number[] = [];
  const len = (i: number) => examples[i]!.input_ids.length;
  if ((opts.strategy ?? "first-fit-decreasing") === "sequential") {
    examples.forEach((_, i) => {
      const last = bins.length - 1;
      if (last >= 0 && free[last]! >= len(i)) {
        bins[last]!.push(i);
        free[last]! -= len(i);
      } else {
        bins.push([i]);
        free.push(seqLen - len(i));
      }
    });
  } else {
    const order = examples.map((_, i) => i).sort((a, b) => len(b) - len(a) || a - b);
    for (const i of order) {
      const b = free.findIndex((f) => f >= len(i));
      if (b >= 0) {
        bins[b]!.push(i);
        free[b]! -= len(i);
      } else {
        bins.push([i]);
        free.push(seqLen - len(i));
      }
    }
    for (const bin of bins) bin.sort((a, b) => a - b);
  }
  const placement: { row: number; offset: number }[] = new Array(examples.length);
  let tokens = 0;
  const rows = bins.map((bin, r): PackedRow => {
    const row: PackedRow = { input_ids: [], loss_mask: [], segment_ids: [], position_ids: [], examples: bin };
    bin.forEach((i, k) => {
      const ex = examples[i]!;
      placement[i] = { row: r, offset: row.input_ids.length };
      for (let t = 0; t < ex.input_ids.length; t++) {
        row.input_ids.push(ex.input_ids[t]!);
        row.loss_mask.push(ex.loss_mask[t]!);
        row.segment_ids.push(k + 1);
        row.position_ids.push(t);
      }
      tokens += ex.input_ids.length;
    });
    while (row.input_ids.length < seqLen) {
      row.input_ids.push(padId);
      row.loss_mask.push(0);
      row.segment_ids.push(0);
      row.position_ids.push(0);
    }
    return row;
  });
  const s = stats(rows.length, tokens, rows.length * seqLen);
  return { rows, placement, stats: { ...s, examplesPerRow: rows.length === 0 ? 0 : examples.length / rows.length } };
}

/**
 * The [T, T] attention mask of a packed row, row-major (mask[i·T + j] = 1 when
 * position i may attend to position j): block-diagonal causal within each segment;
 * padding (segment 0) attends only to itself.
 */
export function blockCausalMask(segmentIds: readonly number[]): Uint8Array {
  const T = segmentIds.length;
  const mask = new Uint8Array(T * T); // [T, T]
  for (let i = 0; i < T; i++) {
    const s = segmentIds[i]!;
    if (s === 0) {
      mask[i * T + i] = 1;
      continue;
    }
    for (let j = i; j >= 0 && segmentIds[j] === s; j--) mask[i * T + j] = 1;
  }
  return mask;
}

export interface BucketOptions {
  batchSize: number;
  padId: number;
  /** Round each batch's length up to a multiple of this (e.g. 8 for tensor cores). Default 1. */
  padToMultipleOf?: number;
  /** Shuffle the order of batches (not their contents); default: length order. */
  rng?: Rng;
}

export interface PaddedBatch {
  input_ids: number[][]; // [B, L]
  loss_mask: number[][]; // [B, L]
  /** 1 on real tokens, 0 on padding (right side). */
  attention_mask: number[][]; // [B, L]
  /** Input index of each row. */
  examples: number[];
}

/** Length-bucketed batches padded on the right (see the file header). */
export function bucketBatches(
  examples: readonly SequenceExample[],
  opts: BucketOptions,
): { batches: PaddedBatch[]; stats: PaddingStats } {
  const { batchSize, padId } = opts;
  const multiple = opts.padToMultipleOf ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new PackingError(`bucketBatches: batchSize must be ≥ 1, got ${batchSize}`);
  if (!Number.isInteger(multiple) || multiple < 1)
    throw new PackingError(`bucketBatches: padToMultipleOf must be ≥ 1, got ${multiple}`);
  examples.forEach((ex, i) => {
    checkExample(ex, i, Number.POSITIVE_INFINITY, "bucketBatches");
  });
  const order = examples
    .map((_, i) => i)
    .sort((a, b) => examples[a]!.input_ids.length - examples[b]!.input_ids.length || a - b);
  const batches: PaddedBatch[] = [];
  let tokens = 0;
  let slots = 0;
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const longest = Math.max(...idx.map((i) => examples[i]!.input_ids.length));
    const L = Math.ceil(longest / multiple) * multiple;
    const batch: PaddedBatch = { input_ids: [], loss_mask: [], attention_mask: [], examples: idx };
    for (const i of idx) {
      const ex = examples[i]!;
      const pad = L - ex.input_ids.length;
      batch.input_ids.push([...ex.input_ids, ...new Array<number>(pad).fill(padId)]);
      batch.loss_mask.push([...ex.loss_mask, ...new Array<number>(pad).fill(0)]);
      batch.attention_mask.push([...new Array<number>(ex.input_ids.length).fill(1), ...new Array<number>(pad).fill(0)]);
      tokens += ex.input_ids.length;
    }
    slots += L * idx.length;
    batches.push(batch);
  }
  opts.rng?.shuffle(batches);
  const rows = examples.length;
  return { batches, stats: stats(rows, tokens, slots) };
}
