/**
 * `stepwise lab gridworld` end to end (presets, a map file, bad input), and the SVG writers
 * the lab's pictures are made with.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { Command } from "commander";
import { registerLab } from "../src/cli/lab.ts";
import { movingAverage } from "../src/eval/series.ts";
import type { GridworldSummary } from "../src/lab/gridworld-experiment.ts";
import { barChartSvg, heatMapSvg, lineChartSvg, niceTicks } from "../src/lab/svg.ts";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 120_000 });
const tmp = mkdtempSync(join(tmpdir(), "stepwise-lab-gridworld-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

type CliSummary = GridworldSummary & { exact_checks_pass: boolean; files: string[] };
type CliError = Error & { code: number; stderr: string };

/** The last stdout line, parsed. */
function lastJson(stdout: string): CliSummary {
  const lines = stdout.trimEnd().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

const SVGS = ["value-policy.svg", "q-learning-policy.svg", "sarsa-policy.svg", "learning-curves.svg"];

describe("stepwise lab gridworld", () => {
  test("default preset (maze5x5): exact checks pass, Q-learning matches π*, SVGs written, JSON last", async () => {
    const out = join(tmp, "maze");
    const { stdout } = await cli("lab", "gridworld", "--json", "--out", out);
    assert.match(stdout, /π\*_VI = π\*_PI\s+yes/);
    assert.match(stdout, /Q-learning\s+yes/);
    const s = lastJson(stdout);
    assert.equal(s.world, "maze5x5");
    assert.equal(s.pi_vi_equals_pi_pi, true);
    assert.equal(s.unique_actions_agree, true);
    assert.equal(s.exact_checks_pass, true);
    assert.equal(s.q_learning_matches_pi_star, true);
    assert.ok(s.v_vi_vs_pi_max_abs <= 1e-8);
    assert.ok(s.eval_iterative_vs_linear_max_abs <= 1e-8);
    assert.ok(s.q_eval_iterative_vs_linear_max_abs <= 1e-8);
    assert.ok(s.advantage_mean_under_pi_max_abs <= 1e-9);
    // V*(S): the 8-step path at γ = 0.95, −Σ_{k<7} γ^k + γ^7·10.
    const g = 0.95;
    assert.ok(Math.abs(s.v_star_start - (-(1 - g ** 7) / (1 - g) + g ** 7 * 10)) < 1e-9);
    assert.equal(s.v_star.length, 5);
    assert.equal(s.v_star[0]?.[2], null, "walls are null");
    assert.deepEqual(s.pi_star[4], "↑←←#G");
    assert.equal(s.q_learning.wrong_states, 0);
    assert.equal(s.q_learning.value_gap, 0);
    assert.deepEqual(
      s.files,
      SVGS.map((f) => join(out, f)),
    );
    for (const f of SVGS) {
      const text = readFileSync(join(out, f), "utf8");
      assert.ok(text.startsWith("<svg"), `${f} starts with <svg`);
      assert.ok(text.trimEnd().endsWith("</svg>"), `${f} ends with </svg>`);
    }
    assert.match(readFileSync(join(out, "learning-curves.svg"), "utf8"), /<polyline[^>]+points="/);
  });

  test("cliff preset: Q-learning's greedy path is the 13-step edge, SARSA's a longer safe one", async () => {
    const { stdout } = await cli("lab", "gridworld", "--preset", "cliff", "--json", "--out", join(tmp, "cliff"));
    const s = lastJson(stdout);
    assert.equal(s.gamma, 1);
    assert.equal(s.v_star_start, -13);
    assert.equal(s.eval_gamma, 0.99);
    assert.equal(s.exact_checks_pass, true);
    assert.equal(s.q_learning.greedy_path_steps, 13);
    assert.ok(s.sarsa.greedy_path_reaches_goal && s.sarsa.greedy_path_steps > 13, JSON.stringify(s.sarsa));
    assert.ok(s.sarsa.mean_return_last_100 > s.q_learning.mean_return_last_100);
  });

  test("--map FILE with --slip and --gamma overrides; a bad map names file, line and column", async () => {
    const good = join(tmp, "room.txt");
    writeFileSync(good, ["S..H", ".#..", "...G"].join("\n"));
    const { stdout } = await cli(
      "lab",
      "gridworld",
      "--map",
      good,
      "--slip",
      "0.1",
      "--gamma",
      "0.9",
      "--episodes",
      "300",
      "--seed",
      "3",
      "--json",
      "--out",
      join(tmp, "room"),
    );
    const s = lastJson(stdout);
    assert.deepEqual([s.slip, s.gamma, s.episodes, s.seed, s.num_states], [0.1, 0.9, 300, 3, 11]);
    assert.equal(s.exact_checks_pass, true);
    assert.ok(existsSync(join(tmp, "room", "value-policy.svg")));

    const bad = join(tmp, "bad.txt");
    writeFileSync(bad, ["S..H", ".#x.", "...G"].join("\n"));
    await assert.rejects(cli("lab", "gridworld", "--map", bad, "--out", join(tmp, "bad")), (e: CliError) => {
      assert.equal(e.code, 1);
      assert.ok(e.stderr.includes(`${bad}:2:3: unknown cell "x"`), e.stderr);
      return true;
    });
  });

  test("bad options are clear errors naming the option (in process)", async () => {
    const cases: [string[], RegExp][] = [
      [["--gamma", "2"], /lab gridworld: --gamma must be a number in \[0, 1\], got "2"/],
      [["--slip", "-0.1"], /lab gridworld: --slip must be a number in \[0, 1\], got "-0.1"/],
      [["--preset", "nope"], /--preset: unknown preset "nope", expected one of: maze5x5, open5x5, slippery, cliff/],
      [["--preset", "cliff", "--map", "x.txt"], /give --map or --preset, not both/],
      [["--episodes", "1.5"], /--episodes must be an integer in \[1, 10000000\], got "1.5"/],
      [["--map", join(tmp, "missing.txt")], /--map: cannot read .*missing.txt/],
    ];
    for (const [args, message] of cases) {
      const program = new Command().exitOverride();
      registerLab(program);
      await assert.rejects(
        program.parseAsync(["lab", "gridworld", ...args, "--out", join(tmp, "err")], { from: "user" }),
        message,
      );
    }
  });
});

describe("SVG writers", () => {
  test("line chart: one polyline per series, escaped legend, non-finite points break the line", () => {
    const svg = lineChartSvg({
      title: "returns <smoothed>",
      xLabel: "episode",
      yLabel: "return",
      series: [
        { name: "Q-learning", xs: [0, 1, 2, 3], ys: [-5, -3, -2, -1] },
        { name: "a & b", xs: [0, 1, 2, 3, 4], ys: [-4, Number.NaN, -2, -1.5, -1] },
      ],
    });
    assert.ok(svg.startsWith("<svg"));
    assert.equal(svg.match(/<polyline/g)?.length, 2, "series 2 breaks at NaN into a dot and a line");
    assert.equal(svg.match(/<circle/g)?.length, 1);
    assert.match(svg, /returns &lt;smoothed&gt;/);
    assert.match(svg, />a &amp; b</);
    assert.throws(
      () => lineChartSvg({ title: "", xLabel: "", yLabel: "", series: [{ name: "s", xs: [1, 2], ys: [1] }] }),
      /series "s" has 2 xs but 1 ys/,
    );
  });

  test("bar chart: one bar per value, error bars, log axis skips non-positive values", () => {
    const svg = barChartSvg({
      title: "gradient variance",
      xLabel: "parameter",
      yLabel: "variance",
      categories: ["θ0", "θ1", "θ2"],
      series: [
        { name: "returns", values: [10, 20, 30], errors: [1, 2, 3] },
        { name: "advantage", values: [1, 0, 3] },
      ],
      logY: true,
    });
    assert.equal(svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#/g)?.length, 5);
    assert.equal(svg.match(/stroke="#222"/g)?.length, 3);
    assert.throws(
      () =>
        barChartSvg({ title: "", xLabel: "", yLabel: "", categories: ["a"], series: [{ name: "s", values: [1, 2] }] }),
      /series "s" has 2 values for 1 categories/,
    );
  });

  test("heat map: a cell per value, walls dark, arrows where asked", () => {
    const svg = heatMapSvg({ title: "V", rows: 2, cols: 2, values: [1, null, 3, 2], arrows: [1, null, null, 0] });
    assert.equal(svg.match(/fill="#333"/g)?.length, 1);
    assert.equal(svg.match(/<polygon/g)?.length, 2);
    assert.throws(() => heatMapSvg({ title: "", rows: 2, cols: 2, values: [1] }), /1 values for a 2x2 grid/);
  });

  test("nice ticks cover the range in 1-2-5 steps; moving average is trailing", () => {
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(-13, 2), [-15, -10, -5, 0, 5]);
    assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
  });
});
