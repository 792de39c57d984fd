/**
 * The RL recipes (recipes/*-demo.yaml, grpo-lora.yaml) validate against the RL schema, and the
 * new ones run one step through the real `stepwise rl` command when pointed at a tiny model and
 * tiny data (every other setting — estimator, LoRA block, loss, reward spec — as the recipe has it).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { generateDataset } from "../src/data/tasks/index.ts";
import { loadRlConfig } from "../src/rl/config.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "stepwise.js");
const recipe = (name: string) => join(ROOT, "recipes", name);

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-rl-recipes-"));
  // A tiny Llama (the q/k/v/o/gate/up/down names the LoRA recipe targets) with a trained tokenizer.
  await writeTinyEvalModel(join(dir, "gpt2"), join(dir, "tok"), {
    tasks: ["arithmetic"],
    n: 60,
    vocabSize: 300,
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
  });
  await run(process.execPath, [
    BIN,
    ...["init-model", "--arch", "llama", "--hidden", "32", "--layers", "1", "--heads", "2"],
    ...["--max-positions", "512", "--tokenizer", join(dir, "tok"), "--out", join(dir, "llama")],
  ]);
  const recs = generateDataset({ tasks: ["arithmetic"], n: 20, seed: 0, split: "train" });
  await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

describe("rl recipes", () => {
  test("every RL recipe validates; grpo-lora needs the model folder from the user", async () => {
    const grpo = await loadRlConfig(recipe("grpo-demo.yaml"));
    const rloo = await loadRlConfig(recipe("rloo-demo.yaml"));
    assert.equal(rloo.name, "rloo-demo");
    assert.equal(rloo.model, "runs/demo/cot/final");
    assert.equal(rloo.advantage.estimator, "rloo");
    // rloo-demo differs from grpo-demo in the estimator (and the name) only.
    const { name: _a, advantage: _b, ...restRloo } = rloo;
    const { name: _c, advantage: _d, ...restGrpo } = grpo;
    assert.deepEqual(restRloo, restGrpo);
    await assert.rejects(loadRlConfig(recipe("grpo-lora.yaml")), /model/);
    const lora = await loadRlConfig(recipe("grpo-lora.yaml"), ["model=/some/folder"]);
    assert.equal(lora.model, "/some/folder");
    assert.equal(lora.lora?.r, 16);
    assert.ok(lora.loss.beta > 0, "the adapter-off reference is used");
  });

  const tiny = (model: string, out: string) => [
    `model=${model}`,
    `out=${out}`,
    `data.train={files: [{path: ${join(dir, "train.jsonl")}}]}`,
    `data.eval={files: [{path: ${join(dir, "train.jsonl")}}]}`,
    "steps=1",
    "schedule.warmupSteps=0",
    "rollout.prompts=2",
    "rollout.groupSize=2",
    "rollout.maxNewTokens=4",
    "rollout.promptColumns=200",
    "batch.microBatch=4",
    "eval.n=1",
    "eval.maxNewTokens=4",
  ];
  for (const [name, model, adapter] of [
    ["rloo-demo.yaml", "gpt2", false],
    ["grpo-lora.yaml", "llama", true],
  ] as const) {
    test(`${name} runs one step on a tiny model (stepwise rl --config recipes/${name} --set steps=1 …)`, async () => {
      const out = join(dir, `run-${name}`);
      const sets = tiny(join(dir, model), out).flatMap((s) => ["--set", s]);
      await run(process.execPath, [BIN, "rl", "--config", recipe(name), ...sets], { timeout: 120_000 });
      const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8")) as { status: string };
      assert.equal(summary.status, "finished");
      const rows = (await readFile(join(out, "metrics.jsonl"), "utf8")).trim().split("\n");
      assert.equal(rows.length, 1);
      await stat(join(out, "final", "model.safetensors"));
      if (adapter) await stat(join(out, "final", "adapter", "adapter_model.safetensors"));
    });
  }
});
