/**
 * LoRA (src/model/adapters/lora.ts) and the PEFT layout (src/model/adapters/peft.ts) on the
 * tiny-llama fixture: jit-compiled steps that train only the adapter (base
 * bitwise unchanged), the merged export against base + adapter to 1e-5, and
 * the PEFT save → load round trip.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { adamw, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import {
  findTargets,
  initLora,
  type LoraAdapter,
  loraMaterialize,
  loraParamCount,
  matchesTarget,
  materializeLora,
  mergeLora,
} from "../src/model/adapters/lora.ts";
import { ADAPTER_CONFIG_NAME, loadAdapter, saveAdapter, saveMergedModel } from "../src/model/adapters/peft.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { forward, type Model } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";

const FIXTURE = "test/fixtures/tiny-llama";
const T = 12;

async function bytesOf(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, x] of Object.entries(params)) out.set(name, (await x.ref.data()) as Float32Array);
  return out;
}

/** Two rows of a periodic sequence: easy to learn, so a few steps lower the loss clearly. */
function batch(): { ids: JaxArray; targets: JaxArray; mask: JaxArray } {
  const seq = Array.from({ length: 2 * (T + 1) }, (_, i) => 3 + ((i * 5) % 11));
  const rows = (off: number) => [...seq.slice(off, off + T), ...seq.slice(off + T + 1, off + 2 * T + 1)];
  return {
    ids: np.array(Int32Array.from(rows(0)), { shape: [2, T], dtype: np.int32 }),
    targets: np.array(Int32Array.from(rows(1)), { shape: [2, T], dtype: np.int32 }),
    mask: np.ones([2, T]),
  };
}

/** Train the adapter `steps` jit-compiled AdamW steps on the batch; returns the losses and the new adapter. */
async function trainLora(
  model: Model,
  adapter: LoraAdapter,
  steps: number,
): Promise<{ losses: number[]; adapter: LoraAdapter; stateNames: string[] }> {
  const { ids, targets, mask } = batch();
  const materialize = loraMaterialize(adapter.config);
  const opt = adamw({ weightDecay: 0 });
  const loss = (t: Params, base: Params, x: JaxArray, y: JaxArray, m: JaxArray) =>
    tokenNll(forward(materialize(t, base), model.config, x).logits, y, m);
  const step = jit((t: Params, s: OptimizerState, base: Params, x: JaxArray, y: JaxArray, m: JaxArray) => {
    const [value, grads] = valueAndGrad(loss)(keepTree(t), base, x, y, m);
    const next = opt.update(t, grads, s, 1e-2);
    return { t: next.params, s: next.state, value };
  });
  let trainable = adapter.params;
  let state = opt.init(trainable);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const out = step(trainable, state, { ...keepTree(model.params) }, ids.ref, targets.ref, mask.ref);
    trainable = out.t;
    state = out.s;
    losses.push(await readScalar(out.value));
  }
  const stateNames = Object.keys(state.slots.exp_avg!).sort();
  step.dispose();
  disposeTree([state, ids, targets, mask]);
  return { losses, adapter: { config: adapter.config, params: trainable }, stateNames };
}

describe("LoRA on tiny-llama", () => {
  let model: Model;
  let trained: LoraAdapter;
  let tmp: string;

  before(async () => {
    await initEngine();
    model = await loadModel(FIXTURE);
    tmp = await mkdtemp(join(tmpdir(), "stepwise-lora-"));
  });
  after(async () => {
    disposeTree(model.params);
    if (trained) disposeTree(trained.params);
    await rm(tmp, { recursive: true, force: true });
  });

  test("targets by PEFT suffix or regex; names, shapes and init as PEFT", async () => {
    assert.ok(matchesTarget("model.layers.0.self_attn.q_proj", ["q_proj"]));
    assert.ok(!matchesTarget("model.layers.0.self_attn.q_proj", ["proj"]));
    assert.ok(matchesTarget("model.layers.1.mlp.up_proj", String.raw`.*\.(up|down)_proj`));
    assert.deepEqual(
      findTargets(model.params, ["v_proj"]).map((t) => t.a),
      [0, 1].map((l) => `base_model.model.model.layers.${l}.self_attn.v_proj.lora_A.weight`),
    );
    assert.throws(() => initLora(model.params, { targetModules: ["nope"] }), /match no linear weight/);
    assert.throws(() => initLora(model.params, { targetModules: ["embed_tokens"] }), /not a linear layer/);
    assert.throws(() => initLora(model.params, { r: 0 }), /r must be a positive integer, got 0/);

    const lora = initLora(model.params, { r: 4, alpha: 8, seed: 1 }); // default targets: q_proj, v_proj
    assert.deepEqual(lora.config.targetModules, ["q_proj", "v_proj"]);
    assert.equal(Object.keys(lora.params).length, 2 * 2 * 2);
    const a = lora.params["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]!;
    const b = lora.params["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"]!;
    assert.deepEqual(a.shape, [4, 32]); // [r, in]
    assert.deepEqual(b.shape, [16, 4]); // [out, r]: 2 kv heads × 8
    const av = await readFloat32(a.ref);
    assert.ok(av.every((v) => Math.abs(v) <= 1 / Math.sqrt(32)) && av.some((v) => v !== 0));
    assert.ok((await readFloat32(b.ref)).every((v) => v === 0));
    // B = 0: the adapted model is the base model
    const merged = mergeLora(model.params, lora);
    for (const [name, x] of Object.entries(model.params)) {
      assert.deepEqual(await readFloat32(merged[name]!), await readFloat32(x.ref), name);
    }
    assert.equal(loraParamCount(lora), 2 * (4 * 32 + 32 * 4) + 2 * (4 * 32 + 16 * 4));
    // the same seed gives the same init
    const again = initLora(model.params, { r: 4, alpha: 8, seed: 1 });
    assert.deepEqual(
      await readFloat32(again.params["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]!.ref),
      av,
    );
    disposeTree([lora.params, again.params]);
  });

  test("jit steps change only the adapter: base bitwise unchanged, loss falls, optimizer state only for A and B", async () => {
    const baseBefore = await bytesOf(model.params);
    const lora = initLora(model.params, {
      r: 4,
      alpha: 8,
      targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      seed: 0,
    });
    const adapterBefore = await bytesOf(lora.params);
    const out = await trainLora(model, lora, 8);
    trained = out.adapter;
    console.log(`LoRA losses: ${out.losses.map((l) => l.toFixed(4)).join(" ")}`);
    assert.ok(out.losses[7]! < out.losses[0]! - 0.1, `loss should fall: ${out.losses}`);
    assert.deepEqual(out.stateNames, Object.keys(trained.params).sort());
    const baseAfter = await bytesOf(model.params);
    for (const [name, v] of baseBefore) assert.deepEqual(baseAfter.get(name), v, `base "${name}" changed`);
    const adapterAfter = await bytesOf(trained.params);
    let changed = 0;
    for (const [name, v] of adapterBefore) if (!adapterAfter.get(name)!.every((x, i) => x === v[i])) changed++;
    assert.equal(changed, adapterBefore.size, "every adapter tensor moved");
  });

  test("merged export (saveModel → loadModel) gives the logits of base + adapter to 1e-5", async () => {
    assert.ok(trained, "needs the trained adapter");
    const bNorm = (
      await readFloat32(trained.params["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]!.ref)
    ).reduce((s, v) => s + Math.abs(v), 0);
    assert.ok(bNorm > 0, "B became non-zero");
    // the merged weight against a float64 host computation of W + (α/r)·B A
    const name = "model.layers.1.mlp.down_proj";
    const w = await readFloat32(model.params[`${name}.weight`]!.ref); // [32, 64]
    const a = await readFloat32(trained.params[`base_model.model.${name}.lora_A.weight`]!.ref); // [4, 64]
    const b = await readFloat32(trained.params[`base_model.model.${name}.lora_B.weight`]!.ref); // [32, 4]
    const want = Float64Array.from(w, (v, k) => {
      const [o, i] = [Math.floor(k / 64), k % 64];
      let s = 0;
      for (let j = 0; j < 4; j++) s += b[o * 4 + j]! * a[j * 64 + i]!;
      return v + 2 * s;
    });
    const merged = mergeLora(model.params, trained);
    assertClose(await readFloat32(merged[`${name}.weight`]!.ref), want, 1e-6, "merged down_proj");
    disposeTree(merged);

    const dir = join(tmp, "merged");
    await saveMergedModel(dir, model, trained);
    const reloaded = await loadModel(dir);
    const { ids } = batch();
    const adapted = forward(materializeLora(trained, model.params), model.config, ids.ref).logits;
    const fromExport = forward(reloaded.params, model.config, ids).logits;
    const base = forward(keepTree(model.params), model.config, batch().ids).logits;
    const got = await readFloat32(fromExport);
    const exp = await readFloat32(adapted);
    assertClose(got, exp, 1e-5, "merged export vs base + adapter");
    const baseLogits = await readFloat32(base);
    assert.ok(
      baseLogits.some((v, i) => Math.abs(v - exp[i]!) > 1e-3),
      "the adapter changes the logits",
    );
  });

  test("PEFT layout: save → load round trip bitwise; adapter_config fields", async () => {
    assert.ok(trained, "needs the trained adapter");
    const dir = join(tmp, "adapter");
    const files = await saveAdapter(dir, trained, { baseModelNameOrPath: FIXTURE });
    assert.deepEqual(files, ["adapter_config.json", "adapter_model.safetensors"]);
    const cfg = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG_NAME), "utf8"));
    assert.equal(cfg.peft_type, "LORA");
    assert.equal(cfg.task_type, "CAUSAL_LM");
    assert.equal(cfg.r, 4);
    assert.equal(cfg.lora_alpha, 8);
    assert.equal(cfg.lora_dropout, 0);
    assert.equal(cfg.bias, "none");
    assert.equal(cfg.fan_in_fan_out, false);
    assert.equal(cfg.base_model_name_or_path, FIXTURE);
    assert.deepEqual(cfg.target_modules, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
    const { adapter } = await loadAdapter(dir);
    assert.deepEqual(adapter.config, trained.config);
    assert.deepEqual(Object.keys(adapter.params).sort(), Object.keys(trained.params).sort());
    const want = await bytesOf(trained.params);
    for (const [name, x] of Object.entries(adapter.params))
      assert.deepEqual(await readFloat32(x), want.get(name), name);
  });
});

describe("LoRA on GPT-2's Conv1D (fan_in_fan_out)", () => {
  test("c_attn: [in, out] weights get (α/r)·(B A)ᵀ and the config says fan_in_fan_out", async () => {
    await initEngine();
    const model = await loadModel("test/fixtures/tiny-gpt2");
    const lora = initLora(model.params, { r: 2, alpha: 4 });
    assert.equal(lora.config.fanInFanOut, true);
    assert.deepEqual(lora.config.targetModules, ["c_attn"]);
    const name = "transformer.h.0.attn.c_attn";
    const [inp, out] = model.params[`${name}.weight`]!.shape as [number, number];
    const bName = `base_model.model.${name}.lora_B.weight`;
    assert.deepEqual(lora.params[bName]!.shape, [out, 2]);
    lora.params[bName]!.dispose();
    lora.params[bName] = np.ones([out, 2]);
    const a = await readFloat32(lora.params[`base_model.model.${name}.lora_A.weight`]!.ref); // [2, in]
    const merged = mergeLora(model.params, lora);
    const w = await readFloat32(model.params[`${name}.weight`]!.ref);
    const want = Float64Array.from(w, (v, k) => v + 2 * (a[Math.floor(k / out)]! + a[inp + Math.floor(k / out)]!));
    assertClose(await readFloat32(merged[`${name}.weight`]!.ref), want, 1e-6, "merged c_attn");
    disposeTree([merged, lora.params, model.params]);
  });
});
