/**
 * Generation: the KV-cached decoder against full recomputation, batching with
 * left padding against each prompt alone, returned log-probs against a fresh
 * forward pass, scoring, sampling rules, EOS and stop strings.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32, settle, trackBuffers } from "../src/engine/memory.ts";
import { Rng } from "../src/engine/rng.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import {
  continuationLogProbs,
  generate,
  logSoftmaxRow,
  type SamplingParams,
  sampleToken,
  samplingDistribution,
  scoreContinuation,
} from "../src/model/generate.ts";
import { forward, type Model } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";
import { ids2d } from "./model-fixtures.ts";

const PROMPTS = [[1, 7, 3, 22, 40, 11, 6], [1, 5, 9], [1], [1, 60, 61, 62, 63]];

/** Logits [T, V] of one unpadded sequence, recomputed without any cache. */
async function fullLogits(model: Model, ids: number[]): Promise<Float32Array> {
  return readFloat32(forward(keepTree(model.params), model.config, ids2d([ids])).logits);
}

/** A toy decoder: token i is the letter 'a' + i mod 26. */
const letters = { decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join("") };

const models: Record<string, Model> = {};

describe("generate: KV cache and batching", () => {
  before(async () => {
    await initEngine();
    for (const name of ["tiny-llama", "tiny-gpt2", "tiny-qwen3"])
      models[name] = await loadModel(`test/fixtures/${name}`);
  });

  for (const name of ["tiny-llama", "tiny-gpt2", "tiny-qwen3"]) {
    test(`${name}: cached greedy == uncached greedy, batch 4 (left-padded) and batch 1`, async () => {
      const model = models[name]!;
      const opts = { maxNewTokens: 10, eosTokenIds: [] };
      const cached = await generate(model, PROMPTS, opts);
      const uncached = await generate(model, PROMPTS, { ...opts, useCache: false });
      assert.deepEqual(
        cached.map((r) => r.tokenIds),
        uncached.map((r) => r.tokenIds),
      );
      for (const [b, r] of cached.entries()) {
        assert.equal(r.tokenIds.length, 10);
        assert.equal(r.finishReason, "length");
        assertClose(r.logProbs, uncached[b]!.logProbs, 1e-4, `log-probs row ${b}`);
      }
      // batch 1: each prompt alone, cached and uncached, gives its row of the batch
      const alone = await generate(model, [PROMPTS[0]!], opts);
      const aloneUncached = await generate(model, [PROMPTS[0]!], { ...opts, useCache: false });
      assert.deepEqual(alone[0]!.tokenIds, cached[0]!.tokenIds);
      assert.deepEqual(aloneUncached[0]!.tokenIds, cached[0]!.tokenIds);
      for (const b of [1, 2, 3]) {
        const [r] = await generate(model, [PROMPTS[b]!], opts);
        assert.deepEqual(r!.tokenIds, cached[b]!.tokenIds, `prompt ${b} alone vs in the batch`);
      }
    });
  }

  test("log-probs equal log-softmax of a fresh forward pass; scoreContinuation is their sum", async () => {
    const model = models["tiny-llama"]!;
    const out = await generate(model, PROMPTS, { maxNewTokens: 6, temperature: 1, seed: 5, eosTokenIds: [] });
    const V = model.config.vocabSize;
    for (const [b, r] of out.entries()) {
      const prompt = PROMPTS[b]!;
      const logits = await fullLogits(model, [...prompt, ...r.tokenIds]); // [T, V]
      const want = r.tokenIds.map((tok, t) => {
        const row = logits.subarray((prompt.length - 1 + t) * V, (prompt.length + t) * V);
        return logSoftmaxRow(row)[tok]!;
      });
      assertClose(r.logProbs, want, 1e-4, `row ${b} log-probs`);
      const score = await scoreContinuation(model, prompt, r.tokenIds);
      const sum = r.logProbs.reduce((a, c) => a + c, 0);
      assert.ok(Math.abs(score - sum) < 1e-4, `score ${score} vs Σ log p ${sum}`);
      assert.ok(score < 0);
    }
    // batched scoring (right padding) equals one at a time
    const pairs = out.map((r, b) => ({ prompt: PROMPTS[b]!, continuation: r.tokenIds }));
    const batched = await continuationLogProbs(model, pairs);
    for (const [b, r] of out.entries()) assertClose(batched[b]!, r.logProbs, 1e-4, `batched score ${b}`);
  });
});

describe("generate: memory", () => {
  test("cached generation and scoring release every array they allocate", async () => {
    const model = models["tiny-llama"]!;
    const opts = { maxNewTokens: 5, temperature: 1, seed: 2, eosTokenIds: [] };
    await generate(model, PROMPTS, opts); // compile first: jit keeps its traced constants
    await settle();
    const tracker = await trackBuffers();
    try {
      const out = await generate(model, PROMPTS, opts);
      await scoreContinuation(model, PROMPTS[0]!, out[0]!.tokenIds);
      await settle();
      assert.ok(tracker.allocations() > 50, `allocations ${tracker.allocations()}`);
      assert.equal(tracker.live(), 0, "live buffers after generate + score");
    } finally {
      tracker.stop();
    }
  });
});

describe("generate: sampling", () => {
  test("top-k = 1 and temperature 0 are greedy; a seed fixes the sample, another seed changes it", async () => {
    const model = models["tiny-gpt2"]!;
    const opts = { maxNewTokens: 8, eosTokenIds: [] };
    const greedy = await generate(model, PROMPTS, opts);
    const topk1 = await generate(model, PROMPTS, { ...opts, temperature: 1.5, topK: 1, seed: 3 });
    assert.deepEqual(
      topk1.map((r) => r.tokenIds),
      greedy.map((r) => r.tokenIds),
    );
    const a = await generate(model, PROMPTS, { ...opts, temperature: 1, seed: 11 });
    const b = await generate(model, PROMPTS, { ...opts, temperature: 1, seed: 11 });
    const c = await generate(model, PROMPTS, { ...opts, temperature: 1, seed: 12 });
    assert.deepEqual(
      a.map((r) => r.tokenIds),
      b.map((r) => r.tokenIds),
    );
    assert.notDeepEqual(
      a.map((r) => r.tokenIds),
      c.map((r) => r.tokenIds),
    );
    assert.notDeepEqual(
      a.map((r) => r.tokenIds),
      greedy.map((r) => r.tokenIds),
    );
  });

  test("every token sampled with top-k / top-p lies in the filtered set of the recomputed logits", async () => {
    const model = models["tiny-qwen3"]!;
    const V = model.config.vocabSize;
    for (const p of [
      { temperature: 1, topK: 3, topP: 1 },
      { temperature: 0.7, topK: 0, topP: 0.5 },
      { temperature: 2, topK: 10, topP: 0.8 },
    ] satisfies SamplingParams[]) {
      const out = await generate(model, PROMPTS, { maxNewTokens: 6, ...p, seed: 1, eosTokenIds: [] });
      for (const [b, r] of out.entries()) {
        const prompt = PROMPTS[b]!;
        const logits = await fullLogits(model, [...prompt, ...r.tokenIds]);
        r.tokenIds.forEach((tok, t) => {
          const row = logits.subarray((prompt.length - 1 + t) * V, (prompt.length + t) * V);
          const allowed = samplingDistribution(row, p).ids;
          assert.ok(allowed.includes(tok), `token ${tok} not in ${JSON.stringify(allowed)} (${JSON.stringify(p)})`);
          if (p.topK > 0) assert.ok(allowed.length <= p.topK);
        });
      }
    }
  });

  test("samplingDistribution: top-p keeps the token that crosses p; draws follow the probabilities", () => {
    const z = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
    const nucleus = samplingDistribution(z, { temperature: 1, topK: 0, topP: 0.7 });
    assert.deepEqual(nucleus.ids, [0, 1]); // 0.5 < 0.7, 0.5 + 0.3 ≥ 0.7
    assertClose(nucleus.probs, [0.5 / 0.8, 0.3 / 0.8], 1e-12, "renormalised nucleus");
    const hot = samplingDistribution(z, { temperature: 2, topK: 3, topP: 1 });
    const w = [0.5, 0.3, 0.15].map(Math.sqrt);
    assertClose(
      hot.probs,
      w.map((v) => v / w.reduce((a, b) => a + b, 0)),
      1e-12,
      "temperature 2, top-3",
    );
    const rng = new Rng(0);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(z, { temperature: 1, topK: 0, topP: 1 }, rng)]!++;
    assertClose(
      counts.map((c) => c / n),
      [0.5, 0.3, 0.15, 0.05],
      0.015,
      "empirical frequencies",
    );
  });
});

describe("generate: stopping", () => {
  test("EOS ends a row (token and log-prob kept) without changing the other rows", async () => {
    const model = models["tiny-llama"]!;
    const free = await generate(model, PROMPTS, { maxNewTokens: 8, eosTokenIds: [] });
    const eosToken = free[1]!.tokenIds[3]!;
    const firstAt = free[1]!.tokenIds.indexOf(eosToken);
    const out = await generate(model, PROMPTS, { maxNewTokens: 8, eosTokenIds: [eosToken] });
    assert.equal(out[1]!.finishReason, "eos");
    assert.deepEqual(out[1]!.tokenIds, free[1]!.tokenIds.slice(0, firstAt + 1));
    assert.equal(out[1]!.logProbs.length, firstAt + 1);
    for (const b of [0, 2, 3]) {
      const at = free[b]!.tokenIds.indexOf(eosToken);
      const want = at >= 0 ? free[b]!.tokenIds.slice(0, at + 1) : free[b]!.tokenIds;
      assert.deepEqual(out[b]!.tokenIds, want, `row ${b}`);
    }
  });

  test("a stop string ends a row and is cut from its text", async () => {
    const model = models["tiny-gpt2"]!;
    const free = await generate(model, PROMPTS, { maxNewTokens: 10, eosTokenIds: [], tokenizer: letters });
    const text0 = free[0]!.text!;
    assert.equal(text0, letters.decode(free[0]!.tokenIds));
    const stop = text0.slice(4, 6); // completes at the 6th token at the latest
    const out = await generate(model, PROMPTS, { maxNewTokens: 10, eosTokenIds: [], tokenizer: letters, stop: [stop] });
    const at = text0.indexOf(stop);
    assert.equal(out[0]!.finishReason, "stop");
    assert.equal(out[0]!.text, text0.slice(0, at));
    assert.deepEqual(out[0]!.tokenIds, free[0]!.tokenIds.slice(0, at + stop.length));
    for (const [b, r] of out.entries()) assert.ok(!r.text!.includes(stop), `row ${b} text still has the stop string`);
  });

  test("bad arguments are errors naming the option", async () => {
    const model = models["tiny-gpt2"]!;
    await assert.rejects(generate(model, [[]]), /prompt 0 is empty/);
    await assert.rejects(generate(model, [[1]], { topP: 0 }), /topP must be in \(0, 1\]/);
    await assert.rejects(generate(model, [[1, 99]]), /token id 99, outside the vocabulary \[0, 64\)/);
    await assert.rejects(generate(model, [[1]], { stop: ["x"] }), /stop strings need a tokenizer/);
    await assert.rejects(generate(model, [[1, 2]], { maxNewTokens: 40 }), /needs more than the 32 learned positions/);
  });
});
