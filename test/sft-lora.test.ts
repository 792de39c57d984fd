/**
 * LoRA and QLoRA through runSft (src/train/sft.ts): a tiny full run writes the base
 * folder, then an adapter run on it trains only the adapter (the base folder is not
 * touched, checkpoints hold adapter tensors only), writes final/adapter in the PEFT
 * layout and final/ merged, whose logits equal base + adapter to 1e-5, and resumes from an
 * adapter checkpoint to the same adapter bitwise. A QLoRA run
 * completes with a falling loss. A bad `lora` block is a config error with key paths.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { np } from "../src/engine/jax.ts";
import { readFloat32 } from "../src/engine/memory.ts";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { materializeLora } from "../src/model/adapters/lora.ts";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, loadAdapter } from "../src/model/adapters/peft.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { forward } from "../src/model/model.ts";
import { latestCheckpoint, PARAMS_FILE } from "../src/train/checkpoint.ts";
import { parseSftConfig, type SftConfig, SftConfigError } from "../src/train/config.ts";
import { ADAPTER_DIR, runSft, type SftResult } from "../src/train/sft.ts";
import { assertClose } from "./helpers.ts";
import { TINY_SFT } from "./tiny.ts";

const { name: _name, ...TINY_UNNAMED } = TINY_SFT;
const BASE = { ...TINY_UNNAMED, steps: 10 };
const ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const devNull = () => ({ write: () => true, isTTY: false }) as unknown as NodeJS.WriteStream;

let dir = "";
let baseDir = "";
before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-sft-lora-"));
  const res = await runSft(parseSftConfig({ ...clone(BASE), out: join(dir, "base") }), { stream: devNull() });
  assert.equal(res.status.kind, "done");
  baseDir = join(dir, "base", "final");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An adapter run on the base folder: units problems (a task the base never saw). */
function adapterConfig(out: string, lora: Record<string, unknown>) {
  const { init: _init, ...rest } = clone(BASE);
  return parseSftConfig({
    ...rest,
    model: baseDir,
    lora,
    data: {
      train: { generate: { tasks: ["units"], n: 200, seed: 0 } },
      eval: { generate: { tasks: ["units"], n: 16, seed: 1 } },
    },
    optim: { lr: 3e-2, clip: 1 },
    steps: 12,
    checkpoint: { every: 6, keep: 0 },
    out: join(dir, out),
  });
}

/** Run an adapter config to the end and check its held-out loss falls by more than 0.3 nats. */
async function runAndCheckLossFalls(cfg: SftConfig, t: TestContext): Promise<SftResult> {
  const res = await runSft(cfg, { stream: devNull() });
  assert.equal(res.status.kind, "done");
  const first = res.evals[0]!.loss;
  const last = res.evals.at(-1)!.loss;
  t.diagnostic(`held-out loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  assert.ok(first - last > 0.3, `held-out loss ${first} → ${last}`);
  return res;
}

describe("sft with lora", () => {
  test("LoRA trains the adapter only; final/adapter is PEFT; final/ merged equals base + adapter to 1e-5", async (t) => {
    const baseBytes = await readFile(join(baseDir, "model.safetensors"));
    const cfg = adapterConfig("lora", { r: 4, alpha: 8, targetModules: ALL_LINEAR });
    const res = await runAndCheckLossFalls(cfg, t);

    // The base folder is untouched.
    assert.ok(baseBytes.equals(await readFile(join(baseDir, "model.safetensors"))), "base weights changed");

    // Checkpoints hold the adapter only (14 tensors: A and B of 7 modules).
    const ck = await latestCheckpoint(res.runDir);
    assert.equal(ck?.step, 12);
    const { tensors } = await readSafetensors(join(ck!.dir, PARAMS_FILE));
    assert.equal(tensors.size, 2 * ALL_LINEAR.length);
    for (const name of tensors.keys()) assert.match(name, /^base_model\.model\..*\.lora_[AB]\.weight$/);

    // PEFT layout.
    const adapterDir = join(res.runDir, "final", ADAPTER_DIR);
    assert.deepEqual((await readdir(adapterDir)).sort(), [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME].sort());
    const peftCfg = JSON.parse(await readFile(join(adapterDir, ADAPTER_CONFIG_NAME), "utf8")) as Record<
      string,
      unknown
    >;
    assert.equal(peftCfg.peft_type, "LORA");
    assert.equal(peftCfg.r, 4);
    assert.equal(peftCfg.lora_alpha, 8);
    assert.deepEqual(peftCfg.target_modules, ALL_LINEAR);

    // Merged logits = base + adapter (materialize + forward).
    const base = await loadModel(baseDir);
    const { adapter } = await loadAdapter(adapterDir);
    const merged = await loadModel(join(res.runDir, "final"));
    const ids = () =>
      np.array(
        Int32Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 400),
        { shape: [2, 12] },
      );
    const want = await readFloat32(forward(materializeLora(adapter, base.params), base.config, ids()).logits);
    const got = await readFloat32(forward(merged.params, merged.config, ids()).logits);
    assertClose(got, want, 1e-5, "merged logits");
    // The adapter changed the model (B moved off zero).
    const plain = await readFloat32(forward(base.params, base.config, ids()).logits);
    assert.ok(
      plain.some((v, i) => Math.abs(v - want[i]!) > 1e-3),
      "adapter has no effect",
    );

    // Resume from the step-6 adapter checkpoint (the base is re-read from the model folder): same adapter bitwise.
    const uninterrupted = await readFile(join(adapterDir, ADAPTER_WEIGHTS_NAME));
    await rm(join(res.runDir, "checkpoints", "step-12"), { recursive: true });
    await rm(join(res.runDir, "final"), { recursive: true });
    await rm(join(res.runDir, "summary.json")); // a run killed before its end has no finished summary
    const resumed = await runSft(cfg, { stream: devNull(), resume: true });
    assert.equal(resumed.status.kind, "done");
    assert.ok(uninterrupted.equals(await readFile(join(adapterDir, ADAPTER_WEIGHTS_NAME))), "resumed adapter differs");
  });

  test("QLoRA (4-bit, block 64) completes and its loss falls", async (t) => {
    const cfg = adapterConfig("qlora", { r: 4, alpha: 8, targetModules: ALL_LINEAR, quant: { bits: 4, block: 64 } });
    const res = await runAndCheckLossFalls(cfg, t);
    await stat(join(res.runDir, "final", "model.safetensors"));
    await stat(join(res.runDir, "final", ADAPTER_DIR, ADAPTER_WEIGHTS_NAME));
  });

  test("a bad lora block is a config error naming its key paths", () => {
    const withLora = (lora: unknown, extra: Record<string, unknown> = {}) => ({
      ...clone(BASE),
      lora,
      ...extra,
    });
    const fails = (raw: unknown, re: RegExp) =>
      assert.throws(
        () => parseSftConfig(raw, "x.yaml"),
        (err: unknown) => err instanceof SftConfigError && re.test(err.message),
      );
    fails(withLora({ alpha: 16 }), /lora\.r: /);
    fails(withLora({ r: 0 }), /lora\.r: /);
    fails(withLora({ r: 8, dropout: 1 }), /lora\.dropout: /);
    fails(withLora({ r: 8, rank: 8 }), /lora\.rank: unknown key/);
    fails(withLora({ r: 8, targetModules: "(q_proj" }), /lora\.targetModules: .*regular expression/);
    fails(withLora({ r: 8, targetModules: [] }), /lora\.targetModules/);
    fails(withLora({ r: 8, quant: { bits: 3 } }), /lora\.quant\.bits: /);
    fails(withLora({ r: 8, quant: { bits: 4, block: 12 } }), /lora\.quant\.block: must be a multiple of 8/);
    // quant without an adapter, in the block or at the top level.
    fails(withLora({ quant: { bits: 4 } }), /lora\.quant: QLoRA quantises the base under a LoRA adapter/);
    fails({ ...clone(BASE), quant: { bits: 4 } }, /quant: .*lives under the LoRA block \(lora\.quant/);
    // A good block parses with its defaults.
    const ok = parseSftConfig(withLora({ r: 8, quant: { bits: 4 } }));
    assert.deepEqual(ok.lora, { r: 8, dropout: 0, quant: { bits: 4, block: 64 } });
  });
});
