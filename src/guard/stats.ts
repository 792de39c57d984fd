/**
 * Per-rollout statistics of the completions' text that the monitors (monitors.ts) watch, added to
 * each metrics row by the RL loop. Rates over the N·G completions of one rollout:
 *
 *   completions/repetition_rate   share whose word 3-grams are mostly repeats: distinct / all < 0.5
 *                                 (the same ratio as rewards.ts `repetition`; shorter than 3 words: not repetitive)
 *   completions/multi_answer_rate share with more than one answer line ("#### …"), or one answer line
 *                                 holding several candidates ("#### 3, 4 or 5": two or more separate values)
 *   completions/format_rate       share the `format` reward accepts (one answer line, and it is the last)
 *   completions/correct_rate      share the strict `correct` reward accepts
 *
 * The format and correct rates are computed here whatever the reward spec says, so that
 * "format rising while correctness stays flat" can be watched under any reward.
 */
import { ANSWER_PREFIX } from "../data/tasks/index.ts";
import { DEFAULT_REWARD_OPTIONS, REWARDS, type RewardInput } from "../rl/rewards.ts";

/** distinct n-grams / n-grams below this: repetitive. */
export const REPETITIVE_BELOW = 0.5;

const answerLinesOf = (text: string) => text.split("\n").filter((l) => l.trim().startsWith(ANSWER_PREFIX.trim()));

/** Several answers: two or more answer lines, or one whose value lists candidates (commas, "or", "/", ";"). */
export function hasMultipleAnswers(completion: string): boolean {
  const lines = answerLinesOf(completion);
  if (lines.length > 1) return true;
  if (lines.length === 0) return false;
  const value = lines[0]!.trim().slice(ANSWER_PREFIX.trim().length).trim();
  const parts = value
    .split(/\s*(?:,|;|\/|\bor\b|\band\b)\s*/i)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return parts.length > 1;
}

/** True when most word 3-grams of the completion repeat (see the header). */
export function isRepetitive(completion: string, n = 3): boolean {
  const words = completion.split(/\s+/).filter((w) => w !== "");
  if (words.length < n) return false;
  const total = words.length - n + 1;
  const grams = new Set<string>();
  for (let i = 0; i < total; i++) grams.add(words.slice(i, i + n).join(" "));
  return grams.size / total < REPETITIVE_BELOW;
}

/** The four rates of the header over one rollout's completions. */
export function completionStats(batch: readonly RewardInput[]): Record<string, number> {
  const n = Math.max(batch.length, 1);
  const share = (xs: readonly (number | null | boolean)[]) => xs.filter((x) => x === 1 || x === true).length / n;
  return {
    "completions/repetition_rate": share(batch.map((b) => isRepetitive(b.completion))),
    "completions/multi_answer_rate": share(batch.map((b) => hasMultipleAnswers(b.completion))),
    "completions/format_rate": share(REWARDS.format(DEFAULT_REWARD_OPTIONS)(batch)),
    "completions/correct_rate": share(REWARDS.correct(DEFAULT_REWARD_OPTIONS)(batch)),
  };
}
