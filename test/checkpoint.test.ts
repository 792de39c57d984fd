/**
 * Model folders: save → load round trips (bit-exact in F32, correctly rounded in
 * F16/BF16, sharded), name handling (GPT2Model's unprefixed names, tolerated buffers),
 * and one error listing every missing, unexpected or misshapen tensor.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import {
  fromFloat32,
  type HostTensor,
  readSafetensorsFolder,
  toFloat32,
  writeSafetensorsFolder,
} from "../src/engine/safetensors.ts";
import { CheckpointError, loadModel, saveModel } from "../src/model/checkpoint.ts";
import { forward, type Model } from "../src/model/model.ts";
import { ids2d } from "./model-fixtures.ts";

let tmp: string;

async function hostParams(model: Model): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, x] of Object.entries(model.params)) out.set(k, await readFloat32(x.ref));
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

async function copyFixture(name: string, edit: (t: Map<string, HostTensor>) => void): Promise<string> {
  const dir = await mkdtemp(join(tmp, `${name}-`));
  const tensors = await readSafetensorsFolder(`test/fixtures/${name}`);
  edit(tensors);
  await writeSafetensorsFolder(dir, tensors);
  await writeFile(join(dir, "config.json"), await readFile(`test/fixtures/${name}/config.json`));
  return dir;
}

describe("checkpoint folders", () => {
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-ckpt-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("F32 save → load is bit-identical, keeps config.json keys, writes generation_config.json", async () => {
    const model = await loadModel("test/fixtures/tiny-llama");
    const dir = join(tmp, "llama-f32");
    const written = await saveModel(dir, model);
    assert.deepEqual(written.sort(), ["config.json", "generation_config.json", "model.safetensors"]);
    const again = await loadModel(dir);
    assert.deepEqual(again.config, model.config);
    assert.deepEqual(again.hfConfig, model.hfConfig);
    assert.deepEqual(again.generationConfig, { bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 });
    const [a, b] = [await hostParams(model), await hostParams(again)];
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [k, v] of a) assert.deepEqual(bits(b.get(k)!), bits(v), k);
  });

  test("F16 and BF16 saves load as the correctly rounded float32 values; torch_dtype follows", async () => {
    const model = await loadModel("test/fixtures/tiny-llama");
    const orig = await hostParams(model);
    for (const dtype of ["F16", "BF16"] as const) {
      const dir = join(tmp, `llama-${dtype}`);
      await saveModel(dir, model, { dtype });
      const raw = await readSafetensorsFolder(dir);
      assert.ok([...raw.values()].every((t) => t.dtype === dtype));
      const loaded = await hostParams(await loadModel(dir));
      for (const [k, v] of orig) {
        const rounded = toFloat32(fromFloat32(v, [v.length], dtype));
        assert.deepEqual(bits(loaded.get(k)!), bits(rounded), `${dtype} ${k}`);
      }
      const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
      assert.equal(cfg.torch_dtype, dtype === "F16" ? "float16" : "bfloat16");
    }
  });

  test("sharded save (index + shards) loads back bit-identical", async () => {
    const model = await loadModel("test/fixtures/tiny-gpt2");
    const dir = join(tmp, "gpt2-sharded");
    await saveModel(dir, model, { maxShardBytes: 30_000 });
    const files = (await readdir(dir)).filter((f) => f.endsWith(".safetensors"));
    assert.ok(files.length > 1, `expected shards, got ${files}`);
    const [a, b] = [await hostParams(model), await hostParams(await loadModel(dir))];
    for (const [k, v] of a) assert.deepEqual(bits(b.get(k)!), bits(v), k);
  });

  test("GPT2Model names without 'transformer.' and its attn.bias buffers load, with the same logits", async () => {
    const dir = await copyFixture("tiny-gpt2", (t) => {
      for (const [k, v] of [...t]) {
        t.delete(k);
        t.set(k.replace(/^transformer\./, ""), v);
      }
      t.set("h.0.attn.bias", fromFloat32(new Float32Array(4), [1, 1, 2, 2]));
    });
    const bare = await loadModel(dir);
    const full = await loadModel("test/fixtures/tiny-gpt2");
    const ids = [1, 5, 9, 33];
    const x = await readFloat32(forward(keepTree(bare.params), bare.config, ids2d([ids])).logits);
    const y = await readFloat32(forward(keepTree(full.params), full.config, ids2d([ids])).logits);
    assert.deepEqual(x, y);
  });

  test("one error lists every missing, unexpected and misshapen tensor", async () => {
    const dir = await copyFixture("tiny-llama", (t) => {
      t.delete("model.layers.1.mlp.up_proj.weight");
      t.delete("lm_head.weight");
      t.set("model.layers.0.self_attn.extra.weight", fromFloat32(new Float32Array(2), [2]));
      t.set("model.norm.weight", fromFloat32(new Float32Array(31), [31]));
    });
    await assert.rejects(loadModel(dir), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.deepEqual(e.missing.sort(), ["lm_head.weight", "model.layers.1.mlp.up_proj.weight"]);
      assert.deepEqual(e.unexpected, ["model.layers.0.self_attn.extra.weight"]);
      assert.match(e.message, /missing tensors \(2\): .*model\.layers\.1\.mlp\.up_proj\.weight/);
      assert.match(e.message, /"model\.norm\.weight" has shape \[31\], expected \[32\]/);
      return true;
    });
  });

  test("tied embeddings tolerate a stored lm_head.weight; tokenizer files are copied through", async () => {
    const dir = await copyFixture("tiny-qwen3", (t) => {
      t.set("lm_head.weight", t.get("model.embed_tokens.weight")!);
    });
    await writeFile(join(dir, "tokenizer.json"), '{"version":"1.0"}');
    await writeFile(join(dir, "tokenizer_config.json"), "{}");
    const model = await loadModel(dir);
    assert.ok(!("lm_head.weight" in model.params));
    const out = join(tmp, "qwen3-copy");
    const written = await saveModel(out, model, { tokenizerFrom: dir });
    assert.ok(written.includes("tokenizer.json") && written.includes("tokenizer_config.json"));
    assert.equal(await readFile(join(out, "tokenizer.json"), "utf8"), '{"version":"1.0"}');
  });

  test("a folder without config.json, or with an unknown model_type, is a clear error", async () => {
    const empty = await mkdtemp(join(tmp, "empty-"));
    await assert.rejects(loadModel(empty), /no config\.json in this folder/);
    await writeFile(join(empty, "config.json"), '{"model_type": "bart"}');
    await assert.rejects(
      loadModel(empty),
      /unsupported model_type "bart" \(supported: llama, qwen2, qwen3, mistral, gpt2, gptj, gpt_neox, t5\)/,
    );
  });
});
