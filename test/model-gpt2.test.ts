/**
 * GPT-2 forward pass against the independent numpy reference
 * (test/fixtures/reference_models.py) on the committed tiny-gpt2 checkpoint.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { type Gpt2Config, parseModelConfig } from "../src/model/config.ts";
import { forward, initParams, paramShapes } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";
import { checkAgainstReference, ids2d, readExpected } from "./model-fixtures.ts";

describe("gpt2 vs the numpy reference (1e-4 max abs)", () => {
  before(async () => {
    await initEngine();
  });

  test("tiny-gpt2: logits, alone and left-padded in a batch", async () => {
    const model = await loadModel("test/fixtures/tiny-gpt2");
    const worst = await checkAgainstReference(model, "tiny-gpt2");
    console.log(`tiny-gpt2: max abs error vs reference ${worst.toExponential(2)}`);
    for (const x of Object.values(model.params)) x.dispose();
  });

  test("logits: 'last' equals the last row of the full forward", async () => {
    const model = await loadModel("test/fixtures/tiny-gpt2");
    const seq = readExpected("tiny-gpt2").sequences[1]!;
    const full = await readFloat32(forward(keepTree(model.params), model.config, ids2d([seq])).logits);
    const last = forward(model.params, model.config, ids2d([seq]), { logits: "last" }).logits;
    assertClose(await readFloat32(last), full.subarray((seq.length - 1) * 64), 1e-6, "last logits");
  });

  test("init follows transformers: gains 1, biases 0, c_proj std 0.02/√(2L), others 0.02", async () => {
    const config = parseModelConfig({ model_type: "gpt2", vocab_size: 512, n_embd: 64, n_layer: 8, n_head: 4 });
    const params = initParams(config, { seed: 3 });
    assert.deepEqual(
      Object.keys(params).sort(),
      paramShapes(config)
        .map(([n]) => n)
        .sort(),
    );
    const std = async (name: string) => {
      const v = await readFloat32(params[name]!.ref);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    };
    assert.ok(Math.abs((await std("transformer.wte.weight")) - 0.02) < 0.001);
    assert.ok(Math.abs((await std("transformer.h.0.mlp.c_proj.weight")) - 0.02 / 4) < 0.0003);
    assert.deepEqual([...new Set(await readFloat32(params["transformer.h.3.ln_2.weight"]!.ref))], [1]);
    assert.deepEqual([...new Set(await readFloat32(params["transformer.h.3.attn.c_attn.bias"]!.ref))], [0]);
    for (const x of Object.values(params)) x.dispose();
  });
});

describe("gpt2 config", () => {
  test("defaults are GPT-2 small's; unsupported variants are refused by name", () => {
    const c = parseModelConfig({ model_type: "gpt2" }) as Gpt2Config;
    assert.deepEqual(
      [c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.intermediateSize, c.maxPositionEmbeddings],
      [50257, 768, 12, 12, 3072, 1024],
    );
    assert.deepEqual([c.activation, c.layerNormEps, c.bosTokenId, c.eosTokenIds], ["gelu_new", 1e-5, 50256, [50256]]);
    assert.throws(
      () => parseModelConfig({ model_type: "gpt2", activation_function: "relu" }),
      /activation_function "relu" is not supported/,
    );
    assert.throws(
      () => parseModelConfig({ model_type: "gpt2", scale_attn_by_inverse_layer_idx: true }),
      /scale_attn_by_inverse_layer_idx=true is not supported/,
    );
  });
});
