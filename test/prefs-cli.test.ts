/**
 * Preferences end to end and the reward-model layout: the TRL-layout readers (errors name
 * file:line and field), generated pairs (every rejected chain fails its checker), the reward
 * head against an independent float64 read of the causal LM's own hidden states, the
 * *ForSequenceClassification folder round trip, and tiny runs of `stepwise rm`, `stepwise rm
 * eval` and `stepwise dpo` (full and LoRA).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { checkRecordSteps, generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { np } from "../src/engine/jax.ts";
import { disposeTree, keepTree, readFloat32 } from "../src/engine/memory.ts";
import { saveModel } from "../src/model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../src/model/config.ts";
import { forward, initParams } from "../src/model/model.ts";
import { readPreferences, writePreferences } from "../src/prefs/data.ts";
import { generatorPairs } from "../src/prefs/pairs.ts";
import {
  loadRewardModel,
  rewardModelFrom,
  rewardsAt,
  SCORE_WEIGHT,
  saveRewardModel,
  scorerOf,
} from "../src/prefs/reward-model.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
let dir = "";
let modelDir = "";
let pairsFile = "";
let evalFile = "";

before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-prefs-"));
  const records = generateDataset({ tasks: ["arithmetic"], n: 40, seed: 0, split: "train" });
  const tokDir = join(dir, "tok");
  await saveTokenizer(
    tokDir,
    trainBpe(
      records.map((r) => `Q: ${r.question}\nA: Let's think step by step. ${r.chain_of_thought}\n#### ${r.answer}`),
      { vocabSize: 300 },
    ),
  );
  const tok = await Tokenizer.fromDir(tokDir);
  const config = configFromSizes({
    arch: "llama",
    vocabSize: tok.vocabSize,
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
    maxPositionEmbeddings: 256,
    bosTokenId: tok.bosId,
    eosTokenIds: tok.eosId === null ? [] : [tok.eosId],
    padTokenId: tok.padId,
  });
  modelDir = join(dir, "model");
  const params = initParams(config, { seed: 1, std: 0.1 });
  await saveModel(modelDir, { config, params, hfConfig: toHfConfig(config) }, { tokenizerFrom: tokDir });
  disposeTree(params);
  pairsFile = join(dir, "pairs.jsonl");
  const pairs = generatorPairs(records, { kinds: ["number", "result", "drop", "swap"], seed: 0 });
  await writePreferences(pairsFile, pairs);
  evalFile = join(dir, "eval.jsonl");
  await writePreferences(evalFile, pairs.slice(0, 8));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("preference files", () => {
  test("TRL rows are read as-is; margin and meta kept", async () => {
    const f = join(dir, "ok.jsonl");
    await writeFile(
      f,
      `${JSON.stringify({ prompt: "Q", chosen: " a", rejected: " b", margin: 0.5, meta: { k: "x" } })}\n`,
    );
    assert.deepEqual(await readPreferences(f), [
      { prompt: "Q", chosen: " a", rejected: " b", margin: 0.5, meta: { k: "x" } },
    ]);
  });
  const bad: [string, unknown, RegExp][] = [
    ["missing rejected", { prompt: "Q", chosen: "a" }, /bad\.jsonl:2: field "rejected": expected a string/],
    [
      "conversational",
      { prompt: [{ role: "user", content: "Q" }], chosen: "a", rejected: "b" },
      /field "prompt".*conversational layout/,
    ],
    ["implicit prompt", { chosen: "Q a", rejected: "Q b" }, /field "prompt".*implicit layout/],
    [
      "identical completions",
      { prompt: "Q", chosen: "a", rejected: "a" },
      /field "rejected": expected a completion different/,
    ],
    [
      "non-numeric margin",
      { prompt: "Q", chosen: "a", rejected: "b", margin: "big" },
      /field "margin": expected a finite number/,
    ],
  ];
  for (const [what, row, re] of bad) {
    test(`a bad row is an error naming file:line and field: ${what}`, async () => {
      const f = join(dir, "bad.jsonl");
      await writeFile(f, `${JSON.stringify({ prompt: "Q", chosen: "a", rejected: "b" })}\n${JSON.stringify(row)}\n`);
      await assert.rejects(readPreferences(f), re);
    });
  }
  test("generated pairs: chosen is the gold chain, every rejected chain fails the task's checker", async () => {
    const records = generateDataset({ tasks: ["arithmetic", "logic"], n: 30, seed: 2, split: "test" });
    const pairs = generatorPairs(records, { kinds: ["number", "drop"], seed: 2 });
    assert.ok(pairs.length >= 20, `only ${pairs.length} pairs`);
    const byId = new Map(records.map((r) => [r.meta!.id, r]));
    for (const p of pairs) {
      const r = byId.get(p.meta!.id as string)!;
      const steps = p.rejected.trim().split("\n").slice(0, -1);
      assert.equal(checkRecordSteps(r, steps)!.valid, false);
      assert.ok(p.chosen.includes(r.chain_of_thought));
      assert.ok(["number", "drop"].includes(p.meta!.corruption as string));
    }
  });
});

describe("reward-model layout", () => {
  test("the head reads the causal LM's own last hidden state (float64 reference), and the folder round-trips", async () => {
    const config = configFromSizes({
      arch: "llama",
      vocabSize: 20,
      hiddenSize: 16,
      numLayers: 1,
      numHeads: 2,
      maxPositionEmbeddings: 32,
      padTokenId: 0,
      eosTokenIds: [1],
    });
    const params = initParams(config, { seed: 5, std: 0.3 });
    const R = 3;
    const T = 5;
    const ids = new Int32Array([2, 3, 4, 5, 0, 6, 7, 0, 0, 0, 8, 9, 10, 11, 12]);
    const lens = [4, 2, 5];
    const last = new Float32Array(R * T);
    lens.forEach((n, r) => {
      last[r * T + n - 1] = 1;
    });
    // Independent reference: the full causal LM's hidden states (forward with hidden: true).
    const { hidden, logits } = forward(keepTree(params), config, np.array(ids, { shape: [R, T], dtype: np.int32 }), {
      hidden: true,
    });
    logits.dispose();
    const h = await readFloat32(hidden!);
    const rm = rewardModelFrom({ config, params, hfConfig: toHfConfig(config) }, 9, 0.5);
    assert.ok(!("lm_head.weight" in rm.params), "the lm head is dropped");
    const w = await readFloat32(rm.params[SCORE_WEIGHT]!.ref);
    const want = lens.map((n, r) => {
      let s = 0;
      for (let c = 0; c < 16; c++) s += h[(r * T + n - 1) * 16 + c]! * w[c]!;
      return s;
    });
    const got = await readFloat32(
      rewardsAt(
        keepTree(rm.params),
        config,
        np.array(ids, { shape: [R, T], dtype: np.int32 }),
        np.array(last, { shape: [R, T], dtype: np.float32 }),
      ),
    );
    for (let r = 0; r < R; r++) assert.ok(Math.abs(got[r]! - want[r]!) < 1e-5, `row ${r}: ${got[r]} vs ${want[r]}`);
    // Round trip.
    const out = join(dir, "rm-layout");
    await saveRewardModel(out, rm);
    const cfg = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    assert.deepEqual(cfg.architectures, ["LlamaForSequenceClassification"]);
    assert.equal(cfg.num_labels, 1);
    assert.equal(cfg.pad_token_id, 0);
    const back = await loadRewardModel(out);
    assert.deepEqual(Object.keys(back.params).sort(), Object.keys(rm.params).sort());
    const again = await readFloat32(
      rewardsAt(
        back.params,
        back.config,
        np.array(ids, { shape: [R, T], dtype: np.int32 }),
        np.array(last, { shape: [R, T], dtype: np.float32 }),
      ),
    );
    assert.deepEqual(Array.from(again), Array.from(got));
    await assert.rejects(loadRewardModel(modelDir), /not a reward model.*ForSequenceClassification/);
    disposeTree(rm.params);
  });
  test("score(prompts, completions) is the head at the EOS appended after the completion", async () => {
    const tok = await Tokenizer.fromDir(modelDir);
    const rm = rewardModelFrom(await (await import("../src/model/checkpoint.ts")).loadModel(modelDir), 3, 0.5);
    const scorer = scorerOf(rm, tok, { batch: 2, padMultiple: 8 });
    const prompts = ["Q: 1+2?\nA:", "Q: 3*4?\nA:", "Q: 5-1?\nA:"];
    const completions = [" 3", " 12", " 4"];
    const all = await scorer.score(prompts, completions);
    const one = await scorer.score([prompts[2]!], [completions[2]!]);
    assert.equal(all.length, 3);
    assert.ok(Math.abs(all[2]! - one[0]!) < 1e-5, "a row's reward does not depend on its batch");
    assert.notEqual(all[0], all[1]);
    scorer.dispose();
  });
});

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
}

describe("commands", () => {
  const base = () => ({
    model: modelDir,
    data: { train: { files: [pairsFile] }, eval: { files: [evalFile] } },
    batch: { microBatch: 4, seqLen: 256, padMultiple: 64 },
    optim: { lr: 3e-3, clip: 1 },
    schedule: { kind: "constant" },
    steps: 4,
    checkpoint: { every: 2 },
  });
  test("stepwise rm trains a reward model, and rm eval prints a JSON summary", async () => {
    const cfg = join(dir, "rm.yaml");
    await writeFile(cfg, stringify({ ...base(), centerCoef: 0.01 }));
    const out = join(dir, "rm-run");
    await cli(["rm", "--config", cfg, "--set", `out=${out}`]);
    const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
    assert.equal(summary.status, "finished");
    const rows = (await readFile(join(out, "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 4);
    for (const k of ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"]) {
      assert.ok(Number.isFinite(rows[3][k]), k);
    }
    const cfgJson = JSON.parse(await readFile(join(out, "final", "config.json"), "utf8"));
    assert.deepEqual(cfgJson.architectures, ["LlamaForSequenceClassification"]);
    const { stdout } = await cli(["rm", "eval", "--model", join(out, "final"), "--data", evalFile]);
    const last = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.ok(last.pairwise_accuracy >= 0 && last.pairwise_accuracy <= 1);
    assert.equal(last.n, 8);
    assert.equal(last.first_error_accuracy, null);
  });
  test("stepwise dpo (full, then LoRA) caches reference log-probs and logs TRL's names", async () => {
    const cfg = join(dir, "dpo.yaml");
    await writeFile(cfg, stringify({ ...base(), loss: { kind: "sigmoid", beta: 0.1, rpoAlpha: 0.1 } }));
    const out = join(dir, "dpo-run");
    await cli(["dpo", "--config", cfg, "--set", `out=${out}`]);
    const ref = JSON.parse(await readFile(join(out, "reference_logps.json"), "utf8"));
    assert.equal(ref.model, modelDir);
    const rows = (await readFile(join(out, "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    // Step 1 sees the untrained policy = reference: every implicit reward is 0.
    assert.ok(Math.abs(rows[0]["rewards/margins"]) < 1e-4, `margin at step 1: ${rows[0]["rewards/margins"]}`);
    for (const k of [
      "rewards/chosen",
      "rewards/rejected",
      "rewards/accuracies",
      "logps/chosen",
      "logps/rejected",
      "nll_loss",
    ]) {
      assert.ok(Number.isFinite(rows[3][k]), k);
    }
    assert.ok(rows[3]["rewards/margins"] > rows[0]["rewards/margins"], "DPO widens the margin on its training pairs");
    const lora = join(dir, "dpo-lora");
    await cli([
      "dpo",
      "--config",
      cfg,
      "--set",
      `out=${lora}`,
      "--set",
      "lora.r=2",
      "--set",
      "steps=2",
      "--set",
      "loss.kind=ipo",
      "--set",
      "loss.rpoAlpha=0",
    ]);
    const summary = JSON.parse(await readFile(join(lora, "summary.json"), "utf8"));
    assert.equal(summary.status, "finished");
    await readFile(join(lora, "final", "adapter", "adapter_config.json"), "utf8");
  });
  test("a config error names the key", async () => {
    const cfg = join(dir, "bad.yaml");
    await writeFile(cfg, stringify({ ...base(), loss: { kind: "hinge", labelSmoothing: 0.1 } }));
    await assert.rejects(cli(["dpo", "--config", cfg]), /loss\.labelSmoothing.*sigmoid or robust/);
  });
});
