/**
 * The README's library quick start (examples/quickstart.ts) runs as a user would run it —
 * importing the package by name — on a tiny checkpoint built here, and prints what it says.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { writeTinyEvalModel } from "./tiny.ts";

const ROOT = join(import.meta.dirname, "..");
let dir = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-examples-"));
  await initEngine();
  await writeTinyEvalModel(join(dir, "model"), join(dir, "tok"), {
    tasks: ["algebra"],
    n: 200,
    vocabSize: 300,
    hiddenSize: 32,
    numLayers: 1,
    numHeads: 2,
  });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("examples/quickstart.ts loads a folder, scores with forward + tokenNll, generates, refuses an out-of-vocabulary id", async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", join(ROOT, "examples", "quickstart.ts"), join(dir, "model")],
    { cwd: ROOT },
  );
  const nll = /target NLL (\d+\.\d+) nats\/token \(perplexity [\d.]+\) over (\d+) tokens/.exec(stdout);
  assert.ok(nll, stdout);
  // An untrained model: about ln(V) nats per token, far from 0.
  const vocab = (JSON.parse(await readFile(join(dir, "model", "config.json"), "utf8")) as { vocab_size: number })
    .vocab_size;
  assert.ok(Number(nll[1]) > 1 && Number(nll[1]) < 3 * Math.log(vocab), stdout);
  assert.match(stdout, /^continuation \((eos|length|stop)\): ".*"$/m);
  assert.match(
    stdout,
    new RegExp(`refused: forward: token id ${vocab} .*outside the vocabulary \\(vocab_size ${vocab}`),
  );
});

test("the README shows the quick start's code, line for line", async () => {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const code = (await readFile(join(ROOT, "examples", "quickstart.ts"), "utf8")).replace(/^\/\*\*[\s\S]*?\*\/\n/, "");
  assert.ok(readme.includes(code.trim()), "README.md's quick-start block differs from examples/quickstart.ts");
});

test("the package exports the trainers' pieces (train/, runs/, config/) beside the model and data", async () => {
  const pkg = await import("stepwise");
  for (const name of ["runSft", "trainLoop", "makeStepFunctions", "tokenNllObjective", "openRun", "parseConfig"]) {
    assert.equal(typeof (pkg as Record<string, unknown>)[name], "function", name);
  }
  assert.equal(typeof pkg.configBlocks.Optim.parse, "function");
});
