import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { barChartSvg } from "../lab/svg.ts";
import { ESTIMATOR_KINDS, type EstimatorKind, runVarianceExperiment, varianceSummary } from "../lab/variance.ts";
import { parseIntFlag } from "./args.ts";

const LABELS: { [K in EstimatorKind]: string } = {
  returns: "G_t",
  exact_baseline: "G_t − V^π(s_t)",
  learned_baseline: "G_t − V̂(s_t)",
  advantage: "A^π(s_t,a_t)",
};

interface VarianceCliOptions {
  seed: string;
  runs: string;
  episodes: string;
  gamma: string;
  states: string;
  slip: string;
  out: string;
  json?: boolean;
}

const parseIntOption = (name: string, raw: string, min: number) => parseIntFlag(`lab variance: --${name}`, raw, min);

function parseFloatOption(name: string, raw: string, lo: number, hi: number): number {
  const x = Number(raw);
  if (!(x >= lo && x < hi)) throw new Error(`lab variance: --${name} must be a number in [${lo}, ${hi}), got "${raw}"`);
  return x;
}

/**
 * `stepwise lab variance`: the policy-gradient variance experiment (src/lab/variance.ts).
 * Prints a per-parameter table; with --json the last line is one JSON object
 * (`mean_with`, `mean_without`, `var_with`, `var_without`, `variance_ratio`, ...).
 * Writes variance.svg, means.svg and summary.json into --out.
 */
export function registerLabVariance(lab: Command): void {
  lab
    .command("variance")
    .description("Measure how a baseline lowers the variance of the policy-gradient estimate (means stay equal)")
    .option("--seed <n>", "random seed", "0")
    .option("--runs <n>", "independent gradient estimates per estimator (N)", "400")
    .option("--episodes <n>", "episodes per estimate (M)", "10")
    .option("--gamma <x>", "discount γ", "0.95")
    .option("--states <n>", "chain length (the last state is the goal)", "5")
    .option("--slip <p>", "probability that a move is reversed", "0.1")
    .option("--out <dir>", "folder for the SVG charts and summary.json", "runs/lab/variance")
    .option("--json", "print a JSON summary as the last line")
    .action((opts: VarianceCliOptions) => {
      const config = {
        seed: parseIntOption("seed", opts.seed, 0),
        runs: parseIntOption("runs", opts.runs, 2),
        episodes: parseIntOption("episodes", opts.episodes, 2),
        gamma: parseFloatOption("gamma", opts.gamma, 0, 1),
        env: { numStates: parseIntOption("states", opts.states, 2), slip: parseFloatOption("slip", opts.slip, 0, 0.5) },
      };
      const result = runVarianceExperiment(config);
      const summary = varianceSummary(result);
      const cfg = result.config;
      const piRight = 1 / (1 + Math.exp(-cfg.rightBias));

      console.log(
        `policy-gradient variance on a ${cfg.env.numStates ?? 5}-state chain walk (slip ${cfg.env.slip ?? 0.1}, reward −1 per step), ` +
          `γ = ${cfg.gamma}, fixed policy π(right|s) = ${piRight.toFixed(3)}`,
      );
      console.log(
        `N = ${cfg.runs} estimates × M = ${cfg.episodes} episodes (mean length ${result.meanEpisodeLength.toFixed(1)}); ` +
          `J(θ) = V^π(s_0) = ${result.objective.toFixed(4)}`,
      );
      console.log(
        "estimator: ĝ = (1/M) Σ_episodes Σ_t γ^t Ψ_t ∇ log π(a_t|s_t); true ∇J from the policy gradient theorem\n",
      );
      const ret = result.estimators.returns;
      const base = result.estimators.exact_baseline;
      const pm = (m: number, se: number) => `${m.toFixed(4)} ± ${se.toFixed(4)}`;
      const rows: string[][] = [
        ["parameter", "true ∇J", "mean, Ψ=G_t", "mean, Ψ=G_t−V^π", "var, Ψ=G_t", "var, Ψ=G_t−V^π", "ratio"],
        ...result.paramNames.map((name, p) => [
          name,
          result.trueGradient[p]!.toFixed(4),
          pm(ret.mean[p]!, ret.stdError[p]!),
          pm(base.mean[p]!, base.stdError[p]!),
          ret.variance[p]!.toFixed(4),
          base.variance[p]!.toFixed(4),
          summary.variance_ratio_per_param[p]!.toFixed(2),
        ]),
      ];
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows)
        console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));

      console.log("\ntotal variance Σ_p Var[ĝ_p] and the worst |mean − true ∇J| in standard errors:");
      for (const k of ESTIMATOR_KINDS) {
        const s = result.estimators[k];
        const z = Math.max(...s.mean.map((m, p) => Math.abs(m - result.trueGradient[p]!) / s.stdError[p]!));
        console.log(
          `  Ψ = ${LABELS[k].padEnd(16)} ${s.totalVariance.toFixed(4).padStart(10)}   ratio vs G_t ${(ret.totalVariance / s.totalVariance).toFixed(2).padStart(6)}   max z ${z.toFixed(2)}`,
        );
      }
      const zPair = Math.max(
        ...ret.mean.map((m, p) => Math.abs(m - base.mean[p]!) / Math.hypot(ret.stdError[p]!, base.stdError[p]!)),
      );
      console.log(
        `\nthe baseline lowers the variance ${summary.variance_ratio.toFixed(2)}× while the means agree ` +
          `(max |mean_with − mean_without| = ${zPair.toFixed(2)} combined SEs)`,
      );

      mkdirSync(opts.out, { recursive: true });
      const categories = result.paramNames.map((n) => n.replace("θ[s=", "s").replace(",a=", " ").replace("]", ""));
      writeFileSync(
        join(opts.out, "variance.svg"),
        barChartSvg({
          title: `Per-parameter variance of the policy-gradient estimate (N=${cfg.runs}, M=${cfg.episodes})`,
          xLabel: "parameter θ[s, a]",
          yLabel: "Var[ĝ] (log scale)",
          categories,
          series: ESTIMATOR_KINDS.map((k) => ({ name: `Ψ = ${LABELS[k]}`, values: result.estimators[k].variance })),
          logY: true,
        }),
      );
      writeFileSync(
        join(opts.out, "means.svg"),
        barChartSvg({
          title: "Mean gradient estimate ± 1 SE vs the exact ∇J",
          xLabel: "parameter θ[s, a]",
          yLabel: "∂J/∂θ",
          categories,
          series: [
            { name: "exact ∇J", values: result.trueGradient },
            { name: `Ψ = ${LABELS.returns}`, values: ret.mean, errors: ret.stdError },
            { name: `Ψ = ${LABELS.exact_baseline}`, values: base.mean, errors: base.stdError },
          ],
        }),
      );
      writeFileSync(join(opts.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`wrote ${join(opts.out, "variance.svg")}, means.svg, summary.json`);
      if (opts.json) console.log(JSON.stringify(summary));
    });
}
