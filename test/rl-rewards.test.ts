import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { parseRewardSpec, RewardError, type RewardInput, rewardStats, scoreRewards } from "../src/rl/rewards.ts";

const record: CoTRecord = { question: "What is 2 + 3?", chain_of_thought: "2 + 3 = 5.", answer: "5" };
const item = (completion: string, completionTokens = 10): RewardInput => ({
  record,
  prompt: "Q: What is 2 + 3?\nA:",
  completion,
  finishReason: "eos",
  completionTokens,
});

describe("reward specs", () => {
  test("parse names and weights; a missing weight is 1; errors name the term", () => {
    assert.deepEqual(parseRewardSpec("correct:1, format:0.1,steps"), [
      { name: "correct", weight: 1 },
      { name: "format", weight: 0.1 },
      { name: "steps", weight: 1 },
    ]);
    assert.throws(
      () => parseRewardSpec("corect:1"),
      (e: Error) => e instanceof RewardError && /unknown reward "corect"/.test(e.message),
    );
    assert.throws(() => parseRewardSpec("correct:x"), /weight of "correct" is "x"/);
    assert.throws(() => parseRewardSpec("correct,correct"), /appears twice/);
  });
  test("correct, format and the weighted total", async () => {
    // The third has the right answer line but text after it: strict correct needs the answer line last.
    const batch = [item(" 2 + 3 = 5.\n#### 5"), item(" 2 + 3 = 6.\n#### 6"), item(" 2 + 3 = 5.\n#### 5\nmore text")];
    const s = await scoreRewards(parseRewardSpec("correct:1,format:0.5"), batch);
    assert.deepEqual(s.byName.correct, [1, 0, 0]);
    assert.deepEqual(s.byName.format, [1, 1, 0]);
    assert.deepEqual(s.totals, [1.5, 0.5, 0]);
  });
  test("answer: correct without the reasoning gate, still one final answer line and a finished completion", async () => {
    const cut: RewardInput = { ...item(" 2 + 3 = 5.\n#### 5"), finishReason: "length" };
    const batch = [
      item(" 2 + 3 = 5.\n#### 5"), // reasoned and right: both pay
      item(" 2 + 3 = 7.\n#### 5"), // right answer, a false claim: answer pays, correct does not
      item(" #### 5"), // the answer line alone: answer's accepted hole
      item(" 2 + 3 = 5.\n#### 5\n#### 6"), // two answer lines
      item(" 2 + 3 = 5.\n#### 5 or 6"), // candidates enumerated
      cut,
    ];
    const s = await scoreRewards(parseRewardSpec("correct:1,answer:1"), batch);
    assert.deepEqual(s.byName.correct, [1, 0, 0, 0, 0, 0]);
    assert.deepEqual(s.byName.answer, [1, 1, 1, 0, 0, 0]);
    assert.deepEqual(s.totals, [2, 1, 1, 0, 0, 0]);
  });
  test("null means does not apply: left out of the sum and of the stats, not counted as 0", async () => {
    // repetition needs at least n = 3 words: "#### 5" has 2 → null
    const batch = [item("2+3=5\n####5"), item("a b a b a b\n#### 5")]; // the first has 2 words
    const s = await scoreRewards(parseRewardSpec("repetition:1,correct:1"), batch);
    assert.equal(s.byName.repetition![0], null);
    assert.ok((s.byName.repetition![1] as number) < 0);
    assert.equal(s.totals[0], 1); // correct only
    assert.deepEqual(rewardStats([null, 2, 4]), { mean: 3, std: 1 });
    assert.equal(rewardStats([null, null]), null);
  });
  test("overlong: DAPO's soft punishment, 0 → linear → −1", async () => {
    const opts = { maxNewTokens: 100, overlongBuffer: 20, ngram: 3 };
    const s = await scoreRewards(
      parseRewardSpec("overlong"),
      [item("x", 80), item("x", 90), item("x", 100), item("x", 101)],
      opts,
    );
    assert.deepEqual(s.byName.overlong, [0, -0.5, -1, -1]);
  });
  test("steps: a chain that stops short never scores 1; the reference's step count is the denominator", async () => {
    const [r] = generateDataset({ tasks: ["code-trace"], n: 1, seed: 3, split: "train" });
    const steps = r!.chain_of_thought.split("\n");
    assert.equal(steps.length, 4);
    const at = (completion: string): RewardInput => ({ ...item(completion), record: r! });
    const slipped = [...steps.slice(0, 3), steps[3]!.replace(/= (\d+)\.$/, "= 99.")];
    const s = await scoreRewards(parseRewardSpec("steps"), [
      at(` ${steps.join("\n")}\n#### ${r!.answer}`), // the gold chain
      at(` ${slipped.join("\n")}\n#### 99`), // a slip in the last step: 3 of 4
      at(` ${steps[0]}\n#### 4`), // stops after the first line: 1 of the reference's 4, not 1 of 1
      at(` ${steps.slice(0, 2).join("\n")}\n#### ${r!.answer}`), // stops short, right answer: 2 of 4
    ]);
    assert.deepEqual(s.byName.steps, [1, 0.75, 0.25, 0.5]);
  });
  test("steps: no credit for a chain without steps", async () => {
    const s = await scoreRewards(parseRewardSpec("steps"), [item("#### 5")]);
    assert.deepEqual(s.byName.steps, [null]); // no meta.task: no checker applies
  });
});

describe("RL config", () => {
  const base = {
    model: "m",
    data: { train: { files: [{ path: "a.jsonl" }] }, eval: { files: [{ path: "b.jsonl" }] } },
    batch: { microBatch: 16 },
    optim: { lr: 1e-5 },
    steps: 10,
  };
  test("defaults fill in; cross-field rules name the key and the fix", () => {
    const c = parseRlConfig(base);
    assert.equal(c.rollout.groupSize, 8);
    assert.equal(c.loss.aggregation, "token-mean");
    assert.throws(() => parseRlConfig({ ...base, batch: { microBatch: 5 } }), /batch\.microBatch.*64 completions/s);
    assert.throws(() => parseRlConfig({ ...base, reward: { spec: "nope" } }), /reward\.spec.*unknown reward/s);
    assert.throws(() => parseRlConfig({ ...base, iterations: 3 }), /steps.*multiple of iterations/s);
    assert.throws(() => parseRlConfig({ ...base, loss: { klIn: "elsewhere" } }), /loss\.klIn/);
  });
});
