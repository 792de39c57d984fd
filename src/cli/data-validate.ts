/**
 * `stepwise data validate FILE --format F [--input-format jsonl|json|csv|parquet] [--json]`:
 * read every row of FILE, adapt and validate it exactly as `data convert --from F` does (the
 * same `convertRows` pipeline, converting to F's own record kind, skipping and counting bad
 * rows), write nothing, and print a summary: rows read, valid, invalid per reason, and the
 * first few one-line errors (`file:line: field "x": expected …, got …`). Exits 1 when any
 * row is invalid (or the file as a whole is unreadable), 0 otherwise. With --json the last
 * stdout line is `{file, format, rows, valid, invalid, reasons}`.
 */
import type { Command } from "commander";
import { adapterOf, formatName, type SourceFormat } from "../data/adapters.ts";
import { type ConvertStats, convertRows, countSkipped, emptyStats, FIRST_ERRORS } from "../data/convert.ts";
import { DataError } from "../data/errors.ts";
import { type InputFormat, readRecords } from "../data/readers.ts";
import { formatOption, inputFormatOption } from "./data-convert.ts";

interface ValidateFlags {
  format: SourceFormat;
  inputFormat?: InputFormat;
  json?: boolean;
}

export interface ValidateSummary {
  file: string;
  format: string;
  rows: number;
  valid: number;
  invalid: number;
  reasons: Record<string, number>;
}

/**
 * Run every row of `file` through the convert pipeline as `format` → its own kind, with
 * invalid rows skipped and counted. A file-level failure (empty file, unreadable Parquet)
 * is returned as `fatal` instead of thrown, so the caller can still report.
 */
export async function validateFile(
  file: string,
  format: SourceFormat,
  inputFormat?: InputFormat,
): Promise<{ stats: ConvertStats; fatal?: DataError }> {
  const stats = emptyStats();
  const rows = readRecords(file, inputFormat === undefined ? {} : { format: inputFormat });
  const opts = { from: format, to: adapterOf(format).kind, skipInvalid: true };
  try {
    for await (const _ of convertRows(rows, opts, stats));
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    return { stats, fatal: err };
  }
  return { stats };
}

export function registerDataValidate(data: Command): Command {
  return data
    .command("validate")
    .description("Check that every row of a data file is valid in a format; writes nothing, exits 1 on any invalid row")
    .argument("<file>", "input file; its format comes from the extension unless --input-format is given")
    .addOption(formatOption("--format <format>", "layout the rows should have"))
    .addOption(inputFormatOption())
    .option("--json", "end stdout with a JSON summary {file, format, rows, valid, invalid, reasons}")
    .action(async (file: string, flags: ValidateFlags) => {
      const format = formatName(flags.format);
      const { stats, fatal } = await validateFile(file, flags.format, flags.inputFormat);
      const reasons: Record<string, number> = { ...stats.skipped };
      if (fatal !== undefined) reasons[fatal.reason] = (reasons[fatal.reason] ?? 0) + 1;
      const invalid = countSkipped(stats) + (fatal === undefined ? 0 : 1);
      const summary: ValidateSummary = { file, format, rows: stats.read, valid: stats.written, invalid, reasons };

      const why = Object.entries(reasons)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ");
      console.log(
        `${file}: ${stats.read} row(s) read as ${format}: ${stats.written} valid, ${invalid} invalid` +
          (why === "" ? "" : ` (${why})`),
      );
      for (const msg of stats.errors) console.log(msg);
      const unlisted = countSkipped(stats) - stats.errors.length;
      if (unlisted > 0) console.log(`… and ${unlisted} more invalid row(s) (the first ${FIRST_ERRORS} are shown)`);
      if (flags.json) console.log(JSON.stringify(summary));

      if (fatal !== undefined) throw fatal;
      if (invalid > 0) throw new Error(`${file}: ${invalid} of ${stats.read} row(s) invalid as ${format}`);
    });
}
