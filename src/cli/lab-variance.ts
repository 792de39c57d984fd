import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { defaultsOf } from "../config/load.ts";
import { barChartSvg } from "../lab/svg.ts";
import {
  ESTIMATOR_KINDS,
  type EstimatorKind,
  runVarianceExperiment,
  VarianceConfigError,
  VarianceConfigSchema,
  varianceSummary,
} from "../lab/variance.ts";
import { addConfigFlags, type ConfigFlag, type ConfigFlagValues, resolveConfig } from "./lab-config.ts";

const LABELS: { [K in EstimatorKind]: string } = {
  returns: "G_t",
  exact_baseline: "G_t − V^π(s_t)",
  learned_baseline: "G_t − V̂(s_t)",
  advantage: "A^π(s_t,a_t)",
};

const FLAGS: readonly ConfigFlag[] = [
  { flag: "seed", key: "seed", help: "random seed" },
  { flag: "runs", key: "runs", help: "independent gradient estimates per estimator (N)" },
  { flag: "episodes", key: "episodes", help: "episodes per estimate (M)" },
  { flag: "gamma", key: "gamma", help: "discount γ" },
  { flag: "states", key: "env.numStates", help: "chain length (the last state is the goal)" },
  { flag: "slip", key: "env.slip", help: "probability that a move is reversed" },
];

/**
 * `stepwise lab variance`: the policy-gradient variance experiment (src/lab/variance.ts).
 * Prints a per-parameter table; with --json the last line is one JSON object
 * (`mean_with`, `mean_without`, `var_with`, `var_without`, `variance_ratio`, ...).
 * Writes variance.svg, means.svg and summary.json into --out.
 */
export function registerLabVariance(lab: Command): void {
  const cmd = lab
    .command("variance")
    .description("Measure how a baseline lowers the variance of the policy-gradient estimate (means stay equal)");
  addConfigFlags(cmd, FLAGS, defaultsOf(VarianceConfigSchema), "src/lab/variance.ts")
    .option("--out <dir>", "folder for the SVG charts and summary.json", "runs/lab/variance")
    .option("--json", "print a JSON summary as the last line")
    .action(async (opts: ConfigFlagValues & { out: string; json?: boolean }) => {
      const config = await resolveConfig(VarianceConfigSchema, opts, FLAGS, {
        command: "lab variance",
        what: "variance config",
        docs: "src/lab/variance.ts",
        errorClass: VarianceConfigError,
      });
      const result = runVarianceExperiment(config);
      const summary = varianceSummary(result);
      const cfg = result.config;
      const piRight = 1 / (1 + Math.exp(-cfg.rightBias));

      console.log(
        `policy-gradient variance on a ${cfg.env.numStates}-state chain walk (slip ${cfg.env.slip}, reward ${String(cfg.env.stepReward).replace("-", "−")} per step), ` +
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
