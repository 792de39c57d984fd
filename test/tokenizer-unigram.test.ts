/**
 * Unigram tokenizer.json in T5's layout (test/t5-tokenizer.ts): Viterbi segmentation over the
 * pieces' log-probabilities (checked against hand-computed best paths), "</s>" appended, no
 * BOS, special ids from tokenizer_config.json, unknown characters as one <unk>, decoding back
 * through Metaspace, a save/load round trip, and clear errors for malformed Unigram models.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Tokenizer, writeTokenizerFiles } from "../src/tokenizer/tokenizer.ts";
import { t5TokenizerFiles } from "./t5-tokenizer.ts";

// ids: 0 <pad>, 1 </s>, 2 <unk>, then these from 3
const PIECES: [string, number][] = [
  ["▁", -2], // 3
  ["▁the", -3], // 4
  ["▁th", -5], // 5
  ["e", -4], // 6
  ["t", -4], // 7
  ["h", -4], // 8
  ["▁a", -4], // 9
  ["a", -4], // 10
  ["▁cat", -6], // 11
  ["c", -5], // 12
  ["at", -5], // 13
  ["▁2", -5], // 14
  ["2", -5], // 15
  ["3", -5], // 16
  ["▁ca", -1], // 17
];

function t5Tokenizer(): Tokenizer {
  const { json, config } = t5TokenizerFiles(PIECES);
  return new Tokenizer(json, config);
}

describe("Unigram tokenizer (T5 layout)", () => {
  test("Viterbi picks the most probable segmentation; </s> is appended; no BOS", () => {
    const tok = t5Tokenizer();
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.unkId, tok.vocabSize], [null, 1, 0, 2, 18]);
    // "▁the" (−3) beats "▁th" + "e" (−9) and "▁" + "t" + "h" + "e"
    assert.deepEqual(tok.encode("the"), [4, 1]);
    // "▁cat": "▁ca" + "t" = −5 beats "▁cat" = −6 and "▁" + "c" + "at" = −12
    assert.deepEqual(tok.tokenize("cat"), ["▁ca", "t"]);
    // "▁thecat 23": ▁the + c + at (−13) beats ▁th + e + c + at (−19); ▁2 + 3
    assert.deepEqual(tok.encode("thecat 23"), [4, 12, 13, 14, 16, 1]);
    assert.deepEqual(tok.encode("the cat", { addSpecialTokens: false }), [4, 17, 7]);
  });

  test("spaces collapse, unknown characters fuse into one <unk>, decoding restores the text", () => {
    const tok = t5Tokenizer();
    assert.deepEqual(tok.encode("the   cat "), tok.encode("the cat"));
    const ids = tok.encode("a xyz");
    assert.deepEqual(ids, [9, 3, 2, 1]); // ▁a ▁ <unk> </s>
    assert.equal(tok.decode(tok.encode("thecat 23"), { skipSpecialTokens: true }), "thecat 23");
    assert.equal(tok.decode([4, 17, 7, 1]), "the cat</s>");
  });

  test("tokenizer.json and tokenizer_config.json round-trip through a folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stepwise-unigram-"));
    try {
      const { json, config } = t5TokenizerFiles(PIECES);
      await writeTokenizerFiles(dir, json, config);
      const tok = await Tokenizer.fromDir(dir);
      assert.deepEqual(tok.encode("thecat 23"), [4, 12, 13, 14, 16, 1]);
      assert.equal(tok.eosId, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("malformed Unigram models are errors naming the field", () => {
    const bad = (model: Record<string, unknown>) => {
      const { json } = t5TokenizerFiles(PIECES);
      return () =>
        new Tokenizer({ ...json, model: { ...json.model, ...model } }, {}, { tokenizerFile: "t/tokenizer.json" });
    };
    assert.throws(bad({ vocab: [["a", -1], ["b"]] }), /t\/tokenizer.json: model.vocab\[1\]: expected \[piece, score\]/);
    assert.throws(bad({ vocab: [] }), /model.vocab: expected a non-empty array/);
    assert.throws(bad({ unk_id: 99 }), /model.unk_id: expected null or an index into model.vocab \(< 18\), got 99/);
    assert.throws(bad({ byte_fallback: true }), /model.byte_fallback: true is not supported for Unigram/);
  });
});
