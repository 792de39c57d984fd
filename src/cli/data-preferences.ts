/**
 * `stepwise data preferences`: preference pairs (TRL's prompt/chosen/rejected) or step-labelled
 * chains (TRL's prompt/completions/labels) as JSONL, two ways:
 *
 *   from the generators   --task T[,T] --n N --seed S --split train|test
 *                         [--corruptions K,K | --hold-out K] [--exclude FILE] [--layout pairs|steps]
 *                         [--options JSON]
 *       the gold chain against a checker-rejected corruption (src/prefs/pairs.ts), or, with
 *       --layout steps, the gold chain and a corruption with per-step labels (src/prefs/steps.ts);
 *       --exclude drops problems whose canonical form appears in FILE's meta.canonical (records
 *       or pairs), for a validation set of train-split problems the training pairs never use.
 *   on-policy             --from-eval DIR|examples.jsonl [--pairs-per-prompt P]
 *                         [--layout steps --records FILE]
 *       a model's own correct sample against an incorrect one, from `stepwise eval --samples K`,
 *       judged there by the answer module (src/prefs/onpolicy.ts); with --layout steps, every
 *       distinct sample labelled step by step by its task's checker, which reads the problems
 *       from --records (the file the eval read).
 *
 * The last stdout line is a JSON summary.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { type Command, Option } from "commander";
import { readRecords } from "../data/readers.ts";
import { generateDataset, isTaskName, type Split, TASK_NAMES, type TaskName } from "../data/tasks/index.ts";
import type { PreferencePair } from "../prefs/data.ts";
import { writePreferences } from "../prefs/data.ts";
import { onPolicyPairs, onPolicyStepRows, readSampledExamples } from "../prefs/onpolicy.ts";
import { CORRUPTIONS, type Corruption, generatorPairs } from "../prefs/pairs.ts";
import { generatorStepRows, type StepRow, writeStepRows } from "../prefs/steps.ts";
import { parseIntFlag } from "./args.ts";
import { readCoTRecords } from "./eval.ts";

interface PreferenceFlags {
  task?: string;
  n: string;
  seed: string;
  split: Split;
  corruptions?: string;
  holdOut?: string;
  exclude?: string;
  options?: string;
  layout: "pairs" | "steps";
  fromEval?: string;
  pairsPerPrompt: string;
  records?: string;
  stepLabels: "checker" | "outcome";
  out: string;
}

const WHO = "data preferences";

function parseList<T extends string>(flag: string, raw: string, known: readonly T[]): T[] {
  const names = raw.split(",").map((s) => s.trim());
  const bad = names.filter((s) => !(known as readonly string[]).includes(s));
  if (names.length === 0 || bad.length > 0)
    throw new Error(`${WHO}: ${flag} got unknown "${bad.join(",") || raw}"; choose from ${known.join(", ")}`);
  return names as T[];
}

/** The corruption kinds of --corruptions / --hold-out (default all). */
export function corruptionKinds(corruptions?: string, holdOut?: string): Corruption[] {
  if (corruptions !== undefined && holdOut !== undefined)
    throw new Error(`${WHO}: give --corruptions or --hold-out, not both`);
  if (corruptions !== undefined) return parseList("--corruptions", corruptions, CORRUPTIONS);
  if (holdOut !== undefined) {
    const out = parseList("--hold-out", holdOut, CORRUPTIONS);
    const kept = CORRUPTIONS.filter((k) => !out.includes(k));
    if (kept.length === 0) throw new Error(`${WHO}: --hold-out leaves no corruption kind`);
    return kept;
  }
  return [...CORRUPTIONS];
}

/** --options: difficulty options per task, as a config's data.generate.options. */
export function taskOptionsFlag(raw: string | undefined): Partial<Record<TaskName, Record<string, unknown>>> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${WHO}: --options is not JSON: ${raw}; expected e.g. '{"code-trace":{"maxLines":4}}'`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`${WHO}: --options must be a JSON object of task name -> options, got ${raw}`);
  for (const [task, o] of Object.entries(parsed)) {
    if (!isTaskName(task))
      throw new Error(`${WHO}: --options names unknown task "${task}"; choose from ${TASK_NAMES.join(", ")}`);
    if (typeof o !== "object" || o === null || Array.isArray(o))
      throw new Error(`${WHO}: --options.${task} must be an object of generator options`);
  }
  return parsed as Partial<Record<TaskName, Record<string, unknown>>>;
}

/** meta.canonical of every row of a JSONL file (records, pairs or step rows). */
async function canonicalsOf(path: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    const c = (r.value as { meta?: { canonical?: unknown } }).meta?.canonical;
    if (typeof c === "string") out.add(c);
  }
  if (out.size === 0) throw new Error(`${WHO}: --exclude ${path} has no row with meta.canonical`);
  return out;
}

export function registerDataPreferences(data: Command): Command {
  return data
    .command("preferences")
    .description(
      "Preference pairs (prompt/chosen/rejected) or step-labelled chains, from the generators or a model's samples",
    )
    .option("--task <names>", `generators: task or comma-separated tasks (${TASK_NAMES.join(", ")})`)
    .option("--n <n>", "generators: problems drawn", "100")
    .option("--seed <n>", "generators: seed of the problems and corruptions", "0")
    .addOption(new Option("--split <split>", "generators: problem split").choices(["train", "test"]).default("train"))
    .option("--corruptions <kinds>", `generators: corruption kinds to use (${CORRUPTIONS.join(", ")}; default all)`)
    .option("--hold-out <kinds>", "generators: corruption kinds to leave out (the rest are used)")
    .option("--exclude <file>", "generators: skip problems whose meta.canonical is in this JSONL file")
    .option("--options <json>", `generators: difficulty options per task, e.g. '{"code-trace":{"maxLines":4}}'`)
    .addOption(
      new Option("--layout <layout>", "pairs (TRL prompt/chosen/rejected) or steps (prompt/completions/labels)")
        .choices(["pairs", "steps"])
        .default("pairs"),
    )
    .option("--from-eval <path>", "on-policy: an `eval --samples K` output folder or its examples.jsonl")
    .option("--pairs-per-prompt <n>", "on-policy: at most this many pairs per prompt", "1")
    .option("--records <file>", "on-policy steps: the data file the eval read (the problems the checker needs)")
    .addOption(
      new Option(
        "--step-labels <how>",
        "on-policy steps: checker (valid up to the first invalid step) or outcome (every step = is the answer right)",
      )
        .choices(["checker", "outcome"])
        .default("checker"),
    )
    .requiredOption("--out <file>", "output JSONL file (written atomically)")
    .action(async (flags: PreferenceFlags) => {
      if (flags.fromEval !== undefined) {
        if (flags.task !== undefined) throw new Error(`${WHO}: --from-eval reads a model's samples; leave out --task`);
        const file = (await stat(flags.fromEval)).isDirectory()
          ? join(flags.fromEval, "examples.jsonl")
          : flags.fromEval;
        if (flags.layout === "steps") {
          if (flags.records === undefined)
            throw new Error(
              `${WHO}: --from-eval with --layout steps needs --records FILE, the data file the eval read`,
            );
          const records = await readCoTRecords(flags.records);
          const { rows, stats } = onPolicyStepRows(await readSampledExamples(file), records, flags.stepLabels);
          await writeStepRows(flags.out, rows);
          console.log(
            JSON.stringify({
              source: "on-policy",
              layout: "steps",
              labels: flags.stepLabels,
              from: file,
              ...stats,
              out: flags.out,
            }),
          );
          return;
        }
        if (flags.records !== undefined) throw new Error(`${WHO}: --records goes with --from-eval --layout steps`);
        const per = parseIntFlag(`${WHO}: --pairs-per-prompt`, flags.pairsPerPrompt, 1);
        const { pairs, stats } = onPolicyPairs(await readSampledExamples(file), per);
        await writePreferences(flags.out, pairs);
        console.log(JSON.stringify({ source: "on-policy", from: file, ...stats, out: flags.out }));
        return;
      }
      if (flags.task === undefined) throw new Error(`${WHO}: give --task NAME[,NAME] (generators) or --from-eval DIR`);
      const tasks = parseList("--task", flags.task, TASK_NAMES) as TaskName[];
      if (!tasks.every(isTaskName)) throw new Error(`${WHO}: bad --task`);
      const kinds = corruptionKinds(flags.corruptions, flags.holdOut);
      const seed = parseIntFlag(`${WHO}: --seed`, flags.seed, 0, 2 ** 32 - 1);
      const n = parseIntFlag(`${WHO}: --n`, flags.n, 1);
      const options = taskOptionsFlag(flags.options);
      let records = generateDataset({ tasks, n, seed, split: flags.split, options });
      let excluded = 0;
      if (flags.exclude !== undefined) {
        const skip = await canonicalsOf(flags.exclude);
        const before = records.length;
        records = records.filter((r) => !skip.has(String(r.meta?.canonical)));
        excluded = before - records.length;
      }
      const rows: (PreferencePair | StepRow)[] =
        flags.layout === "steps"
          ? generatorStepRows(records, { kinds, seed })
          : generatorPairs(records, { kinds, seed });
      if (flags.layout === "steps") await writeStepRows(flags.out, rows as StepRow[]);
      else await writePreferences(flags.out, rows as PreferencePair[]);
      const byKind: Record<string, number> = {};
      for (const r of rows) {
        const k = String(r.meta?.corruption);
        byKind[k] = (byKind[k] ?? 0) + 1;
      }
      console.log(
        JSON.stringify({
          source: "generators",
          layout: flags.layout,
          problems: records.length,
          excluded,
          rows: rows.length,
          split: flags.split,
          seed,
          corruptions: byKind,
          out: flags.out,
        }),
      );
    });
}
