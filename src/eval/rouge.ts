/**
 * ROUGE-1, ROUGE-2 and ROUGE-L (Lin 2004) as Google's `rouge_score` package computes them
 * (google-research/google-research, rouge/rouge_scorer.py and tokenize.py):
 *
 *   tokenize: lowercase; every run of characters outside [a-z0-9] → one space; split on whitespace;
 *     with stemming, tokens LONGER than 3 characters go through nltk's PorterStemmer() in its default
 *     mode (NLTK_EXTENSIONS — not ORIGINAL_ALGORITHM); empty tokens dropped.
 *   ROUGE-N: clipped n-gram overlap  o = Σ_g min(count_ref(g), count_pred(g));
 *     P = o / max(#pred n-grams, 1),  R = o / max(#ref n-grams, 1),  F = 2PR/(P+R) (0 when P+R = 0).
 *   ROUGE-L: LCS length l of the two token sequences (sentence level, not the summary-level "Lsum");
 *     P = l / |pred|, R = l / |ref|, F as above; 0 when either side has no tokens.
 *   Several references (RougeScorer.score_multi): per ROUGE type, the reference with the highest F wins
 *     (first one on ties) and its P, R, F are reported.
 */

export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

export interface RougeScores {
  rouge1: RougeScore;
  rouge2: RougeScore;
  rougeL: RougeScore;
}

// ---------------------------------------------------------------------------------------------------------
// Porter stemmer (Porter 1980, "An algorithm for suffix stripping"), with the NLTK_EXTENSIONS departures
// that nltk.stem.porter.PorterStemmer() applies by default (each marked "NLTK:" below).

const IRREGULAR: Record<string, string> = {
  // NLTK: a pool of irregular forms looked up before any rule.
  sky: "sky",
  skies: "sky",
  dying: "die",
  lying: "lie",
  tying: "tie",
  news: "news",
  innings: "inning",
  inning: "inning",
  outings: "outing",
  outing: "outing",
  cannings: "canning",
  canning: "canning",
  howe: "howe",
  proceed: "proceed",
  exceed: "exceed",
  succeed: "succeed",
};

/** Porter's consonant: not a e i o u, and y only when it follows a vowel-position (or starts the word). */
function isConsonant(w: string, i: number): boolean {
  const ch = w[i]!;
  if ("aeiou".includes(ch)) return false;
  if (ch === "y") return i === 0 ? true : !isConsonant(w, i - 1);
  return true;
}

/** m in [C](VC)^m[V]: the number of vowel→consonant transitions. */
function measure(stem: string): number {
  let m = 0;
  for (let i = 1; i < stem.length; i++) if (!isConsonant(stem, i - 1) && isConsonant(stem, i)) m++;
  return m;
}

function containsVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

/** *d: ends with a double consonant. */
function endsDoubleConsonant(w: string): boolean {
  return w.length >= 2 && w[w.length - 1] === w[w.length - 2] && isConsonant(w, w.length - 1);
}

/** *o: ends consonant-vowel-consonant, the last not w, x or y. NLTK: also a 2-letter vowel-consonant word. */
function endsCvc(w: string): boolean {
  const n = w.length;
  if (n >= 3) {
    return isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1) && !"wxy".includes(w[n - 1]!);
  }
  return n === 2 && !isConsonant(w, 0) && isConsonant(w, 1);
}

type Rule = [suffix: string, replacement: string, condition: ((stem: string) => boolean) | null];

/**
 * Apply the FIRST rule whose suffix the word ends with (as nltk does): if its condition holds, replace the
 * suffix, otherwise return the word unchanged — later rules are not tried.
 */
function applyRules(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, word.length - suffix.length);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
  }
  return word;
}

const positive = (stem: string): boolean => measure(stem) > 0;
const gt1 = (stem: string): boolean => measure(stem) > 1;

function step1a(w: string): string {
  if (w.endsWith("ies") && w.length === 4) return w.slice(0, -3) + "ie"; // NLTK: "dies" → "die"
  return applyRules(w, [
    ["sses", "ss", null],
    ["ies", "i", null],
    ["ss", "ss", null],
    ["s", "", null],
  ]);
}

function step1b(w: string): string {
  if (w.endsWith("ied")) return w.slice(0, -3) + (w.length === 4 ? "ie" : "i"); // NLTK
  if (w.endsWith("eed")) {
    const stem = w.slice(0, -3);
    return measure(stem) > 0 ? stem + "ee" : w;
  }
  let stem: string | null = null;
  for (const suffix of ["ed", "ing"]) {
    if (w.endsWith(suffix) && containsVowel(w.slice(0, -suffix.length))) {
      stem = w.slice(0, -suffix.length);
      break;
    }
  }
  if (stem === null) return w;
  if (stem.endsWith("at") || stem.endsWith("bl") || stem.endsWith("iz")) return stem + "e";
  if (endsDoubleConsonant(stem)) return "lsz".includes(stem[stem.length - 1]!) ? stem : stem.slice(0, -1);
  if (measure(stem) === 1 && endsCvc(stem)) return stem + "e";
  return stem;
}

function step1c(w: string): string {
  // NLTK: y → i only after a consonant that is not the word's first letter ("happy" → "happi", "cry" → "cri").
  return applyRules(w, [["y", "i", (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]]);
}

function step2(w: string): string {
  // NLTK: "alli" → "al" first, then step 2 again.
  if (w.endsWith("alli") && positive(w.slice(0, -4))) return step2(w.slice(0, -4) + "al");
  return applyRules(w, [
    ["ational", "ate", positive],
    ["tional", "tion", positive],
    ["enci", "ence", positive],
    ["anci", "ance", positive],
    ["izer", "ize", positive],
    ["bli", "ble", positive], // NLTK (and Porter's own later version): "bli" instead of "abli" → "able"
    ["alli", "al", positive],
    ["entli", "ent", positive],
    ["eli", "e", positive],
    ["ousli", "ous", positive],
    ["ization", "ize", positive],
    ["ation", "ate", positive],
    ["ator", "ate", positive],
    ["alism", "al", positive],
    ["iveness", "ive", positive],
    ["fulness", "ful", positive],
    ["ousness", "ous", positive],
    ["aliti", "al", positive],
    ["iviti", "ive", positive],
    ["biliti", "ble", positive],
    ["fulli", "ful", positive], // NLTK
    ["logi", "log", () => positive(w.slice(0, -3))], // NLTK: condition on the word minus "ogi"
  ]);
}

function step3(w: string): string {
  return applyRules(w, [
    ["icate", "ic", positive],
    ["ative", "", positive],
    ["alize", "al", positive],
    ["iciti", "ic", positive],
    ["ical", "ic", positive],
    ["ful", "", positive],
    ["ness", "", positive],
  ]);
}

function step4(w: string): string {
  return applyRules(w, [
    ["al", "", gt1],
    ["ance", "", gt1],
    ["ence", "", gt1],
    ["er", "", gt1],
    ["ic", "", gt1],
    ["able", "", gt1],
    ["ible", "", gt1],
    ["ant", "", gt1],
    ["ement", "", gt1],
    ["ment", "", gt1],
    ["ent", "", gt1],
    ["ion", "", (stem) => gt1(stem) && (stem.endsWith("s") || stem.endsWith("t"))],
    ["ou", "", gt1],
    ["ism", "", gt1],
    ["ate", "", gt1],
    ["iti", "", gt1],
    ["ous", "", gt1],
    ["ive", "", gt1],
    ["ize", "", gt1],
  ]);
}

function step5a(w: string): string {
  if (!w.endsWith("e")) return w;
  const stem = w.slice(0, -1);
  const m = measure(stem);
  return m > 1 || (m === 1 && !endsCvc(stem)) ? stem : w;
}

function step5b(w: string): string {
  return w.endsWith("ll") && measure(w.slice(0, -1)) > 1 ? w.slice(0, -1) : w;
}

/** nltk.stem.porter.PorterStemmer().stem(word) in NLTK_EXTENSIONS mode (lowercases first). */
export function porterStem(word: string): string {
  const w = word.toLowerCase();
  const irregular = IRREGULAR[w];
  if (irregular !== undefined && Object.hasOwn(IRREGULAR, w)) return irregular;
  if (w.length <= 2) return w; // NLTK: words of one or two letters are left alone
  return step5b(step5a(step4(step3(step2(step1c(step1b(step1a(w))))))));
}

// ---------------------------------------------------------------------------------------------------------

/** rouge_score's tokenizer: lowercase, non-[a-z0-9] runs → space, split, optional stemming of tokens > 3 chars. */
export function rougeTokenize(text: string, stem = false): string[] {
  const tokens = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(/\s+/);
  return tokens.map((t) => (stem && t.length > 3 ? porterStem(t) : t)).filter((t) => /^[a-z0-9]+$/.test(t));
}

function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

function ngrams(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N from token lists (reference = rouge_score's "target"). */
export function rougeN(reference: readonly string[], prediction: readonly string[], n: number): RougeScore {
  const ref = ngrams(reference, n);
  const pred = ngrams(prediction, n);
  let overlap = 0;
  for (const [g, c] of ref) overlap += Math.min(c, pred.get(g) ?? 0);
  const refCount = Math.max(0, reference.length - n + 1);
  const predCount = Math.max(0, prediction.length - n + 1);
  const precision = overlap / Math.max(predCount, 1);
  const recall = overlap / Math.max(refCount, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/** Length of the longest common subsequence (O(|a|·|b|) dynamic programme, one row kept). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, row[j - 1]!);
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** ROUGE-L (sentence-level LCS) from token lists. */
export function rougeL(reference: readonly string[], prediction: readonly string[]): RougeScore {
  if (reference.length === 0 || prediction.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const l = lcsLength(reference, prediction);
  const precision = l / prediction.length;
  const recall = l / reference.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/**
 * ROUGE-1/2/L of `prediction` against one or several references (best F per type, as
 * RougeScorer.score_multi). `stem` turns on Porter stemming (rouge_score's use_stemmer).
 */
export function rouge(
  prediction: string,
  references: string | readonly string[],
  opts: { stem?: boolean } = {},
): RougeScores {
  const refs = typeof references === "string" ? [references] : references;
  if (refs.length === 0) throw new Error("rouge: need at least one reference, got 0");
  const pred = rougeTokenize(prediction, opts.stem ?? false);
  let best: RougeScores | null = null;
  for (const r of refs) {
    const ref = rougeTokenize(r, opts.stem ?? false);
    const s: RougeScores = { rouge1: rougeN(ref, pred, 1), rouge2: rougeN(ref, pred, 2), rougeL: rougeL(ref, pred) };
    if (best === null) best = s;
    else {
      for (const k of ["rouge1", "rouge2", "rougeL"] as const) if (s[k].fmeasure > best[k].fmeasure) best[k] = s[k];
    }
  }
  return best!;
}
