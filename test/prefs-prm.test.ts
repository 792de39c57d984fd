/**
 * The process reward model and `stepwise data preferences`: per-step labels from the step
 * checkers (valid up to the first invalid step, invalid from it on), tokenisation at the step
 * separator, the per-step BCE objective against hand-computed values and against an
 * independent read of the hidden states, processScorer, on-policy pairs from eval samples,
 * and tiny runs of `data preferences`, `rm` with kind: process and `rm eval` on step rows.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { taskOptionsFlag } from "../src/cli/data-preferences.ts";
import { checkRecordSteps, generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { np } from "../src/engine/jax.ts";
import { disposeTree, keepTree, readFloat32 } from "../src/engine/memory.ts";
import { loadModel, saveModel } from "../src/model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../src/model/config.ts";
import { forward, initParams } from "../src/model/model.ts";
import { onPolicyPairs, onPolicyStepRows } from "../src/prefs/onpolicy.ts";
import {
  predictedFirstError,
  processObjective,
  processScorerOf,
  STEP_SEPARATOR,
  stepLogits,
  tokenizeSteps,
  toStepBatch,
} from "../src/prefs/process-model.ts";
import { rewardModelFrom, SCORE_WEIGHT } from "../src/prefs/reward-model.ts";
import { firstError, generatorStepRows, readStepRows, stepLabels, writeStepRows } from "../src/prefs/steps.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

const run = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "bin", "stepwise.js");
const cli = (args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
let dir = "";
let modelDir = "";
let stepsFile = "";

before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-prm-"));
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
  stepsFile = join(dir, "steps.jsonl");
  await writeStepRows(stepsFile, generatorStepRows(records, { kinds: ["number", "result", "drop", "swap"], seed: 0 }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("step labels", () => {
  test("valid up to the first invalid step, invalid from it on", () => {
    assert.deepEqual(stepLabels(4, 2), [true, true, false, false]);
    assert.deepEqual(stepLabels(3, 0), [false, false, false]);
    assert.deepEqual(stepLabels(3, null), [true, true, true]);
    assert.deepEqual(stepLabels(2, 2), [true, true], "stopping short is no invalid step");
    assert.equal(firstError([true, false, false]), 1);
    assert.equal(firstError([true, true]), null);
  });
  test("generated rows: gold all valid; a corruption's first false label is the checker's first invalid step", async () => {
    const records = generateDataset({ tasks: ["arithmetic", "logic", "algebra"], n: 30, seed: 3, split: "test" });
    const rows = generatorStepRows(records, { kinds: ["number", "swap"], seed: 3 });
    const bad = rows.filter((r) => r.meta?.corruption !== "none");
    assert.ok(bad.length >= 20, `${bad.length} corrupted rows`);
    assert.equal(rows.length - bad.length, records.length);
    for (const r of rows) {
      const rec = records.find((x) => x.meta?.id === r.meta?.id)!;
      const v = checkRecordSteps(rec, r.completions)!;
      if (r.meta?.corruption === "none") {
        assert.ok(v.valid);
        assert.ok(r.labels.every((l) => l));
      } else {
        assert.ok(!v.valid);
        assert.equal(firstError(r.labels), v.firstInvalid);
        assert.deepEqual(r.labels, stepLabels(r.labels.length, v.firstInvalid));
      }
    }
  });
  test("step files: round trip, and a label count that does not match is an error naming file:line", async () => {
    const back = await readStepRows(stepsFile);
    assert.ok(back.length > 40);
    assert.deepEqual(back[0]!.labels.length, back[0]!.completions.length);
    const f = join(dir, "bad-steps.jsonl");
    await writeFile(
      f,
      `${JSON.stringify({ prompt: "Q", completions: ["a"], labels: [true] })}\n${JSON.stringify({ prompt: "Q", completions: ["a", "b"], labels: [true] })}\n`,
    );
    await assert.rejects(readStepRows(f), /bad-steps\.jsonl:2: field "labels": expected one label per step \(2\)/);
  });
});

describe("process reward model", () => {
  test("per-step BCE with logits matches hand values", async () => {
    const { binaryCrossEntropyWithLogits } = await import("../src/engine/losses.ts");
    // z = [0, 2, −1], y = [1, 0, 0], mask = [1, 1, 0]: log 2 + (2 + log(1 + e^−2)) = 2.8200752
    const s = binaryCrossEntropyWithLogits(np.array([0, 2, -1]), np.array([1, 0, 0]), {
      mask: np.array([1, 1, 0]),
      reduction: "sum",
    });
    assert.ok(Math.abs((await readFloat32(s))[0]! - 2.8200752) < 1e-5);
  });
  test("separators: each step ends at its separator token; the objective is BCE of the head at exactly those positions", async () => {
    const tok = await Tokenizer.fromDir(modelDir);
    const sepIds = tok.encode(STEP_SEPARATOR, { addSpecialTokens: false });
    const prompt = "Q: 2+3?\nA: Let's think step by step.";
    const steps = ["2 + 3 = 5.", "So 5."];
    const t = tokenizeSteps(tok, prompt, steps);
    assert.equal(t.sep.length, 2);
    for (const p of t.sep) assert.equal(t.ids[p], sepIds[sepIds.length - 1]);
    assert.equal(t.sep[1], t.ids.length - 1);
    const model = await loadModel(modelDir);
    const { config } = model;
    const rm = rewardModelFrom(model, 4, 0.5, "process");
    const rows = [
      { index: 0, ...t, labels: [1, 0] },
      { index: 1, ...tokenizeSteps(tok, "Q: 1+1?\nA:", ["1 + 1 = 2."]), labels: [1] },
    ];
    const T = 64;
    const b = toStepBatch(rows, 3, T, tok.padId ?? 0);
    // Independent reference: the causal LM's hidden states (forward with hidden: true) · w.
    const full = (await loadModel(modelDir)).params;
    const { hidden, logits } = forward(full, config, np.array(b.ids, { shape: [3, T], dtype: np.int32 }), {
      hidden: true,
    });
    logits.dispose();
    const h = await readFloat32(hidden!);
    const w = await readFloat32(rm.params[SCORE_WEIGHT]!.ref);
    const C = config.hiddenSize;
    let want = 0;
    let right = 0;
    rows.forEach((r, i) => {
      r.sep.forEach((pos, k) => {
        let z = 0;
        for (let c = 0; c < C; c++) z += h[(i * T + pos) * C + c]! * w[c]!;
        const y = r.labels[k]!;
        want += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        right += (z > 0 ? 1 : 0) === y ? 1 : 0;
      });
    });
    const obj = processObjective(config);
    const out = obj.loss(keepTree(rm.params), obj.toDevice(b));
    const [sum] = await readFloat32(out.sum);
    const [count] = await readFloat32(out.count);
    const [acc] = await readFloat32(out.aux!["steps/accuracy"]!);
    assert.equal(count, 3, "three labelled steps; the padding row carries none");
    assert.ok(Math.abs(sum! - want) < 1e-4, `${sum} vs ${want}`);
    assert.equal(acc, right);
    // The scorer reads σ(z) at the same positions, independent of its batch.
    const z = await readFloat32(
      stepLogits(keepTree(rm.params), config, np.array(b.ids, { shape: [3, T], dtype: np.int32 })),
    );
    const scorer = processScorerOf(rm, tok, { batch: 2, padMultiple: 16 });
    const probs = await scorer.scoreSteps(
      [prompt, "Q: 1+1?\nA:"],
      [` ${steps.join("\n")}\n#### 5`, " 1 + 1 = 2.\n#### 2"],
    );
    assert.equal(probs[0]!.length, 2, "the answer line is no step");
    for (let k = 0; k < 2; k++) {
      const p = 1 / (1 + Math.exp(-z[t.sep[k]!]!));
      assert.ok(Math.abs(probs[0]![k]! - p) < 1e-4, `step ${k}: ${probs[0]![k]} vs ${p}`);
    }
    const alone = await scorer.scoreSteps(["Q: 1+1?\nA:"], [" 1 + 1 = 2."]);
    assert.ok(Math.abs(alone[0]![0]! - probs[1]![0]!) < 1e-5);
    assert.deepEqual(await scorer.scoreSteps(["Q"], ["#### 3"]), [[]]);
    scorer.dispose();
    assert.equal(predictedFirstError([0.9, 0.4, 0.8]), 1);
    assert.equal(predictedFirstError([0.9, 0.6]), null);
  });
});

describe("on-policy pairs", () => {
  test("a strictly correct sample against a wrong one; all-right and all-wrong prompts give none", () => {
    const { pairs, stats } = onPolicyPairs(
      [
        {
          prompt: "P1",
          task: "t",
          outputs: [" a\n#### 1", " b\n#### 2", " c 1", " d\n#### 3"],
          sampled: { correct_strict: [true, false, false, false], correct_flexible: [true, false, true, false] },
        },
        {
          prompt: "P2",
          outputs: [" x", " y"],
          sampled: { correct_strict: [true, true], correct_flexible: [true, true] },
        },
        { prompt: "P3", outputs: [" x"], sampled: { correct_strict: [false], correct_flexible: [false] } },
      ],
      2,
    );
    assert.deepEqual(
      pairs.map((p) => [p.prompt, p.chosen, p.rejected]),
      [["P1", " a\n#### 1", " b\n#### 2"]],
    );
    assert.deepEqual(stats, { prompts: 3, used: 1, allCorrect: 1, allWrong: 1, pairs: 1 });
  });
});

describe("on-policy step rows", () => {
  test("each distinct sample labelled by its task's checker; unlabellable samples counted, a mismatched file refused", () => {
    const records = generateDataset({ tasks: ["algebra"], n: 4, seed: 2, split: "test" });
    const r = records[0]!;
    const gold = r.chain_of_thought.split("\n");
    const bad = generatorStepRows([r], { kinds: ["number"], seed: 0 }).find((x) => x.meta?.corruption !== "none")!;
    const first = firstError(bad.labels)!;
    const outputs = [
      `${gold.join("\n")}\n#### ${r.answer}`, // right: all valid
      `${bad.completions.join("\n")}\n#### 999`, // corrupted: invalid from the checker's step on
      `${gold.join("\n")}\n#### ${r.answer}`, // duplicate: skipped
      `${gold[0]}\n#### 999`, // every step right but stops short, answer wrong: unlabelled
      "#### 999", // no steps: unlabelled
    ];
    const example = {
      index: 0,
      question: r.question,
      prompt: "P",
      task: "algebra",
      outputs,
      sampled: {
        correct_strict: [true, false, true, false, false],
        correct_flexible: [true, false, true, false, false],
      },
    };
    const { rows, stats } = onPolicyStepRows([example], records);
    assert.deepEqual(
      rows.map((x) => [x.completions, x.labels]),
      [
        [gold, gold.map(() => true)],
        [bad.completions, stepLabels(bad.completions.length, first)],
      ],
    );
    assert.ok(first < bad.completions.length);
    assert.equal(rows[0]!.meta?.canonical, r.meta?.canonical);
    assert.deepEqual(stats, { prompts: 1, samples: 4, rows: 2, allValid: 1, withError: 1, unlabelled: 2 });
    assert.throws(() => onPolicyStepRows([{ ...example, index: 1 }], records), /no matching record/);
    // outcome labels (Cobbe et al.): every step carries the sample's strict correctness, no checker
    const outcome = onPolicyStepRows([example], records, "outcome");
    assert.deepEqual(
      outcome.rows.map((x) => x.labels),
      [gold.map(() => true), bad.completions.map(() => false), [false]],
    );
    assert.deepEqual(outcome.stats, { prompts: 1, samples: 4, rows: 3, allValid: 1, withError: 2, unlabelled: 1 });
  });
});

describe("commands", () => {
  test("data preferences --options: per-task generator options, bad JSON or tasks named", () => {
    assert.deepEqual(taskOptionsFlag('{"code-trace":{"maxLines":4}}'), { "code-trace": { maxLines: 4 } });
    assert.deepEqual(taskOptionsFlag(undefined), {});
    assert.throws(() => taskOptionsFlag("{maxLines:4"), /--options is not JSON/);
    assert.throws(() => taskOptionsFlag('{"chess":{}}'), /unknown task "chess"/);
    assert.throws(() => taskOptionsFlag('{"algebra":3}'), /--options\.algebra must be an object/);
  });
  test("data preferences: held-out corruption kind and excluded problems", async () => {
    const train = join(dir, "p-train.jsonl");
    const { stdout } = await cli([
      "data",
      "preferences",
      "--task",
      "arithmetic",
      "--n",
      "30",
      "--hold-out",
      "swap",
      "--out",
      train,
    ]);
    const s = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.ok(s.rows > 20 && !("swap" in s.corruptions), JSON.stringify(s));
    const rows = (await readFile(train, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(
      rows.every((r) => typeof r.prompt === "string" && r.chosen !== r.rejected && r.meta.corruption !== "swap"),
    );
    const again = join(dir, "p-again.jsonl");
    const { stdout: o2 } = await cli([
      "data",
      "preferences",
      "--task",
      "arithmetic",
      "--n",
      "30",
      "--exclude",
      train,
      "--layout",
      "steps",
      "--out",
      again,
    ]);
    const s2 = JSON.parse(o2.trim().split("\n").pop()!);
    assert.equal(s2.excluded, 30, "the same seed draws the same problems, all excluded");
    assert.equal(s2.rows, 0);
    await assert.rejects(
      cli([
        "data",
        "preferences",
        "--task",
        "arithmetic",
        "--hold-out",
        "swap",
        "--corruptions",
        "drop",
        "--out",
        again,
      ]),
      /--corruptions or --hold-out, not both/,
    );
  });
  test("rm with kind: process trains at the separators, and rm eval prints first-error localisation", async () => {
    const cfg = join(dir, "prm.yaml");
    const out = join(dir, "prm-run");
    await writeFile(
      cfg,
      stringify({
        model: modelDir,
        kind: "process",
        data: { train: { files: [stepsFile] }, eval: { files: [stepsFile] } },
        batch: { microBatch: 4, seqLen: 256, padMultiple: 64 },
        optim: { lr: 3e-3, clip: 1 },
        schedule: { kind: "constant" },
        steps: 3,
        out,
      }),
    );
    await cli(["rm", "--config", cfg]);
    const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
    assert.equal(summary.status, "finished");
    const rows = (await readFile(join(out, "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 3);
    assert.ok(Number.isFinite(rows[2].loss) && rows[2]["steps/accuracy"] >= 0 && rows[2].steps > 0);
    const hf = JSON.parse(await readFile(join(out, "final", "config.json"), "utf8"));
    assert.equal(hf.stepwise_reward.kind, "process");
    const { stdout } = await cli(["rm", "eval", "--model", join(out, "final"), "--data", stepsFile]);
    const last = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.equal(last.n, (await readStepRows(stepsFile)).length);
    assert.ok(last.first_error_accuracy >= 0 && last.first_error_accuracy <= 1);
    assert.ok(last.pairwise_accuracy >= 0 && last.pairwise_accuracy <= 1);
    assert.ok(last.corrupted_chains > 0 && last.clean_chains > 0);
  });
});
