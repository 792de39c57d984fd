import type { Command } from "commander";
import { loadSftConfig } from "../train/config.ts";
import { runSft } from "../train/sft.ts";

interface SftFlags {
  config: string;
  set: string[];
  resume?: boolean;
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
    .option("--resume", "continue from the newest complete checkpoint of the run")
    .action(async (flags: SftFlags) => {
      const config = await loadSftConfig(flags.config, flags.set);
      const result = await runSft(config, { resume: flags.resume ?? false });
      if (result.status.kind === "diverged") process.exitCode = 2;
    });
}
