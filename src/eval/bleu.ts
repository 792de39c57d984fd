/**
 * BLEU (Papineni et al. 2002) as sacrebleu 2.x computes it with its defaults (Post 2018):
 *
 *   tokenize "13a" (mteval-v13a), case-sensitive, max n-gram order N = 4, uniform weights;
 *   clipped n-gram matches against the max count over references, summed over the corpus;
 *   brevity penalty BP = 1 if c ≥ r else exp(1 − r/c), where per segment r is the closest reference length
 *   (ties → the shorter reference) and c, r are summed over the corpus;
 *   BLEU = 100 · BP · exp( (1/N) Σ_n log p_n ).
 *
 * Smoothing "exp" (Chen & Cherry 2014, method 3, the mteval-v13a NIST rule), which sacrebleu applies by
 * default to BOTH corpus_score and sentence_bleu: keep a factor f = 1; for each order n with 0 matches,
 * f ← 2f and p_n = 100 / (f · total_n). If no n-gram of any order matches, BLEU is 0. An order with no
 * hypothesis n-grams at all stops the loop and leaves p_n = 0 (so BLEU = 0 unless effective order is on).
 *
 * Effective order (sacrebleu.sentence_bleu's default use_effective_order=True): the geometric mean runs only
 * over orders that have at least one hypothesis n-gram, so a 2-word sentence is not zeroed.
 *
 * API departure from sacrebleu: `corpusBleu` takes references per hypothesis (references[i] is the list of
 * references of hypothesis i, any number ≥ 1) instead of sacrebleu's reference streams.
 */

export interface BleuOptions {
  /** Smoothing: "exp" (sacrebleu default), "none", "floor" (value 0.1), "add-k" (value 1). */
  smooth?: "exp" | "none" | "floor" | "add-k";
  /** Value for "floor" / "add-k"; defaults 0.1 and 1 as in sacrebleu. */
  smoothValue?: number;
  /** Average only over orders with hypothesis n-grams (default false for corpus, true for sentence). */
  effectiveOrder?: boolean;
  /** Lowercase before tokenising (default false). */
  lowercase?: boolean;
  /** "13a" (default) or "none" (split on whitespace only). */
  tokenize?: "13a" | "none";
  /** Max n-gram order (default 4). */
  maxOrder?: number;
}

export interface BleuScore {
  /** BLEU in points, 0–100. */
  score: number;
  /** Clipped matches per order. */
  counts: number[];
  /** Hypothesis n-grams per order. */
  totals: number[];
  /** Precision per order in percent (after smoothing). */
  precisions: number[];
  bp: number;
  sysLen: number;
  refLen: number;
}

/**
 * sacrebleu's tokenizer_13a: drop "<skipped>", join "-\n" hyphenation, newlines → spaces, unescape
 * &quot; &amp; &lt; &gt;, then the mteval-v13a regexes (each applied left to right over the whole line):
 *   1. every character in {-~  [-`  space-&  (-+  :-@  / gets spaces around it (punctuation and symbols);
 *   2. "." and "," preceded by a non-digit are split off;  3. … and when followed by a non-digit;
 *   4. "-" preceded by a digit is split off;  then whitespace is collapsed.
 */
export function tokenize13a(line: string): string {
  let s = line.replaceAll("<skipped>", "").replaceAll("-\n", "").replaceAll("\n", " ");
  if (s.includes("&")) {
    s = s.replaceAll("&quot;", '"').replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">");
  }
  s = ` ${s} `
    .replace(/([{-~[-` -&(-+:-@/])/g, " $1 ")
    .replace(/([^0-9])([.,])/g, "$1 $2 ")
    .replace(/([.,])([^0-9])/g, " $1 $2")
    .replace(/([0-9])(-)/g, "$1 $2 ");
  return splitWhitespace(s).join(" ");
}

/** Python's str.split(): split on runs of whitespace, no empty strings. */
function splitWhitespace(s: string): string[] {
  return s.split(/\s+/).filter((t) => t.length > 0);
}

function preprocess(sentence: string, opts: BleuOptions): string[] {
  // sacrebleu: lowercase (optional), rstrip, then tokenize; n-grams come from str.split().
  const s = (opts.lowercase ? sentence.toLowerCase() : sentence).trimEnd();
  return splitWhitespace((opts.tokenize ?? "13a") === "13a" ? tokenize13a(s) : s);
}

/** n-gram counts for orders 1..maxOrder; keys join tokens with U+0001 (cannot occur inside a token). */
function ngramCounts(tokens: readonly string[], maxOrder: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= maxOrder; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = `${n}\u0001${tokens.slice(i, i + n).join("\u0001")}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** Sufficient statistics of one segment: [sysLen, refLen, correct_1..N, total_1..N]. */
function segmentStats(hyp: string, refs: readonly string[], opts: BleuOptions, maxOrder: number): number[] {
  if (refs.length === 0) throw new Error("bleu: every hypothesis needs at least one reference, got 0");
  const refMax = new Map<string, number>();
  const refLens: number[] = [];
  for (const ref of refs) {
    const toks = preprocess(ref, opts);
    refLens.push(toks.length);
    for (const [k, v] of ngramCounts(toks, maxOrder)) refMax.set(k, Math.max(refMax.get(k) ?? 0, v));
  }
  const hypToks = preprocess(hyp, opts);
  // closest reference length; ties go to the shorter reference
  let refLen = -1;
  let bestDiff = -1;
  for (const len of refLens) {
    const diff = Math.abs(hypToks.length - len);
    if (bestDiff === -1 || diff < bestDiff || (diff === bestDiff && len < refLen)) {
      bestDiff = diff;
      refLen = len;
    }
  }
  const correct = new Array<number>(maxOrder).fill(0);
  const total = new Array<number>(maxOrder).fill(0);
  for (const [k, v] of ngramCounts(hypToks, maxOrder)) {
    const n = Number(k.slice(0, k.indexOf("\u0001"))) - 1;
    total[n]! += v;
    correct[n]! += Math.min(v, refMax.get(k) ?? 0);
  }
  return [hypToks.length, refLen, ...correct, ...total];
}

/** BLEU from summed statistics (sacrebleu BLEU.compute_bleu). */
function computeBleu(stats: readonly number[], opts: BleuOptions, maxOrder: number, effectiveDefault: boolean) {
  const sysLen = stats[0]!;
  const refLen = stats[1]!;
  const correct = stats.slice(2, 2 + maxOrder);
  const total = stats.slice(2 + maxOrder);
  const smooth = opts.smooth ?? "exp";
  const smoothValue = opts.smoothValue ?? (smooth === "floor" ? 0.1 : 1);
  const effectiveOrder = opts.effectiveOrder ?? effectiveDefault;
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(maxOrder).fill(0);
  const result = { counts: [...correct], totals: [...total], precisions, bp, sysLen, refLen };
  if (!correct.some((c) => c > 0)) return { score: 0, ...result };
  let smoothMteval = 1;
  let effOrder = maxOrder;
  for (let n = 1; n <= maxOrder; n++) {
    if (smooth === "add-k" && n > 1) {
      correct[n - 1]! += smoothValue;
      total[n - 1]! += smoothValue;
    }
    if (total[n - 1] === 0) break;
    if (effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (smooth === "exp") {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]!);
      } else if (smooth === "floor") {
        precisions[n - 1] = (100 * smoothValue) / total[n - 1]!;
      }
    } else {
      precisions[n - 1] = (100 * correct[n - 1]!) / total[n - 1]!;
    }
  }
  // sacrebleu's my_log(0) = -9999999999, i.e. a zero precision zeroes the score.
  const logSum = precisions.slice(0, effOrder).reduce((s, p) => s + (p === 0 ? -9999999999 : Math.log(p)), 0);
  return { score: bp * Math.exp(logSum / effOrder), ...result };
}

/**
 * Corpus BLEU (sacrebleu.corpus_bleu defaults: 13a, exp smoothing, no effective order).
 * references[i] holds the references of hypotheses[i].
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  opts: BleuOptions = {},
): BleuScore {
  if (hypotheses.length !== references.length) {
    throw new Error(
      `corpusBleu: ${hypotheses.length} hypotheses but ${references.length} reference lists; pass one list per hypothesis`,
    );
  }
  const maxOrder = opts.maxOrder ?? 4;
  const sums = new Array<number>(2 + 2 * maxOrder).fill(0);
  hypotheses.forEach((h, i) => {
    segmentStats(h, references[i]!, opts, maxOrder).forEach((v, j) => {
      sums[j]! += v;
    });
  });
  return computeBleu(sums, opts, maxOrder, false);
}

/** Sentence BLEU (sacrebleu.sentence_bleu defaults: 13a, exp smoothing, effective order on). */
export function sentenceBleu(hypothesis: string, references: readonly string[], opts: BleuOptions = {}): BleuScore {
  const maxOrder = opts.maxOrder ?? 4;
  return computeBleu(segmentStats(hypothesis, references, opts, maxOrder), opts, maxOrder, true);
}
