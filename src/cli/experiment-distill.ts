import type { Command } from "commander";
import { applySet, parseConfig, readYamlMapping } from "../config/load.ts";
import { dashboardHint } from "../dashboard/hint.ts";
import { distillTable, runDistill } from "../distill/pipeline.ts";
import { DistillSettingsSchema } from "../distill/settings.ts";

interface DistillFlags {
  out: string;
  config?: string;
  set: string[];
  validation?: boolean;
  json?: boolean;
}

/**
 * `stepwise experiment distill [--out DIR] [--config FILE] [--set key=value] [--validation]`:
 * chain-of-thought distillation from a served teacher (src/distill/pipeline.ts), resumable.
 */
export function registerExperimentDistill(experiment: Command): void {
  experiment
    .command("distill")
    .description(
      "Distil chains of thought from a teacher served on loopback: fine-tune a base on kept teacher chains, " +
        "direct answers and gold chains; evaluate on held-out problems",
    )
    .option("--out <dir>", "run folder (resumed when it exists)", "runs/distill")
    .option("--config <file>", "YAML settings (src/distill/settings.ts documents every key)")
    .option(
      "--set <key=value>",
      "override a setting, value parsed as YAML (repeatable), e.g. --set k=8 --set teacher=runs/x/final",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--validation", "evaluate on the validation problems (for choosing settings) instead of the test ones")
    .option("--json", "print the results as JSON on the last line")
    .action(async (flags: DistillFlags) => {
      const raw = flags.config ? await readYamlMapping(flags.config) : {};
      for (const s of flags.set) applySet(raw, s);
      const settings = parseConfig(DistillSettingsSchema, raw, {
        where: flags.config ?? "--set",
        what: "distill settings",
        docs: "src/distill/settings.ts",
      });
      const summary = await runDistill({
        out: flags.out,
        settings,
        evalSet: flags.validation ? "validation" : "test",
      });
      console.log(distillTable(summary));
      console.log(dashboardHint(flags.out));
      if (flags.json) console.log(JSON.stringify(summary));
    });
}
