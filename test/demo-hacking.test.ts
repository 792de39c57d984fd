import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { formatHackingTable, HACKING_DEFAULTS, runHackingDemo } from "../src/demo/hacking.ts";
import { writeTinyEvalModel } from "./tiny.ts";

test("demo hacking: both RL runs, the summary's keys, the report; a second call reads the finished runs back", async () => {
  const dir = await mkdtemp(join(tmpdir(), "demo-hacking-"));
  try {
    await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
      tasks: ["arithmetic"],
      n: 60,
      vocabSize: 300,
      hiddenSize: 16,
      numLayers: 1,
      numHeads: 2,
    });
    const recs = generateDataset({ tasks: ["arithmetic"], n: 20, seed: 0, split: "train" });
    await writeFile(join(dir, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const settings = {
      ...HACKING_DEFAULTS,
      model: join(dir, "model"),
      train: join(dir, "train.jsonl"),
      heldout: join(dir, "train.jsonl"),
      prompts: 2,
      groupSize: 2,
      maxNewTokens: 6,
      promptColumns: 200,
      steps: 2,
      evalN: 2,
      evalEvery: 1,
      rm: null,
    };
    const quiet = { write: () => true } as never;
    const r = await runHackingDemo({ out: join(dir, "out"), settings, stream: quiet });
    assert.deepEqual(Object.keys(r.summary).sort(), [
      "gold_fixed",
      "gold_flawed",
      "gold_sft",
      "hack_rate_fixed",
      "hack_rate_flawed",
      "monitor_fired_fixed",
      "monitor_fired_flawed",
      "monitor_step_flawed",
      "proxy_flawed_first",
      "proxy_flawed_last",
      "test_reward_holes_flawed",
    ]);
    assert.ok(r.summary.test_reward_holes_flawed > 0, "the battery finds the substring reward's holes");
    assert.equal(r.flawed.steps.length, 2);
    assert.deepEqual(r.flawed.evalSteps, [0, 1, 2]);
    assert.match(formatHackingTable(r), /hack rate/);
    const html = await readFile(r.reportPath, "utf8");
    assert.match(html, /<svg/);
    const again = await runHackingDemo({ out: join(dir, "out"), settings, stream: quiet });
    assert.deepEqual(again.summary, r.summary);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
