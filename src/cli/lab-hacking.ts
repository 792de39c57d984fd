import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  type HackingReport,
  isScenarioName,
  runScenario,
  SCENARIO_NAMES,
  SCENARIOS,
  type VariantReport,
} from "../lab/hacking/index.ts";
import { hackingCurvesSvg } from "../lab/hacking/plot.ts";
import { parseIntFlag } from "./args.ts";

interface HackingCliOptions {
  scenario: string;
  seed: string;
  episodes?: string;
  out?: string;
  json?: boolean;
}

const parseIntOption = (name: string, raw: string, min: number) => parseIntFlag(`lab hacking: --${name}`, raw, min);

/** The machine-readable summary printed as the last line with --json (snake_case, as the issue asks). */
export function hackingSummary(report: HackingReport, svgPath: string) {
  return {
    scenario: report.scenario,
    seed: report.seed,
    episodes: report.training.episodes,
    hack_rate_flawed: report.flawed.hackRate,
    hack_rate_fixed: report.fixed.hackRate,
    true_return_flawed: report.flawed.trueReturn,
    true_return_fixed: report.fixed.trueReturn,
    true_return_optimal: report.optimalTrueReturn,
    proxy_return_flawed: report.flawed.proxyReturn,
    proxy_return_fixed: report.fixed.proxyReturn,
    detector_fired_flawed: report.flawed.detector.fired,
    detector_fired_fixed: report.fixed.detector.fired,
    detector_fired_at_flawed: report.flawed.detector.firedAt ?? null,
    detector_fired_at_fixed: report.fixed.detector.firedAt ?? null,
    svg: svgPath,
  };
}

/**
 * `stepwise lab hacking --scenario shaping|sensor|glitch`: train tabular Q-learning on a
 * flawed reward and on its fix, print hack rate, true return and the divergence
 * detector's verdict for both, and write the proxy-vs-true curves as an SVG.
 */
export function registerLabHacking(lab: Command): void {
  lab
    .command("hacking")
    .description("Reward hacking: a flawed reward, the hack the agent learns, the detector that flags it, the fix")
    .requiredOption("--scenario <name>", `which scenario: ${SCENARIO_NAMES.join(", ")}`)
    .option("--seed <n>", "random seed", "0")
    .option("--episodes <n>", "training episodes (default: the scenario's)")
    .option("--out <dir>", "folder for curves.svg and report.json (default runs/lab/hacking/<scenario>)")
    .option("--json", "print a JSON summary as the last line")
    .action((opts: HackingCliOptions) => {
      if (!isScenarioName(opts.scenario)) {
        throw new Error(`lab hacking: --scenario must be one of ${SCENARIO_NAMES.join(", ")}, got "${opts.scenario}"`);
      }
      const name = opts.scenario;
      const scenario = SCENARIOS[name];
      const seed = parseIntOption("seed", opts.seed, 0);
      const episodes = opts.episodes === undefined ? undefined : parseIntOption("episodes", opts.episodes, 1);
      const report = runScenario(name, { seed, episodes });
      const t = report.training;

      console.log(`reward hacking: ${name} — ${scenario.title}`);
      console.log(`  task    ${scenario.story.task}`);
      console.log(`  flawed  ${scenario.story.flawedReward}`);
      console.log(`  hack    ${scenario.story.hack}`);
      console.log(`  fix     ${scenario.story.fix}`);
      console.log(
        `Q-learning: ${t.episodes} episodes, γ = ${t.gamma}, α ${t.alpha[0]}→${t.alpha[1]}, ε ${t.epsilon[0]}→${t.epsilon[1]}, ` +
          `at most ${t.maxSteps} steps; evaluation: one greedy episode from each start state; seed ${seed}\n`,
      );
      const fired = (v: VariantReport) => (v.detector.fired ? `yes, episode ${v.detector.firedAt}` : "no");
      const rows: string[][] = [
        ["", "flawed reward", "fixed reward"],
        [`hack rate (${scenario.hackLabel})`, report.flawed.hackRate.toFixed(3), report.fixed.hackRate.toFixed(3)],
        [
          `true return (optimum ${report.optimalTrueReturn.toFixed(3)})`,
          report.flawed.trueReturn.toFixed(3),
          report.fixed.trueReturn.toFixed(3),
        ],
        ["proxy return (reward trained on)", report.flawed.proxyReturn.toFixed(3), report.fixed.proxyReturn.toFixed(3)],
        ["episodes that end", report.flawed.terminatedRate.toFixed(3), report.fixed.terminatedRate.toFixed(3)],
        ["divergence detector fired", fired(report.flawed), fired(report.fixed)],
      ];
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) {
        console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("   "));
      }
      console.log(`\ndetector, flawed: ${report.flawed.detector.reason}`);
      console.log(`detector, fixed:  ${report.fixed.detector.reason}`);
      for (const v of [report.flawed, report.fixed]) {
        const env = scenario.makeEnv(v.variant);
        const shown = v.example.states.slice(0, 9).map((s) => env.describeState(s));
        const more = v.example.states.length > 9 ? ` … (${v.example.actions.length} steps)` : "";
        console.log(`greedy episode, ${v.variant}: ${shown.join(" → ")}${more}`);
      }

      const out = opts.out ?? join("runs", "lab", "hacking", name);
      mkdirSync(out, { recursive: true });
      const svgPath = join(out, "curves.svg");
      writeFileSync(svgPath, hackingCurvesSvg(report));
      const summary = hackingSummary(report, svgPath);
      writeFileSync(join(out, "report.json"), `${JSON.stringify({ ...summary, training: t }, null, 2)}\n`);
      console.log(`\nwrote ${svgPath} and ${join(out, "report.json")}`);
      if (opts.json) console.log(JSON.stringify(summary));
    });
}
