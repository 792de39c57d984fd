/**
 * `stepwise experiment generalization --out DIR [--also FILE]…`: fine-tune one base three
 * ways (one wording, the wording pool, the pool mixed with instruction data) and evaluate each
 * on trained wordings, held-out wordings, a held-out task family and any extra files
 * (src/experiments/generalization.ts). Resumable: run it again to continue.
 */
import type { Command } from "commander";
import { dashboardHint } from "../dashboard/hint.ts";
import {
  GENERALIZATION_DEFAULTS,
  GENERALIZATION_QUICK,
  type GeneralizationSettings,
  runGeneralization,
} from "../experiments/generalization.ts";
import { formatGeneralizationTable } from "../experiments/generalization-report.ts";
import { parseIntFlag } from "./args.ts";

export function registerExperiment(program: Command): Command {
  const experiment = program.command("experiment").description("Experiments that answer one question each");
  const d = GENERALIZATION_DEFAULTS;
  experiment
    .command("generalization")
    .description("Does chain of thought survive held-out wordings and a held-out task family? (resumable)")
    .requiredOption("--out <dir>", "experiment folder")
    .option(
      "--also <file>",
      "extra record file to evaluate on (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option("--base <dir>", "the base model folder", "assets/demo-base")
    .option("--steps <n>", "optimizer steps of each fine-tuning", String(d.steps))
    .option("--seed <n>", "seed of data and training order", String(d.seed))
    .option(
      "--validation",
      "evaluate on validation problems (held-out split, none of the test ones) to choose settings",
    )
    .option("--quick", "a tiny, seconds-long run of every stage from a scratch base (nothing is learnt)")
    .option("--json", "print the summary as one JSON line last")
    .action(
      async (opts: {
        out: string;
        also: string[];
        base: string;
        steps: string;
        seed: string;
        validation?: boolean;
        quick?: boolean;
        json?: boolean;
      }) => {
        const settings: GeneralizationSettings = { ...(opts.quick ? GENERALIZATION_QUICK : d) };
        if (!opts.quick) settings.base = { kind: "pretrained", dir: opts.base };
        if (!opts.quick || opts.steps !== String(d.steps))
          settings.steps = parseIntFlag("experiment generalization: --steps", opts.steps, 1);
        settings.seed = parseIntFlag("experiment generalization: --seed", opts.seed, 0);
        settings.warmupSteps = Math.min(settings.warmupSteps, settings.steps);
        if (opts.validation) settings.evalSet = "validation";
        const { summary, reportPath } = await runGeneralization({ out: opts.out, settings, also: opts.also });
        console.log(formatGeneralizationTable(summary));
        console.log(`\n${reportPath}\n${dashboardHint(opts.out)}`);
        if (opts.json) console.log(JSON.stringify(summary));
      },
    );
  return experiment;
}
