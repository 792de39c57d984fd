/**
 * Steps 2–3 of the byte-level BPE trainer (train-bpe.ts): learn merges from word counts
 * (Sennrich et al. 2016), with pair counts kept up to date incrementally.
 *
 * A merge only revisits the words that contain the pair (an index pair → words),
 * subtracting their old pairs and adding their new ones; the best pair comes from a
 * max-heap with lazy deletion (stale entries are re-checked when popped). Ties in count go
 * to the smaller pair of ids (left id, then right id) — the Rust trainer's rule — so the
 * result depends on neither corpus order nor hash order.
 */
import { describeValue, TokenizerError } from "./files.ts";

export interface LearnMergesOptions {
  /** The initial symbols; their index is their id. */
  alphabet: readonly string[];
  /** Merges to learn at most. */
  numMerges: number;
  /** Stop when the best pair occurs fewer times than this. */
  minFrequency: number;
  /** Merged strings that must not become tokens (they would collide with special tokens). */
  forbidden?: ReadonlySet<string>;
}

export interface LearnedMerges {
  /** In the order learnt; merge i creates symbol id alphabet.length + i. */
  merges: [string, string][];
  /** How often each merged pair occurred when it was chosen (non-increasing). */
  counts: number[];
}

/**
 * A max-heap of (count, key) with the largest count on top, ties to the smaller key.
 * key = left · K + right, so "smaller key" is "smaller left id, then smaller right id".
 */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Remove the top; returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.above(l, best)) best = l;
        if (r < n && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learn up to `numMerges` merges over `words` (byte-level word → count), with
 * incremental pair counts. Exported for tests that check merges by hand.
 */
export function learnMerges(words: ReadonlyMap<string, number>, opts: LearnMergesOptions): LearnedMerges {
  const symbols: string[] = [...opts.alphabet];
  const idOf = new Map<string, number>(symbols.map((s, i) => [s, i]));
  const K = symbols.length + opts.numMerges; // ids stay below K, so key = a·K + b is unique and < 2^53
  const forbidden = opts.forbidden ?? new Set<string>();

  // Words of two or more symbols; a single symbol has no pair to merge.
  const wordSymbols: number[][] = [];
  const wordCounts: number[] = [];
  for (const [word, count] of words) {
    const ids: number[] = [];
    for (const ch of word) {
      const id = idOf.get(ch);
      if (id === undefined) {
        const what = `symbol ${describeValue(ch)} of word ${describeValue(word)} is not in the alphabet`;
        throw new TokenizerError("learnMerges", what);
      }
      ids.push(id);
    }
    if (ids.length >= 2) {
      wordSymbols.push(ids);
      wordCounts.push(count);
    }
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>(); // may hold stale words; they are re-checked
  const heap = new PairHeap();
  const banned = new Set<number>(); // pairs whose merge is forbidden
  const addPairs = (w: number, sign: 1 | -1, touched: Set<number> | null): void => {
    const ids = wordSymbols[w]!;
    const c = wordCounts[w]! * sign;
    for (let i = 0; i + 1 < ids.length; i++) {
      const key = ids[i]! * K + ids[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      if (sign > 0) {
        const set = pairWords.get(key);
        if (set) set.add(w);
        else pairWords.set(key, new Set([w]));
      }
      touched?.add(key);
    }
  };
  for (let w = 0; w < wordSymbols.length; w++) addPairs(w, 1, null);
  for (const [key, count] of pairCount) heap.push(count, key);

  const merges: [string, string][] = [];
  const counts: number[] = [];
  while (merges.length < opts.numMerges && heap.size > 0) {
    const [count, key] = heap.pop();
    // Every change of a count pushed an entry at the new count, so an entry whose count is
    // no longer current is stale and can be dropped.
    if ((pairCount.get(key) ?? 0) !== count || banned.has(key)) continue;
    if (count < opts.minFrequency) break;
    const a = Math.floor(key / K);
    const b = key - a * K;
    const merged = symbols[a]! + symbols[b]!;
    if (forbidden.has(merged)) {
      banned.add(key);
      continue;
    }
    const c = symbols.length;
    symbols.push(merged);
    merges.push([symbols[a]!, symbols[b]!]);
    counts.push(count);

    // Rewrite every word containing (a, b), left to right without overlap ("aaa" → "aa a").
    const touched = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      const ids = wordSymbols[w]!;
      let found = false;
      for (let i = 0; i + 1 < ids.length; i++) {
        if (ids[i] === a && ids[i + 1] === b) {
          found = true;
          break;
        }
      }
      if (!found) continue;
      addPairs(w, -1, touched);
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          next.push(c);
          i++;
        } else {
          next.push(ids[i]!);
        }
      }
      wordSymbols[w] = next;
      addPairs(w, 1, touched);
    }
    pairWords.delete(key);
    for (const t of touched) {
      const n = pairCount.get(t) ?? 0;
      if (n <= 0) pairCount.delete(t);
      // Every pair whose count changed gets an entry at its new count; entries at old counts turn stale.
      else heap.push(n, t);
    }
  }
  return { merges, counts };
}
