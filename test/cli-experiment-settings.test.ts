/**
 * `stepwise experiment generalization`'s settings: defaults, a --config file, --set and the
 * shortcut flags are layered in that order (later wins), and a misspelt or out-of-range key is
 * an error that names it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { generalizationSettingsFrom } from "../src/cli/experiment.ts";
import { GENERALIZATION_DEFAULTS, GENERALIZATION_QUICK } from "../src/experiments/generalization.ts";

const tmp = mkdtempSync(join(tmpdir(), "stepwise-gen-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("no flags give the documented defaults; --quick the quick settings", async () => {
  assert.deepEqual(await generalizationSettingsFrom({ set: [] }), GENERALIZATION_DEFAULTS);
  assert.deepEqual(await generalizationSettingsFrom({ set: [], quick: true }), GENERALIZATION_QUICK);
  assert.equal(GENERALIZATION_DEFAULTS.mixed.directFraction, 0.25);
});

test("--config, then --set, then the shortcut flags: later wins", async () => {
  const file = join(tmp, "gen.yaml");
  writeFileSync(file, "trainProblems: 1234\nsteps: 77\nmixed:\n  directFraction: 0.5\n");
  const fromFile = await generalizationSettingsFrom({ config: file, set: [] });
  assert.equal(fromFile.trainProblems, 1234);
  assert.equal(fromFile.steps, 77);
  assert.deepEqual(fromFile.mixed, {
    directFraction: 0.5,
    phrasingFraction: 0.5,
    instructionFraction: 0.15,
    bareFraction: 0,
  });
  const s = await generalizationSettingsFrom({
    config: file,
    set: ["steps=100", "mixed.instructionFraction=0.3", "evalProblems=7"],
    steps: "60",
    base: "some/base",
    validation: true,
  });
  assert.equal(s.steps, 60);
  assert.equal(s.evalProblems, 7);
  assert.equal(s.mixed.instructionFraction, 0.3);
  assert.equal(s.mixed.directFraction, 0.5);
  assert.deepEqual(s.base, { kind: "pretrained", dir: "some/base" });
  assert.equal(s.evalSet, "validation");
  // warm-up never exceeds the steps
  assert.equal((await generalizationSettingsFrom({ set: ["steps=2"] })).warmupSteps, 2);
});

test("a misspelt or out-of-range key names itself and the file", async () => {
  await assert.rejects(generalizationSettingsFrom({ set: ["trainProblem=3"] }), /trainProblem: unknown key/);
  await assert.rejects(generalizationSettingsFrom({ set: ["mixed.directFraction=2"] }), /mixed\.directFraction/);
  const file = join(tmp, "bad.yaml");
  writeFileSync(file, "heldOutTask: chess\n");
  await assert.rejects(generalizationSettingsFrom({ config: file, set: [] }), (e: Error) => {
    assert.match(e.message, /bad\.yaml/);
    assert.match(e.message, /heldOutTask/);
    return true;
  });
  await assert.rejects(generalizationSettingsFrom({ set: [], steps: "zero" }), /--steps/);
});
