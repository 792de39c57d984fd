/**
 * `stepwise experiment generalization` end to end on a tiny scratch base (seconds of training,
 * nothing is learnt): every arm is fine-tuned from the same base and evaluated on its trained
 * wordings, the held-out wordings, the held-out family and an --also file; summary.json
 * (src/runs/ head, kind "experiment") and report.html are written; the held-out-wording set
 * uses only held-out wordings and the same problems as the trained-wording sets.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { CoTRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { writeJsonlAtomic } from "../src/data/writers.ts";
import { readRows } from "../src/demo/stages.ts";
import { ARMS, chanceOf, GENERALIZATION_QUICK, runGeneralization } from "../src/experiments/generalization.ts";
import { formatGeneralizationTable } from "../src/experiments/generalization-report.ts";

const tmp = mkdtempSync(join(tmpdir(), "stepwise-gen-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("experiment generalization runs end to end and writes summary, report and three final models", async () => {
  const inst = join(tmp, "alpaca.json");
  writeFileSync(
    inst,
    JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ instruction: `Say ${i}.`, input: "", output: `${i}` }))),
  );
  const also = join(tmp, "also.jsonl");
  await writeJsonlAtomic(also, generateDataset({ tasks: ["units"], n: 2, seed: 9, split: "test" }));
  const out = join(tmp, "exp");
  const { summary, reportPath } = await runGeneralization({
    out,
    settings: { ...GENERALIZATION_QUICK, instructions: inst },
    also: [also],
    log: () => {},
  });
  for (const arm of ARMS) {
    assert.ok(readFileSync(join(out, arm, "final", "config.json"), "utf8").includes("llama"));
    for (const set of ["heldout", "family", "also-0"])
      assert.equal(summary.results[arm][set]?.n, set === "also-0" ? 2 : 4);
    const h = summary.headline[arm];
    assert.equal(typeof h.drop_points, "number");
    assert.ok(
      h.drop_ci_points && h.drop_ci_points.lo <= h.drop_points + 1e-9 && h.drop_points <= h.drop_ci_points.hi + 1e-9,
    );
    assert.ok(h.family_ci && h.family_ci.lo <= h.family && h.family <= h.family_ci.hi);
  }
  for (const set of ["default", "pool", "heldout", "family", "also-0"]) {
    assert.equal(summary.base?.[set]?.n, set === "also-0" ? 2 : 4, `the base is evaluated on ${set}`);
  }
  assert.ok(summary.results.single["default"] && summary.results.pool["pool"] && summary.results.mixed["pool"]);
  const head = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.equal(head.kind, "experiment");
  assert.equal(head.status, "finished");
  assert.ok("mixed_heldout" in head.figures);
  const html = readFileSync(reportPath, "utf8");
  assert.match(html, /held-out wordings/);
  assert.match(formatGeneralizationTable(summary), /the base, not fine-tuned/);
  assert.match(formatGeneralizationTable(summary), /chance 3\d\.\d%|chance \d+\.\d%/);
  assert.ok(summary.family_chance > 0 && summary.family_chance <= 0.5);

  // The three wording sets hold the same problems; the held-out one only held-out wordings.
  const sets = await Promise.all(
    ["default", "pool", "heldout"].map((s) => readRows<CoTRecord>(join(out, "data", `eval-${s}.jsonl`))),
  );
  const keys = sets.map((rs) => rs.map((r) => r.meta?.["canonical"]));
  assert.deepEqual(keys[1], keys[0]);
  assert.deepEqual(keys[2], keys[0]);
  assert.ok(sets[2]!.every((r) => r.meta?.["wording_split"] === "heldout"));
  assert.ok(sets[1]!.every((r) => r.meta?.["wording_split"] === "train"));
  for (const r of await readRows<CoTRecord>(join(out, "data", "eval-family.jsonl"))) {
    assert.equal(r.meta?.["task"], "logic");
    assert.ok(chanceOf(r)! > 0);
  }

  // Resuming a finished experiment reuses everything and gives the same summary.
  const again = await runGeneralization({
    out,
    settings: { ...GENERALIZATION_QUICK, instructions: inst },
    also: [also],
    log: () => {},
  });
  assert.deepEqual(again.summary.results, summary.results);
});
