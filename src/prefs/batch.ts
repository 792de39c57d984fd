/**
 * Preference pairs as tokens and fixed-shape micro-batches, shared by the reward-model and
 * DPO objectives.
 *
 * Each completion is tokenised as SFT tokenises a target (data/tokenize.ts: prompt, then the
 * completion and EOS, loss mask 1 on the completion and EOS). A pair batch of B pairs holds
 * 2B rows, the B chosen rows first, then the B rejected rows, each right-padded to T:
 *
 *   ids     [2B, T]  the whole sequence x_0 … x_{n−1}, then padding
 *   targets [2B, T]  x_{t+1} at position t (next-token targets), padding elsewhere
 *   mask    [2B, T]  1 where targets[t] is a completion token (loss_mask[t+1])
 *   last    [2B, T]  one-hot at position n−1, where a reward head reads (transformers'
 *                    *ForSequenceClassification read the last non-pad token: the same place)
 *   weight  [B]      1 for a real pair, 0 for the rows that pad the last held-out batch
 *   margin  [B]      Bradley–Terry margin m (0 when absent)
 *   lengths [2B]     completion tokens Σ_t mask (IPO's length normalisation)
 *   refLogProbs [2B] Σ_t mask · log π_ref (DPO; filled from the cache, zeros until then)
 *
 * Causal attention means right padding never changes a real position, so no attention mask
 * is needed (as nll.ts). One-hot selections (not gather) keep the gradient jit-friendly
 * (engine/losses.ts explains why).
 */
import { type TokenizedExample, tokenizeDataset } from "../data/tokenize.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { PreferencePair } from "./data.ts";

export interface TokenizedPair {
  /** Index of the pair in its file (the reference cache is keyed by it). */
  index: number;
  chosen: TokenizedExample;
  rejected: TokenizedExample;
  margin: number;
}

/** Tokenise pairs; a pair either of whose completions exceeds maxLength tokens is dropped (counted). */
export function tokenizePairs(
  tokenizer: Tokenizer,
  pairs: readonly PreferencePair[],
  maxLength: number,
): { pairs: TokenizedPair[]; dropped: number } {
  const opts = { maxLength, addEos: true as const, checkRoundTrip: false };
  const chosen = tokenizeDataset(
    tokenizer,
    pairs.map((p) => ({ prompt: p.prompt, target: p.chosen })),
    opts,
  );
  const rejected = tokenizeDataset(
    tokenizer,
    pairs.map((p) => ({ prompt: p.prompt, target: p.rejected })),
    opts,
  );
  const c = new Map(chosen.sourceIndex.map((src, k) => [src, chosen.examples[k]!]));
  const r = new Map(rejected.sourceIndex.map((src, k) => [src, rejected.examples[k]!]));
  const out: TokenizedPair[] = [];
  pairs.forEach((p, i) => {
    const ci = c.get(i);
    const ri = r.get(i);
    if (ci && ri) out.push({ index: i, chosen: ci, rejected: ri, margin: p.margin ?? 0 });
  });
  return { pairs: out, dropped: pairs.length - out.length };
}

export interface PairBatch {
  pairs: number; // B
  seqLen: number; // T
  ids: Int32Array; // [2B, T]
  targets: Int32Array; // [2B, T]
  mask: Float32Array; // [2B, T]
  last: Float32Array; // [2B, T]
  weight: Float32Array; // [B]
  margin: Float32Array; // [B]
  lengths: Float32Array; // [2B]
  refLogProbs: Float32Array; // [2B]
  /** The pairs' indices (refLogProbs are looked up by them). */
  index: number[];
}

/** The smallest T holding every row of these pairs, rounded up to a multiple of m (m ≤ 0: cap exactly). */
export function pairSeqLen(pairs: readonly TokenizedPair[], cap: number, multiple: number): number {
  if (multiple <= 0) return cap;
  const longest = pairs.reduce((m, p) => Math.max(m, p.chosen.input_ids.length, p.rejected.input_ids.length), 1);
  return Math.min(cap, Math.ceil(longest / multiple) * multiple);
}

/**
 * A fixed-shape batch of `rows` (padded to `size` pairs by repeating the first with weight 0)
 * at length T (see the header). `refLogProbs(i)` gives the cached reference sums of pair i.
 */
export function toPairBatch(
  rows: readonly TokenizedPair[],
  size: number,
  seqLen: number,
  padId: number,
  refLogProbs?: (index: number) => readonly [number, number],
): PairBatch {
  if (rows.length === 0 || rows.length > size) {
    throw new RangeError(`toPairBatch: got ${rows.length} pairs for a batch of ${size}`);
  }
  const B = size;
  const T = seqLen;
  const out: PairBatch = {
    pairs: B,
    seqLen: T,
    ids: new Int32Array(2 * B * T).fill(padId),
    targets: new Int32Array(2 * B * T).fill(padId),
    mask: new Float32Array(2 * B * T),
    last: new Float32Array(2 * B * T),
    weight: new Float32Array(B),
    margin: new Float32Array(B),
    lengths: new Float32Array(2 * B),
    refLogProbs: new Float32Array(2 * B),
    index: [],
  };
  for (let b = 0; b < B; b++) {
    const real = b < rows.length;
    const p = rows[real ? b : 0]!;
    out.weight[b] = real ? 1 : 0;
    out.margin[b] = p.margin;
    out.index.push(p.index);
    const ref = refLogProbs?.(p.index);
    [p.chosen, p.rejected].forEach((ex, side) => {
      const row = side * B + b;
      const n = ex.input_ids.length;
      if (n > T) throw new RangeError(`toPairBatch: a completion of ${n} tokens exceeds seqLen ${T}`);
      for (let t = 0; t < n; t++) out.ids[row * T + t] = ex.input_ids[t]!;
      let len = 0;
      for (let t = 0; t < n - 1; t++) {
        out.targets[row * T + t] = ex.input_ids[t + 1]!;
        out.mask[row * T + t] = ex.loss_mask[t + 1]!;
        len += ex.loss_mask[t + 1]!;
      }
      out.last[row * T + n - 1] = 1;
      out.lengths[row] = len;
      if (ref) out.refLogProbs[row] = ref[side]!;
    });
  }
  return out;
}

/** Consecutive batches over all pairs in order (the last one padded): for evaluation and the reference pass. */
export function batchesInOrder(
  pairs: readonly TokenizedPair[],
  size: number,
  cap: number,
  multiple: number,
  padId: number,
  refLogProbs?: (index: number) => readonly [number, number],
): PairBatch[] {
  const out: PairBatch[] = [];
  for (let s = 0; s < pairs.length; s += size) {
    const rows = pairs.slice(s, s + size);
    out.push(toPairBatch(rows, size, pairSeqLen(rows, cap, multiple), padId, refLogProbs));
  }
  return out;
}
