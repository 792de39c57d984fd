/**
 * `stepwise guard test-reward --reward SPEC --data FILE [--format F] [--sample N] [--max-new-tokens N]
 *  [--tokenizer DIR] [--ties ok|hole] [--exploits a,b] [--json]`: run the exploit battery against a
 * reward before training (src/guard/test-reward.ts) and list each hole with an example. Exits 1
 * when the reward has a hole. With --json the last stdout line is the report
 * {reward, records, honest, ties, holes, results}.
 */
import type { Command } from "commander";
import { EXPLOIT_NAMES, type ExploitName } from "../guard/exploits.ts";
import { formatTestReward, testReward } from "../guard/test-reward.ts";
import { DEFAULT_REWARD_OPTIONS, parseRewardSpec } from "../rl/rewards.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag } from "./args.ts";
import { COT_FORMATS, readCoTRecords } from "./eval.ts";

interface TestRewardFlags {
  reward: string;
  data: string;
  format: string;
  sample: string;
  maxNewTokens: string;
  overlongBuffer: string;
  ngram: string;
  tokenizer?: string;
  ties: string;
  exploits?: string;
  json?: boolean;
}

function exploitList(value: string): ExploitName[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      if (!(EXPLOIT_NAMES as readonly string[]).includes(s)) {
        throw new Error(`guard test-reward: --exploits: unknown exploit "${s}"; known: ${EXPLOIT_NAMES.join(", ")}`);
      }
      return s as ExploitName;
    });
}

/** Create the `guard` command group (reward hacking: tests before training). */
export function registerGuard(program: Command): Command {
  const guard = program.command("guard").description("Reward hacking: test a reward against exploits before training");
  guard
    .command("test-reward")
    .description(
      "Score a battery of exploit completions with a reward; list each hole with an example (exit 1 on holes)",
    )
    .requiredOption("--reward <spec>", 'reward spec, e.g. "correct:1,format:0.1" (src/rl/rewards.ts)')
    .requiredOption("--data <file>", "records whose prompts and gold answers the exploits are built from")
    .option("--format <format>", `layout of --data: ${COT_FORMATS.join(", ")}`, "cot")
    .option("--sample <n>", "records tested, spread evenly over the file", "50")
    .option(
      "--max-new-tokens <n>",
      "generation budget L_max (overlong; long exploits run to it)",
      String(DEFAULT_REWARD_OPTIONS.maxNewTokens),
    )
    .option("--overlong-buffer <n>", "overlong's soft band L_cache", String(DEFAULT_REWARD_OPTIONS.overlongBuffer))
    .option("--ngram <n>", "repetition's n-gram size", String(DEFAULT_REWARD_OPTIONS.ngram))
    .option("--tokenizer <dir>", "count completion tokens with this tokenizer (default characters / 4)")
    .option("--ties <mode>", 'a tie with the honest wrong completion: "ok" (reported) or "hole"', "ok")
    .option("--exploits <names>", `comma-separated subset of: ${EXPLOIT_NAMES.join(", ")}`)
    .option("--json", "end stdout with the report as one JSON line {reward, records, honest, ties, holes, results}")
    .action(async (flags: TestRewardFlags) => {
      if (flags.ties !== "ok" && flags.ties !== "hole") {
        throw new Error(`guard test-reward: --ties must be "ok" or "hole", got "${flags.ties}"`);
      }
      if (!(COT_FORMATS as readonly string[]).includes(flags.format)) {
        throw new Error(`guard test-reward: --format must be one of ${COT_FORMATS.join(", ")}, got "${flags.format}"`);
      }
      parseRewardSpec(flags.reward, "--reward");
      const records = await readCoTRecords(flags.data, flags.format as (typeof COT_FORMATS)[number]);
      const tokenizer = flags.tokenizer ? await Tokenizer.fromDir(flags.tokenizer) : null;
      const report = testReward(flags.reward, records, {
        sample: parseIntFlag("--sample", flags.sample, 1),
        ties: flags.ties,
        rewardOptions: {
          maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
          overlongBuffer: parseIntFlag("--overlong-buffer", flags.overlongBuffer, 1),
          ngram: parseIntFlag("--ngram", flags.ngram, 1),
        },
        ...(flags.exploits ? { exploits: exploitList(flags.exploits) } : {}),
        ...(tokenizer ? { countTokens: (t: string) => tokenizer.encode(t, { addSpecialTokens: false }).length } : {}),
      });
      for (const line of formatTestReward(report)) console.log(line);
      if (flags.json) console.log(JSON.stringify(report));
      if (report.holes.length > 0) process.exitCode = 1;
    });
  return guard;
}
