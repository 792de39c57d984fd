import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { loadRmConfig } from "../prefs/config.ts";
import { readPreferences } from "../prefs/data.ts";
import { rewardScorer } from "../prefs/reward-model.ts";
import { runRewardModel } from "../prefs/rm-train.ts";

interface RmFlags {
  config?: string;
  set: string[];
  resume?: boolean;
  overwrite?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `stepwise rm --config FILE.yaml [--set k=v] [--resume]`: train a reward model (src/prefs/rm-train.ts);
 * `stepwise rm eval --model DIR --data FILE`: pairwise accuracy of a reward model on preference pairs.
 */
export function registerRm(program: Command): void {
  const rm = program
    .command("rm")
    .description("Train a reward model on preference pairs (run folder: runs/<name>/); `rm eval` scores one")
    .option("--config <file>", "YAML run config (see src/prefs/config.ts and recipes/orm-demo.yaml)")
    .option("--set <key=value>", "override a config key, value parsed as YAML (repeatable)", collect, [] as string[])
    .option("--resume", "continue from the newest intact checkpoint of the run")
    .option("--overwrite", "delete a run already in the folder and start again")
    .action(async (flags: RmFlags) => {
      if (!flags.config) throw new Error("rm: give --config FILE.yaml (or `stepwise rm eval --model DIR --data FILE`)");
      if (flags.resume && flags.overwrite) throw new Error("rm: give --resume or --overwrite, not both");
      const config = await loadRmConfig(flags.config, flags.set);
      const result = await runRewardModel(config, {
        resume: flags.resume ?? false,
        overwrite: flags.overwrite ?? false,
      });
      if (result.status.kind === "diverged") process.exitCode = 2;
      if (result.status.kind === "stopped") process.exitCode = 130;
    });
  rm.command("eval")
    .description("Pairwise accuracy [r(chosen) > r(rejected)] of a reward model; the last line is a JSON summary")
    .requiredOption("--model <dir>", "reward-model folder (final/ of a `stepwise rm` run)")
    .requiredOption("--data <file>", "preference pairs {prompt, chosen, rejected} (.jsonl/.json/.csv/.parquet)")
    .option("--batch <n>", "rows per compiled call", (v: string) => Number.parseInt(v, 10), 16)
    .action(async (flags: { model: string; data: string; batch: number }) => {
      if (!(Number.isInteger(flags.batch) && flags.batch > 0))
        throw new Error("rm eval: --batch must be a positive integer");
      await initEngine();
      const pairs = await readPreferences(flags.data);
      const scorer = await rewardScorer(flags.model, { batch: flags.batch });
      try {
        const prompts = pairs.map((p) => p.prompt);
        const chosen = await scorer.score(
          prompts,
          pairs.map((p) => p.chosen),
        );
        const rejected = await scorer.score(
          prompts,
          pairs.map((p) => p.rejected),
        );
        const groups = new Map<string, { n: number; right: number }>();
        let right = 0;
        pairs.forEach((p, i) => {
          const win = chosen[i]! > rejected[i]! ? 1 : 0;
          right += win;
          for (const key of [p.meta?.task, p.meta?.corruption].filter((k) => typeof k === "string") as string[]) {
            const g = groups.get(key) ?? { n: 0, right: 0 };
            g.n++;
            g.right += win;
            groups.set(key, g);
          }
        });
        for (const [key, g] of [...groups].sort()) {
          console.log(`${key.padEnd(12)} ${(100 * (g.right / g.n)).toFixed(1).padStart(5)}%  of ${g.n}`);
        }
        const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(xs.length, 1);
        console.log(
          JSON.stringify({
            pairwise_accuracy: right / Math.max(pairs.length, 1),
            first_error_accuracy: null,
            n: pairs.length,
            mean_reward_chosen: mean(chosen),
            mean_reward_rejected: mean(rejected),
          }),
        );
      } finally {
        scorer.dispose();
      }
    });
}
