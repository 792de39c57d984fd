/**
 * Loading tokenizer.json through the wrapper: hand-built fixtures of the kinds real
 * checkpoints use, with expected ids derived by hand from their merge tables.
 *
 *  - GPT-2 style byte-level BPE (ByteLevel pre-tokenizer with GPT-2's regex);
 *  - Llama 3 style byte-level BPE (Split with Llama 3's regex, ignore_merges, BOS template);
 *  - Llama 2 style SentencePiece BPE ("▁" metaspace, byte fallback to <0xNN>, fused <unk>),
 *    in both forms found on the Hub (Prepend+Replace normalizers, or a Metaspace pre-tokenizer).
 *
 * The same fixtures were also run once through the Rust library (Python `tokenizers`
 * 0.23.2), which gives the same ids and decoded strings for every case below.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { Tokenizer, TokenizerError } from "../src/tokenizer/tokenizer.ts";
import { BYTE_TO_UNICODE } from "../src/tokenizer/train-bpe.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "stepwise-tok-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function added(id: number, content: string, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** Byte b has id b, then one id per merge in order, then `extra` tokens without merges. */
function byteLevelModel(merges: string[], extra: string[] = []) {
  const vocab: Record<string, number> = Object.fromEntries(BYTE_TO_UNICODE.map((c, b) => [c, b]));
  let next = 256;
  for (const m of merges) vocab[m.replace(" ", "")] = next++;
  for (const t of extra) vocab[t] = next++;
  return { vocab, next };
}

// ---------------------------------------------------------------------------
// GPT-2 style.

const GPT2_MERGES = [
  "Ġ t", // 256 Ġt
  "h e", // 257 he
  "Ġt he", // 258 Ġthe
  "l l", // 259 ll
  "e ll", // 260 ell
  "ell o", // 261 ello
  "H ello", // 262 Hello
  "Ġ w", // 263 Ġw
  "o r", // 264 or
  "Ġw or", // 265 Ġwor
  "Ġwor l", // 266 Ġworl
  "Ġworl d", // 267 Ġworld
];

function gpt2Json() {
  const { vocab } = byteLevelModel(GPT2_MERGES);
  vocab["<|endoftext|>"] = 268;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [added(268, "<|endoftext|>")],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [...GPT2_MERGES],
    },
  };
}
const GPT2_CONFIG = {
  add_prefix_space: false,
  bos_token: "<|endoftext|>",
  eos_token: "<|endoftext|>",
  unk_token: "<|endoftext|>",
  model_max_length: 1024,
  tokenizer_class: "GPT2Tokenizer",
};

describe("GPT-2 style byte-level BPE", () => {
  const tok = new Tokenizer(gpt2Json(), GPT2_CONFIG);

  test("the byte table is GPT-2's (space → Ġ, newline → Ċ, soft hyphen → Ń, printable ASCII → itself)", () => {
    assert.equal(BYTE_TO_UNICODE[32], "Ġ");
    assert.equal(BYTE_TO_UNICODE[10], "Ċ");
    assert.equal(BYTE_TO_UNICODE[0], "Ā");
    assert.equal(BYTE_TO_UNICODE[0xad], "Ń");
    assert.equal(BYTE_TO_UNICODE[33], "!");
    assert.equal(new Set(BYTE_TO_UNICODE).size, 256);
  });

  test("encodes known strings to the ids the merge ranks give", () => {
    // "Hello" → l·l, e·ll, ell·o, H·ello; " the" → Ġ·t, h·e, Ġt·he; " world" → Ġ·w, o·r, Ġw·or, +l, +d; "!" is byte 33.
    assert.deepEqual(tok.encode("Hello the world!<|endoftext|>"), [262, 258, 267, 33, 268]);
    assert.deepEqual(tok.tokenize("Hello the world!"), ["Hello", "Ġthe", "Ġworld", "!"]);
    // Partial merges: " tea" gets Ġ·t and nothing else.
    assert.deepEqual(tok.encode(" tea"), [256, 101, 97]);
    // Non-ASCII goes byte by byte: é = C3 A9; " 😀" = space + F0 9F 98 80 in one pre-token.
    assert.deepEqual(tok.encode("é"), [0xc3, 0xa9]);
    assert.deepEqual(tok.encode(" 😀"), [32, 0xf0, 0x9f, 0x98, 0x80]);
    // The ByteLevel post-processor adds nothing.
    assert.deepEqual(tok.encode("Hello", { addSpecialTokens: false }), tok.encode("Hello"));
  });

  test("special tokens, ids and decode", () => {
    assert.equal(tok.vocabSize, 269);
    assert.equal(tok.bosId, 268);
    assert.equal(tok.eosId, 268);
    assert.equal(tok.unkId, 268);
    assert.equal(tok.padId, null);
    assert.equal(tok.padToken, null);
    assert.deepEqual([...tok.specialIds], [268]);
    assert.equal(tok.tokenToId("Ġworld"), 267);
    assert.equal(tok.idToToken(258), "Ġthe");
    assert.equal(tok.tokenToId("nope"), undefined);
    const ids = [262, 258, 267, 33, 268];
    assert.equal(tok.decode(ids), "Hello the world!<|endoftext|>");
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "Hello the world!");
    assert.equal(tok.decode([]), "");
    assert.equal(tok.decode(Int32Array.from(ids)), "Hello the world!<|endoftext|>"); // typed arrays from generation
    // No transformers-style clean-up: " ." stays " .".
    assert.equal(tok.decode(tok.encode("a . b ?")), "a . b ?");
  });

  test("round-trips arbitrary Unicode (byte-level covers every string)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (s) => {
        assert.equal(tok.decode(tok.encode(s)), s);
      }),
      { numRuns: 200, seed: 11 },
    );
  });
});

// ---------------------------------------------------------------------------
// Llama 3 style.

const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_MERGES = [
  "' M", // 256 'M
  "1 2", // 257 12
  "12 3", // 258 123
  "4 5", // 259 45
  "Ġ c", // 260 Ġc
  "a t", // 261 at
  "Ġc at", // 262 Ġcat
  "Ġcat s", // 263 Ġcats
];

function llama3Json() {
  const { vocab } = byteLevelModel(LLAMA3_MERGES, ["Ġdogs"]); // 264 Ġdogs: no merge path, reachable by ignore_merges
  vocab["<|begin_of_text|>"] = 265;
  vocab["<|eot_id|>"] = 266;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [added(265, "<|begin_of_text|>"), added(266, "<|eot_id|>")],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
        byteLevel,
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [
            { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } },
            { Sequence: { id: "B", type_id: 1 } },
          ],
          special_tokens: {
            "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [265], tokens: ["<|begin_of_text|>"] },
          },
        },
      ],
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: LLAMA3_MERGES.map((m) => m.split(" ")), // the newer [left, right] form
    },
  };
}

describe("Llama 3 style byte-level BPE", () => {
  const tok = new Tokenizer(llama3Json(), { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" });

  test("Split regex (case-insensitive contractions, digits in threes), ignore_merges and BOS", () => {
    // Pieces: "I" "'M" " " "123" "45" " cats" " dogs"; 'M matches (?i:'m); " " stands alone before a digit.
    assert.deepEqual(tok.tokenize("I'M 12345 cats dogs"), ["I", "'M", "Ġ", "123", "45", "Ġcats", "Ġdogs"]);
    assert.deepEqual(tok.encode("I'M 12345 cats dogs"), [265, 73, 256, 32, 258, 259, 263, 264]);
    assert.deepEqual(tok.encode("I'M 12345 cats dogs", { addSpecialTokens: false }), [73, 256, 32, 258, 259, 263, 264]);
    assert.equal(
      tok.decode([265, 73, 256, 32, 258, 259, 263, 264], { skipSpecialTokens: true }),
      "I'M 12345 cats dogs",
    );
    assert.equal(tok.bosId, 265);
    assert.equal(tok.eosId, 266);
    assert.equal(tok.vocabSize, 267);
  });
});

// ---------------------------------------------------------------------------
// Llama 2 style (SentencePiece BPE).

const LLAMA2_MERGES = [
  "l l", // 267 ll
  "▁ H", // 268 ▁H
  "e ll", // 269 ell
  "▁H ell", // 270 ▁Hell
  "▁Hell o", // 271 ▁Hello
  "▁ w", // 272 ▁w
  "o r", // 273 or
  "▁w or", // 274 ▁wor
  "l d", // 275 ld
  "▁wor ld", // 276 ▁world
];

function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}

/** <unk> <s> </s>, then <0x00>..<0xFF> (ids 3..258), single characters, then merges: Llama 2's layout. */
function llama2Json(form: "normalizer" | "metaspace", byteFallback = true) {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[byteToken(b)] = 3 + b;
  let next = 259;
  for (const ch of ["▁", "H", "e", "l", "o", "w", "r", "d"]) vocab[ch] = next++;
  for (const m of LLAMA2_MERGES) vocab[m.replace(" ", "")] = next++;
  const spaced = { type: "Replace", pattern: { String: "▁" }, content: " " };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    normalizer:
      form === "normalizer"
        ? {
            type: "Sequence",
            normalizers: [
              { type: "Prepend", prepend: "▁" },
              { type: "Replace", pattern: { String: " " }, content: "▁" },
            ],
          }
        : null,
    pre_tokenizer:
      form === "metaspace" ? { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false } : null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        spaced,
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: byteFallback,
      vocab,
      merges: [...LLAMA2_MERGES],
    },
  };
}
const asAddedToken = (content: string) => ({
  __type: "AddedToken",
  content,
  lstrip: false,
  normalized: false,
  rstrip: false,
  single_word: false,
});
const LLAMA2_CONFIG = {
  add_bos_token: true,
  add_eos_token: false,
  bos_token: asAddedToken("<s>"),
  eos_token: asAddedToken("</s>"),
  unk_token: asAddedToken("<unk>"),
  pad_token: null,
  clean_up_tokenization_spaces: false,
  legacy: false,
  tokenizer_class: "LlamaTokenizer",
};

for (const form of ["normalizer", "metaspace"] as const) {
  describe(`Llama 2 style SentencePiece BPE (${form} form)`, () => {
    const tok = new Tokenizer(llama2Json(form), LLAMA2_CONFIG);

    test("metaspace + merges across the whole string give the hand-derived ids", () => {
      // "▁Hello▁world": l·l, ▁·H, e·ll, ▁H·ell, ▁Hell·o, ▁·w, o·r, ▁w·or, l·d, ▁wor·ld.
      assert.deepEqual(tok.tokenize("Hello world"), ["▁Hello", "▁world"]);
      assert.deepEqual(tok.encode("Hello world"), [1, 271, 276]);
      assert.deepEqual(tok.encode("Hello world", { addSpecialTokens: false }), [271, 276]);
      assert.equal(tok.decode([1, 271, 276]), "<s> Hello world");
      assert.equal(tok.decode([1, 271, 276], { skipSpecialTokens: true }), "Hello world");
      assert.equal(tok.bosToken, "<s>"); // read from the AddedToken dict form
      assert.deepEqual([tok.bosId, tok.eosId, tok.unkId, tok.padId], [1, 2, 0, null]);
      assert.equal(tok.vocabSize, 277);
    });

    test("unknown characters fall back to <0xNN> byte tokens and decode back", () => {
      // 😀 = F0 9F 98 80 → <0xF0> <0x9F> <0x98> <0x80> = ids 3 + byte.
      assert.deepEqual(tok.tokenize("Hello 😀"), ["▁Hello", "▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]);
      const ids = tok.encode("Hello 😀");
      assert.deepEqual(ids, [1, 271, 259, 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]);
      assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "Hello 😀");
      assert.deepEqual(tok.encode("\n", { addSpecialTokens: false }), [259, 3 + 0x0a]); // Llama 2's "<0x0A>" is id 13
    });
  });
}

describe("Llama 2 style details", () => {
  test("the two forms differ after a special token, as in the Rust library (Metaspace prepends to the first section only)", () => {
    const norm = new Tokenizer(llama2Json("normalizer"), LLAMA2_CONFIG);
    const meta = new Tokenizer(llama2Json("metaspace"), LLAMA2_CONFIG);
    assert.deepEqual(norm.encode("Hello</s>world"), [1, 271, 2, 276]);
    // "world" without ▁: o·r then l·d → w, or, ld.
    assert.deepEqual(meta.encode("Hello</s>world"), [1, 271, 2, 264, 273, 275]);
  });

  test("without byte fallback, unknown characters become one fused <unk>", () => {
    const tok = new Tokenizer(llama2Json("normalizer", false), LLAMA2_CONFIG);
    assert.deepEqual(tok.encode("Hello 😀😀"), [1, 271, 259, 0]);
  });
});

// ---------------------------------------------------------------------------
// Folders, save, and errors.

describe("tokenizer folders", () => {
  test("fromDir reads tokenizer.json + config; special_tokens_map.json and chat_template.jinja override; save round-trips", async () => {
    const dir = await tempDir();
    const json = gpt2Json();
    json.added_tokens.push(added(269, "<|im_end|>"));
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(json));
    await writeFile(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({
        ...GPT2_CONFIG,
        chat_template: [
          { name: "default", template: "A" },
          { name: "tool_use", template: "B" },
        ],
      }),
    );
    await writeFile(join(dir, "special_tokens_map.json"), JSON.stringify({ eos_token: { content: "<|im_end|>" } }));
    const tok = await Tokenizer.fromDir(dir);
    assert.equal(tok.eosToken, "<|im_end|>");
    assert.equal(tok.eosId, 269);
    assert.equal(tok.bosId, 268);
    assert.deepEqual(
      [...tok.chatTemplates],
      [
        ["default", "A"],
        ["tool_use", "B"],
      ],
    );
    assert.deepEqual([...tok.specialIds].sort(), [268, 269]);

    const out = await tempDir();
    await tok.save(out);
    const back = await Tokenizer.fromDir(out);
    assert.equal(back.eosId, 269);
    assert.deepEqual([...back.chatTemplates], [...tok.chatTemplates]);
    assert.deepEqual(back.encode("Hello the world!<|im_end|>"), [262, 258, 267, 33, 269]);

    await writeFile(join(dir, "special_tokens_map.json"), JSON.stringify({ pad_token: "<pad>" }));
    await assert.rejects(
      Tokenizer.fromDir(dir),
      /special_tokens_map\.json: pad_token "<pad>" is not in the vocabulary of .*tokenizer\.json/,
    );
    await writeFile(join(dir, "special_tokens_map.json"), "{}");
    await writeFile(join(dir, "chat_template.jinja"), "{{ messages[0]['content'] }}");
    assert.equal((await Tokenizer.fromDir(dir)).chatTemplate(), "{{ messages[0]['content'] }}");
  });

  test("errors name the file and the field", async () => {
    const missing = join(await tempDir(), "nothing-here");
    await assert.rejects(Tokenizer.fromDir(missing), (e: Error) => {
      assert.ok(e instanceof TokenizerError);
      assert.match(e.message, /nothing-here\/tokenizer\.json: cannot read \(file not found\)/);
      return true;
    });
    const dir = await tempDir();
    await writeFile(join(dir, "tokenizer.json"), "{ not json");
    await assert.rejects(Tokenizer.fromDir(dir), /tokenizer\.json: invalid JSON/);

    const bad = (mutate: (j: ReturnType<typeof gpt2Json>) => void) => {
      const j = gpt2Json();
      mutate(j);
      return () => new Tokenizer(j, {});
    };
    assert.throws(
      bad((j) => {
        (j.model as { vocab?: unknown }).vocab = undefined;
      }),
      /^TokenizerError: tokenizer\.json: model\.vocab: expected an object mapping token → id, got nothing \(field missing\)$/,
    );
    assert.throws(
      bad((j) => {
        (j.model.merges as unknown[])[3] = "ll";
      }),
      /tokenizer\.json: model\.merges\[3\]: expected "a b" or \["a", "b"\], got "ll"/,
    );
    assert.throws(
      bad((j) => {
        (j.model as { type: unknown }).type = 7;
      }),
      /tokenizer\.json: model\.type: expected a string such as "BPE", got 7/,
    );
    assert.throws(
      bad((j) => {
        (j.added_tokens as unknown[]).push({ id: -1, content: "x" });
      }),
      /tokenizer\.json: added_tokens\[1\]: expected \{id: integer ≥ 0, content: string, \.\.\.\}/,
    );
    assert.throws(
      bad((j) => {
        (j as { decoder: unknown }).decoder = { kind: "ByteLevel" };
      }),
      /tokenizer\.json: decoder: expected null or an object with a string "type"/,
    );
    assert.throws(
      bad((j) => {
        (j as { decoder: unknown }).decoder = { type: "Mystery" };
      }),
      /tokenizer\.json: the tokenizer library rejected it: Unknown Decoder type: Mystery/,
    );
    assert.throws(
      () => new Tokenizer(gpt2Json(), { bos_token: "<s>" }),
      /tokenizer_config\.json: bos_token "<s>" is not in the vocabulary of tokenizer\.json/,
    );
    assert.throws(
      () => new Tokenizer(gpt2Json(), { eos_token: 5 }),
      /tokenizer_config\.json: eos_token: expected a token string/,
    );
    assert.throws(
      () => new Tokenizer(gpt2Json(), { chat_template: [{ name: "x" }] }),
      /tokenizer_config\.json: chat_template\[0\]: expected \{"name": string, "template": string\}/,
    );
    const tok = new Tokenizer(gpt2Json(), GPT2_CONFIG);
    assert.throws(
      () => tok.decode([262, 9999]),
      /Tokenizer\.decode: ids\[1\] = 9999 is not a token id of tokenizer\.json \(vocabulary size 269\)/,
    );
    assert.throws(() => tok.decode([1.5]), /ids\[0\] = 1\.5 is not a token id/);
  });
});
