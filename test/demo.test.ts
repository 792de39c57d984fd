/**
 * The demo pipeline at tiny sizes (QUICK_SETTINGS): every stage runs and connects, the
 * outputs have the documented shapes, a second run resumes instead of recomputing, a run
 * stopped mid-training continues from its checkpoint, and a folder made with other settings
 * is refused. The headline result (chain of thought beats direct answers) needs the full
 * run and is NOT asserted here.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DemoError, runDemo } from "../src/demo/pipeline.ts";
import { QUICK_SETTINGS } from "../src/demo/settings.ts";
import { formatResultsTable } from "../src/demo/table.ts";
import { type DemoSummary, VARIANTS } from "../src/demo/types.ts";

describe("stepwise demo pipeline (tiny sizes)", () => {
  let dir: string;
  let out: string;
  let defaultOut: string;
  let summary: DemoSummary;
  const firstLog: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "stepwise-demo-"));
    out = join(dir, "demo");
    defaultOut = join(dir, "one-wording");
    const res = await runDemo({ out, settings: QUICK_SETTINGS, log: (l) => firstLog.push(l), stream: devNull() });
    summary = res.summary;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("summary.json has the documented shape and sane values", async () => {
    const onDisk = JSON.parse(await readFile(join(out, "summary.json"), "utf8")) as DemoSummary;
    assert.deepEqual(onDisk, summary);
    assert.equal(summary.heldout, QUICK_SETTINGS.heldout);
    assert.equal(summary.seed, QUICK_SETTINGS.seed);
    assert.deepEqual(Object.keys(summary.results).sort(), [...VARIANTS].sort());
    for (const v of VARIANTS) {
      const r = summary.results[v];
      for (const k of ["accuracy_strict", "accuracy_flexible", "step_validity"] as const) {
        assert.ok(r[k] >= 0 && r[k] <= 1, `${v}.${k} = ${r[k]}`);
      }
      assert.ok(r.bleu >= 0 && r.bleu <= 100 && r.rougeL >= 0 && r.rougeL <= 1, v);
      assert.ok(Number.isInteger(r.train_tokens) && r.train_tokens > 0, `${v}.train_tokens`);
      assert.ok(r.seconds > 0, `${v}.seconds`);
    }
    // Same problems, same steps, same order: direct targets are the answer line only, so fewer tokens.
    assert.ok(summary.results.direct.train_tokens < summary.results.mixed.train_tokens);
    assert.ok(summary.results.mixed.train_tokens < summary.results.cot.train_tokens);
    assert.equal(summary.machine.cores > 0, true);
    assert.match(summary.versions["@jax-js/jax"] ?? "", /^\d+\.\d+\.\d+/);
    assert.deepEqual(Object.keys(summary.by_task).sort(), [...QUICK_SETTINGS.tasks].sort());
  });

  test("every stage wrote its outputs; the three runs share one base and one tokenizer", async () => {
    for (const f of [
      "settings.json",
      "report.html",
      "data/train.jsonl",
      "data/heldout.jsonl",
      "data/validation.jsonl",
      "tokenizer/tokenizer.json",
    ]) {
      await stat(join(out, f));
    }
    for (const v of VARIANTS) {
      const cfg = await readFile(join(out, v, "config.yaml"), "utf8");
      assert.match(cfg, new RegExp(`model: ${join(out, "base").replaceAll("/", "\\/")}`), v);
      await stat(join(out, v, "final", "model.safetensors"));
      const examples = (await readFile(join(out, v, "eval", "examples.jsonl"), "utf8")).trim().split("\n");
      assert.equal(examples.length, QUICK_SETTINGS.heldout, v);
    }
    const html = await readFile(join(out, "report.html"), "utf8");
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /Chain of thought/);
    const table = formatResultsTable(summary);
    assert.equal(table.split("\n").filter((l) => l.startsWith("|")).length, 2 + VARIANTS.length);
  });

  test("every variant is also evaluated on the same held-out problems in held-out wordings", async () => {
    type Row = { question: string; answer: string; meta: { id: string; canonical: string; wording_split?: string } };
    const rows = async (f: string) =>
      (await readFile(join(out, "data", f), "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Row);
    const generated = await rows("heldout.jsonl");
    const reworded = await rows("heldout-wordings.jsonl");
    assert.equal(reworded.length, generated.length);
    reworded.forEach((r, i) => {
      const g = generated[i]!;
      assert.deepEqual([r.meta.id, r.meta.canonical, r.answer], [g.meta.id, g.meta.canonical, g.answer]);
      assert.equal(r.meta.wording_split, "heldout", r.meta.id);
      assert.equal(g.meta.wording_split, undefined, "the held-out file keeps the generators' own wording");
    });
    assert.ok(
      reworded.filter((r, i) => r.question !== generated[i]!.question).length > reworded.length / 2,
      "most questions read differently",
    );
    for (const v of VARIANTS) {
      const lines = (await readFile(join(out, v, "eval-wordings", "examples.jsonl"), "utf8")).trim().split("\n");
      const examples = lines.map((l) => JSON.parse(l) as { id: string; correct_strict: boolean });
      assert.deepEqual(
        examples.map((e) => e.id),
        generated.map((g) => g.meta.id),
      );
      const r = summary.results[v];
      assert.equal(r.accuracy_heldout_wordings, examples.filter((e) => e.correct_strict).length / examples.length);
      assert.ok(r.wording_drop, v);
      assert.ok(Math.abs(r.wording_drop.diff - (r.accuracy_strict - r.accuracy_heldout_wordings)) < 1e-12, v);
      assert.ok(r.wording_drop.lo <= r.wording_drop.diff && r.wording_drop.diff <= r.wording_drop.hi, v);
    }
    assert.match(formatResultsTable(summary), /held-out wordings/);
  });

  test("the default fine-tunes on the wording pool's training part; --wordings default on one wording per kind", async () => {
    type Row = { question: string; meta: { wording_split?: string } };
    const rows = async (d: string) =>
      (await readFile(join(d, "data", "train.jsonl"), "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Row);
    assert.equal(QUICK_SETTINGS.wordings, "train");
    const pool = await rows(out);
    assert.equal(pool.length, QUICK_SETTINGS.trainProblems);
    assert.ok(pool.every((r) => r.meta.wording_split === "train"));
    await runDemo({
      out: defaultOut,
      settings: { ...QUICK_SETTINGS, wordings: "default" },
      log: () => {},
      stream: devNull(),
    });
    const single = await rows(defaultOut);
    assert.equal(single.length, QUICK_SETTINGS.trainProblems);
    assert.ok(single.every((r) => r.meta.wording_split === undefined));
  });

  test("the direct model is asked directly, the others with the step-by-step trigger", async () => {
    const first = async (v: string) =>
      JSON.parse((await readFile(join(out, v, "eval", "examples.jsonl"), "utf8")).split("\n")[0]!) as {
        prompt: string;
      };
    assert.doesNotMatch((await first("direct")).prompt, /step by step/);
    assert.match((await first("cot")).prompt, /Let's think step by step\.$/);
    assert.match((await first("mixed")).prompt, /Let's think step by step\.$/);
  });

  test("a second run reuses every stage and gives the same results", async () => {
    const log: string[] = [];
    const again = await runDemo({ out, settings: QUICK_SETTINGS, log: (l) => log.push(l), stream: devNull() });
    const stages = log.filter((l) => l.startsWith("demo ["));
    assert.equal(stages.filter((l) => l.includes("reusing")).length, stages.length - 1, stages.join("\n"));
    assert.deepEqual(again.summary.results, summary.results);
  });

  test("a fine-tuning stopped after a checkpoint resumes from it and ends where the uninterrupted run did", async () => {
    // Simulate a stop after step 2 of the cot run: keep its step-2 checkpoint, drop what came after.
    const cot = join(out, "cot");
    const ckpts = await readdir(join(cot, "checkpoints"));
    assert.ok(ckpts.length > 0);
    const before = await readFile(join(cot, "final", "model.safetensors"));
    // A killed run's summary still says "running" (runs/run.ts writes it at open).
    const runSummary = JSON.parse(await readFile(join(cot, "summary.json"), "utf8"));
    await writeFile(join(cot, "summary.json"), JSON.stringify({ ...runSummary, status: "running" }));
    await rm(join(cot, "final"), { recursive: true });
    await rm(join(cot, "eval"), { recursive: true });
    await rm(join(cot, "checkpoints", `step-${QUICK_SETTINGS.steps}`), { recursive: true, force: true });
    const log: string[] = [];
    const stream = collect(log);
    const again = await runDemo({ out, settings: QUICK_SETTINGS, log: (l) => log.push(l), stream: stream.stream });
    assert.ok(
      log.some((l) => /resuming from .*step-2/.test(l)),
      log.join("\n"),
    );
    const afterResume = await readFile(join(cot, "final", "model.safetensors"));
    assert.ok(before.equals(afterResume), "resumed weights equal the uninterrupted run's, bit for bit");
    assert.deepEqual(again.summary.results.cot.accuracy_strict, summary.results.cot.accuracy_strict);
  });

  test("--validation evaluates other held-out-split problems, none of the test ones, after the same training", async () => {
    const valOut = join(dir, "validation");
    const settings = { ...QUICK_SETTINGS, evalSet: "validation" as const };
    const res = await runDemo({ out: valOut, settings, log: () => {}, stream: devNull() });
    assert.equal(res.summary.eval_set, "validation");
    assert.equal(summary.eval_set, "test");
    const rows = async (d: string, f: string) =>
      (await readFile(join(d, "data", f), "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { meta: { task: string; split: string; canonical: string } });
    const key = (r: { meta: { task: string; canonical: string } }) => `${r.meta.task}/${r.meta.canonical}`;
    const test = new Set((await rows(out, "heldout.jsonl")).map(key));
    const validation = await rows(valOut, "heldout.jsonl");
    assert.equal(validation.length, QUICK_SETTINGS.heldout);
    assert.ok(validation.every((r) => r.meta.split === "test" && !test.has(key(r))));
    assert.deepEqual(await rows(valOut, "train.jsonl"), await rows(out, "train.jsonl"));
    // The test run writes the same validation problems for later runs (recipes/grpo-demo.yaml).
    // (more of them: the first 300 are these, since the generator is prefix-stable)
    assert.deepEqual((await rows(out, "validation.jsonl")).slice(0, validation.length), validation);
    assert.match(formatResultsTable(res.summary), /^\d+ validation problems/);
  });

  test("isolated stages (each in a child process, as stepwise demo runs them) give the same results", async () => {
    const isolatedOut = join(dir, "isolated");
    const log: string[] = [];
    const res = await runDemo({
      out: isolatedOut,
      settings: QUICK_SETTINGS,
      isolate: true,
      log: (l) => log.push(l),
      stream: devNull(),
    });
    const noTimes = (r: DemoSummary["results"]) =>
      Object.fromEntries(Object.entries(r).map(([v, { seconds: _, ...rest }]) => [v, rest]));
    assert.deepEqual(noTimes(res.summary.results), noTimes(summary.results));
    assert.ok(
      log.some((l) => /direct: \d+\/\d+ answered/.test(l)),
      "the child's progress reaches the log",
    );
    for (const v of VARIANTS) {
      const a = await readFile(join(out, v, "final", "model.safetensors"));
      assert.ok(a.equals(await readFile(join(isolatedOut, v, "final", "model.safetensors"))), v);
    }
  });

  test("a failing isolated stage is reported with the child's error and leaves the earlier stages for a resume", async () => {
    const badOut = join(dir, "bad");
    await runDemo({ out: badOut, settings: QUICK_SETTINGS, log: () => {}, stream: devNull() });
    await rm(join(badOut, "mixed", "eval"), { recursive: true });
    await rm(join(badOut, "mixed", "final", "model.safetensors"));
    await assert.rejects(
      runDemo({ out: badOut, settings: QUICK_SETTINGS, isolate: true, log: () => {}, stream: devNull() }),
      (e: Error) => e instanceof DemoError && /evaluate stage of mixed exited with code 1/.test(e.message),
    );
    for (const v of ["direct", "cot"]) await stat(join(badOut, v, "eval", "summary.json"));
  });

  test("a folder written before a setting existed resumes with the value that computed it", async () => {
    // defaultOut was made with wordings "default", what every folder before the setting computed.
    const settingsPath = join(defaultOut, "settings.json");
    const stored = JSON.parse(await readFile(settingsPath, "utf8")) as Record<string, unknown>;
    const { wordings: _, ...older } = stored;
    await writeFile(settingsPath, JSON.stringify(older));
    const log: string[] = [];
    await runDemo({
      out: defaultOut,
      settings: { ...QUICK_SETTINGS, wordings: "default" },
      log: (l) => log.push(l),
      stream: devNull(),
    });
    const stages = log.filter((l) => l.startsWith("demo ["));
    assert.equal(stages.filter((l) => l.includes("reusing")).length, stages.length - 1, stages.join("\n"));
    await assert.rejects(
      runDemo({ out: defaultOut, settings: QUICK_SETTINGS, log: () => {}, stream: devNull() }),
      (e: Error) => e instanceof DemoError && /wordings: "default" there, "train" now/.test(e.message),
    );
  });

  test("a folder made with other settings is refused, naming the setting", async () => {
    await assert.rejects(
      runDemo({ out, settings: { ...QUICK_SETTINGS, steps: 5 }, log: () => {}, stream: devNull() }),
      (e: Error) => e instanceof DemoError && /steps: 4 there, 5 now/.test(e.message) && /--fresh/.test(e.message),
    );
  });
});

/** A writable stream that drops everything (runSft's progress). */
function devNull(): NodeJS.WriteStream {
  return { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
}

/** A writable stream that keeps lines (runSft's progress). */
function collect(lines: string[]): { stream: NodeJS.WriteStream } {
  const stream = {
    write: (s: string) => {
      lines.push(...s.split("\n").filter((l) => l !== ""));
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
  return { stream };
}

describe("the shipped pre-trained base (assets/demo-base)", () => {
  test("loads with its tokenizer, one token per digit, and answers a prompt with finite log-probabilities", async () => {
    const { loadModel } = await import("../src/model/checkpoint.ts");
    const { Tokenizer } = await import("../src/tokenizer/tokenizer.ts");
    const { generate } = await import("../src/model/generate.ts");
    const { disposeTree } = await import("../src/engine/memory.ts");
    const { DEFAULT_SETTINGS } = await import("../src/demo/settings.ts");
    assert.equal(DEFAULT_SETTINGS.base.kind, "pretrained");
    const dir = DEFAULT_SETTINGS.base.kind === "pretrained" ? DEFAULT_SETTINGS.base.dir : "";
    const model = await loadModel(dir);
    const tok = await Tokenizer.fromDir(dir);
    try {
      assert.equal(model.config.vocabSize, tok.vocabSize);
      assert.ok(model.config.maxPositionEmbeddings >= DEFAULT_SETTINGS.seqLen + DEFAULT_SETTINGS.maxNewTokens);
      const digits = tok.encode("x = 1234", { addSpecialTokens: false }).map((id) => tok.decode([id]));
      assert.deepEqual(digits.slice(-4), ["1", "2", "3", "4"]);
      const [out] = await generate(model, [tok.encode("Solve for x: 2x + 3 = 11\n", { addSpecialTokens: false })], {
        maxNewTokens: 8,
      });
      assert.ok(out!.tokenIds.length > 0);
      assert.equal(out!.logProbs.length, out!.tokenIds.length);
      assert.ok(out!.logProbs.every((lp) => Number.isFinite(lp) && lp <= 0));
    } finally {
      disposeTree(model.params);
    }
  });
});
