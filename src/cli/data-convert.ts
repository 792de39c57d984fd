/**
 * `stepwise data convert INPUT --from FORMAT --to KIND [--out FILE] [--skip-invalid]`:
 * read a file in any supported layout (JSONL, JSON array, CSV, Parquet), adapt each row to
 * the target record kind and write JSONL. The output is written atomically, so a failed
 * conversion never leaves a half-written file. The last stdout line is a JSON summary.
 */
import { type Command, Option } from "commander";
import { SOURCE_FORMATS, type SourceFormat } from "../data/adapters.ts";
import { checkConversion, convertRows, emptyStats, formatSkipped } from "../data/convert.ts";
import { INPUT_FORMATS, type InputFormat, readRecords, writeJsonlAtomic } from "../data/readers.ts";
import type { RecordKind } from "../data/records.ts";

const TARGETS = ["cot", "instruction", "prompt-completion", "conversation", "preference"] as const;

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
    .addOption(new Option("--from <format>", "layout of the input rows").choices(SOURCE_FORMATS).makeOptionMandatory())
    .addOption(new Option("--to <kind>", "record kind to write").choices(TARGETS).makeOptionMandatory())
    .option("--out <file>", "output JSONL file (written atomically); stdout when omitted")
    .option("--skip-invalid", "skip malformed rows and report counts per reason, instead of stopping at the first")
    .addOption(
      new Option("--input-format <format>", "override the format guessed from the extension").choices(INPUT_FORMATS),
    )
    .option("--keep-calculator", "gsm8k: keep the <<a*b=c>> calculator annotations in the chain")
    .action(async (input: string, flags: ConvertFlags) => {
      checkConversion(flags.from, flags.to);
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
      if (flags.out !== undefined) log(`converted ${stats.written} ${flags.from} row(s) to ${flags.to}: ${flags.out}`);
      const skipped = formatSkipped(stats);
      if (skipped !== "") {
        log(skipped);
        for (const msg of Object.values(stats.examples)) log(`  first: ${msg}`);
      }
      log(
        JSON.stringify({
          input,
          output: flags.out ?? null,
          from: flags.from,
          to: flags.to,
          read: stats.read,
          written: stats.written,
          skipped: stats.skipped,
        }),
      );
    });
}
