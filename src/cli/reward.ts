/**
 * `stepwise reward --reward SPEC --data FILE --out FILE [--format F] [--tokenizer DIR] [--json]`:
 * score completions given in a file with the RL reward functions (src/rl/rewards.ts), so a user
 * can see what a reward does before training on it. Each input row is a chain-of-thought record
 * (in --format) with a `completion` field; each output line is the row as read plus `reward`
 * (the weighted total, as `stepwise rl` computes it) and `rewards` ({name: value | null}).
 *
 * Optional row fields, as `stepwise rl` fills them during rollouts:
 *   prompt             the prompt the completion answered (default: rl's zero-shot step-by-step prompt)
 *   finish_reason      eos | stop | length (default eos)
 *   completion_tokens  the completion's length in tokens (overlong); else counted with --tokenizer
 */
import type { Command } from "commander";
import { formatLocation } from "../data/errors.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { promptBuilder } from "../eval/prompting.ts";
import {
  DEFAULT_REWARD_OPTIONS,
  parseRewardSpec,
  type RewardInput,
  type RewardOptions,
  rewardStats,
  scoreRewards,
} from "../rl/rewards.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag } from "./args.ts";
import { COT_FORMATS, type RecordWithText, readRecordsWith } from "./eval.ts";

interface RewardFlags {
  reward: string;
  data: string;
  out: string;
  format: string;
  tokenizer?: string;
  maxNewTokens: string;
  overlongBuffer: string;
  ngram: string;
  json?: boolean;
}

const FINISH_REASONS = ["eos", "stop", "length"] as const;

/** Per function (and the total): mean and std over the items it applied to, and how many. */
export interface RewardSummary {
  n: number;
  reward: { mean: number; std: number };
  rewards: Record<string, { weight: number; mean: number | null; std: number | null; applied: number }>;
}

/** RewardInput of one row; a bad optional field is an error naming file:line and the field. */
function inputOf(
  row: RecordWithText,
  prompt: (question: string) => string,
  count: ((text: string) => number) | null,
  needTokens: boolean,
): RewardInput {
  const v = row.row as Record<string, unknown>;
  const where = `reward: ${formatLocation(row.loc)}`;
  if (v.prompt !== undefined && typeof v.prompt !== "string") {
    throw new Error(`${where}: field "prompt": expected a string, got ${typeof v.prompt}`);
  }
  const finish = v.finish_reason ?? "eos";
  if (!(FINISH_REASONS as readonly unknown[]).includes(finish)) {
    throw new Error(
      `${where}: field "finish_reason": expected one of ${FINISH_REASONS.join(", ")}, got ${JSON.stringify(finish)}`,
    );
  }
  let tokens = v.completion_tokens;
  if (tokens !== undefined && !(Number.isInteger(tokens) && (tokens as number) >= 0)) {
    throw new Error(`${where}: field "completion_tokens": expected an integer >= 0, got ${JSON.stringify(tokens)}`);
  }
  if (tokens === undefined && count) tokens = count(row.text);
  if (tokens === undefined && needTokens) {
    throw new Error(
      `${where}: the spec uses "overlong", which needs the completion's length in tokens: add a "completion_tokens" field or pass --tokenizer DIR`,
    );
  }
  return {
    record: row.record,
    prompt: typeof v.prompt === "string" ? v.prompt : prompt(row.record.question),
    completion: row.text,
    finishReason: finish as RewardInput["finishReason"],
    completionTokens: (tokens as number | undefined) ?? 0,
  };
}

export function registerReward(program: Command): void {
  const d = DEFAULT_REWARD_OPTIONS;
  program
    .command("reward")
    .description(
      "Score completions given in a file with RL reward functions (src/rl/rewards.ts), before training on them",
    )
    .requiredOption("--reward <spec>", 'named reward functions with weights, e.g. "correct:1,format:0.1"')
    .requiredOption("--data <file>", "CoT records (jsonl, json, csv or parquet) with a `completion` field")
    .requiredOption("--out <file>", "write each row plus `reward` and `rewards` here (JSONL)")
    .option("--format <f>", `format of --data rows: ${COT_FORMATS.join(", ")}`, "cot")
    .option("--tokenizer <dir>", "count completion tokens with this model folder's tokenizer (for overlong)")
    .option("--max-new-tokens <n>", "overlong: the generation budget L_max", String(d.maxNewTokens))
    .option("--overlong-buffer <n>", "overlong: the soft band L_cache before L_max", String(d.overlongBuffer))
    .option("--ngram <n>", "repetition: n-gram size", String(d.ngram))
    .option("--json", "print the summary as one JSON line on stdout")
    .action(async (flags: RewardFlags) => {
      if (!(COT_FORMATS as readonly string[]).includes(flags.format)) {
        throw new Error(`reward: --format must be one of ${COT_FORMATS.join(", ")}, got "${flags.format}"`);
      }
      const terms = parseRewardSpec(flags.reward, "reward: --reward");
      const opts: RewardOptions = {
        maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
        overlongBuffer: parseIntFlag("--overlong-buffer", flags.overlongBuffer, 1),
        ngram: parseIntFlag("--ngram", flags.ngram, 1),
      };
      const rows = await readRecordsWith(
        flags.data,
        flags.format as (typeof COT_FORMATS)[number],
        { field: "completion", what: "the completion to score" },
        "reward",
      );
      if (rows.length === 0) throw new Error(`reward: ${flags.data} has no rows`);
      const tokenizer = flags.tokenizer ? await Tokenizer.fromDir(flags.tokenizer) : null;
      const count = tokenizer ? (text: string) => tokenizer.encode(text, { addSpecialTokens: false }).length : null;
      // The prompt `stepwise rl` rolls out from (grpo.ts): zero-shot, step by step.
      const build = promptBuilder({ kind: "zero-cot", shots: 0 });
      const needTokens = terms.some((t) => t.name === "overlong");
      const inputs = rows.map((r) => inputOf(r, (q) => build(q).prompt, count, needTokens));
      const scored = await scoreRewards(terms, inputs, opts);
      await writeJsonlAtomic(
        flags.out,
        rows.map((r, i) => ({
          ...(r.row as Record<string, unknown>),
          reward: scored.totals[i],
          rewards: Object.fromEntries(terms.map((t) => [t.name, scored.byName[t.name]![i]])),
        })),
      );
      const summary: RewardSummary = {
        n: rows.length,
        reward: rewardStats(scored.totals)!,
        rewards: Object.fromEntries(
          terms.map((t) => {
            const values = scored.byName[t.name]!;
            const s = rewardStats(values);
            const applied = values.filter((v) => v !== null).length;
            return [t.name, { weight: t.weight, mean: s?.mean ?? null, std: s?.std ?? null, applied }];
          }),
        ),
      };
      const f = (x: number | null) => (x === null ? "-" : x.toFixed(4));
      const lines = [
        `reward: ${rows.length} completions from ${flags.data} -> ${flags.out}`,
        `  ${"function".padEnd(18)} ${"weight".padStart(7)} ${"mean".padStart(8)} ${"std".padStart(8)} ${"applied".padStart(8)}`,
        ...Object.entries(summary.rewards).map(
          ([name, s]) =>
            `  ${name.padEnd(18)} ${String(s.weight).padStart(7)} ${f(s.mean).padStart(8)} ${f(s.std).padStart(8)} ${String(s.applied).padStart(8)}`,
        ),
        `  ${"total".padEnd(18)} ${"".padStart(7)} ${f(summary.reward.mean).padStart(8)} ${f(summary.reward.std).padStart(8)} ${String(rows.length).padStart(8)}`,
      ];
      process.stderr.write(`${lines.join("\n")}\n`);
      if (flags.json) console.log(JSON.stringify(summary));
    });
}
