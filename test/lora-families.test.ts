/**
 * LoRA on the GPT-J, GPT-NeoX and T5 fixtures: PEFT's default targets per family, T5's
 * q, k, v, o, wi / wi_0, wi_1, wo modules (PEFT names, task_type SEQ_2_SEQ_LM), merged weights
 * equal to base + adapter, and a jit-compiled training step through the encoder–decoder that
 * lowers the loss while the base stays bitwise unchanged.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, random, valueAndGrad } from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { adamw, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { initLora, loraMaterialize, materializeLora, mergeLora } from "../src/model/adapters/lora.ts";
import { loadAdapter, saveAdapter } from "../src/model/adapters/peft.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { forwardSeq2seq, type Model } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";
import { ids2d } from "./model-fixtures.ts";

const models: Record<string, Model> = {};

describe("LoRA on gptj, gpt_neox and t5", () => {
  before(async () => {
    await initEngine();
    for (const name of ["tiny-gptj", "tiny-neox", "tiny-t5", "tiny-flan-t5"]) {
      models[name] = await loadModel(`test/fixtures/${name}`);
    }
  });

  test("default targets are PEFT's per family", () => {
    const modules = (name: string) => {
      const a = initLora(models[name]!.params);
      const out = Object.keys(a.params)
        .filter((n) => n.endsWith("lora_A.weight"))
        .map((n) => n.replace(/^base_model\.model\./, "").replace(/\.lora_A\.weight$/, ""));
      disposeTree(a.params);
      return { out, config: a.config };
    };
    const j = modules("tiny-gptj");
    assert.deepEqual(j.config.targetModules, ["q_proj", "v_proj"]);
    assert.ok(j.out.includes("transformer.h.1.attn.v_proj") && j.out.length === 4);
    const n = modules("tiny-neox");
    assert.deepEqual(n.out, [
      "gpt_neox.layers.0.attention.query_key_value",
      "gpt_neox.layers.1.attention.query_key_value",
    ]);
    const t = modules("tiny-t5");
    assert.deepEqual(t.config.targetModules, ["q", "v"]);
    assert.equal(t.config.taskType, "SEQ_2_SEQ_LM");
    // encoder self-attention, decoder self- and cross-attention, 2 blocks each: (2 + 4) · 2 modules
    assert.equal(t.out.length, 12);
    assert.ok(t.out.includes("decoder.block.1.layer.1.EncDecAttention.q"));
  });

  test("t5: q, k, v, o, wi, wo (relu) and wi_0, wi_1 (gated); the bias table and the embedding are refused", () => {
    const relu = initLora(models["tiny-t5"]!.params, { targetModules: ["q", "k", "v", "o", "wi", "wo"] });
    assert.equal(Object.keys(relu.params).length / 2, 2 * 6 + 2 * 10); // encoder 6 per block, decoder 10
    disposeTree(relu.params);
    const gated = initLora(models["tiny-flan-t5"]!.params, {
      targetModules: ["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
    });
    assert.equal(Object.keys(gated.params).length / 2, 2 * 7 + 3 * 11);
    disposeTree(gated.params);
    assert.throws(
      () => initLora(models["tiny-t5"]!.params, { targetModules: ".*relative_attention_bias" }),
      /target "decoder.block.0.layer.0.SelfAttention.relative_attention_bias" is not a linear layer/,
    );
    assert.throws(() => initLora(models["tiny-t5"]!.params, { targetModules: ["shared"] }), /not a linear layer/);
  });

  test("t5: merged weights give base + adapter's logits; the PEFT folder names T5's modules", async () => {
    const model = models["tiny-flan-t5"]!;
    const adapter = initLora(model.params, { targetModules: ["q", "k", "v", "o", "wi_0", "wi_1", "wo"], r: 2 });
    // B = 0 at init: give it values so the adapter changes the logits
    for (const name of Object.keys(adapter.params).filter((n) => n.endsWith("lora_B.weight"))) {
      const b = adapter.params[name]!;
      adapter.params[name] = np.multiply(random.normal(random.key(7), b.shape), 0.3);
      b.dispose();
    }
    const enc = ids2d([[7, 3, 22, 40, 1]]);
    const dec = ids2d([[0, 5, 9, 33]]);
    const run = async (p: Params) => readFloat32(forwardSeq2seq(p, model.config, enc.ref, dec.ref).logits);
    const base = await run(keepTree(model.params));
    const live = await run(materializeLora(adapter, model.params));
    const merged = mergeLora(model.params, adapter);
    const exported = await run(merged);
    assertClose(exported, live, 1e-5, "merged vs base + adapter");
    assert.ok(Math.max(...live.map((v, i) => Math.abs(v - base[i]!))) > 1e-2, "the adapter changes the logits");
    const dir = await mkdtemp(join(tmpdir(), "stepwise-t5-lora-"));
    try {
      await saveAdapter(dir, adapter);
      const cfg = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8"));
      assert.equal(cfg.task_type, "SEQ_2_SEQ_LM");
      assert.deepEqual(cfg.target_modules, ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]);
      const back = await loadAdapter(dir);
      const names = Object.keys(back.adapter.params).sort();
      assert.ok(names.includes("base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight"));
      assert.ok(names.includes("base_model.model.decoder.block.2.layer.2.DenseReluDense.wi_1.lora_B.weight"));
      assert.equal(back.adapter.config.taskType, "SEQ_2_SEQ_LM");
      disposeTree(back.adapter.params);
    } finally {
      await rm(dir, { recursive: true, force: true });
      disposeTree(adapter.params);
      enc.dispose();
      dec.dispose();
    }
  });

  test("t5: jit-compiled LoRA steps on the decoder targets lower the loss; the base is untouched", async () => {
    const model = models["tiny-t5"]!;
    const adapter = initLora(model.params, { targetModules: ["q", "k", "v", "o", "wi", "wo"], r: 4 });
    const materialize = loraMaterialize(adapter.config);
    const optimizer = adamw({ weightDecay: 0 });
    const lossOf = (t: Params, f: Params, e: JaxArray, d: JaxArray, y: JaxArray, m: JaxArray) =>
      tokenNll(forwardSeq2seq(materialize(t, f), model.config, e, d).logits, y, m, { reduction: "sum" });
    const step = jit((t: Params, f: Params, s: OptimizerState, e: JaxArray, d: JaxArray, y: JaxArray, m: JaxArray) => {
      const [loss, grads] = valueAndGrad(lossOf)(keepTree(t), f, e, d, y, m);
      const next = optimizer.update(t, grads, s, 0.02);
      return { loss, trainable: next.params, state: next.state };
    });
    // copy the encoder input: targets = the prompt reversed, decoder inputs = targets shifted right
    const prompts = [
      [7, 3, 22, 40, 11],
      [5, 9, 60, 12, 33],
    ];
    const targets = prompts.map((p) => [...p].reverse());
    const inputs = targets.map((t) => [0, ...t.slice(0, -1)]);
    const before = await readFloat32(model.params["shared.weight"]!.ref);
    let trainable = adapter.params;
    let state = optimizer.init(trainable);
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const out = step(
        trainable,
        keepTree(model.params),
        state,
        ids2d(prompts),
        ids2d(inputs),
        ids2d(targets),
        np.ones([2, 5]),
      );
      trainable = out.trainable;
      state = out.state;
      losses.push(await readScalar(out.loss));
    }
    step.dispose();
    disposeTree(trainable);
    disposeTree(state);
    console.log(`t5 LoRA losses: ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}`);
    assert.ok(losses.at(-1)! < 0.7 * losses[0]!, `loss ${losses[0]} → ${losses.at(-1)}`);
    assert.deepEqual(await readFloat32(model.params["shared.weight"]!.ref), before, "the base is unchanged");
  });
});
