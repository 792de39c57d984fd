import type { Command } from "commander";
import { dashboardHint } from "../dashboard/hint.ts";
import { ADAPTERS, SOURCE_FORMATS, type SourceFormat } from "../data/adapters.ts";
import { formatLocation, type Location } from "../data/errors.ts";
import { STEP_BY_STEP_TRIGGER } from "../data/format.ts";
import { readRecords } from "../data/readers.ts";
import type { CoTRecord } from "../data/records.ts";
import { generateProblems, isTaskName, TASK_NAMES, type TaskName } from "../data/tasks/index.ts";
import type { Problem } from "../data/tasks/types.ts";
import { toRecord } from "../data/tasks/types.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import { compareRuns, comparisonTable } from "../eval/compare.ts";
import { EVAL_MODES, type EvalMode, PROMPTING_KINDS, type PromptingKind } from "../eval/prompting.ts";
import { reportTable, summarize, writeEvalOutputs } from "../eval/report.ts";
import { type EvaluateOptions, evaluate } from "../eval/run.ts";
import { scoreOutput } from "../eval/score.ts";
import { parseSelect, type Selection, selectionTable } from "../eval/select.ts";
import { evaluateWithSelection } from "../eval/select-run.ts";
import { loadModel } from "../model/checkpoint.ts";
import { releaseVerifiers } from "../prefs/verifier.ts";
import { OpenAIClient } from "../teacher/client.ts";
import { evaluateEndpoint } from "../teacher/endpoint-eval.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";

interface EvalFlags {
  model?: string;
  endpoint?: string;
  concurrency: string;
  apiKeyEnv: string;
  predictions?: string;
  data?: string;
  format: string;
  task?: string;
  n: string;
  seed: string;
  split: string;
  mode?: string;
  prompting?: string;
  shots: string;
  pool?: string;
  chat?: boolean;
  samples: string;
  select?: string;
  temperature?: string;
  topP: string;
  maxNewTokens: string;
  batch: string;
  out?: string;
  json?: boolean;
}

/** Data formats that become CoT records (the ones `eval --format` accepts). */
export const COT_FORMATS = SOURCE_FORMATS.filter((f) => ADAPTERS[f].kind === "cot");

function checkFormat(format: string): SourceFormat {
  if (!(COT_FORMATS as readonly string[]).includes(format)) {
    throw new Error(`eval: --format must be one of ${COT_FORMATS.join(", ")}, got "${format}"`);
  }
  return format as SourceFormat;
}

/** CoT records of a JSONL/JSON/CSV/Parquet file in `format` (read through the data adapters); errors name file:line. */
export async function readCoTRecords(path: string, format: SourceFormat = "cot"): Promise<CoTRecord[]> {
  return (await readRecordsWith(path, format)).map((r) => r.record);
}

/** Records with the `output` a model gave elsewhere (`--predictions`): the record's fields (in `format`) plus `output`. */
export async function readPredictions(
  path: string,
  format: SourceFormat = "cot",
): Promise<{ record: CoTRecord; output: string }[]> {
  return (await readRecordsWith(path, format, { field: "output", what: "the model's output" })).map((r) => ({
    record: r.record,
    output: r.text,
  }));
}

/** One row of `readRecordsWith`: the adapted record, the extra text field, the row as read and where. */
export interface RecordWithText {
  record: CoTRecord;
  text: string;
  row: unknown;
  loc: Location;
}

/**
 * Every row of `path` as a CoT record (in `format`) plus, with `extra`, the string field
 * `extra.field` (required; "" without `extra`). Errors name `command:` and file:line.
 */
export async function readRecordsWith(
  path: string,
  format: SourceFormat,
  extra?: { field: string; what: string },
  command = "eval",
): Promise<RecordWithText[]> {
  const adapter = ADAPTERS[format];
  const out: RecordWithText[] = [];
  for await (const r of readRecords(path)) {
    if (!r.ok) throw r.error;
    let record: CoTRecord;
    try {
      record = adapter.adapt(r.value, r.loc, {}) as CoTRecord;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const where = formatLocation(r.loc);
      throw new Error(
        `${command}: ${msg.includes(where) ? msg : `${where}: ${msg}`} (expected a ${format} row: ${adapter.description})`,
      );
    }
    const text = extra ? (r.value as Record<string, unknown> | null)?.[extra.field] : "";
    if (typeof text !== "string") {
      throw new Error(
        `${command}: ${formatLocation(r.loc)}: field "${extra!.field}": expected ${extra!.what} as a string, got ${text === undefined ? "no such field" : typeof text}`,
      );
    }
    out.push({ record, text, row: r.value, loc: r.loc });
  }
  return out;
}

/** The prompting kind from --mode (canonical) or the old --prompting alias; default cot. */
function promptingOf(flags: EvalFlags): PromptingKind {
  if (flags.mode !== undefined && flags.prompting !== undefined) {
    throw new Error("eval: give --mode (or its old alias --prompting), not both");
  }
  if (flags.mode !== undefined) {
    if (!Object.hasOwn(EVAL_MODES, flags.mode)) {
      throw new Error(`eval: --mode must be one of ${Object.keys(EVAL_MODES).join(", ")}, got "${flags.mode}"`);
    }
    return EVAL_MODES[flags.mode as EvalMode];
  }
  if (flags.prompting !== undefined) {
    if (!(PROMPTING_KINDS as readonly string[]).includes(flags.prompting)) {
      throw new Error(`eval: --prompting must be one of ${PROMPTING_KINDS.join(", ")}, got "${flags.prompting}"`);
    }
    return flags.prompting as PromptingKind;
  }
  return "zero-cot";
}

/**
 * `stepwise eval --model DIR (--data FILE --format F | --task NAME --n N --seed S) [--mode cot|direct|fewshot]
 *  [--shots K] [--samples K --temperature T [--select majority|rm:DIR|prm:DIR|weighted:DIR]] [--chat] [--max-new-tokens N] [--batch B] --out DIR [--json]`:
 * answer accuracy (strict and flexible extraction), step validity, BLEU/ROUGE of the chains against the
 * reference chains, and with --samples K > 1 maj@K and pass@K; writes examples.jsonl, summary.json and
 * summary.md. `stepwise eval --predictions FILE --format F --out DIR` scores outputs produced elsewhere the
 * same way. With --select, a greedy pass and K samples side by side, and the answer picked by majority,
 * best-of-K by a reward model, or a verifier-weighted majority (eval/select.ts, eval/select-run.ts).
 * `stepwise eval compare RUN_A RUN_B` compares two such folders (paired bootstrap).
 * Old aliases: --prompting zero|zero-cot|few-cot for --mode.
 */
export function registerEval(program: Command): void {
  const evalCmd = program
    .command("eval")
    .description(
      "Evaluate a model (or given predictions) on CoT records: accuracy (strict/flexible), step validity, " +
        "BLEU/ROUGE of chains, maj@k/pass@k; `eval compare A B` compares two runs",
    )
    // options after `compare` belong to compare, not to eval
    .enablePositionalOptions()
    .option("--model <dir>", "model folder (config.json, weights, tokenizer.json); with --endpoint, the served name")
    .option(
      "--endpoint <url>",
      "evaluate a model served elsewhere (OpenAI-compatible base URL, e.g. http://host:8000/v1)",
    )
    .option("--concurrency <n>", "with --endpoint: requests in flight at once", "8")
    .option("--api-key-env <var>", "with --endpoint: environment variable holding the API key", "OPENAI_API_KEY")
    .option("--predictions <file>", "score outputs produced elsewhere: records plus an `output` field (no --model)")
    .option("--data <file>", "records to evaluate on (jsonl, json, csv or parquet) in --format")
    .option("--format <f>", `format of --data / --predictions rows: ${COT_FORMATS.join(", ")}`, "cot")
    .option("--task <names>", `generate problems instead: comma-separated tasks of ${TASK_NAMES.join(", ")}`)
    .option("--n <n>", "problems to generate with --task", "200")
    .option("--seed <n>", "seed of the generated problems, the exemplar draw and sampling", "0")
    .option("--split <split>", "split of the generated problems: test or train", "test")
    .option("--mode <mode>", `prompting: cot (zero-shot + "${STEP_BY_STEP_TRIGGER}"), direct, fewshot (default cot)`)
    .option("--prompting <kind>", `old alias of --mode: ${PROMPTING_KINDS.join(", ")}`)
    .option("--shots <k>", "exemplars for --mode fewshot", "4")
    .option("--pool <file>", "exemplar pool for fewshot, in --format (default: the train split of --task, else --data)")
    .option("--chat", "render prompts with the tokenizer's chat template")
    .option("--samples <k>", "sampled chains per problem; k > 1 reports maj@k (self-consistency) and pass@k", "1")
    .option(
      "--select <how>",
      "with --samples K > 1: also run greedy and pick one answer of the K by majority, rm:DIR / prm:DIR[@min|@prod] " +
        "(best-of-K by a reward model; DIR1+DIR2 an ensemble) or weighted:DIR (verifier-weighted majority)",
    )
    .option("--temperature <t>", "sampling temperature (default 0.7 with --samples > 1, else greedy)")
    .option("--top-p <p>", "nucleus sampling mass", "1")
    .option("--max-new-tokens <n>", "tokens to generate at most per problem", "128")
    .option("--batch <n>", "prompts per generation batch", "16")
    .option("--out <dir>", "write examples.jsonl, summary.json and summary.md here")
    .option("--json", "print the summary as JSON instead of tables")
    .action(async (flags: EvalFlags, cmd: Command) => {
      if (cmd.args.length > 0) {
        throw new Error(`eval: unexpected argument "${cmd.args[0]}" (the only sub-command is "compare")`);
      }
      const format = checkFormat(flags.format);
      const selection: Selection | undefined = flags.select === undefined ? undefined : parseSelect(flags.select);
      if (selection && (flags.predictions !== undefined || flags.endpoint !== undefined)) {
        throw new Error("eval: --select runs a local --model (not --predictions or --endpoint)");
      }
      if (selection && parseIntFlag("--samples", flags.samples, 1) < 2) {
        throw new Error("eval: --select needs --samples K with K > 1 (the chains it chooses among)");
      }
      if (flags.predictions !== undefined) {
        if (flags.model !== undefined || flags.data !== undefined || flags.task !== undefined) {
          throw new Error("eval: --predictions scores given outputs; leave out --model, --data and --task");
        }
        const rows = await readPredictions(flags.predictions, format);
        if (rows.length === 0) throw new Error(`eval: ${flags.predictions} has no rows`);
        const examples = rows.map((row, index) => scoreOutput(row.record, row.output, { index }));
        const report = { ...summarize(examples), predictions: flags.predictions, format };
        const written = flags.out ? await writeEvalOutputs(flags.out, { report, examples }) : [];
        if (flags.json) console.log(JSON.stringify(report));
        else console.log(`${reportTable(report)}\n${written.length ? `eval: -> ${written.join(", ")}` : ""}`.trim());
        if (!flags.json && flags.out) console.log(dashboardHint(flags.out));
        return;
      }
      if (flags.model === undefined)
        throw new Error("eval: give --model DIR (or --predictions FILE, or --endpoint URL --model NAME)");
      if ((flags.data === undefined) === (flags.task === undefined)) {
        throw new Error("eval: give exactly one of --data FILE or --task NAME (with --n and --seed)");
      }
      const prompting = promptingOf(flags);
      if (flags.split !== "test" && flags.split !== "train") {
        throw new Error(`eval: --split must be test or train, got "${flags.split}"`);
      }
      const seed = parseIntFlag("--seed", flags.seed, 0);
      const samples = parseIntFlag("--samples", flags.samples, 1);
      const temperature =
        flags.temperature === undefined ? undefined : parseNumberFlag("--temperature", flags.temperature, 0);
      if (samples > 1 && temperature === 0) throw new Error("eval: --samples > 1 needs --temperature > 0");
      const topP = parseNumberFlag("--top-p", flags.topP, Number.MIN_VALUE, 1);
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
        records = await readCoTRecords(flags.data!, format);
        if (records.length === 0) throw new Error(`eval: ${flags.data} has no rows`);
      }
      if (flags.pool !== undefined) pool = await readCoTRecords(flags.pool, format);

      if (flags.endpoint !== undefined) {
        const key = process.env[flags.apiKeyEnv];
        const concurrency = parseIntFlag("--concurrency", flags.concurrency, 1);
        const client = new OpenAIClient({
          baseUrl: flags.endpoint,
          model: flags.model,
          concurrency,
          ...(key ? { apiKey: key } : {}),
        });
        const result = await evaluateEndpoint({
          client,
          records,
          ...(problems ? { problems } : {}),
          ...(pool ? { pool } : {}),
          prompting,
          shots: parseIntFlag("--shots", flags.shots, 0),
          seed,
          chat: flags.chat ?? false,
          samples,
          ...(temperature !== undefined ? { temperature } : {}),
          topP,
          maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
          concurrency,
        });
        const report = {
          ...result.report,
          endpoint: flags.endpoint,
          ...(flags.data ? { data: flags.data, format } : {}),
        };
        const written = flags.out ? await writeEvalOutputs(flags.out, { report, examples: result.examples }) : [];
        if (flags.json) console.log(JSON.stringify(report));
        else {
          console.log(reportTable(result.report));
          console.log(
            `eval: ${records.length} problems from ${flags.model} at ${flags.endpoint} in ${result.report.seconds.toFixed(2)} s` +
              (written.length ? ` -> ${written.join(", ")}` : ""),
          );
        }
        return;
      }

      await initEngine();
      const model = await loadModel(flags.model);
      const tokenizer = await Tokenizer.fromDir(flags.model);
      try {
        let lastDecile = -1;
        const common: EvaluateOptions = {
          model,
          tokenizer,
          records,
          ...(problems ? { problems } : {}),
          ...(pool ? { pool } : {}),
          prompting,
          shots: parseIntFlag("--shots", flags.shots, 0),
          seed,
          chat: flags.chat ?? false,
          samples,
          ...(temperature !== undefined ? { temperature } : {}),
          topP,
          maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
          batchSize: parseIntFlag("--batch", flags.batch, 1),
          onProgress: (done, total) => {
            if (flags.json) return;
            // One rewritten line on a terminal; a plain line per tenth of the run in logs and pipes.
            if (process.stderr.isTTY) {
              process.stderr.write(`\reval: ${done}/${total}${done === total ? "\n" : ""}`);
              return;
            }
            const decile = Math.floor((10 * done) / total);
            if (decile !== lastDecile) {
              lastDecile = decile;
              process.stderr.write(`eval: ${done}/${total}\n`);
            }
          },
        };
        if (selection) {
          const r = await evaluateWithSelection({
            ...common,
            samples,
            selection,
            onPhase: (phase) => {
              if (!flags.json) process.stderr.write(`eval: ${phase}\n`);
            },
          });
          const report = {
            ...r.selection,
            temperature: r.sampled.temperature,
            top_p: r.sampled.top_p,
            max_new_tokens: r.sampled.max_new_tokens,
            seconds_greedy: r.seconds.greedy,
            seconds_sampling: r.seconds.sampling,
            seconds_scoring: r.seconds.scoring,
            ...(flags.data !== undefined ? { data: flags.data, format } : {}),
          };
          // summary.json: the sampled run's report, with the selection report and the greedy run's beside it.
          const summary = { ...r.sampled, selection: report, greedy: r.greedy };
          const written = flags.out ? await writeEvalOutputs(flags.out, { report: summary, examples: r.examples }) : [];
          if (flags.json) console.log(JSON.stringify(report));
          else {
            console.log(selectionTable(r.selection));
            console.log(
              `eval: ${r.selection.n} problems, greedy ${r.seconds.greedy.toFixed(1)} s, ${samples} samples at T=${r.sampled.temperature} ` +
                `top-p ${r.sampled.top_p} ${r.seconds.sampling.toFixed(1)} s, verifier ${r.seconds.scoring.toFixed(1)} s` +
                (written.length ? ` -> ${written.join(", ")}` : ""),
            );
          }
          return;
        }
        const result = await evaluate(common);
        const report = { ...result.report, ...(flags.data !== undefined ? { data: flags.data, format } : {}) };
        const written = flags.out ? await writeEvalOutputs(flags.out, { report, examples: result.examples }) : [];
        const r = result.report;
        if (flags.json) {
          console.log(JSON.stringify(report));
        } else {
          console.log(reportTable(r));
          console.log(
            `eval: ${r.n} problems, ${prompting}${r.shots ? ` (${r.shots} shots)` : ""}${r.chat ? ", chat" : ""}` +
              `${samples > 1 ? `, ${samples} samples at T=${r.temperature}` : ""}, ` +
              `${r.new_tokens} new tokens in ${r.seconds.toFixed(2)} s (${r.tokens_per_s.toFixed(0)} tokens/s)` +
              (written.length ? ` -> ${written.join(", ")}` : ""),
          );
          if (flags.out) console.log(dashboardHint(flags.out));
        }
      } finally {
        disposeTree(model.params);
        await releaseVerifiers();
      }
    });

  evalCmd
    .command("compare")
    .description(
      "Per-metric difference B − A between two eval --out folders (matched by example id/question) " +
        "with a paired bootstrap 95% CI",
    )
    .argument("<runA>", "eval output folder A (examples.jsonl)")
    .argument("<runB>", "eval output folder B")
    .option("--resamples <n>", "bootstrap resamples", "1000")
    .option("--seed <n>", "seed of the bootstrap", "0")
    .option("--json", "print the comparison as JSON")
    .action(
      async (runA: string, runB: string, flags: { resamples: string; seed: string; json?: boolean }, cmd: Command) => {
        // Unless the root program has positional options, `eval` itself parses --json and --seed
        // wherever they stand (they are eval options too): take them from there when given.
        const parent = cmd.parent;
        const given = (name: string): unknown =>
          parent?.getOptionValueSource(name) === "cli" ? parent.getOptionValue(name) : undefined;
        const seed =
          cmd.getOptionValueSource("seed") === "cli" ? flags.seed : ((given("seed") as string) ?? flags.seed);
        const json = flags.json ?? (given("json") as boolean | undefined) ?? false;
        const c = await compareRuns(runA, runB, {
          resamples: parseIntFlag("--resamples", flags.resamples, 1),
          seed: parseIntFlag("--seed", seed, 0),
        });
        console.log(json ? JSON.stringify(c) : `${comparisonTable(c)}\n\nmethod: ${c.method}`);
      },
    );
}
