/**
 * Reward models as RL rewards (issue 16 item 6): `rm:DIR` and `prm:DIR` terms in reward specs,
 * their option syntax and errors, the process reward aggregated by min or product over steps,
 * ensembles by mean, min and mean − k·std, `null` handling, scorers loaded once, and an `rm:`
 * spec scored by a tiny reward model built here (its value equals the scorer's own).
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { loadModel, saveModel } from "../src/model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../src/model/config.ts";
import { initParams } from "../src/model/model.ts";
import { rewardModelFrom, rewardScorer, saveRewardModel } from "../src/prefs/reward-model.ts";
import {
  aggregateEnsemble,
  aggregateSteps,
  type ProcessScorer,
  parseVerifier,
  ScorerCache,
  VerifierError,
} from "../src/prefs/verifier.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { parseRewardSpec, RewardError, type RewardInput, scoreRewards } from "../src/rl/rewards.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

const record: CoTRecord = { question: "What is 2 + 3?", chain_of_thought: "2 + 3 = 5.", answer: "5" };
const item = (completion: string): RewardInput => ({
  record,
  prompt: "Q: What is 2 + 3?\nA: Let's think step by step.",
  completion,
  finishReason: "eos",
  completionTokens: 10,
});

/** A stand-in PRM: one score per line before the answer line, read from the line itself ("p=0.5"). */
const fakeProcess =
  (calls: string[]) =>
  async (dir: string): Promise<ProcessScorer> => {
    calls.push(dir);
    const bias = dir.endsWith("b") ? -0.2 : 0;
    return {
      async scoreSteps(_prompts, completions) {
        return completions.map((c) =>
          c
            .split("\n")
            .filter((l) => l.trim() !== "" && !l.trim().startsWith("####"))
            .map((l) => Number(/p=([\d.]+)/.exec(l)?.[1] ?? "1") + bias),
        );
      },
      dispose() {},
    };
  };
const noOutcome = async (): Promise<never> => {
  throw new Error("no outcome model in this test");
};

describe("rm: and prm: reward specs", () => {
  test("parse folders, weights, ensembles and options; canonical names", () => {
    assert.deepEqual(parseRewardSpec("correct:1,rm:runs/orm:0.5"), [
      { name: "correct", weight: 1 },
      {
        name: "rm:runs/orm",
        weight: 0.5,
        verifier: { kind: "rm", dirs: ["runs/orm"], steps: "min", ensemble: { kind: "mean" } },
      },
    ]);
    const [p] = parseRewardSpec("prm:runs/prm@prod");
    assert.equal(p!.name, "prm:runs/prm@steps=prod");
    assert.equal(p!.weight, 1);
    assert.deepEqual(p!.verifier?.steps, "prod");
    const [e] = parseRewardSpec("rm:a+b+c@mean-0.5std:2");
    assert.equal(e!.name, "rm:a+b+c@ensemble=mean-0.5std");
    assert.deepEqual(e!.verifier?.ensemble, { kind: "mean-std", k: 0.5 });
    assert.equal(e!.weight, 2);
    // On prm a bare @min is the step aggregation; the ensemble's min needs its key.
    const v = parseVerifier("prm", "a+b@min@ensemble=min", "x");
    assert.equal(v.steps, "min");
    assert.deepEqual(v.ensemble, { kind: "min" });
    assert.equal(parseVerifier("prm", "a", "x").steps, "min", "min is the default step aggregation");
  });
  const bad: [string, RegExp][] = [
    ["rm:", /names no folder/],
    ["rm:a+", /empty ensemble member/],
    ["rm:a+a", /names a folder twice/],
    ["rm:a@prod", /ensemble aggregation "prod"; expected mean, min or mean-Kstd/],
    ["rm:a@steps=min", /@steps= is for process reward models/],
    ["prm:a@steps=max", /step aggregation "max"; expected min, prod, last/],
    ["prm:a@min@steps=prod", /sets steps twice/],
    ["rm:a@mean-xstd", /expected mean, min or mean-Kstd/],
    ["rm:a@temperature=2", /unknown option "temperature"/],
    ["rm:a:heavy", /weight of "rm:a" is "heavy", not a number/],
    ["rm:a:b:1", /more than one ":" after rm:DIR/],
    ["rm:a,rm:a:2", /"rm:a" appears twice/],
    ["orm:a", /unknown reward "orm".*rm:DIR, prm:DIR/],
  ];
  for (const [spec, re] of bad) {
    test(`a bad spec is a clear error: ${spec}`, () => {
      assert.throws(
        () => parseRewardSpec(spec, "reward.spec"),
        (e: Error) => e instanceof RewardError && e.message.startsWith("reward.spec: ") && re.test(e.message),
      );
    });
  }
  test("the RL config rejects a bad rm: spec at load, naming reward.spec", () => {
    const base = {
      model: "m",
      data: { train: { files: [{ path: "a.jsonl" }] }, eval: { files: [{ path: "b.jsonl" }] } },
      batch: { microBatch: 16 },
      optim: { lr: 1e-5 },
      steps: 10,
    };
    assert.throws(() => parseRlConfig({ ...base, reward: { spec: "correct,rm:" } }), /reward\.spec.*names no folder/s);
    assert.equal(
      parseRlConfig({ ...base, reward: { spec: "correct:1,rm:runs/orm:0.5" } }).reward.spec.length > 0,
      true,
    );
  });
});

describe("aggregation", () => {
  test("steps: min and product; a chain without steps is null", () => {
    assert.equal(aggregateSteps([0.9, 0.5, 0.8], "min"), 0.5);
    assert.ok(Math.abs(aggregateSteps([0.9, 0.5, 0.8], "prod")! - 0.36) < 1e-12);
    assert.equal(aggregateSteps([0.9, 0.5, 0.8], "last"), 0.8);
    assert.equal(aggregateSteps([], "last"), null);
    assert.equal(aggregateSteps([], "min"), null);
    assert.equal(aggregateSteps([], "prod"), null);
  });
  test("ensembles: mean, min, mean − k·std (ddof 0); nulls are left out", () => {
    const xs = [1, 3, 5, 7]; // mean 4, std sqrt(5)
    assert.equal(aggregateEnsemble(xs, { kind: "mean" }), 4);
    assert.equal(aggregateEnsemble(xs, { kind: "min" }), 1);
    assert.ok(Math.abs(aggregateEnsemble(xs, { kind: "mean-std", k: 0.5 })! - (4 - 0.5 * Math.sqrt(5))) < 1e-12);
    assert.equal(aggregateEnsemble([2, null, 4], { kind: "mean" }), 3);
    assert.equal(aggregateEnsemble([null, null], { kind: "min" }), null);
    assert.equal(aggregateEnsemble([5], { kind: "mean-std", k: 3 }), 5, "one member has no spread");
  });
  test("prm: through scoreRewards: min or prod per chain, null (left out of the total) without steps", async () => {
    const calls: string[] = [];
    const cache = new ScorerCache({ rm: noOutcome, prm: fakeProcess(calls) });
    const batch = [item(" 2 + 3 = 5. p=0.9\np=0.5\n#### 5"), item("#### 5"), item(" p=0.8\n#### 6")];
    const s = await scoreRewards(parseRewardSpec("correct:1,prm:P@prod:2"), batch, undefined, cache);
    const byPrm = s.byName["prm:P@steps=prod"]!;
    assert.ok(Math.abs(byPrm[0]! - 0.45) < 1e-12);
    assert.equal(byPrm[1], null);
    assert.ok(Math.abs(byPrm[2]! - 0.8) < 1e-12);
    const correct = s.byName.correct as number[];
    assert.ok(Math.abs(s.totals[0]! - (correct[0]! + 2 * 0.45)) < 1e-12);
    assert.equal(s.totals[1], correct[1], "null is left out of the sum, not counted as 0");
    assert.ok(Math.abs(s.totals[2]! - (correct[2]! + 1.6)) < 1e-12);
    const m = await scoreRewards(parseRewardSpec("prm:P+Pb@min@ensemble=min"), batch, undefined, cache);
    // Pb scores every step 0.2 lower: min over steps, then min over the two members.
    assert.ok(Math.abs(m.byName["prm:P+Pb@steps=min@ensemble=min"]![0]! - 0.3) < 1e-12);
    await scoreRewards(parseRewardSpec("prm:P"), batch, undefined, cache);
    assert.deepEqual(calls, ["P", "Pb"], "each folder loads once");
    await cache.dispose();
  });
  test("a failed load is an error naming the folder, and is not cached", async () => {
    let tries = 0;
    const cache = new ScorerCache({
      rm: async (dir) => {
        tries++;
        throw new VerifierError(`${dir}: no config.json in this folder`);
      },
      prm: fakeProcess([]),
    });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(scoreRewards(parseRewardSpec("rm:missing"), [item("x")], undefined, cache), /missing/);
    }
    assert.equal(tries, 2);
  });
});

describe("rm: on a tiny reward model", () => {
  let dir = "";
  let rmDir = "";
  before(async () => {
    await initEngine();
    dir = await mkdtemp(join(tmpdir(), "stepwise-rm-reward-"));
    const records = generateDataset({ tasks: ["arithmetic"], n: 30, seed: 0, split: "train" });
    const tokDir = join(dir, "tok");
    await saveTokenizer(
      tokDir,
      trainBpe(
        records.map((r) => `Q: ${r.question}\nA: Let's think step by step. ${r.chain_of_thought}\n#### ${r.answer}`),
        { vocabSize: 300 },
      ),
    );
    const { Tokenizer } = await import("../src/tokenizer/tokenizer.ts");
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
    const modelDir = join(dir, "model");
    const params = initParams(config, { seed: 1, std: 0.1 });
    await saveModel(modelDir, { config, params, hfConfig: toHfConfig(config) }, { tokenizerFrom: tokDir });
    disposeTree(params);
    const model = rewardModelFrom(await loadModel(modelDir), 3, 0.5);
    rmDir = join(dir, "rm");
    await saveRewardModel(rmDir, model, { tokenizerFrom: tokDir });
    disposeTree(model.params);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  test("the rm: term is the reward model's score; an ensemble of one folder twice is refused", async () => {
    const batch = [item(" 2 + 3 = 5.\n#### 5"), item(" 2 + 3 = 6.\n#### 6"), item(" 5\n#### 5")];
    let loads = 0;
    const cache = new ScorerCache({
      rm: (d) => {
        loads++;
        return rewardScorer(d);
      },
      prm: fakeProcess([]),
    });
    const s = await scoreRewards(parseRewardSpec(`correct:1,rm:${rmDir}:0.5`), batch, undefined, cache);
    const direct = await rewardScorer(rmDir);
    const want = await direct.score(
      batch.map((b) => b.prompt),
      batch.map((b) => b.completion),
    );
    direct.dispose();
    const got = s.byName[`rm:${rmDir}`]!;
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `item ${i}: ${got[i]} vs ${want[i]}`);
      assert.ok(Math.abs(s.totals[i]! - ((s.byName.correct![i] as number) + 0.5 * want[i]!)) < 1e-6);
    }
    assert.notEqual(got[0], got[1], "the reward model reads the completion");
    await scoreRewards(parseRewardSpec(`rm:${rmDir}`), batch, undefined, cache);
    assert.equal(loads, 1, "the folder loads once and is cached");
    await cache.dispose();
    assert.throws(() => parseRewardSpec(`rm:${rmDir}+${rmDir}`), /names a folder twice/);
  });
  test("the default loaders refuse a folder of the other kind, naming it", async () => {
    const cache = new ScorerCache();
    await assert.rejects(
      scoreRewards(parseRewardSpec(`prm:${rmDir}`), [item("x")], undefined, cache),
      /outcome reward model/,
    );
    const processDir = join(dir, "process");
    await mkdir(processDir, { recursive: true });
    const cfg = JSON.parse(await readFile(join(rmDir, "config.json"), "utf8"));
    await writeFile(join(processDir, "config.json"), JSON.stringify({ ...cfg, stepwise_reward: { kind: "process" } }));
    await assert.rejects(
      scoreRewards(parseRewardSpec(`rm:${processDir}`), [item("x")], undefined, cache),
      new RegExp(`rm:${processDir} is a process reward model.*write prm:`),
    );
    await cache.dispose();
  });
});
