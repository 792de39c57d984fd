import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { peerRatios, threadSpeedups } from "../bench/derive.ts";
import { median } from "../bench/measure.ts";
import { sideBySide } from "../bench/table.ts";
import { type Figure, FigureError, formatFigure, parseFigure } from "../bench/types.ts";

const run = promisify(execFile);

const fig = (impl: Figure["impl"], size: number, threads: number, value: number): Figure => ({
  bench: "matmul",
  impl,
  params: { size, threads },
  value,
  unit: "GFLOP/s",
});

describe("bench harness", () => {
  test("figures print with a fixed key order and parse back; bad lines name the field", () => {
    const f = fig("stepwise", 256, 2, 12.5);
    const line = formatFigure({ unit: f.unit, value: f.value, params: f.params, impl: f.impl, bench: f.bench });
    assert.equal(
      line,
      '{"bench":"matmul","impl":"stepwise","params":{"size":256,"threads":2},"value":12.5,"unit":"GFLOP/s"}',
    );
    assert.deepEqual(parseFigure(line, "child"), f);
    assert.throws(
      () => parseFigure('{"bench":"m","impl":"numpy"}', "child 1"),
      (e: Error) => {
        assert.ok(e instanceof FigureError);
        assert.match(e.message, /child 1: field "impl" should be one of stepwise, pytorch/);
        return true;
      },
    );
    assert.throws(() => parseFigure("not json", "child 2"), /child 2: not a JSON line/);
  });

  test("thread speedups and peer ratios pair figures by their params", () => {
    const figures = [
      fig("stepwise", 1024, 1, 20),
      fig("stepwise", 1024, 2, 38),
      fig("pytorch", 1024, 1, 80),
      fig("pytorch", 1024, 2, 160),
      fig("stepwise", 512, 2, 30), // no single-thread partner: no speedup line
    ];
    const speedups = threadSpeedups(figures, { impl: "stepwise", all: 2 });
    assert.deepEqual(speedups, [
      {
        bench: "matmul",
        impl: "stepwise",
        params: { size: 1024, metric: "speedup_all_vs_1_thread", threads: 2 },
        value: 1.9,
        unit: "x",
      },
    ]);
    const ratios = peerRatios(figures, "pytorch");
    assert.deepEqual(
      ratios.map((r) => [r.params, r.value]),
      [
        [{ size: 1024, threads: 1 }, 0.25],
        [{ size: 1024, threads: 2 }, 38 / 160],
      ],
    );
  });

  test("the side-by-side table pairs each side's best thread count and skips ratios", () => {
    const figures = [
      fig("stepwise", 1024, 1, 40),
      fig("stepwise", 1024, 2, 30), // slower on 2 threads: 1 thread is stepwise's best
      fig("pytorch", 1024, 1, 80),
      fig("pytorch", 1024, 2, 160),
      fig("stepwise/pytorch", 1024, 1, 0.5), // a ratio figure: not a row of its own
      fig("stepwise", 512, 2, 25), // no peer: no ratio
    ];
    const lines = sideBySide(figures).split("\n");
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /stepwise \(1 \/ 2 threads\)/);
    assert.equal(lines[2], "| matmul | size 1024 | GFLOP/s | 40.0 / 30.0 | 80.0 / 160 | **0.25×** (1 vs 2 threads) |");
    assert.equal(lines[3], "| matmul | size 512 | GFLOP/s | – / 25.0 | – / – | – |");
    assert.equal(sideBySide([]), "");
  });

  test("median of odd and even lists", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]), /empty/);
  });

  test("an unknown benchmark name is a usage error (exit 2) listing the known ones", async () => {
    await assert.rejects(
      run(process.execPath, ["--import", "tsx", "bench/run.ts", "--only", "nosuch"], { timeout: 60_000 }),
      (e: Error & { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /unknown benchmark "nosuch"; known benchmarks: matmul/);
        return true;
      },
    );
  });
});
