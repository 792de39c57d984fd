/**
 * `stepwise rl` with a LoRA policy (issue 15, "LoRA policy with the reference as the adapter-off
 * base"): the reference log-probabilities of every rollout are the base model's, computed from
 * the very arrays the base was loaded into (no second copy of the weights); only the adapter is
 * trained (checkpoints hold lora_A/lora_B only, the merged final/ differs from the base in the
 * adapted weights alone, the base folder is untouched); final/adapter/ is written in PEFT's layout.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { readSafetensors, toFloat32 } from "../src/engine/safetensors.ts";
import { EXPLOIT_NAMES } from "../src/guard/exploits.ts";
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME } from "../src/model/adapters/peft.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { type RlScored, runRl } from "../src/rl/grpo.ts";
import { planMicroBatches, scoreTokens } from "../src/rl/rollout.ts";
import { latestCheckpoint, PARAMS_FILE } from "../src/train/checkpoint.ts";
import { writeTinyEvalModel } from "./tiny.ts";

let dir = "";
before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-rl-lora-"));
  await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
    tasks: ["arithmetic"],
    n: 100,
    vocabSize: 300,
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
  });
  const recs = generateDataset({ tasks: ["arithmetic"], n: 40, seed: 0, split: "train" });
  await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

test("LoRA policy: the reference is the adapter-off base, only the adapter trains, final/adapter/ is written", async () => {
  const modelDir = join(dir, "model");
  const baseBytes = await readFile(join(modelDir, "model.safetensors"));
  const config = parseRlConfig({
    model: modelDir,
    out: join(dir, "run"),
    data: {
      train: { files: [{ path: join(dir, "train.jsonl") }] },
      eval: { files: [{ path: join(dir, "train.jsonl") }] },
    },
    lora: { r: 4, alpha: 8 },
    rollout: { prompts: 2, groupSize: 4, maxNewTokens: 8, promptColumns: 200, temperature: 0.9 },
    reward: { spec: "format:1,repetition:1" },
    // a loop test, not a reward test: the reward's known holes (guard/exploits.ts) are accepted
    guard: { acceptHoles: [...EXPLOIT_NAMES] },
    loss: { beta: 0.1 },
    batch: { microBatch: 4 },
    optim: { lr: 5e-2, weightDecay: 0 },
    schedule: { kind: "constant" },
    steps: 4,
    eval: { every: 0, n: 2, maxNewTokens: 8 },
    checkpoint: { every: 2, keep: 2 },
    seed: 1,
  });
  const scored: RlScored[] = [];
  const res = await runRl(config, {
    signals: false,
    stream: { write: () => true } as never,
    onScored: (s) => scored.push(s),
  });
  assert.equal(res.status.kind, "done");
  assert.equal(scored.length, 4, "one scoring per rollout");

  // The reference of every rollout, the last one included (after three adapter updates), is
  // exactly the base model's log-probabilities under a fresh load of the base folder.
  const base = await loadModel(modelDir);
  for (const s of scored) {
    const want = await scoreTokens(base.params, base.config, s.rows, 0.9, planMicroBatches(s.rows, 4, 0));
    assert.ok(
      Buffer.from(s.refLogProbs.buffer).equals(Buffer.from(want.buffer)),
      `step ${s.step}: reference log-probs differ from the base model's`,
    );
  }
  // At the start the adapter is zero (B = 0), so policy = reference; by the last rollout it is not.
  const diff = (s: RlScored) => s.oldLogProbs.reduce((m, v, i) => Math.max(m, Math.abs(v - s.refLogProbs[i]!)), 0);
  assert.ok(diff(scored[0]!) < 1e-5, `step 1: policy and reference differ by ${diff(scored[0]!)}`);
  assert.ok(diff(scored.at(-1)!) > 1e-4, "the adapter never moved the policy away from the reference");

  // Only the adapter trains: the base folder is untouched, the checkpoint holds lora_A/B only,
  // and the merged final/ equals the base everywhere but in the adapted weights.
  assert.ok(baseBytes.equals(await readFile(join(modelDir, "model.safetensors"))), "the base folder changed");
  const ck = await latestCheckpoint(res.runDir);
  assert.equal(ck?.step, 4);
  const ckTensors = (await readSafetensors(join(ck!.dir, PARAMS_FILE))).tensors;
  assert.ok(ckTensors.size > 0);
  for (const name of ckTensors.keys()) assert.match(name, /\.lora_[AB]\.weight$/);
  const adapted = new Set(
    [...ckTensors.keys()].map((k) => k.replace(/^base_model\.model\./, "").replace(/\.lora_[AB]\.weight$/, ".weight")),
  );
  const before = (await readSafetensors(join(modelDir, "model.safetensors"))).tensors;
  const merged = (await readSafetensors(join(res.runDir, "final", "model.safetensors"))).tensors;
  let changed = 0;
  for (const [name, t] of before) {
    const a = toFloat32(t);
    const b = toFloat32(merged.get(name) ?? assert.fail(`final/ lacks ${name}`));
    const same = a.length === b.length && a.every((v, i) => v === b[i]);
    if (adapted.has(name)) changed += same ? 0 : 1;
    else assert.ok(same, `${name} is not adapted, yet it changed`);
  }
  assert.equal(changed, adapted.size, "every adapted weight moved");

  // final/adapter/ in PEFT's layout.
  const adapterDir = join(res.runDir, "final", "adapter");
  assert.deepEqual((await readdir(adapterDir)).sort(), [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME].sort());
  const peft = JSON.parse(await readFile(join(adapterDir, ADAPTER_CONFIG_NAME), "utf8")) as Record<string, unknown>;
  assert.equal(peft.peft_type, "LORA");
  assert.equal(peft.r, 4);
  const summary = JSON.parse(await readFile(join(res.runDir, "summary.json"), "utf8")) as {
    outputs: Record<string, string>;
  };
  assert.equal(summary.outputs.adapter, "final/adapter");
});
