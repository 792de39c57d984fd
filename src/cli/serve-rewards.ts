import type { Command } from "commander";
import { isTaskName, TASK_NAMES } from "../data/tasks/index.ts";
import { DEFAULT_REWARD_OPTIONS, parseRewardSpec, REWARD_KINDS } from "../rl/rewards.ts";
import { isLoopback } from "../serve/http.ts";
import { startRewardServer } from "../serve/rewards-server.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag } from "./args.ts";

interface ServeRewardsFlags {
  reward: string;
  host: string;
  port: string;
  task?: string;
  tokenizer?: string;
  maxNewTokens: string;
  overlongBuffer: string;
  ngram: string;
  maxBodyBytes: string;
  maxItems: string;
  requireEndToken?: boolean;
}

/**
 * `stepwise serve-rewards --reward SPEC [--host 127.0.0.1] [--port 5000]`: the reward registry
 * behind OpenRLHF's remote reward API (src/serve/rewards-server.ts). Loopback unless --host.
 */
export function registerServeRewards(program: Command): void {
  program
    .command("serve-rewards")
    .description("Serve verifiable rewards over OpenRLHF's remote reward API (POST /get_reward)")
    .requiredOption(
      "--reward <spec>",
      `reward functions and weights, e.g. "correct:1,format:0.1" (${REWARD_KINDS.join(", ")})`,
    )
    .option("--host <addr>", "address to bind; 0.0.0.0 exposes the server to the network", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", "5000")
    .option("--task <name>", `task of plain-string labels: answer matching and step checks (${TASK_NAMES.join(", ")})`)
    .option("--tokenizer <dir>", "count response tokens with this tokenizer (overlong); default: words")
    .option(
      "--max-new-tokens <n>",
      "overlong: the generation budget L_max",
      String(DEFAULT_REWARD_OPTIONS.maxNewTokens),
    )
    .option("--overlong-buffer <n>", "overlong: the soft band L_cache", String(DEFAULT_REWARD_OPTIONS.overlongBuffer))
    .option("--ngram <n>", "repetition: n-gram size", String(DEFAULT_REWARD_OPTIONS.ngram))
    .option("--max-body-bytes <n>", "largest request body", String(8 * 1024 * 1024))
    .option("--max-items <n>", "queries per request at most", "4096")
    .option(
      "--require-end-token",
      "a response without a trailing end token was cut at the budget (OpenRLHF keeps special tokens); default: finished",
    )
    .action(async (flags: ServeRewardsFlags) => {
      const terms = parseRewardSpec(flags.reward, "--reward");
      if (flags.task !== undefined && !isTaskName(flags.task))
        throw new Error(`serve-rewards: --task must be one of ${TASK_NAMES.join(", ")}, got "${flags.task}"`);
      const rewardOptions = {
        maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
        overlongBuffer: parseIntFlag("--overlong-buffer", flags.overlongBuffer, 1),
        ngram: parseIntFlag("--ngram", flags.ngram, 1),
      };
      if (rewardOptions.overlongBuffer > rewardOptions.maxNewTokens)
        throw new Error("serve-rewards: --overlong-buffer must not exceed --max-new-tokens");
      const tokenizer = flags.tokenizer ? await Tokenizer.fromDir(flags.tokenizer) : null;
      const server = await startRewardServer({
        terms,
        rewardOptions,
        ...(flags.task ? { task: flags.task } : {}),
        ...(tokenizer ? { countTokens: (t: string) => tokenizer.encode(t, { addSpecialTokens: false }).length } : {}),
        host: flags.host,
        port: parseIntFlag("--port", flags.port, 0, 65535),
        maxBodyBytes: parseIntFlag("--max-body-bytes", flags.maxBodyBytes, 1024),
        maxItems: parseIntFlag("--max-items", flags.maxItems, 1),
        requireEndToken: flags.requireEndToken ?? false,
      });
      console.error(
        `stepwise serve-rewards: ${terms.map((t) => `${t.name}:${t.weight}`).join(",")} at ${server.url}/get_reward`,
      );
      if (!isLoopback(flags.host))
        console.error(
          `stepwise serve-rewards: bound to ${flags.host}: anyone who can reach it can use it; there is no authentication`,
        );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await server.close();
    });
}
