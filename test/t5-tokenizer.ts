/**
 * A tiny tokenizer.json in the layout of T5's / Flan-T5's (the Unigram model, Precompiled +
 * Strip + Replace normalizers, WhitespaceSplit + Metaspace pre-tokenizers, "</s>" appended by
 * the template; <pad> 0, </s> 1, <unk> 2), over pieces the test chooses.
 */
import type { TokenizerConfigJson, TokenizerJson } from "../src/tokenizer/tokenizer.ts";

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

export function t5TokenizerFiles(pieces: readonly [string, number][]): {
  json: TokenizerJson;
  config: TokenizerConfigJson;
} {
  const eos = { SpecialToken: { id: "</s>", type_id: 0 } };
  const json: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Precompiled", precompiled_charsmap: null },
        { type: "Strip", strip_left: false, strip_right: true },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: "▁" },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "WhitespaceSplit" },
        { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
      ],
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ Sequence: { id: "A", type_id: 0 } }, eos],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, eos, { Sequence: { id: "B", type_id: 0 } }, eos],
      special_tokens: { "</s>": { id: "</s>", ids: [1], tokens: ["</s>"] } },
    },
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    model: {
      type: "Unigram",
      unk_id: 2,
      vocab: [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ...pieces],
      byte_fallback: false,
    },
  };
  const config: TokenizerConfigJson = {
    eos_token: "</s>",
    pad_token: "<pad>",
    unk_token: "<unk>",
    extra_ids: 0,
    model_max_length: 512,
    tokenizer_class: "T5Tokenizer",
  };
  return { json, config };
}

/** Pieces for texts: every character (spaces as "▁"), and "▁word" for each word, scored by log relative frequency. */
export function piecesFor(texts: readonly string[]): [string, number][] {
  const counts = new Map<string, number>();
  const bump = (p: string) => counts.set(p, (counts.get(p) ?? 0) + 1);
  for (const t of texts) {
    for (const word of t.split(/\s+/).filter(Boolean)) {
      bump(`▁${word}`);
      for (const ch of word) bump(ch);
      bump("▁");
    }
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([p, n]) => [p, Math.log(n / total)]);
}
