/**
 * The check `stepwise rl` runs before it opens a run: the reward battery (test-reward.ts) on a
 * sample of the run's training records, with the trainer's prompt, budget and reward options.
 * A hole not named in `guard.acceptHoles` stops the run with the report (each hole and its
 * example) and the config line that would accept it.
 */
import { promptBuilder } from "../eval/prompting.ts";
import type { RlConfig } from "../rl/config.ts";
import { parseRewardSpec } from "../rl/rewards.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { loadRecords } from "../train/sft-data.ts";
import { formatTestReward, type NamedRewardFn, type TestRewardReport, testReward } from "./test-reward.ts";

export class RewardHoleError extends Error {
  override name = "RewardHoleError";
}

/** Run the battery on the config's reward (and any extra functions); throw RewardHoleError on an unaccepted hole. */
export async function checkRewardBeforeTraining(
  config: RlConfig,
  rewardFns: readonly NamedRewardFn[],
  say: (line: string) => void,
): Promise<TestRewardReport> {
  const records = await loadRecords(config.data.train, "train");
  const tokenizer = await Tokenizer.fromDir(config.model);
  const build = promptBuilder({ kind: "zero-cot", shots: 0, seed: config.seed });
  const report = testReward([...parseRewardSpec(config.reward.spec, "reward.spec"), ...rewardFns], records, {
    sample: config.guard.sample,
    ties: config.guard.ties,
    prompt: (r) => build(r.question).prompt,
    rewardOptions: {
      maxNewTokens: config.rollout.maxNewTokens,
      overlongBuffer: config.reward.overlongBuffer,
      ngram: config.reward.ngram,
    },
    countTokens: (t) => tokenizer.encode(t, { addSpecialTokens: false }).length,
  });
  const accepted = new Set<string>(config.guard.acceptHoles);
  const open = report.holes.filter((h) => !accepted.has(h.exploit));
  const lines = formatTestReward(report);
  if (open.length > 0) {
    const names = open.map((h) => h.exploit);
    throw new RewardHoleError(
      [
        `rl: the reward has ${open.length} hole(s) a policy can exploit that guard.acceptHoles does not name, so training does not start:`,
        ...lines,
        `fix the reward (README "Testing a reward before training"), or accept them knowingly in the config:`,
        `  guard: { acceptHoles: [${[...config.guard.acceptHoles, ...names].join(", ")}] }`,
      ].join("\n"),
    );
  }
  const kept = report.holes.map((h) => h.exploit);
  say(
    `rl: reward battery: ${report.results.length} exploits × ${report.records} records, ` +
      (kept.length === 0 ? "no holes" : `accepted holes: ${kept.join(", ")}`),
  );
  return report;
}
