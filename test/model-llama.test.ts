/**
 * Llama-family forward passes against the independent numpy reference
 * (test/fixtures/reference_models.py) on committed tiny checkpoints:
 *   tiny-llama  GQA 4/2, q/k/v/o bias, llama3 rope scaling, untied head      (F32)
 *   tiny-qwen3  q/k RMSNorm, head_dim 16 ≠ C/N, linear rope scaling, tied    (BF16)
 *   tiny-qwen2  q/k/v bias, one key/value head, tied                         (F16)
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { type LlamaConfig, parseModelConfig } from "../src/model/config.ts";
import { ropeInvFreq } from "../src/model/llama.ts";
import { forward } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";
import { checkAgainstReference, ids2d, readExpected } from "./model-fixtures.ts";

describe("llama family vs the numpy reference (1e-4 max abs)", () => {
  before(async () => {
    await initEngine();
  });

  for (const name of ["tiny-llama", "tiny-qwen3", "tiny-qwen2"]) {
    test(`${name}: logits, alone and left-padded in a batch`, async () => {
      const model = await loadModel(`test/fixtures/${name}`);
      const worst = await checkAgainstReference(model, name);
      console.log(`${name}: max abs error vs reference ${worst.toExponential(2)}`);
      for (const x of Object.values(model.params)) x.dispose();
    });
  }

  test("logits: 'last' equals the last row of the full forward", async () => {
    const model = await loadModel("test/fixtures/tiny-llama");
    const seq = readExpected("tiny-llama").sequences[0]!;
    const full = await readFloat32(forward(keepTree(model.params), model.config, ids2d([seq])).logits);
    const last = forward(model.params, model.config, ids2d([seq]), { logits: "last" }).logits;
    assert.deepEqual(last.shape, [1, 1, 64]);
    assertClose(await readFloat32(last), full.subarray((seq.length - 1) * 64), 1e-6, "last logits");
  });
});

describe("llama config", () => {
  test("llama3 rope scaling keeps short wavelengths, slows long ones, interpolates between", () => {
    const c = parseModelConfig({
      model_type: "llama",
      vocab_size: 8,
      hidden_size: 16,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      rope_theta: 10000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 16,
      },
    }) as LlamaConfig;
    const inv = ropeInvFreq(c); // θ_i = 10000^(-2i/8): 1, 0.1, 0.01, 0.001
    assert.equal(inv.length, 4);
    // wavelength 2π ≈ 6.28 lies in [16/4, 16/1]: smooth = (16/6.28 − 1)/3
    const smooth = (16 / (2 * Math.PI) - 1) / 3;
    assertClose(inv, [(1 - smooth) * (1 / 8) + smooth * 1, 0.1 / 8, 0.01 / 8, 0.001 / 8], 1e-7, "inv freq");
  });

  test("defaults follow transformers: kv heads = heads, head dim = C/N, qwen3 head_dim 128, qwen2 q/k/v bias", () => {
    const base = { vocab_size: 8, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 };
    const llama = parseModelConfig({ ...base, model_type: "llama" }) as LlamaConfig;
    assert.equal(llama.numKvHeads, 2);
    assert.equal(llama.headDim, 8);
    assert.deepEqual([llama.qkvBias, llama.oBias, llama.qkNorm, llama.tieWordEmbeddings], [false, false, false, false]);
    const qwen3 = parseModelConfig({ ...base, model_type: "qwen3" }) as LlamaConfig;
    assert.equal(qwen3.headDim, 128);
    assert.equal(qwen3.qkNorm, true);
    const qwen2 = parseModelConfig({ ...base, model_type: "qwen2", tie_word_embeddings: true }) as LlamaConfig;
    assert.deepEqual([qwen2.qkvBias, qwen2.oBias, qwen2.tieWordEmbeddings], [true, false, true]);
    const l3 = parseModelConfig({ ...base, model_type: "llama", eos_token_id: [128001, 128009] });
    assert.deepEqual(l3.eosTokenIds, [128001, 128009]);
  });

  test("errors name the problem: unknown model_type lists the supported ones; bad fields name the key", () => {
    assert.throws(
      () => parseModelConfig({ model_type: "bert" }, "x/config.json"),
      /x\/config.json: unsupported model_type "bert" \(supported: llama, qwen2, qwen3, mistral, gpt2, gptj, gpt_neox, t5\)/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "llama", vocab_size: "many" }),
      /invalid config:[\s\S]*vocab_size/,
    );
    const base = { model_type: "llama", vocab_size: 8, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 1 };
    assert.throws(
      () => parseModelConfig({ ...base, num_attention_heads: 4, num_key_value_heads: 3 }),
      /must be a multiple of num_key_value_heads/,
    );
    assert.throws(
      () => parseModelConfig({ ...base, num_attention_heads: 2, rope_scaling: { rope_type: "yarn", factor: 4 } }),
      /rope_scaling type "yarn" is not supported \(supported: default, linear, llama3\)/,
    );
  });
});
