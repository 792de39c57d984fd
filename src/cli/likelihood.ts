import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { fitByNll, logisticNll, makeLogisticData, newtonLogistic } from "../examples/logistic.ts";
import { parseIntFlag } from "./args.ts";

/**
 * `stepwise likelihood`: the smallest end-to-end thing the engine does, a worked example of
 * "losses from likelihood": logistic regression trained by minimising NLL with jax-js
 * autodiff, checked against Newton's method in float64.
 */
export function registerLikelihood(program: Command): void {
  program
    .command("likelihood")
    .description("Worked example: logistic regression by minimising NLL, checked against Newton's method")
    .option("--seed <n>", "random seed", "0")
    .option("--n <n>", "number of examples", "2000")
    .option("--d <n>", "number of features", "8")
    .option("--steps <n>", "optimizer steps", "400")
    .action(async (opts: { seed: string; n: string; d: string; steps: string }) => {
      const seed = parseIntFlag("likelihood: --seed", opts.seed, 0);
      const n = parseIntFlag("likelihood: --n", opts.n, 1);
      const d = parseIntFlag("likelihood: --d", opts.d, 1);
      const steps = parseIntFlag("likelihood: --steps", opts.steps, 1);
      const engine = await initEngine();
      console.log(`engine: ${engine.device}, ${engine.threads} thread(s)`);
      const data = makeLogisticData({ n, d, seed });
      console.log(`data: ${n} examples, ${d} features, seed ${seed}`);

      const t0 = performance.now();
      const reference = newtonLogistic(data);
      const newtonMs = performance.now() - t0;
      console.log(`Newton (float64): ${reference.iterations} iterations, ${newtonMs.toFixed(0)} ms`);

      const t1 = performance.now();
      const fit = await fitByNll(data, {
        steps,
        onLog: (step, nll) => console.log(`  step ${String(step).padStart(4)}  mean NLL ${nll.toFixed(7)}`),
      });
      const fitMs = performance.now() - t1;

      const diffs = Array.from(fit.w, (v, i) => Math.abs(v - reference.w[i]!));
      diffs.push(Math.abs(fit.b - reference.b));
      const maxDiff = Math.max(...diffs);
      const refNll = logisticNll(data, reference.w, reference.b);
      console.log(`jax-js NLL minimisation: ${steps} jit-compiled steps, ${fitMs.toFixed(0)} ms`);
      const rows: [string, string, string][] = [
        ["", "mean NLL", "bias"],
        ["Newton (float64)", refNll.toFixed(8), reference.b.toFixed(6)],
        ["stepwise (NLL, SGD, float32)", fit.nll.toFixed(8), fit.b.toFixed(6)],
      ];
      for (const [a, b, c] of rows) console.log(`  ${a.padEnd(30)}${b.padStart(12)}${c.padStart(12)}`);
      console.log(
        `max |θ_stepwise − θ_newton| = ${maxDiff.toExponential(2)} (${maxDiff <= 1e-4 ? "match" : "MISMATCH"} at 1e-4)`,
      );
      if (maxDiff > 1e-4) process.exitCode = 1;
    });
}
