import type { Command } from "commander";
import { loadSftConfig } from "../train/config.ts";
import { runSft } from "../train/sft.ts";

interface SftFlags {
  config: string;
  set: string[];
  resume?: boolean;
  overwrite?: boolean;
}

/** `stepwise sft --config FILE.yaml [--set key=value ...] [--resume]`: supervised fine-tuning (src/train/sft.ts). */
export function registerSft(program: Command): void {
  program
    .command("sft")
    .description("Supervised fine-tuning on chain-of-thought data (run folder: runs/<name>/)")
    .requiredOption("--config <file>", "YAML run config (see src/train/config.ts and recipes/)")
    .option(
      "--set <key=value>",
      "override a config key, value parsed as YAML (repeatable), e.g. --set optim.lr=3e-4",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--resume", "continue from the newest intact checkpoint of the run")
    .option("--overwrite", "delete a run already in the folder and start again")
    .action(async (flags: SftFlags) => {
      if (flags.resume && flags.overwrite) throw new Error("sft: give --resume or --overwrite, not both");
      const config = await loadSftConfig(flags.config, flags.set);
      const result = await runSft(config, { resume: flags.resume ?? false, overwrite: flags.overwrite ?? false });
      if (result.status.kind === "diverged") process.exitCode = 2;
      if (result.status.kind === "stopped") process.exitCode = 130;
    });
}
