import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateDataset } from "../src/data/tasks/index.ts";
import { type GuardConfig, GuardConfigSchema, makeGuard } from "../src/guard/guard.ts";
import { MONITOR_NAMES, type MonitorName, monitorOptions, scanStream } from "../src/guard/monitors.ts";
import { healthyStep, raisedBeta } from "../src/guard/rollback.ts";
import { completionStats, hasMultipleAnswers, isRepetitive } from "../src/guard/stats.ts";
import { MAX_NEW_TOKENS, type Pathology, syntheticRun } from "./guard-streams.ts";

const ctx = { maxNewTokens: MAX_NEW_TOKENS };
const SEEDS = 200;

const scanned = new Map<Pathology, ReturnType<typeof scanStream>[]>();
/** Share of `SEEDS` synthetic runs of `kind` on which `monitor` fires (any monitor when null). */
function fireRate(kind: Pathology, monitor: MonitorName | null): number {
  if (!scanned.has(kind)) {
    scanned.set(
      kind,
      Array.from({ length: SEEDS }, (_, s) => scanStream(syntheticRun(kind, 1000 + s), {}, ctx)),
    );
  }
  const runs = scanned.get(kind)!;
  return runs.filter((alerts) => alerts.some((a) => monitor === null || a.monitor === monitor)).length / SEEDS;
}

describe("monitors: each fires on its pathology (200 synthetic 40-step runs each)", () => {
  for (const m of MONITOR_NAMES) {
    test(`${m}: fires on ≥ 95% of runs with the pathology, after it begins, with evidence`, () => {
      const rate = fireRate(m, m);
      assert.ok(rate >= 0.95, `${m} fired on ${(100 * rate).toFixed(1)}% of runs with its pathology`);
      const alert = scanStream(syntheticRun(m, 7), {}, ctx).find((a) => a.monitor === m)!;
      assert.ok(alert.step >= 16, `${m} fired at step ${alert.step}, before the pathology (onset ≈ 18)`);
      assert.ok(alert.since <= alert.step);
      assert.ok(Object.keys(alert.evidence).length >= 2, "evidence holds the numbers");
      assert.match(alert.message, /\d/);
    });
  }
});

describe("monitors: false alarms on healthy runs (proxy and gold rising together, 200 synthetic runs)", () => {
  test("measured: divergence 1.5%, every other monitor 0% (≤ 5% allowed in total)", () => {
    const any = fireRate("healthy", null);
    const div = fireRate("healthy", "divergence");
    for (const m of MONITOR_NAMES.filter((n) => n !== "divergence")) {
      assert.equal(fireRate("healthy", m), 0, `${m} fired on a healthy run`);
    }
    assert.ok(any <= 0.05, `some monitor fired on ${(100 * any).toFixed(1)}% of healthy runs`);
    assert.ok(
      Math.abs(div - 0.015) < 1e-9,
      `divergence false-alarm rate is ${(100 * div).toFixed(1)}% (update the test name)`,
    );
  });

  test("a monitor fires once per run, and never from events after its step", () => {
    const events = syntheticRun("repetition", 3);
    const all = scanStream(events, {}, ctx, ["repetition"]);
    assert.equal(all.length, 1);
    const upTo = events.filter((e) => e.step <= all[0]!.step);
    assert.deepEqual(scanStream(upTo, {}, ctx, ["repetition"]), all);
  });

  test("null metrics (KL with β = 0) are skipped, not read as 0", () => {
    const events = syntheticRun("kl_blowup", 1).map((e) =>
      e.kind === "step" ? { ...e, row: { ...e.row, kl: null } } : e,
    );
    assert.deepEqual(scanStream(events, {}, ctx, ["kl_blowup"]), []);
  });
});

describe("completion statistics", () => {
  test("multiple answers: two answer lines or a list on one; one value is not", () => {
    assert.equal(hasMultipleAnswers("x = 3.\n#### 3"), false);
    assert.equal(hasMultipleAnswers("#### 3\n#### 4"), true);
    assert.equal(hasMultipleAnswers("#### 3, 4, 5"), true);
    assert.equal(hasMultipleAnswers("#### Kai or Hana"), true);
    assert.equal(hasMultipleAnswers("#### -2.5"), false);
  });
  test("repetition: a looped completion is repetitive, a chain is not", () => {
    assert.equal(isRepetitive("so x = 3 so x = 3 so x = 3 so x = 3 so x = 3"), true);
    assert.equal(isRepetitive("Divide both sides by 3: x - 4 = 4.\nAdd 4 to both sides: x = 8."), false);
  });
  test("rates over a rollout", () => {
    const record = generateDataset({ tasks: ["algebra"], n: 1, seed: 0, split: "train" })[0]!;
    const mk = (completion: string) => ({
      record,
      prompt: "q",
      completion,
      finishReason: "eos" as const,
      completionTokens: 5,
    });
    const honest = `${record.chain_of_thought}\n#### ${record.answer}`;
    const s = completionStats([
      mk(honest),
      mk(`#### 7\n#### ${record.answer}`),
      mk("a a a a a a a a a a"),
      mk("#### 9"),
    ]);
    assert.equal(s["completions/correct_rate"], 0.25);
    assert.equal(s["completions/multi_answer_rate"], 0.25);
    assert.equal(s["completions/repetition_rate"], 0.25);
    assert.equal(s["completions/format_rate"], 0.25, "format needs a step before the one answer line");
  });
});

describe("guard: config, actions and rows", () => {
  test("defaults: every monitor warns; unknown options are rejected with the monitor's known ones", () => {
    const g = GuardConfigSchema.parse({});
    assert.deepEqual(g.monitors, {});
    assert.throws(
      () => GuardConfigSchema.parse({ monitors: { kl_blowup: { options: { grwth: 2 } } } }),
      /known: .*growth/,
    );
    assert.equal(monitorOptions("kl_blowup", { growth: 5 }).growth, 5);
  });

  test("warn logs and keeps going; stop asks the loop to stop; alerts are counted in the metrics rows", async () => {
    const rows: unknown[] = [];
    const run = { append: async (_f: string, r: unknown) => void rows.push(r) };
    const config: GuardConfig = GuardConfigSchema.parse({ monitors: { repetition: { action: "stop" } } });
    const guard = makeGuard(config, ctx, run);
    let fields: Record<string, number> = {};
    for (const e of syntheticRun("repetition", 5)) {
      const f = await guard.observe(e);
      if (e.kind === "step" && f["guard/alerts"]! > 0) fields = f;
      if (guard.shouldStop()) break;
    }
    assert.equal(guard.decision?.action, "stop");
    assert.equal(guard.decision?.alert.monitor, "repetition");
    assert.equal(rows.length, 1);
    assert.equal((rows[0] as { action: string }).action, "stop");
    assert.equal(fields["guard/alerts"], 1);
  });

  test("rollback target: the newest checkpoint before the pathology began; β raised", () => {
    assert.equal(healthyStep([4, 8, 12, 16], 13), 12);
    assert.equal(healthyStep([4, 8, 12, 16], 12), 8);
    assert.equal(healthyStep([8], 6), null);
    assert.equal(raisedBeta(0, { klFactor: 2, klMin: 0.02 }), 0.02);
    assert.equal(raisedBeta(0.05, { klFactor: 2, klMin: 0.02 }), 0.1);
  });
});
