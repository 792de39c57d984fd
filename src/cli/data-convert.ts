/**
 * `stepwise data convert INPUT --from FORMAT --to KIND [--out FILE] [--skip-invalid]`:
 * read a file in any supported layout (JSONL, JSON array, CSV, Parquet), adapt each row to
 * the target record kind and write JSONL. The output is written atomically, so a failed
 * conversion never leaves a half-written file. The last stdout line is a JSON summary.
 *
 * The conversational layout is named `messages` (`--from messages`, `--to messages`);
 * `conversation` is accepted as a synonym.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  FORMAT_NAMES,
  formatName,
  NAME_SYNONYMS,
  recordKindOf,
  type SourceFormat,
  sourceFormatOf,
} from "../data/adapters.ts";
import { checkConversion, convertRows, emptyStats, formatSkipped } from "../data/convert.ts";
import { INPUT_FORMATS, type InputFormat, readRecords } from "../data/readers.ts";
import type { RecordKind } from "../data/records.ts";
import { writeJsonlAtomic } from "../data/writers.ts";

/** Kinds `--to` offers, by their canonical names. */
const TARGETS = ["cot", "instruction", "prompt-completion", "messages", "preference"] as const;

const synonymsNote = NAME_SYNONYMS.map(([syn, name]) => `${syn} = ${name}`).join(", ");

/** `--from` / `--format`: a source format by its canonical name or a synonym, parsed to the registry key. */
export function formatOption(flags: string, what: string): Option {
  return new Option(flags, `${what}: ${FORMAT_NAMES.join(", ")} (synonym: ${synonymsNote})`)
    .argParser((name: string): SourceFormat => {
      const f = sourceFormatOf(name);
      if (f === undefined) throw new InvalidArgumentError(`Allowed: ${FORMAT_NAMES.join(", ")}.`);
      return f;
    })
    .makeOptionMandatory();
}

/** `--to`: a record kind from `TARGETS` or a synonym, parsed to the record kind. */
function kindOption(flags: string, what: string): Option {
  return new Option(flags, `${what}: ${TARGETS.join(", ")} (synonym: ${synonymsNote})`)
    .argParser((name: string): RecordKind => {
      const k = recordKindOf(name);
      if (k === undefined || !(TARGETS as readonly string[]).includes(formatName(k)))
        throw new InvalidArgumentError(`Allowed: ${TARGETS.join(", ")}.`);
      return k;
    })
    .makeOptionMandatory();
}

/** `--input-format`, shared with `data validate`. */
export function inputFormatOption(): Option {
  return new Option("--input-format <format>", "override the format guessed from the extension").choices(INPUT_FORMATS);
}

interface ConvertFlags {
  from: SourceFormat;
  to: RecordKind;
  out?: string;
  skipInvalid?: boolean;
  inputFormat?: InputFormat;
  keepCalculator?: boolean;
}

export function registerDataConvert(data: Command): Command {
  return data
    .command("convert")
    .description("Convert a data file (jsonl, json, csv, parquet) from a public layout to a stepwise record kind")
    .argument("<input>", "input file; its format comes from the extension unless --input-format is given")
    .addOption(formatOption("--from <format>", "layout of the input rows"))
    .addOption(kindOption("--to <kind>", "record kind to write"))
    .option("--out <file>", "output JSONL file (written atomically); stdout when omitted")
    .option("--skip-invalid", "skip malformed rows and report counts per reason, instead of stopping at the first")
    .addOption(inputFormatOption())
    .option("--keep-calculator", "gsm8k: keep the <<a*b=c>> calculator annotations in the chain")
    .action(async (input: string, flags: ConvertFlags) => {
      checkConversion(flags.from, flags.to);
      const [from, to] = [formatName(flags.from), formatName(flags.to)];
      const stats = emptyStats();
      const rows = readRecords(input, flags.inputFormat === undefined ? {} : { format: flags.inputFormat });
      const records = convertRows(
        rows,
        { from: flags.from, to: flags.to, skipInvalid: flags.skipInvalid, keepCalculator: flags.keepCalculator },
        stats,
      );
      if (flags.out === undefined) {
        for await (const r of records) process.stdout.write(JSON.stringify(r) + "\n");
      } else {
        await writeJsonlAtomic(flags.out, records);
      }
      const log = flags.out === undefined ? console.error : console.log;
      if (flags.out !== undefined) log(`converted ${stats.written} ${from} row(s) to ${to}: ${flags.out}`);
      const skipped = formatSkipped(stats);
      if (skipped !== "") {
        log(skipped);
        for (const msg of Object.values(stats.examples)) log(`  first: ${msg}`);
      }
      log(
        JSON.stringify({
          input,
          output: flags.out ?? null,
          from,
          to,
          read: stats.read,
          written: stats.written,
          skipped: stats.skipped,
        }),
      );
    });
}
