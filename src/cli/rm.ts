import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { readRecords } from "../data/readers.ts";
import { initEngine } from "../engine/device.ts";
import { loadRmConfig } from "../prefs/config.ts";
import { type PreferencePair, readPreferences } from "../prefs/data.ts";
import { predictedFirstError, processScorer } from "../prefs/process-model.ts";
import { type RewardKind, rewardKindOf, rewardScorer } from "../prefs/reward-model.ts";
import { runRewardModel } from "../prefs/rm-train.ts";
import { firstError, isStepRow, readStepRows, type StepRow } from "../prefs/steps.ts";

interface RmFlags {
  config?: string;
  set: string[];
  resume?: boolean;
  overwrite?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

async function folderKind(dir: string): Promise<RewardKind> {
  const path = join(dir, "config.json");
  let hf: Record<string, unknown>;
  try {
    hf = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`rm eval: cannot read ${path}: ${(err as Error).message}`);
  }
  return rewardKindOf(hf);
}

/** Whether the file's first row is a step-labelled chain rather than a pair. */
async function holdsStepRows(path: string): Promise<boolean> {
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    return isStepRow(r.value);
  }
  throw new Error(`rm eval: ${path} has no rows`);
}

type Tally = Map<string, { n: number; right: number }>;
function count(groups: Tally, keys: unknown[], win: number): void {
  for (const key of keys.filter((k) => typeof k === "string") as string[]) {
    const g = groups.get(key) ?? { n: 0, right: 0 };
    g.n++;
    g.right += win;
    groups.set(key, g);
  }
}
function printTally(title: string, groups: Tally): void {
  if (groups.size === 0) return;
  console.log(title);
  for (const [key, g] of [...groups].sort()) {
    console.log(`  ${key.padEnd(12)} ${(100 * (g.right / g.n)).toFixed(1).padStart(5)}%  of ${g.n}`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(xs.length, 1);
/** A chain's score under a process model: the minimum step probability (1 for a chain with no step). */
const minOf = (ps: number[]) => (ps.length === 0 ? 1 : Math.min(...ps));

/** Pairwise accuracy [score(chosen) > score(rejected)]: outcome rewards, or a process model's min over steps. */
async function evalPairs(dir: string, kind: RewardKind, pairs: PreferencePair[], batch: number) {
  const prompts = pairs.map((p) => p.prompt);
  let chosen: number[];
  let rejected: number[];
  if (kind === "process") {
    const scorer = await processScorer(dir, { batch });
    try {
      chosen = (
        await scorer.scoreSteps(
          prompts,
          pairs.map((p) => p.chosen),
        )
      ).map(minOf);
      rejected = (
        await scorer.scoreSteps(
          prompts,
          pairs.map((p) => p.rejected),
        )
      ).map(minOf);
    } finally {
      scorer.dispose();
    }
  } else {
    const scorer = await rewardScorer(dir, { batch });
    try {
      chosen = await scorer.score(
        prompts,
        pairs.map((p) => p.chosen),
      );
      rejected = await scorer.score(
        prompts,
        pairs.map((p) => p.rejected),
      );
    } finally {
      scorer.dispose();
    }
  }
  const groups: Tally = new Map();
  let right = 0;
  pairs.forEach((p, i) => {
    const win = chosen[i]! > rejected[i]! ? 1 : 0;
    right += win;
    count(groups, [p.meta?.task, p.meta?.corruption], win);
  });
  printTally("pairwise accuracy by task / corruption", groups);
  return {
    pairwise_accuracy: right / Math.max(pairs.length, 1),
    first_error_accuracy: null,
    n: pairs.length,
    kind,
    mean_reward_chosen: mean(chosen),
    mean_reward_rejected: mean(rejected),
  };
}

/**
 * First-error localisation on step-labelled chains: a corrupted chain (some label false) is
 * located when the first step the model scores below the threshold (default 0.5) is the first false label. Clean
 * chains count in clean_accuracy (no step below the threshold). Pairwise accuracy pairs each clean chain
 * with the corrupted chains of the same prompt, scored by the minimum step probability.
 */
async function evalStepRows(dir: string, rows: StepRow[], batch: number, threshold: number) {
  const scorer = await processScorer(dir, { batch });
  let probs: number[][];
  try {
    probs = await scorer.scoreStepLists(
      rows.map((r) => r.prompt),
      rows.map((r) => r.completions),
    );
  } finally {
    scorer.dispose();
  }
  const located: Tally = new Map();
  let corrupted = 0;
  let hits = 0;
  let clean = 0;
  let cleanRight = 0;
  let steps = 0;
  let stepsRight = 0;
  const byPrompt = new Map<string, { clean: number[]; bad: number[] }>();
  rows.forEach((r, i) => {
    const gold = firstError(r.labels);
    const pred = predictedFirstError(probs[i]!, threshold);
    r.labels.forEach((l, k) => {
      steps++;
      stepsRight += probs[i]![k]! >= threshold === l ? 1 : 0;
    });
    const g = byPrompt.get(r.prompt) ?? { clean: [], bad: [] };
    byPrompt.set(r.prompt, g);
    if (gold === null) {
      clean++;
      cleanRight += pred === null ? 1 : 0;
      g.clean.push(minOf(probs[i]!));
      return;
    }
    corrupted++;
    const win = pred === gold ? 1 : 0;
    hits += win;
    g.bad.push(minOf(probs[i]!));
    count(located, [r.meta?.task, r.meta?.corruption], win);
  });
  let pairs = 0;
  let pairsRight = 0;
  for (const g of byPrompt.values()) {
    for (const c of g.clean) {
      for (const b of g.bad) {
        pairs++;
        pairsRight += c > b ? 1 : 0;
      }
    }
  }
  printTally("first invalid step located, by task / corruption", located);
  // The same measure at other thresholds, to choose one on validation chains (not on the test set).
  const sweep: Record<string, number> = {};
  for (const t of [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) {
    let h = 0;
    rows.forEach((r, i) => {
      const gold = firstError(r.labels);
      if (gold !== null && predictedFirstError(probs[i]!, t) === gold) h++;
    });
    sweep[t.toFixed(1)] = corrupted > 0 ? h / corrupted : 0;
  }
  return {
    pairwise_accuracy: pairs > 0 ? pairsRight / pairs : null,
    first_error_accuracy: corrupted > 0 ? hits / corrupted : null,
    n: rows.length,
    kind: "process",
    corrupted_chains: corrupted,
    clean_chains: clean,
    clean_accuracy: clean > 0 ? cleanRight / clean : null,
    step_accuracy: steps > 0 ? stepsRight / steps : null,
    pairs,
    threshold,
    first_error_accuracy_by_threshold: sweep,
  };
}

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
    .description(
      "Pairwise accuracy of a reward model on pairs, or first-error localisation of a process model on step-labelled chains; the last line is a JSON summary",
    )
    .requiredOption("--model <dir>", "reward-model folder (final/ of a `stepwise rm` run)")
    .requiredOption(
      "--data <file>",
      "preference pairs {prompt, chosen, rejected} or step-labelled chains {prompt, completions, labels} (.jsonl/.json/.csv/.parquet)",
    )
    .option("--batch <n>", "rows per compiled call", (v: string) => Number.parseInt(v, 10), 16)
    .option(
      "--threshold <p>",
      "step chains: a step is called invalid when its probability is below p",
      (v: string) => Number.parseFloat(v),
      0.5,
    )
    .action(async (flags: { model: string; data: string; batch: number; threshold: number }) => {
      if (!(flags.threshold > 0 && flags.threshold < 1))
        throw new Error(`rm eval: --threshold must be in (0, 1), got ${flags.threshold}`);
      if (!(Number.isInteger(flags.batch) && flags.batch > 0))
        throw new Error("rm eval: --batch must be a positive integer");
      await initEngine();
      const kind = await folderKind(flags.model);
      const steps = await holdsStepRows(flags.data);
      if (steps && kind !== "process") {
        throw new Error(
          `rm eval: ${flags.data} holds step-labelled chains (completions/labels); first-error localisation needs a process reward model (kind: process), and ${flags.model} is an outcome one`,
        );
      }
      const summary = steps
        ? await evalStepRows(flags.model, await readStepRows(flags.data), flags.batch, flags.threshold)
        : await evalPairs(flags.model, kind, await readPreferences(flags.data), flags.batch);
      console.log(JSON.stringify(summary));
    });
}
