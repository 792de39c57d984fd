/**
 * GPT-J and GPT-NeoX forward passes against the independent numpy reference
 * (test/fixtures/reference_models.py) on committed tiny checkpoints:
 *   tiny-gptj      interleaved rotary on 4 of 8 dims, parallel block, lm_head bias, untied  (F32)
 *   tiny-neox      fused head-interleaved query_key_value, rotary_pct 0.5, parallel residual (F32)
 *   tiny-neox-seq  sequential residual, rotary_pct 0.25 of 16, no attention bias, tied, base 500 (BF16)
 * and their configs, loaders and generation (cached == uncached).
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import type { HostTensor } from "../src/engine/safetensors.ts";
import { loadModel, matchTensors } from "../src/model/checkpoint.ts";
import { type GptjConfig, type NeoxConfig, parseModelConfig } from "../src/model/config.ts";
import { generate } from "../src/model/generate.ts";
import { forward, initParams, type Model, paramShapes } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";
import { checkAgainstReference, ids2d, readExpected } from "./model-fixtures.ts";

const FIXTURES = ["tiny-gptj", "tiny-neox", "tiny-neox-seq"];
const PROMPTS = [[1, 7, 3, 22, 40, 11, 6], [1, 5, 9], [1], [1, 60, 61, 62, 63]];
const models: Record<string, Model> = {};

describe("gptj and gpt_neox vs the numpy reference (1e-4 max abs)", () => {
  before(async () => {
    await initEngine();
    for (const name of FIXTURES) models[name] = await loadModel(`test/fixtures/${name}`);
  });

  for (const name of FIXTURES) {
    test(`${name}: logits, alone and left-padded in a batch`, async () => {
      const worst = await checkAgainstReference(models[name]!, name);
      console.log(`${name}: max abs error vs reference ${worst.toExponential(2)}`);
    });

    test(`${name}: cached greedy == uncached greedy, batch 4 (left-padded) and batch 1`, async () => {
      const model = models[name]!;
      const opts = { maxNewTokens: 8, eosTokenIds: [] };
      const cached = await generate(model, PROMPTS, opts);
      const uncached = await generate(model, PROMPTS, { ...opts, useCache: false });
      assert.deepEqual(
        cached.map((r) => r.tokenIds),
        uncached.map((r) => r.tokenIds),
      );
      for (const [b, r] of cached.entries()) assertClose(r.logProbs, uncached[b]!.logProbs, 1e-4, `row ${b}`);
      for (const b of [0, 3]) {
        const [alone] = await generate(model, [PROMPTS[b]!], opts);
        assert.deepEqual(alone!.tokenIds, cached[b]!.tokenIds, `prompt ${b} alone vs in the batch`);
      }
    });
  }

  test("logits: 'last' equals the last row, and hidden is the pre-head state", async () => {
    const model = models["tiny-neox-seq"]!;
    const seq = readExpected("tiny-neox-seq").sequences[1]!;
    const full = await readFloat32(forward(keepTree(model.params), model.config, ids2d([seq])).logits);
    const out = forward(keepTree(model.params), model.config, ids2d([seq]), { logits: "last", hidden: true });
    assert.deepEqual(out.hidden!.shape, [1, 1, 32]);
    out.hidden!.dispose();
    assertClose(await readFloat32(out.logits), full.subarray((seq.length - 1) * 64), 1e-6, "last logits");
  });
});

describe("gptj and gpt_neox configs and checkpoints", () => {
  test("defaults follow GPTJConfig and GPTNeoXConfig", () => {
    const j = parseModelConfig({ model_type: "gptj" }) as GptjConfig;
    assert.deepEqual(
      [j.vocabSize, j.hiddenSize, j.numLayers, j.numHeads, j.rotaryDim, j.intermediateSize, j.activation],
      [50400, 4096, 28, 16, 64, 16384, "gelu_new"],
    );
    assert.deepEqual([j.tieWordEmbeddings, j.bosTokenId, j.eosTokenIds], [false, 50256, [50256]]);
    const n = parseModelConfig({ model_type: "gpt_neox" }) as NeoxConfig;
    assert.deepEqual(
      [
        n.hiddenSize,
        n.numHeads,
        n.headDim,
        n.rotaryDim,
        n.ropeTheta,
        n.parallelResidual,
        n.attentionBias,
        n.activation,
      ],
      [6144, 64, 96, 24, 10000, true, true, "gelu"],
    );
    // transformers ≥ 5 writes the rotary settings in rope_parameters
    const v5 = parseModelConfig({
      model_type: "gpt_neox",
      hidden_size: 64,
      num_attention_heads: 4,
      rope_parameters: { rope_type: "default", rope_theta: 500, partial_rotary_factor: 0.5 },
    }) as NeoxConfig;
    assert.deepEqual([v5.rotaryDim, v5.ropeTheta], [8, 500]);
  });

  test("unsupported variants are refused by key", () => {
    assert.throws(
      () => parseModelConfig({ model_type: "gpt_neox", hidden_size: 64, num_attention_heads: 4, rotary_pct: 0.1 }),
      /rotary_pct 0.1 rotates 1 of 16 dims per head; the rotated width must be even/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "gpt_neox", rope_scaling: { type: "linear", factor: 2 } }),
      /rope_scaling type "linear" is not supported for gpt_neox/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "gptj", n_embd: 32, n_head: 4, rotary_dim: 16 }),
      /rotary_dim \(16\) must be even and at most the head dim \(8\)/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "gptj", activation_function: "gelu_fast" }),
      /activation_function "gelu_fast" is not supported/,
    );
  });

  test("loader: bare backbone names, old attention buffers and a tied embed_out are tolerated", async () => {
    const config = parseModelConfig({
      model_type: "gpt_neox",
      vocab_size: 8,
      hidden_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      intermediate_size: 16,
      rotary_pct: 0.5,
      tie_word_embeddings: true,
    });
    const host = (shape: number[]): HostTensor => ({
      dtype: "F32",
      shape,
      data: new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)),
    });
    const tensors = new Map<string, HostTensor>();
    for (const [name, shape] of paramShapes(config)) tensors.set(name.replace(/^gpt_neox\./, ""), host(shape));
    tensors.set("layers.0.attention.bias", host([1, 1, 4, 4]));
    tensors.set("layers.0.attention.masked_bias", host([]));
    tensors.set("layers.0.attention.rotary_emb.inv_freq", host([1]));
    tensors.set("embed_out.weight", host([8, 8]));
    const found = matchTensors(tensors, config, "dir");
    assert.deepEqual(
      [...found.keys()].sort(),
      paramShapes(config)
        .map(([n]) => n)
        .sort(),
    );
    tensors.delete("layers.0.attention.dense.weight");
    assert.throws(
      () => matchTensors(tensors, config, "dir"),
      /missing tensors \(1\): gpt_neox.layers.0.attention.dense.weight/,
    );
  });

  test("init follows transformers: gains 1, biases 0, matrices N(0, std²)", async () => {
    for (const model_type of ["gptj", "gpt_neox"]) {
      const config = parseModelConfig({
        model_type,
        vocab_size: 16,
        n_embd: 16,
        n_head: 2,
        n_layer: 1,
        rotary_dim: 4,
        hidden_size: 16,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 32,
      });
      const params = initParams(config, { seed: 1, std: 0.5 });
      const names = Object.keys(params);
      const gain = names.find((n) => /ln_1\.weight$|input_layernorm\.weight$/.test(n))!;
      const bias = names.find((n) => n.endsWith("dense_h_to_4h.bias") || n.endsWith("fc_in.bias"))!;
      assert.deepEqual([...new Set(await readFloat32(params[gain]!.ref))], [1], gain);
      assert.deepEqual([...new Set(await readFloat32(params[bias]!.ref))], [0], bias);
      for (const x of Object.values(params)) x.dispose();
    }
  });
});
