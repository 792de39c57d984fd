/**
 * `stepwise experiment distill`'s shell, without training anything (the experiment itself
 * runs for minutes; README has its figures): settings are validated with errors naming the
 * key, a folder started with other settings is refused before any work, and the results
 * table states the accuracies, both intervals and the kept rates.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../src/config/load.ts";
import { type DistillSummary, distillTable, runDistill } from "../src/distill/pipeline.ts";
import { DistillSettingsSchema } from "../src/distill/settings.ts";

test("settings: defaults fill in, bad values name their key", () => {
  const s = parseConfig(DistillSettingsSchema, {});
  assert.equal(s.task, "algebra");
  assert.equal(s.rationalize, true);
  assert.throws(() => parseConfig(DistillSettingsSchema, { k: 0 }, { where: "--set" }), /k: /);
  assert.throws(() => parseConfig(DistillSettingsSchema, { task: "chess" }, { where: "--set" }), /task: /);
  assert.throws(() => parseConfig(DistillSettingsSchema, { stpes: 3 }, { where: "--set" }), /stpes/);
});

test("a folder started with other settings is refused, naming the setting", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stepwise-distill-"));
  try {
    const s = parseConfig(DistillSettingsSchema, {});
    await writeFile(join(dir, "settings.json"), JSON.stringify({ ...s, k: 8 }));
    await assert.rejects(runDistill({ out: dir, settings: s, evalSet: "validation" }), /k: 8 there, 4 now/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the table states accuracies, both intervals and the kept rates", () => {
  const r = (correct: number) => ({ accuracy: correct / 50, correct, n: 50, trainRecords: 40, stepValidity: 0.5 });
  const summary: DistillSummary = {
    task: "algebra",
    evalSet: "test",
    heldout: 50,
    results: { distilled: r(30), direct: r(20), gold: r(31) },
    distilledMinusDirect: { diff: 0.2, lo: 0.04, hi: 0.36 },
    distilledOverGold: 30 / 31,
    distilledMinusNinetyPercentGold: { diff: 0.042, lo: -0.1, hi: 0.18 },
    keptRate: { withoutRationalisation: 0.5, withRationalisation: 0.75, rationalisationRound: 0.5 },
    teach: { chainsKept: 40, questions: 64, requests: 96, retries: 0, tokens: { prompt: 1, completion: 2 } },
    bootstrap: { resamples: 2000, seed: 0, level: 0.95 },
  };
  const t = distillTable(summary);
  assert.match(t, /\| distilled \(kept teacher chains\) \| 40 \| 30 of 50 \| \*\*60\.0%\*\* \|$/m);
  assert.match(t, /distilled − direct: \+20\.0 points \(95% paired bootstrap \+4\.0 to \+36\.0\)/);
  assert.match(t, /distilled \/ gold: 96\.8%/);
  assert.match(t, /50\.0% of questions without rationalisation \(round 1\), 75\.0% with it/);
});
