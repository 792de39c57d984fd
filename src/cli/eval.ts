import type { Command } from "commander";
import { formatLocation } from "../data/errors.ts";
import { readRecords } from "../data/readers.ts";
import { type CoTRecord, CoTRecordSchema } from "../data/records.ts";
import { generateProblems, isTaskName, TASK_NAMES, type TaskName } from "../data/tasks/index.ts";
import type { Problem } from "../data/tasks/types.ts";
import { toRecord } from "../data/tasks/types.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import { PROMPTING_KINDS, type PromptingKind } from "../eval/prompting.ts";
import { evaluate, reportTable, scoreOutput, summarize, writeEvalOutputs } from "../eval/run.ts";
import { loadModel } from "../model/checkpoint.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag } from "./args.ts";

interface EvalFlags {
  model?: string;
  predictions?: string;
  data?: string;
  task?: string;
  n: string;
  seed: string;
  split: string;
  prompting: string;
  shots: string;
  pool?: string;
  chat?: boolean;
  maxNewTokens: string;
  batch: string;
  out?: string;
  json?: boolean;
}

/** CoT records of a JSONL/JSON/CSV/Parquet file, validated; errors name the file and line. */
export async function readCoTRecords(path: string): Promise<CoTRecord[]> {
  return (await readRows(path, false)).map((r) => r.record);
}

/** Records with the `output` a model gave elsewhere (`--predictions`): the record's fields plus `output`. */
export async function readPredictions(path: string): Promise<{ record: CoTRecord; output: string }[]> {
  return readRows(path, true);
}

async function readRows(path: string, withOutput: boolean): Promise<{ record: CoTRecord; output: string }[]> {
  const out: { record: CoTRecord; output: string }[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    const parsed = CoTRecordSchema.safeParse(r.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(
        `eval: ${formatLocation(r.loc)}: field "${issue.path.join(".")}": ${issue.message} ` +
          "(expected a CoT record {question, chain_of_thought, answer, meta?})",
      );
    }
    const output = (r.value as { output?: unknown }).output;
    if (withOutput && typeof output !== "string") {
      throw new Error(`eval: ${formatLocation(r.loc)}: field "output": expected the model's output as a string`);
    }
    out.push({ record: parsed.data, output: typeof output === "string" ? output : "" });
  }
  return out;
}

/**
 * `stepwise eval --model DIR (--data FILE | --task NAME --n N --seed S) [--prompting zero|zero-cot|few-cot]
 *  [--shots K] [--chat] [--max-new-tokens N] [--batch B] [--out DIR] [--json]`: accuracy (strict and
 * flexible extraction) and step validity of a model's chains; writes summary.json, samples.jsonl and
 * summary.md. `stepwise eval --predictions FILE [--out DIR]` scores outputs produced elsewhere the same way.
 */
export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("Evaluate a model folder on CoT records: answer accuracy (strict/flexible) and step validity")
    .option("--model <dir>", "model folder (config.json, weights, tokenizer.json)")
    .option("--predictions <file>", "score outputs produced elsewhere: records plus an `output` field (no --model)")
    .option("--data <file>", "CoT records (jsonl, json, csv or parquet): {question, chain_of_thought, answer, meta?}")
    .option("--task <names>", `generate problems instead: comma-separated tasks of ${TASK_NAMES.join(", ")}`)
    .option("--n <n>", "problems to generate with --task", "200")
    .option("--seed <n>", "seed of the generated problems and of the exemplar draw", "0")
    .option("--split <split>", "split of the generated problems: test or train", "test")
    .option("--prompting <kind>", `prompting: ${PROMPTING_KINDS.join(", ")}`, "zero-cot")
    .option("--shots <k>", "exemplars for few-cot", "4")
    .option("--pool <file>", "exemplar pool for few-cot (default: the train split of --task, else --data itself)")
    .option("--chat", "render prompts with the tokenizer's chat template")
    .option("--max-new-tokens <n>", "tokens to generate at most per problem", "128")
    .option("--batch <n>", "prompts per generation batch", "16")
    .option("--out <dir>", "write summary.json, samples.jsonl and summary.md here")
    .option("--json", "print the report as JSON instead of a table")
    .action(async (flags: EvalFlags) => {
      if (flags.predictions !== undefined) {
        if (flags.model !== undefined || flags.data !== undefined || flags.task !== undefined) {
          throw new Error("eval: --predictions scores given outputs; leave out --model, --data and --task");
        }
        const rows = await readPredictions(flags.predictions);
        const samples = rows.map((row, index) => scoreOutput(row.record, row.output, { index }));
        const report = { ...summarize(samples), predictions: flags.predictions };
        const written = flags.out ? await writeEvalOutputs(flags.out, { report, samples }) : [];
        if (flags.json) console.log(JSON.stringify(report));
        else console.log(`${reportTable(report)}\n${written.length ? `eval: -> ${written.join(", ")}` : ""}`.trim());
        return;
      }
      if (flags.model === undefined) throw new Error("eval: give --model DIR (or --predictions FILE)");
      if ((flags.data === undefined) === (flags.task === undefined)) {
        throw new Error("eval: give exactly one of --data FILE or --task NAME (with --n and --seed)");
      }
      if (!(PROMPTING_KINDS as readonly string[]).includes(flags.prompting)) {
        throw new Error(`eval: --prompting must be one of ${PROMPTING_KINDS.join(", ")}, got "${flags.prompting}"`);
      }
      if (flags.split !== "test" && flags.split !== "train") {
        throw new Error(`eval: --split must be test or train, got "${flags.split}"`);
      }
      const prompting = flags.prompting as PromptingKind;
      const seed = parseIntFlag("--seed", flags.seed, 0);
      let records: CoTRecord[];
      let problems: Problem[] | undefined;
      let pool: CoTRecord[] | undefined;
      if (flags.task !== undefined) {
        const tasks = flags.task.split(",").map((t) => t.trim());
        const unknown = tasks.find((t) => !isTaskName(t));
        if (unknown !== undefined) throw new Error(`eval: unknown task "${unknown}"; known: ${TASK_NAMES.join(", ")}`);
        const n = parseIntFlag("--n", flags.n, 1);
        problems = generateProblems({ tasks: tasks as TaskName[], n, seed, split: flags.split });
        records = problems.map(toRecord);
        if (prompting === "few-cot" && flags.pool === undefined) {
          const k = parseIntFlag("--shots", flags.shots, 0);
          const other = flags.split === "test" ? "train" : "test";
          pool = generateProblems({ tasks: tasks as TaskName[], n: Math.max(k + 1, 16), seed, split: other }).map(
            toRecord,
          );
        }
      } else {
        records = await readCoTRecords(flags.data!);
      }
      if (flags.pool !== undefined) pool = await readCoTRecords(flags.pool);

      await initEngine();
      const model = await loadModel(flags.model);
      const tokenizer = await Tokenizer.fromDir(flags.model);
      try {
        const result = await evaluate({
          model,
          tokenizer,
          records,
          ...(problems ? { problems } : {}),
          ...(pool ? { pool } : {}),
          prompting,
          shots: parseIntFlag("--shots", flags.shots, 0),
          seed,
          chat: flags.chat ?? false,
          maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
          batchSize: parseIntFlag("--batch", flags.batch, 1),
          onProgress: (done, total) => {
            if (!flags.json) process.stderr.write(`\reval: ${done}/${total}`);
          },
        });
        if (!flags.json) process.stderr.write("\n");
        const written = flags.out ? await writeEvalOutputs(flags.out, result) : [];
        const r = result.report;
        if (flags.json) {
          console.log(JSON.stringify(r));
        } else {
          console.log(reportTable(r));
          console.log(
            `eval: ${r.n} problems, ${prompting}${r.shots ? ` (${r.shots} shots)` : ""}${r.chat ? ", chat" : ""}, ` +
              `${r.new_tokens} new tokens in ${r.seconds.toFixed(2)} s (${r.tokens_per_s.toFixed(0)} tokens/s)` +
              (written.length ? ` -> ${written.join(", ")}` : ""),
          );
        }
      } finally {
        disposeTree(model.params);
      }
    });
}
