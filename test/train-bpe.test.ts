/**
 * The byte-level BPE trainer: merges checked by hand on textbook corpora and against
 * a naive second implementation (recount everything, every merge); determinism;
 * exact round-trips of arbitrary Unicode through a trained, saved and reloaded
 * tokenizer; special tokens as single ids; and the `train-tokenizer` command.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import fc from "fast-check";
import { TASK_NAMES, TASKS } from "../src/data/tasks/index.ts";
import { Rng } from "../src/engine/rng.ts";
import { CHATML_TEMPLATE } from "../src/tokenizer/chat.ts";
import { type BpeModelJson, Tokenizer, type TokenizerJson } from "../src/tokenizer/tokenizer.ts";
import {
  BYTE_TO_UNICODE,
  DEFAULT_SPECIAL_TOKENS,
  learnMerges,
  saveTokenizer,
  toByteLevel,
  trainBpe,
  trainBpeWithStats,
  WordCounter,
} from "../src/tokenizer/train-bpe.ts";
import { NO_SHARED_DATA, sharedFile } from "./shared-data.ts";

const GSM8K = sharedFile("gsm8k_train_sample.jsonl");

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "stepwise-bpe-"));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const model = (json: TokenizerJson) => json.model as BpeModelJson;

// ---------------------------------------------------------------------------
// Merges by hand.

describe("merges are learnt in frequency order", () => {
  test('Wikipedia\'s "aaabdaaabac": aa (4), then ab (2, wins the tie with aa·a by smaller ids), then aa·ab (2)', () => {
    // Pairs of a·a·a·b·d·a·a·a·b·a·c: aa ×4 (overlaps count, as in the Rust trainer), ab ×2, others ×1.
    // After "aa": aa·a ×2 and a·b ×2 tie; a and b are byte symbols, aa is the newer (larger) id, so a·b wins.
    const { tokenizer, stats } = trainBpeWithStats(["aaabdaaabac"], { vocabSize: 256 + 3, specialTokens: [] });
    assert.deepEqual(model(tokenizer).merges, ["a a", "a b", "aa ab"]);
    assert.deepEqual(stats.mergeCounts, [4, 2, 2]);
    const tok = new Tokenizer(tokenizer);
    assert.deepEqual(tok.tokenize("aaabdaaabac"), ["aaab", "d", "aaab", "a", "c"]);
    // Byte symbols are sorted by code point from "!" (id 0), so "a" = 97 − 33 = 64, "c" = 66, "d" = 67; aaab = 258.
    assert.deepEqual(tok.encode("aaabdaaabac"), [258, 67, 258, 64, 66]);

    // Every pair left occurs once: with the default minFrequency 2 training stops there.
    const more = trainBpeWithStats(["aaabdaaabac"], { vocabSize: 300, specialTokens: [] });
    assert.equal(more.stats.merges, 3);
    assert.equal(more.stats.stoppedEarly, true);
  });

  test("Hugging Face course corpus (hug 10, pug 5, pun 12, bun 4, hugs 5): ug 20, un 16, hug 15, pun 12, pug 5, hugs 5", () => {
    const corpus = [
      ...Array<string>(10).fill("hug"),
      ...Array<string>(5).fill("pug"),
      ...Array<string>(12).fill("pun"),
      ...Array<string>(4).fill("bun"),
      ...Array<string>(5).fill("hugs"),
    ];
    const { tokenizer, stats } = trainBpeWithStats(corpus, { vocabSize: 4 + 256 + 6 });
    // u·g: hug + pug + hugs = 10 + 5 + 5; u·n: pun + bun = 16; h·ug: hug + hugs = 15; p·un 12;
    // then p·ug and hug·s tie at 5 and p (a byte) has the smaller id.
    assert.deepEqual(model(tokenizer).merges, ["u g", "u n", "h ug", "p un", "p ug", "hug s"]);
    assert.deepEqual(stats.mergeCounts, [20, 16, 15, 12, 5, 5]);
    const vocab = model(tokenizer).vocab;
    assert.equal(vocab["ug"], 260);
    assert.equal(vocab["hugs"], 265);
  });

  test("matches the Rust tokenizers BpeTrainer merge for merge (reference recorded from tokenizers 0.23.2)", () => {
    // Recorded once with Python: BpeTrainer(vocab_size=320, min_frequency=2, the four default special tokens,
    // initial_alphabet=ByteLevel.alphabet()) on ByteLevel(add_prefix_space=False) pre-tokens of this corpus,
    // sentence i repeated i % 3 + 1 times. Ties are frequent here, so this pins the tie rule too.
    const sentences = [
      "Maya packs 36 pencils into boxes of 4 and sells each box for $3.",
      "How many boxes does Maya fill, and how much money does she make?",
      "A train leaves at 9:15 and travels 120 miles at 60 miles per hour.",
      "The answer is 27. #### 27",
      "Omar saves half of his $80 allowance, which is $80 / 2 = $40.",
      "数学の問題を解きます。答えは四十二です。",
      "Ünïcödé façade, naïve café — “quotes” and ‘apostrophes’…",
      "emoji 👍🏽 and tabs\tand\r\nnewlines\n\n  indented",
    ];
    const corpus = sentences.flatMap((s, i) => Array<string>((i % 3) + 1).fill(s));
    // Byte-level symbols escaped: "\u0120" is Ġ (a space), "\u00e3 \u0123" the first two bytes of a kana.
    const rust = [
      "\u00e3 \u0123",
      "e s",
      "\u0120 a",
      "\u0120 m",
      "n d",
      "i l",
      "\u0120 h",
      "\u0120a nd",
      "a v",
      "\u0120 t",
      "\u0120 $",
      "i n",
      "o w",
      "\u00e2 \u0122",
      "\u00e3 \u0122",
      "\u00e3\u0123 \u013b",
      "\u0120a t",
      "\u0120m il",
      "\u0120t r",
      "\u00e3\u0122 \u0124",
      "\u0120mil es",
      "c h",
      "i s",
      "\u0120 p",
      "\u0120 s",
      "av es",
      "8 0",
      "a n",
      "b o",
      "d o",
      "e l",
      "e r",
      "n e",
      "\u00f0 \u0141",
      "\u0120 2",
      "\u0120 f",
      "\u0120 bo",
      "\u0120 do",
      "\u0120bo x",
      "\u0120do es",
      "# #",
      "1 2",
      "1 5",
      "6 0",
      "M a",
      "a in",
      "e n",
      "e aves",
      "h e",
      "l eaves",
      "o f",
      "o u",
      "y a",
      "\u00a1 \u012e",
      "\u00a3 \u00e3\u0123",
      "\u00a6 \u00e3\u0123",
      "\u00a7 \u00e3\u0123\u013b",
      "\u00a7 \u00a3\u00e3\u0123",
      "\u00ae \u00e5",
      "\u00af \u00e5",
    ];
    assert.deepEqual(model(trainBpe(corpus, { vocabSize: 4 + 256 + 60 })).merges, rust);
  });

  test("the incremental trainer equals a naive one that recounts every pair before every merge", () => {
    /** Textbook BPE: count all pairs, take the most frequent (ties: smaller left id, then right id), merge, repeat. */
    function naive(words: Map<string, number>, alphabet: string[], numMerges: number, minFrequency: number) {
      const symbols = [...alphabet];
      let ws = [...words].map(([w, c]) => ({ ids: [...w].map((ch) => symbols.indexOf(ch)), c }));
      const merges: [string, string][] = [];
      const counts: number[] = [];
      while (merges.length < numMerges) {
        const pairCounts = new Map<string, number>();
        for (const { ids, c } of ws) {
          for (let i = 0; i + 1 < ids.length; i++) {
            const k = `${ids[i]},${ids[i + 1]}`;
            pairCounts.set(k, (pairCounts.get(k) ?? 0) + c);
          }
        }
        let best: [number, number] | null = null;
        let bestCount = 0;
        for (const [k, n] of pairCounts) {
          const [a, b] = k.split(",").map(Number) as [number, number];
          if (n > bestCount || (n === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
            best = [a, b];
            bestCount = n;
          }
        }
        if (!best || bestCount < minFrequency) break;
        const [a, b] = best;
        const c = symbols.length;
        symbols.push(symbols[a]! + symbols[b]!);
        merges.push([symbols[a]!, symbols[b]!]);
        counts.push(bestCount);
        ws = ws.map(({ ids, c: n }) => {
          const out: number[] = [];
          for (let i = 0; i < ids.length; i++) {
            if (ids[i] === a && ids[i + 1] === b) {
              out.push(c);
              i++;
            } else out.push(ids[i]!);
          }
          return { ids: out, c: n };
        });
      }
      return { merges, counts };
    }
    const alphabet = ["a", "b", "c", "d"];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 9 }),
            fc.integer({ min: 1, max: 6 }),
          ),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 3 }),
        (entries, numMerges, minFrequency) => {
          const words = new Map<string, number>();
          for (const [w, c] of entries) words.set(w, (words.get(w) ?? 0) + c);
          const fast = learnMerges(words, { alphabet, numMerges, minFrequency });
          assert.deepEqual(fast, naive(words, alphabet, numMerges, minFrequency));
          for (let i = 1; i < fast.counts.length; i++) assert.ok(fast.counts[i]! <= fast.counts[i - 1]!);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });
});

// ---------------------------------------------------------------------------
// A real corpus.

/**
 * The GSM8K sample's questions and answers. Without ../shared/data the tests that only need
 * some English arithmetic text train on generated problems instead (questions and worked
 * chains of every task, seed 0); the one test about the GSM8K sample itself is skipped.
 */
let gsm8k: string[] = [];
function generatedCorpus(n: number): string[] {
  const rng = new Rng(0);
  return Array.from({ length: n }, (_, i) => TASKS[TASK_NAMES[i % TASK_NAMES.length]!].generate(rng)).flatMap((p) => [
    p.question,
    `${p.steps.join("\n")}\n#### ${p.answer}`,
  ]);
}
before(async () => {
  if (NO_SHARED_DATA) {
    gsm8k = generatedCorpus(500);
    return;
  }
  const lines = (await readFile(GSM8K, "utf8")).split("\n").filter((l) => l.trim() !== "");
  gsm8k = lines.flatMap((l) => {
    const r = JSON.parse(l) as { question: string; answer: string };
    return [r.question, r.answer];
  });
});

describe("training on the GSM8K sample", { skip: NO_SHARED_DATA }, () => {
  test("vocab 1000: layout, determinism (same and shuffled corpus give identical JSON), exact round-trip, compression", () => {
    const a = trainBpeWithStats(gsm8k, { vocabSize: 1000 });
    const b = trainBpe(gsm8k, { vocabSize: 1000 });
    const shuffled = [...gsm8k].reverse();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1); // a fixed permutation
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const c = trainBpe(shuffled, { vocabSize: 1000 });
    assert.equal(JSON.stringify(b), JSON.stringify(a.tokenizer));
    assert.equal(JSON.stringify(c), JSON.stringify(a.tokenizer));

    assert.equal(a.stats.texts, 1000);
    assert.equal(a.stats.merges, 1000 - 4 - 256);
    assert.equal(a.stats.stoppedEarly, false);
    const vocab = model(a.tokenizer).vocab;
    assert.equal(Object.keys(vocab).length, 1000);
    assert.deepEqual(
      DEFAULT_SPECIAL_TOKENS.map((t) => vocab[t]),
      [0, 1, 2, 3],
    );
    assert.deepEqual(new Set(Object.values(vocab)), new Set(Array.from({ length: 1000 }, (_, i) => i)));
    // The first merge is the corpus' most frequent byte pair; merge counts never increase.
    for (let i = 1; i < a.stats.mergeCounts.length; i++)
      assert.ok(a.stats.mergeCounts[i]! <= a.stats.mergeCounts[i - 1]!);
    assert.ok(vocab["Ġthe"] !== undefined, "a GSM8K tokenizer knows Ġthe");

    const tok = new Tokenizer(a.tokenizer);
    let chars = 0;
    let tokens = 0;
    for (const text of gsm8k.slice(0, 300)) {
      const ids = tok.encode(text);
      assert.equal(tok.decode(ids), text);
      chars += text.length;
      tokens += ids.length;
    }
    // Bytes would be 1 char/token; 740 merges on its own corpus do better than 2.
    assert.ok(chars / tokens > 2, `compression ${chars / tokens} chars/token`);
  });
});

// ---------------------------------------------------------------------------
// Round trips and special tokens through a saved and reloaded tokenizer.

const MULTILINGUAL = [
  "The quick brown fox jumps over the lazy dog. It's 42 degrees; isn't it?",
  "Ünïcödé façade, naïve café — “quotes” and ‘apostrophes’…",
  "数学の問題を解きます。答えは四十二です。中文：七乘六等于四十二。",
  "Математика: 7 × 6 = 42. Ελληνικά: επτά επί έξι.",
  "emoji 👩‍👩‍👧‍👦 🇫🇷 👍🏽 and tabs\tand\r\nnewlines\n\n  indented",
  "Combining: e\u0301 a\u0308 o\u0302\u0323; zero-width: a\u200bb; BOM: \ufeffx; NUL: \u0000.",
];

describe("a trained tokenizer, saved and reloaded", () => {
  let tok: Tokenizer;
  before(async () => {
    const dir = await tempDir();
    const corpus = [...gsm8k.slice(0, 200), ...MULTILINGUAL, ...MULTILINGUAL];
    await saveTokenizer(dir, trainBpe(corpus, { vocabSize: 600 }));
    tok = await Tokenizer.fromDir(dir);
  });

  test("tokenizer_config.json carries the special tokens, ChatML and exact decoding", async () => {
    assert.equal(tok.vocabSize, 600);
    assert.deepEqual(
      [tok.bosToken, tok.eosToken, tok.padToken, tok.unkToken],
      ["<|endoftext|>", "<|endoftext|>", "<pad>", null],
    );
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId], [0, 0, 3]);
    assert.deepEqual([...tok.specialIds].sort(), [0, 1, 2, 3]);
    assert.equal(tok.chatTemplate(), CHATML_TEMPLATE);
    assert.equal(tok.config.clean_up_tokenization_spaces, false);
    assert.deepEqual(tok.config.additional_special_tokens, ["<|im_start|>", "<|im_end|>"]);
  });

  test("decode(encode(s)) === s for arbitrary Unicode (property)", () => {
    const pieces = fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }), // any code point, astral included, no lone surrogates
      fc.string({ unit: "grapheme", maxLength: 6 }), // emoji sequences, combining marks, CJK
      fc.string({ unit: "binary-ascii", maxLength: 12 }), // control characters
      fc.constantFrom(
        ...DEFAULT_SPECIAL_TOKENS,
        "<|im_",
        "|>",
        "<pad",
        " the",
        " 42",
        "\r\n",
        "  ",
        "\ufeff",
        "e\u0301",
      ),
      fc.constantFrom(...MULTILINGUAL, ...gsm8k.slice(0, 20)),
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 8 }), (parts) => {
        const s = parts.join("");
        const ids = tok.encode(s);
        for (const id of ids) assert.ok(Number.isInteger(id) && id >= 0 && id < tok.vocabSize);
        assert.equal(tok.decode(ids), s);
      }),
      { numRuns: 400, seed: 42 },
    );
  });

  test("special tokens are single ids, never split, and split the text around them (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 10 }),
        fc.constantFrom(...DEFAULT_SPECIAL_TOKENS),
        fc.string({ unit: "grapheme", maxLength: 10 }),
        (left, special, right) => {
          fc.pre(!DEFAULT_SPECIAL_TOKENS.some((t) => left.includes(t) || right.includes(t)));
          const id = tok.tokenToId(special)!;
          const ids = tok.encode(left + special + right);
          assert.deepEqual(ids, [...tok.encode(left), id, ...tok.encode(right)]);
          assert.equal(tok.decode(ids), left + special + right);
          assert.equal(tok.decode(ids, { skipSpecialTokens: true }), left + right);
        },
      ),
      { numRuns: 200, seed: 5 },
    );
    // No learnt token contains a special token's text.
    const merged = [...Array(tok.vocabSize).keys()].slice(4 + 256).map((id) => tok.idToToken(id)!);
    assert.ok(merged.every((t) => !DEFAULT_SPECIAL_TOKENS.some((s) => t.includes(s))));
  });
});

describe("special tokens during training", () => {
  test("special tokens in the corpus are cut out before counting, so they teach no merges", () => {
    const { stats } = trainBpeWithStats(Array<string>(50).fill("x<|endoftext|>y<|im_end|>"), { vocabSize: 300 });
    assert.equal(stats.merges, 0); // only the one-symbol words "x" and "y" remain
    assert.equal(stats.distinctWords, 2);
  });

  test("a merge that would produce a special token's string is skipped", () => {
    // " x" is "Ġx" at byte level; with a special token literally "Ġx", that merge must not happen.
    const json = trainBpe(Array<string>(5).fill(" x y"), {
      vocabSize: 1 + 256 + 1,
      specialTokens: ["Ġx"],
      minFrequency: 1,
    });
    assert.deepEqual(model(json).merges, ["Ġ y"]);
    const tok = new Tokenizer(json);
    assert.equal(tok.tokenToId("Ġx"), 0);
    assert.deepEqual(tok.tokenize(" x y"), ["Ġ", "x", "Ġy"]);
    assert.equal(tok.decode(tok.encode(" x y Ġx")), " x y Ġx");
  });

  test("bad options are clear errors", () => {
    assert.throws(
      () => trainBpe(["a"], { vocabSize: 100 }),
      /trainBpe: vocabSize must be an integer ≥ 260 \(4 special tokens \+ 256 byte symbols\), got 100/,
    );
    assert.throws(
      () => trainBpe(["a"], { vocabSize: 300, specialTokens: ["<a>", "<a>"] }),
      /specialTokens\[1\]: "<a>" is listed twice/,
    );
    assert.throws(
      () => trainBpe(["a"], { vocabSize: 300, specialTokens: ["!"] }),
      /specialTokens\[0\]: "!" is one of the 256 byte symbols/,
    );
    assert.throws(
      () => trainBpe(["a"], { vocabSize: 300, minFrequency: 0 }),
      /minFrequency must be an integer ≥ 1, got 0/,
    );
    assert.throws(
      () => trainBpe([7 as unknown as string], { vocabSize: 300 }),
      /trainBpe: corpus items must be strings, got 7/,
    );
  });

  test("saveTokenizer checks the tokens it is given", async () => {
    const json = trainBpe(["hello"], { vocabSize: 260 });
    await assert.rejects(
      saveTokenizer(await tempDir(), json, { eos: "</s>" }),
      /saveTokenizer: eos "<\/s>" is not a token of this tokenizer/,
    );
  });

  test("toByteLevel maps UTF-8 bytes through GPT-2's table", () => {
    assert.equal(toByteLevel("hi there\n"), "hiĠthereĊ");
    assert.equal(toByteLevel("é"), BYTE_TO_UNICODE[0xc3]! + BYTE_TO_UNICODE[0xa9]!);
  });
});

// ---------------------------------------------------------------------------
// The command line.

const run = promisify(execFile);

describe("stepwise train-tokenizer", () => {
  test("trains on text + JSONL files and writes a folder the loader reads", async () => {
    const dir = await tempDir();
    const text = join(dir, "corpus.txt");
    const jsonl = join(dir, "chat.jsonl");
    await writeFile(text, `${MULTILINGUAL.join("\n")}\n${gsm8k.slice(0, 100).join("\n")}\n`);
    await writeFile(
      jsonl,
      `${[
        {
          messages: [
            { role: "user", content: "What is 7 * 6?" },
            { role: "assistant", content: "7 * 6 = 42" },
          ],
        },
        { text: "Maya sold 36 pencils in March." },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n")}\n`,
    );
    const out = join(dir, "tok");
    const { stdout } = await run(
      process.execPath,
      ["bin/stepwise.js", "train-tokenizer", "--input", `${text},${jsonl}`, "--vocab-size", "300", "--out", out],
      { timeout: 60_000 },
    );
    assert.match(stdout, /train-tokenizer: \d+ texts \([\d,]+ chars\) from 2 file\(s\)/);
    assert.match(stdout, /vocab 300 = 4 special \+ 256 bytes \+ 40 merges/);
    assert.match(stdout, /texts round-trip, [\d.]+ chars\/token/);
    const tok = await Tokenizer.fromDir(out);
    assert.equal(tok.vocabSize, 300);
    assert.equal(tok.chatTemplate(), CHATML_TEMPLATE);
    const s = "Maya sold 36 pencils 👍 in March.<|im_end|>";
    assert.equal(tok.decode(tok.encode(s)), s);

    await assert.rejects(
      run(process.execPath, [
        "bin/stepwise.js",
        "train-tokenizer",
        "--input",
        text,
        "--vocab-size",
        "ten",
        "--out",
        out,
      ]),
      (e: Error & { stderr: string; code: number }) => {
        assert.match(e.stderr, /train-tokenizer: --vocab-size must be an integer >= 1, got "ten"/);
        assert.equal(e.code, 1);
        return true;
      },
    );
  });
});

describe("splitDigits: one token per digit", () => {
  test("no merge joins two digits, the loader splits digits as the trainer did, and text round-trips", async () => {
    const corpus = [...gsm8k.slice(0, 200), "12345 + 678 = 13023", "x = 1000000"];
    const json = trainBpe(corpus, { vocabSize: 600, splitDigits: true });
    const merged = Object.keys(model(json).vocab).filter((t) => /\d\d/.test(t));
    assert.deepEqual(merged, []);
    // Without the option the same corpus does learn multi-digit tokens.
    assert.ok(Object.keys(model(trainBpe(corpus, { vocabSize: 600 })).vocab).some((t) => /\d\d/.test(t)));
    const dir = await tempDir();
    await saveTokenizer(dir, json);
    const tok = await Tokenizer.fromDir(dir);
    const text = "Janet has 1234 ducks and 56.78 dollars; 9 + 10 = 19.";
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.equal(tok.decode(ids), text);
    const pieces = ids.map((id) => tok.decode([id]));
    for (const p of pieces) assert.ok(!/\d\d/.test(p), `piece ${JSON.stringify(p)} holds two digits`);
    assert.deepEqual(
      pieces.filter((p) => /\d/.test(p)),
      ["1", "2", "3", "4", "5", "6", "7", "8", "9", "1", "0", "1", "9"],
    );
  });
  test("a WordCounter built without splitDigits is refused for a splitDigits training", () => {
    assert.throws(
      () => trainBpe(new WordCounter(), { vocabSize: 300, splitDigits: true }),
      /WordCounter's splitDigits differs/,
    );
  });
});
