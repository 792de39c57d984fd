/**
 * A byte-level BPE trainer (Sennrich et al. 2016, "Neural Machine Translation of
 * Rare Words with Subword Units"; byte-level as in GPT-2), writing the same
 * `tokenizer.json` the Rust `tokenizers` library's BpeTrainer writes, so that our
 * loader, transformers and tokenizers.js all read it.
 *
 *   1. Pre-tokenize: split each text around the special tokens (they never take
 *      part in merges), then with GPT-2's regex into words; count distinct words.
 *   2. Map each word's UTF-8 bytes to GPT-2's printable stand-ins ("Ġ" for a space),
 *      so the 256-symbol alphabet covers every string: nothing is ever unknown.
 *   3. Repeat until the vocabulary is full: find the most frequent adjacent pair
 *      (counted over words × word frequency), add the merged symbol, rewrite the
 *      words that contain it.
 *
 * Vocabulary layout (as in the Rust trainer): special tokens first (ids 0..k-1),
 * then the 256 byte symbols sorted by code point, then one id per merge in the
 * order learnt.
 *
 * Speed (bpe-merges.ts): pair counts are kept up to date incrementally. A merge only revisits the
 * words that contain the pair (an index pair → words), subtracting their old
 * pairs and adding their new ones; the best pair comes from a max-heap with lazy
 * deletion (stale entries are re-checked when popped). Nothing is recounted from
 * scratch per merge.
 *
 * Determinism: ties in count are broken by the smaller pair of ids (left id, then
 * right id) — the Rust trainer's rule — so the result does not depend on corpus
 * order, hash order or a seed; there is no randomness to seed.
 *
 * Checked against the Rust trainer (tokenizers 0.23.2, BpeTrainer with the ByteLevel
 * alphabet): identical merges and vocabulary on the GSM8K sample at vocab 1000, and
 * on the small corpus pinned in test/train-bpe.test.ts.
 *
 * Departures from the Rust trainer: special tokens' text is cut out of the corpus
 * before counting (the Rust trainer counts "<|im_start|>" as ordinary text and learns
 * merges like "< |" that encoding never uses, since encoding splits specials off
 * first); `minFrequency` defaults to 2 (a pair seen once teaches nothing; the Rust
 * default is 0), so a small corpus can stop short of `vocabSize`; and a merge whose
 * result equals a special token's string is skipped instead of reusing that token's id.
 */
import { learnMerges } from "./bpe-merges.ts";
import { CHATML_TEMPLATE } from "./chat.ts";
import {
  type AddedTokenJson,
  type BpeModelJson,
  describeValue,
  type TokenizerConfigJson,
  TokenizerError,
  type TokenizerJson,
  writeTokenizerFiles,
} from "./tokenizer.ts";

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"];

/** GPT-2's pre-tokenizer regex, as tokenizers.js's ByteLevel pre-tokenizer applies it (use_regex: true). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The `Digits` pre-tokenizer with individual_digits (tokenizers.js's pattern): runs of non-digits, single digits. */
export const DIGITS_PATTERN = /[^\d]+|\d/gu;

/**
 * GPT-2's `bytes_to_unicode`: bytes that are printable Latin-1 map to themselves,
 * the other 68 to U+0100.. in order, so every byte is one visible, non-space char.
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable.includes(b) ? b : next++);
  return table;
})();

const utf8 = new TextEncoder();

/** A string's UTF-8 bytes as byte-level symbols ("hi there" → "hiĠthere"). */
export function toByteLevel(text: string): string {
  let out = "";
  for (const b of utf8.encode(text)) out += BYTE_TO_UNICODE[b]!;
  return out;
}

// ---------------------------------------------------------------------------
// 1. Counting words.

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Streams texts into word counts (step 1), so a corpus never has to be held in
 * memory. Special tokens are cut out of the text first, longest first, matching
 * anywhere, as the tokenizer does when encoding.
 */
export class WordCounter {
  /** Raw (not byte-level) word → count. */
  readonly words = new Map<string, number>();
  texts = 0;
  chars = 0;
  private readonly specials: RegExp | null;

  /**
   * `splitDigits`: every ASCII digit is its own word before GPT-2's regex runs (the
   * `Digits {individual_digits: true}` pre-tokenizer, as Llama 1 / SentencePiece's
   * split_digits), so no merge ever joins digits and numbers are read digit by digit.
   */
  constructor(
    readonly specialTokens: readonly string[] = DEFAULT_SPECIAL_TOKENS,
    readonly splitDigits = false,
  ) {
    const sorted = [...specialTokens].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.specials = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join("|"), "gu") : null;
  }

  add(text: string): void {
    if (typeof text !== "string")
      throw new TokenizerError("trainBpe", `corpus items must be strings, got ${describeValue(text)}`);
    this.texts++;
    this.chars += text.length;
    const chunks = this.specials ? text.split(this.specials) : [text];
    for (const chunk of chunks) {
      for (const piece of this.splitDigits ? (chunk.match(DIGITS_PATTERN) ?? []) : [chunk]) {
        for (const m of piece.matchAll(GPT2_PATTERN)) {
          const w = m[0];
          this.words.set(w, (this.words.get(w) ?? 0) + 1);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 2–3. Learning merges: bpe-merges.ts.

export { type LearnedMerges, type LearnMergesOptions, learnMerges } from "./bpe-merges.ts";

// ---------------------------------------------------------------------------
// The tokenizer.json.

export interface TrainBpeOptions {
  /** Target vocabulary size, special tokens and the 256 byte symbols included. */
  vocabSize: number;
  /** Stop early when the best pair occurs fewer times than this. Default 2. */
  minFrequency?: number;
  /** Default ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]; ids 0..k-1 in this order. */
  specialTokens?: readonly string[];
  /** Split every digit off before merging (see WordCounter); the tokenizer.json gets the same Digits pre-tokenizer. */
  splitDigits?: boolean;
}

export interface TrainBpeStats {
  texts: number;
  chars: number;
  distinctWords: number;
  merges: number;
  /** Count of each merged pair when it was chosen. */
  mergeCounts: number[];
  /** True when minFrequency (or running out of pairs) stopped training before vocabSize. */
  stoppedEarly: boolean;
}

function checkOptions(opts: TrainBpeOptions): { vocabSize: number; minFrequency: number; specialTokens: string[] } {
  const specialTokens = [...(opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  specialTokens.forEach((t, i) => {
    if (typeof t !== "string" || t.length === 0) {
      throw new TokenizerError("trainBpe", `specialTokens[${i}]: expected a non-empty string, got ${describeValue(t)}`);
    }
    if (specialTokens.indexOf(t) !== i)
      throw new TokenizerError("trainBpe", `specialTokens[${i}]: ${describeValue(t)} is listed twice`);
    if (BYTE_TO_UNICODE.includes(t)) {
      throw new TokenizerError(
        "trainBpe",
        `specialTokens[${i}]: ${describeValue(t)} is one of the 256 byte symbols; pick a longer string`,
      );
    }
  });
  const minimum = specialTokens.length + 256;
  if (!Number.isSafeInteger(opts.vocabSize) || opts.vocabSize < minimum) {
    throw new TokenizerError(
      "trainBpe",
      `vocabSize must be an integer ≥ ${minimum} (${specialTokens.length} special tokens + 256 byte symbols), got ${describeValue(opts.vocabSize)}`,
    );
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) {
    throw new TokenizerError("trainBpe", `minFrequency must be an integer ≥ 1, got ${describeValue(minFrequency)}`);
  }
  return { vocabSize: opts.vocabSize, minFrequency, specialTokens };
}

/** Train on a corpus (or pre-filled WordCounter) and return the tokenizer.json plus training statistics. */
export function trainBpeWithStats(
  corpus: Iterable<string> | WordCounter,
  opts: TrainBpeOptions,
): { tokenizer: TokenizerJson; stats: TrainBpeStats } {
  const { vocabSize, minFrequency, specialTokens } = checkOptions(opts);
  let counter: WordCounter;
  if (corpus instanceof WordCounter) {
    const same =
      corpus.specialTokens.length === specialTokens.length &&
      corpus.specialTokens.every((t, i) => t === specialTokens[i]);
    if (!same) {
      throw new TokenizerError(
        "trainBpe",
        "the WordCounter was built with different specialTokens than the options give",
      );
    }
    if (corpus.splitDigits !== (opts.splitDigits ?? false)) {
      throw new TokenizerError("trainBpe", "the WordCounter's splitDigits differs from the options' splitDigits");
    }
    counter = corpus;
  } else {
    counter = new WordCounter(specialTokens, opts.splitDigits ?? false);
    for (const text of corpus) counter.add(text);
  }

  // Byte-level words; distinct raw words can share a byte-level form only if equal, so counts carry over.
  const byteWords = new Map<string, number>();
  for (const [word, count] of counter.words) byteWords.set(toByteLevel(word), count);
  const alphabet = [...BYTE_TO_UNICODE].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
  const numMerges = vocabSize - specialTokens.length - alphabet.length;
  const { merges, counts } = learnMerges(byteWords, {
    alphabet,
    numMerges,
    minFrequency,
    forbidden: new Set(specialTokens),
  });

  // Object.fromEntries defines own properties, so tokens like "__proto__" are safe keys.
  const k = specialTokens.length;
  const vocab: Record<string, number> = Object.fromEntries([
    ...specialTokens.map((t, i): [string, number] => [t, i]),
    ...alphabet.map((s, i): [string, number] => [s, k + i]),
    ...merges.map(([l, r], i): [string, number] => [l + r, k + alphabet.length + i]),
  ]);
  const addedTokens: AddedTokenJson[] = specialTokens.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const model: BpeModelJson = {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges: merges.map(([l, r]) => `${l} ${r}`),
  };
  const tokenizer: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: opts.splitDigits
      ? {
          type: "Sequence",
          pretokenizers: [
            { type: "Digits", individual_digits: true },
            { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
          ],
        }
      : { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model,
  };
  return {
    tokenizer,
    stats: {
      texts: counter.texts,
      chars: counter.chars,
      distinctWords: counter.words.size,
      merges: merges.length,
      mergeCounts: counts,
      stoppedEarly: merges.length < numMerges,
    },
  };
}

/** Train a byte-level BPE tokenizer and return its tokenizer.json (Hugging Face format). */
export function trainBpe(corpus: Iterable<string> | WordCounter, opts: TrainBpeOptions): TokenizerJson {
  return trainBpeWithStats(corpus, opts).tokenizer;
}

export interface SaveTokenizerOptions {
  /** Default "<|endoftext|>" when the tokenizer has it, else none. */
  bos?: string | null;
  /** Default "<|endoftext|>" when the tokenizer has it, else none. */
  eos?: string | null;
  /** Default "<pad>" when the tokenizer has it, else none. */
  pad?: string | null;
  /** Default: the built-in ChatML template; null writes none. */
  chatTemplate?: string | null;
  /** Written as model_max_length when given. */
  modelMaxLength?: number;
}

/**
 * Write `json` as tokenizer.json plus a tokenizer_config.json (special tokens,
 * ChatML chat template, clean_up_tokenization_spaces: false so decoding is exact)
 * that `Tokenizer.fromDir` and transformers' AutoTokenizer both read.
 */
export async function saveTokenizer(dir: string, json: TokenizerJson, opts: SaveTokenizerOptions = {}): Promise<void> {
  const known = new Set<string>(json.added_tokens.map((t) => t.content));
  if (json.model.type === "BPE") for (const t of Object.keys((json.model as BpeModelJson).vocab)) known.add(t);
  const pick = (field: "bos" | "eos" | "pad", given: string | null | undefined, dflt: string): string | null => {
    if (given === undefined) return known.has(dflt) ? dflt : null;
    if (given !== null && !known.has(given)) {
      throw new TokenizerError("saveTokenizer", `${field} ${describeValue(given)} is not a token of this tokenizer`);
    }
    return given;
  };
  const bos = pick("bos", opts.bos, "<|endoftext|>");
  const eos = pick("eos", opts.eos, "<|endoftext|>");
  const pad = pick("pad", opts.pad, "<pad>");
  const chatTemplate = opts.chatTemplate === undefined ? CHATML_TEMPLATE : opts.chatTemplate;
  const named = new Set([bos, eos, pad]);
  const config: TokenizerConfigJson = {
    added_tokens_decoder: Object.fromEntries(
      json.added_tokens.map((t) => [
        String(t.id),
        {
          content: t.content,
          lstrip: t.lstrip,
          normalized: t.normalized,
          rstrip: t.rstrip,
          single_word: t.single_word,
          special: t.special,
        },
      ]),
    ),
    additional_special_tokens: json.added_tokens
      .filter((t) => t.special && !named.has(t.content))
      .map((t) => t.content),
    bos_token: bos,
    eos_token: eos,
    pad_token: pad,
    unk_token: null,
    clean_up_tokenization_spaces: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    ...(opts.modelMaxLength === undefined ? {} : { model_max_length: opts.modelMaxLength }),
    ...(chatTemplate === null ? {} : { chat_template: chatTemplate }),
  };
  await writeTokenizerFiles(dir, json, config);
}
