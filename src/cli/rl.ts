import type { Command } from "commander";
import { runGuardedRl } from "../guard/rollback.ts";
import { loadRlConfig } from "../rl/config.ts";

interface RlFlags {
  config: string;
  set: string[];
  resume?: boolean;
  overwrite?: boolean;
}

/** `stepwise rl --config FILE.yaml [--set key=value ...] [--resume]`: RL with verifiable rewards (src/rl/grpo.ts). */
export function registerRl(program: Command): void {
  program
    .command("rl")
    .description(
      "RL on chain-of-thought prompts with verifiable rewards: GRPO, Dr. GRPO, RLOO, REINFORCE++ (runs/<name>/)",
    )
    .requiredOption("--config <file>", "YAML run config (see src/rl/config.ts and recipes/grpo-demo.yaml)")
    .option(
      "--set <key=value>",
      "override a config key, value parsed as YAML (repeatable), e.g. --set optim.lr=1e-5",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--resume", "continue from the newest intact checkpoint of the run")
    .option("--overwrite", "delete a run already in the folder and start again")
    .action(async (flags: RlFlags) => {
      if (flags.resume && flags.overwrite) throw new Error("rl: give --resume or --overwrite, not both");
      const config = await loadRlConfig(flags.config, flags.set);
      const result = await runGuardedRl(config, { resume: flags.resume ?? false, overwrite: flags.overwrite ?? false });
      if (result.status.kind === "diverged") process.exitCode = 2;
      if (result.status.kind === "stopped") process.exitCode = 130;
    });
}
