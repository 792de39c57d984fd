import type { Command } from "commander";
import { loadDpoConfig } from "../prefs/config.ts";
import { runDpo } from "../prefs/dpo-train.ts";

interface DpoFlags {
  config: string;
  set: string[];
  resume?: boolean;
  overwrite?: boolean;
}

/** `stepwise dpo --config FILE.yaml [--set key=value ...] [--resume]`: DPO (src/prefs/dpo-train.ts). */
export function registerDpo(program: Command): void {
  program
    .command("dpo")
    .description("Direct Preference Optimization on preference pairs (run folder: runs/<name>/)")
    .requiredOption("--config <file>", "YAML run config (see src/prefs/config.ts and recipes/dpo-demo.yaml)")
    .option(
      "--set <key=value>",
      "override a config key, value parsed as YAML (repeatable), e.g. --set loss.beta=0.2",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--resume", "continue from the newest intact checkpoint of the run")
    .option("--overwrite", "delete a run already in the folder and start again")
    .action(async (flags: DpoFlags) => {
      if (flags.resume && flags.overwrite) throw new Error("dpo: give --resume or --overwrite, not both");
      const config = await loadDpoConfig(flags.config, flags.set);
      const result = await runDpo(config, { resume: flags.resume ?? false, overwrite: flags.overwrite ?? false });
      if (result.status.kind === "diverged") process.exitCode = 2;
      if (result.status.kind === "stopped") process.exitCode = 130;
    });
}
