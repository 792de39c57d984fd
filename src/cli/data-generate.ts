/**
 * `stepwise data generate --task NAME[,NAME] --n N --seed S --split train|test [--out FILE]`:
 * write N generated, verifiable chain-of-thought records (src/data/tasks/) as JSONL.
 * Train and test share no problem (the split is a hash of each problem's canonical form).
 * Every gold chain is re-checked by its task's step checker before it is written.
 * The last stdout line is a JSON summary.
 */
import { type Command, Option } from "commander";
import {
  datasetRecord,
  generateProblems,
  isTaskName,
  type Split,
  TASK_NAMES,
  TASKS,
  type TaskName,
  type WordingChoice,
} from "../data/tasks/index.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";

interface GenerateFlags {
  task: string;
  n: string;
  seed: string;
  split: Split;
  testFraction: string;
  wordings: WordingChoice;
  out?: string;
}

function parseTasks(raw: string): TaskName[] {
  const names = raw.split(",").map((s) => s.trim());
  const bad = names.filter((s) => !isTaskName(s));
  if (names.length === 0 || bad.length > 0) {
    throw new Error(
      `data generate: --task got unknown "${bad.join(",") || raw}"; choose from ${TASK_NAMES.join(", ")}`,
    );
  }
  return names as TaskName[];
}

export function registerDataGenerate(data: Command): Command {
  return data
    .command("generate")
    .description("Generate verifiable chain-of-thought problems (gold chains checked step by step)")
    .requiredOption("--task <names>", `task or comma-separated tasks: ${TASK_NAMES.join(", ")}`)
    .option("--n <n>", "number of records", "100")
    .option("--seed <n>", "random seed", "0")
    .addOption(new Option("--split <split>", "held-out split to draw from").choices(["train", "test"]).default("train"))
    .option("--test-fraction <x>", "share of the problem space held out as test", "0.2")
    .addOption(
      new Option("--wordings <which>", "question wordings: the generator's own, or the train / held-out wording pool")
        .choices(["default", "train", "heldout"])
        .default("default"),
    )
    .option("--out <file>", "output JSONL file (written atomically); stdout when omitted")
    .action(async (flags: GenerateFlags) => {
      const tasks = parseTasks(flags.task);
      const opts = {
        tasks,
        n: parseIntFlag("data generate: --n", flags.n, 1),
        seed: parseIntFlag("data generate: --seed", flags.seed, 0, 2 ** 32 - 1),
        split: flags.split,
        testFraction: parseNumberFlag("data generate: --test-fraction", flags.testFraction, 0.0001, 0.9999),
        wordings: flags.wordings,
      };
      const problems = generateProblems(opts);
      const records = problems.map((p, i) => {
        const verdict = TASKS[p.task as TaskName].checkSteps(p, p.steps);
        if (!verdict.valid) {
          throw new Error(
            `data generate: gold chain of ${p.task} problem ${i} fails its checker: ${verdict.reasons[0]}`,
          );
        }
        return datasetRecord(p, opts, i);
      });
      if (flags.out === undefined) for (const r of records) process.stdout.write(JSON.stringify(r) + "\n");
      else await writeJsonlAtomic(flags.out, records);
      const counts = Object.fromEntries(tasks.map((t) => [t, problems.filter((p) => p.task === t).length]));
      const summary = { n: records.length, split: opts.split, seed: opts.seed, tasks: counts, out: flags.out ?? null };
      (flags.out === undefined ? process.stderr : process.stdout).write(JSON.stringify(summary) + "\n");
    });
}
