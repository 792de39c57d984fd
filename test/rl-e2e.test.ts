import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { runRl } from "../src/rl/grpo.ts";
import type { RewardFn } from "../src/rl/rewards.ts";
import { writeTinyEvalModel } from "./tiny.ts";

// A trivially learnable reward: the share of digit characters in the completion.
const digits: RewardFn = (batch) =>
  batch.map(({ completion }) =>
    completion.length === 0 ? 0 : (completion.match(/\d/g) ?? []).length / completion.length,
  );

test("tiny GRPO run: the reward rises on a trivially learnable reward; the run folder is complete", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rl-e2e-"));
  try {
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
    const config = parseRlConfig({
      model: join(dir, "model"),
      out: join(dir, "run"),
      data: {
        train: { files: [{ path: join(dir, "train.jsonl") }] },
        eval: { files: [{ path: join(dir, "train.jsonl") }] },
      },
      rollout: { prompts: 4, groupSize: 4, maxNewTokens: 8, promptColumns: 200, temperature: 1 },
      reward: { spec: "format:0" },
      // The digit-share reward is gameable on purpose (it is only a learnability check): accept its holes.
      guard: { acceptHoles: ["answer_only", "enumerate", "many_lines", "scattered_digits", "stop_short"] },
      batch: { microBatch: 8 },
      optim: { lr: 3e-2, weightDecay: 0 },
      schedule: { kind: "constant" },
      steps: 16,
      eval: { n: 4, maxNewTokens: 8 },
      seed: 0,
    });
    const res = await runRl(config, {
      signals: false,
      rewardFns: [{ name: "digits", weight: 1, fn: digits }],
      stream: { write: () => true } as never,
    });
    assert.equal(res.status.kind, "done");
    const first = res.rewards.slice(0, 4).reduce((a, b) => a + b, 0) / 4;
    const last = res.rewards.slice(-4).reduce((a, b) => a + b, 0) / 4;
    assert.ok(last > first + 0.1, `reward should rise: first 4 steps ${first.toFixed(3)}, last 4 ${last.toFixed(3)}`);
    const rows = (await readFile(join(dir, "run", "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 16);
    for (const k of [
      "reward",
      "reward_std",
      "rewards/digits/mean",
      "entropy",
      "clip_ratio",
      "approx_kl",
      "frac_reward_zero_std",
      "completions/mean_length",
      "seconds_rollout",
      "lr",
    ]) {
      assert.ok(k in rows[0], `metrics.jsonl has ${k}`);
    }
    const summary = JSON.parse(await readFile(join(dir, "run", "summary.json"), "utf8"));
    assert.equal(summary.status, "finished");
    await readFile(join(dir, "run", "final", "config.json"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
