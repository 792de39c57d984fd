/**
 * `stepwise experiment generalization --out DIR [--config FILE] [--set key=value]… [--also FILE]…`:
 * fine-tune one base three ways (one wording, the wording pool, the pool mixed with instruction
 * data) and evaluate each on trained wordings, held-out wordings, a held-out task family and any
 * extra files (src/experiments/generalization.ts). Resumable: run it again to continue.
 */
import type { Command } from "commander";
import { applySet, parseConfig, readYamlMapping } from "../config/load.ts";
import { dashboardHint } from "../dashboard/hint.ts";
import {
  GENERALIZATION_DEFAULTS,
  GENERALIZATION_QUICK,
  type GeneralizationSettings,
  GeneralizationSettingsSchema,
  runGeneralization,
} from "../experiments/generalization.ts";
import { formatGeneralizationTable } from "../experiments/generalization-report.ts";
import { parseIntFlag } from "./args.ts";

interface GeneralizationFlags {
  out: string;
  config?: string;
  set: string[];
  also: string[];
  base?: string;
  steps?: string;
  seed?: string;
  validation?: boolean;
  quick?: boolean;
  json?: boolean;
}

/**
 * The settings a command line asks for. Layers, later wins: the defaults (or --quick's), the
 * --config file, each --set, then the shortcut flags --base, --steps, --seed, --validation.
 */
export async function generalizationSettingsFrom(
  flags: Omit<GeneralizationFlags, "out" | "also" | "json">,
): Promise<GeneralizationSettings> {
  const raw: Record<string, unknown> = structuredClone(flags.quick ? GENERALIZATION_QUICK : {});
  if (flags.config) Object.assign(raw, await readYamlMapping(flags.config));
  for (const s of flags.set) applySet(raw, s);
  if (flags.base !== undefined) raw.base = { kind: "pretrained", dir: flags.base };
  if (flags.steps !== undefined) raw.steps = parseIntFlag("experiment generalization: --steps", flags.steps, 1);
  if (flags.seed !== undefined) raw.seed = parseIntFlag("experiment generalization: --seed", flags.seed, 0);
  if (flags.validation) raw.evalSet = "validation";
  const settings = parseConfig(GeneralizationSettingsSchema, raw, {
    where: flags.config ?? "--set",
    what: "experiment generalization settings",
    docs: "src/experiments/generalization-settings.ts",
  });
  settings.warmupSteps = Math.min(settings.warmupSteps, settings.steps);
  return settings;
}

export function registerExperiment(program: Command): Command {
  const experiment = program.command("experiment").description("Experiments that answer one question each");
  const d = GENERALIZATION_DEFAULTS;
  const base = d.base.kind === "pretrained" ? d.base.dir : "scratch";
  experiment
    .command("generalization")
    .description("Does chain of thought survive held-out wordings and a held-out task family? (resumable)")
    .requiredOption("--out <dir>", "experiment folder")
    .option("--config <file>", "YAML settings (src/experiments/generalization-settings.ts documents every key)")
    .option(
      "--set <key=value>",
      "override a setting, value parsed as YAML (repeatable), e.g. --set trainProblems=8000 --set mixed.directFraction=0.5",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      "--also <file>",
      "extra record file to evaluate on (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option("--base <dir>", `the base model folder (default: "${base}")`)
    .option("--steps <n>", `optimizer steps of each fine-tuning, i.e. --set steps=N (default: ${d.steps})`)
    .option("--seed <n>", `seed of data and training order, i.e. --set seed=N (default: ${d.seed})`)
    .option(
      "--validation",
      "evaluate on validation problems (held-out split, none of the test ones) to choose settings",
    )
    .option("--quick", "a tiny, seconds-long run of every stage from a scratch base (nothing is learnt)")
    .option("--json", "print the summary as one JSON line last")
    .action(async (flags: GeneralizationFlags) => {
      const settings = await generalizationSettingsFrom(flags);
      const { summary, reportPath } = await runGeneralization({ out: flags.out, settings, also: flags.also });
      console.log(formatGeneralizationTable(summary));
      console.log(`\n${reportPath}\n${dashboardHint(flags.out)}`);
      if (flags.json) console.log(JSON.stringify(summary));
    });
  return experiment;
}
