/**
 * T5 against the independent numpy reference (test/fixtures/reference_models.py) on committed
 * tiny checkpoints, and its generation:
 *   tiny-t5       original T5: relu feed-forward, tied head (d_model^-1/2 rescale), d_kv 6 ≠ C/N,
 *                 8 buckets / max distance 8, so the 12-token encoder input reaches the clamp (F32)
 *   tiny-flan-t5  T5 v1.1 / Flan-T5: gated-gelu, untied lm_head, 3 decoder blocks over 2 encoder
 *                 blocks, 16 buckets / max distance 20 (F16)
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { disposeTree, keepTree, readFloat32, settle, trackBuffers } from "../src/engine/memory.ts";
import type { HostTensor } from "../src/engine/safetensors.ts";
import { loadModel, matchTensors } from "../src/model/checkpoint.ts";
import { parseModelConfig, type T5Config } from "../src/model/config.ts";
import { continuationLogProbs, generate } from "../src/model/generate.ts";
import {
  createCache,
  crossKeyValues,
  decode,
  encode,
  forward,
  forwardSeq2seq,
  initParams,
  type Model,
  paramShapes,
} from "../src/model/model.ts";
import { relativePositionBucket } from "../src/model/t5-buckets.ts";
import { assertClose } from "./helpers.ts";
import { checkSeq2seqAgainstReference, ids2d } from "./model-fixtures.ts";

const PROMPTS = [[7, 3, 22, 40, 11, 6, 1], [5, 9, 1], [1], [60, 61, 62, 63, 1]];
const models: Record<string, Model> = {};

describe("t5 vs the numpy reference (1e-4 max abs)", () => {
  before(async () => {
    await initEngine();
    for (const name of ["tiny-t5", "tiny-flan-t5"]) models[name] = await loadModel(`test/fixtures/${name}`);
  });

  for (const [name, padding] of [
    ["tiny-t5", "left"],
    ["tiny-flan-t5", "right"],
  ] as const) {
    test(`${name}: decoder logits, alone and in a batch (encoder ${padding}-padded, decoder right-padded)`, async () => {
      const worst = await checkSeq2seqAgainstReference(models[name]!, name, padding);
      console.log(`${name}: max abs error vs reference ${worst.toExponential(2)}`);
    });
  }

  test("forward refuses an encoder–decoder config by name", () => {
    const m = models["tiny-t5"]!;
    assert.throws(
      () => forward(keepTree(m.params), m.config, ids2d([[1, 2]])),
      /t5 is an encoder–decoder model; use forwardSeq2seq/,
    );
  });
});

describe("t5 generation: the encoder once, a decoder cache", () => {
  for (const name of ["tiny-t5", "tiny-flan-t5"]) {
    test(`${name}: cached greedy == uncached greedy, batch 4 (padded prompts) and batch 1`, async () => {
      const model = models[name]!;
      const opts = { maxNewTokens: 8, eosTokenIds: [] };
      const cached = await generate(model, PROMPTS, opts);
      const uncached = await generate(model, PROMPTS, { ...opts, useCache: false });
      assert.deepEqual(
        cached.map((r) => r.tokenIds),
        uncached.map((r) => r.tokenIds),
      );
      for (const [b, r] of cached.entries()) {
        assert.equal(r.tokenIds.length, 8);
        assertClose(r.logProbs, uncached[b]!.logProbs, 1e-4, `log-probs row ${b}`);
      }
      for (const b of [0, 2]) {
        const [alone] = await generate(model, [PROMPTS[b]!], opts);
        const [aloneUncached] = await generate(model, [PROMPTS[b]!], { ...opts, useCache: false });
        assert.deepEqual(alone!.tokenIds, cached[b]!.tokenIds, `prompt ${b} alone vs in the batch`);
        assert.deepEqual(aloneUncached!.tokenIds, cached[b]!.tokenIds);
      }
      // the generated log-probs are the decoder's log-softmax given the prompt: scoring agrees
      const scored = await continuationLogProbs(
        model,
        cached.map((r, b) => ({ prompt: PROMPTS[b]!, continuation: r.tokenIds })),
      );
      for (const [b, r] of cached.entries()) assertClose(scored[b]!, r.logProbs, 1e-4, `scored row ${b}`);
    });
  }

  test("EOS ends a row; cached generation releases every array it allocates", async () => {
    const model = models["tiny-flan-t5"]!;
    const [first] = await generate(model, [PROMPTS[0]!], { maxNewTokens: 3, eosTokenIds: [] });
    const [stopped] = await generate(model, [PROMPTS[0]!], { maxNewTokens: 6, eosTokenIds: [first!.tokenIds[0]!] });
    assert.deepEqual(stopped!.tokenIds, first!.tokenIds.slice(0, 1));
    assert.equal(stopped!.finishReason, "eos");
    const opts = { maxNewTokens: 4, temperature: 1, seed: 3, eosTokenIds: [] };
    await generate(model, PROMPTS, opts); // compile first
    await settle();
    const tracker = await trackBuffers();
    try {
      await generate(model, PROMPTS, opts);
      await settle();
      assert.ok(tracker.allocations() > 20, `allocations ${tracker.allocations()}`);
      assert.equal(tracker.live(), 0, "live buffers after generate");
    } finally {
      tracker.stop();
    }
  });
});

describe("t5 relative position buckets", () => {
  test("T5's defaults (32 buckets, max distance 128): exact near, logarithmic far, clamped", () => {
    const bi = (r: number) => relativePositionBucket(r, true, 32, 128);
    const causal = (r: number) => relativePositionBucket(r, false, 32, 128);
    // encoder: 16 buckets a side, 8 exact; keys after the query use buckets 16..31
    const cases: [number, number][] = [
      [0, 0],
      [-3, 3],
      [3, 19],
      [-8, 8],
      [-16, 10],
      [-20, 10],
      [-64, 14],
      [-127, 15],
      [-128, 15],
      [500, 31],
    ];
    for (const [r, want] of cases) assert.equal(bi(r), want, `bidirectional r=${r}`);
    // decoder: 32 buckets, 16 exact; keys after the query (masked anyway) share bucket 0
    for (const [r, want] of [
      [4, 0],
      [-4, 4],
      [-15, 15],
      [-16, 16],
      [-32, 21],
      [-127, 31],
      [-1000, 31],
    ] as const) {
      assert.equal(causal(r), want, `causal r=${r}`);
    }
  });

  test("the cached decoder (query offset on the device) gives the full pass's logits, step by step", async () => {
    for (const name of ["tiny-t5", "tiny-flan-t5"]) {
      const model = models[name]!;
      const { config } = model;
      const dec = [0, 5, 9, 33, 2, 17, 44, 8, 61, 3];
      const full = await readFloat32(
        forwardSeq2seq(keepTree(model.params), config, ids2d([PROMPTS[0]!]), ids2d([dec])).logits,
      ); // [1, T, V]
      const hidden = encode(keepTree(model.params), config, ids2d([PROMPTS[0]!]));
      const cross = crossKeyValues(keepTree(model.params), config, hidden);
      let cache = createCache(config, 1, 16);
      for (const [t, id] of dec.entries()) {
        const out = decode(keepTree(model.params), config, ids2d([[id]]), { cross: keepTree(cross), cache });
        cache = out.cache!;
        assertClose(await readFloat32(out.logits), full.subarray(t * 64, (t + 1) * 64), 1e-5, `${name} step ${t}`);
      }
      disposeTree(cross);
      disposeTree(cache);
    }
  });
});

describe("t5 config, init and checkpoints", () => {
  test("defaults follow T5Config; feed_forward_proj is read as transformers reads it", () => {
    const c = parseModelConfig({ model_type: "t5" }) as T5Config;
    assert.deepEqual(
      [c.vocabSize, c.hiddenSize, c.headDim, c.intermediateSize, c.numLayers, c.numDecoderLayers, c.numHeads],
      [32128, 512, 64, 2048, 6, 6, 8],
    );
    assert.deepEqual(
      [c.numBuckets, c.maxDistance, c.gatedFeedForward, c.activation, c.tieWordEmbeddings],
      [32, 128, false, "relu", true],
    );
    assert.deepEqual([c.padTokenId, c.eosTokenIds, c.decoderStartTokenId, c.bosTokenId], [0, [1], 0, null]);
    const flan = parseModelConfig({ model_type: "t5", feed_forward_proj: "gated-gelu", num_decoder_layers: 3 });
    assert.deepEqual([(flan as T5Config).gatedFeedForward, (flan as T5Config).activation], [true, "gelu_new"]);
    assert.equal((flan as T5Config).numDecoderLayers, 3);
    const silu = parseModelConfig({ model_type: "t5", feed_forward_proj: "gated-silu" }) as T5Config;
    assert.deepEqual([silu.gatedFeedForward, silu.activation], [true, "silu"]);
    assert.throws(
      () => parseModelConfig({ model_type: "t5", feed_forward_proj: "double-gelu" }, "x/config.json"),
      /x\/config.json: feed_forward_proj "double-gelu" must be "ACT" or "gated-ACT"/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "t5", feed_forward_proj: "gated-tanh" }),
      /"tanh" is not supported/,
    );
  });

  test("init follows T5's _init_weights: q N(0, 1/(C·d_kv)), o N(0, 1/(N·d_kv)), norms 1", async () => {
    const config = parseModelConfig({
      model_type: "t5",
      vocab_size: 64,
      d_model: 64,
      d_kv: 16,
      num_heads: 4,
      d_ff: 128,
      num_layers: 1,
    });
    const params = initParams(config, { seed: 4 });
    const std = async (name: string) => {
      const v = await readFloat32(params[name]!.ref);
      return Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);
    };
    const p = "encoder.block.0.layer.0.SelfAttention.";
    assert.ok(Math.abs((await std(`${p}q.weight`)) - 1 / 32) < 0.003);
    assert.ok(Math.abs((await std(`${p}o.weight`)) - 1 / 8) < 0.01);
    assert.ok(Math.abs((await std("shared.weight")) - 1) < 0.05);
    assert.deepEqual([...new Set(await readFloat32(params["decoder.final_layer_norm.weight"]!.ref))], [1]);
    for (const x of Object.values(params)) x.dispose();
  });

  test("loader: embedding copies, the unused cross-attention bias, and a folder without shared.weight", () => {
    const config = parseModelConfig({
      model_type: "t5",
      vocab_size: 8,
      d_model: 8,
      d_kv: 2,
      num_heads: 2,
      d_ff: 8,
      num_layers: 1,
      tie_word_embeddings: false,
    });
    const host = (shape: number[]): HostTensor => ({
      dtype: "F32",
      shape,
      data: new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)),
    });
    const want = paramShapes(config)
      .map(([n]) => n)
      .sort();
    const tensors = new Map<string, HostTensor>(paramShapes(config).map(([n, s]) => [n, host(s)]));
    tensors.set("encoder.embed_tokens.weight", host([8, 8]));
    tensors.set("decoder.embed_tokens.weight", host([8, 8]));
    tensors.set("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight", host([32, 2]));
    assert.deepEqual([...matchTensors(tensors, config, "dir").keys()].sort(), want);
    tensors.delete("shared.weight");
    assert.deepEqual([...matchTensors(tensors, config, "dir").keys()].sort(), want);
    tensors.delete("lm_head.weight");
    assert.throws(() => matchTensors(tensors, config, "dir"), /missing tensors \(1\): lm_head.weight/);
  });
});
