/**
 * `stepwise train-tokenizer --input FILE[,FILE] --vocab-size N --out DIR`: train a
 * byte-level BPE tokenizer (src/tokenizer/train-bpe.ts) and write tokenizer.json +
 * tokenizer_config.json (ChatML chat template) that `Tokenizer.fromDir` and
 * transformers read.
 *
 * Inputs, by extension:
 *   .jsonl   one JSON record per line;
 *   .json    an array of records (Alpaca-style files);
 *   other    plain text, each line (with its newline) a text.
 * From a record it takes the fields named by --fields, or by default every
 * top-level string and the `content` of message lists (TRL's `messages` layout).
 *
 * Files are streamed into word counts; only the first few texts are kept, to check
 * the written tokenizer by loading it back and round-tripping them.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { DEFAULT_SPECIAL_TOKENS, saveTokenizer, trainBpeWithStats, WordCounter } from "../tokenizer/train-bpe.ts";
import { parseIntFlag } from "./args.ts";

const CHECK_TEXTS = 200;

interface Flags {
  input: string;
  vocabSize: string;
  out: string;
  fields?: string;
  minFrequency: string;
  specialTokens: string;
}

const integer = (value: string, flag: string, min: number) => parseIntFlag(`train-tokenizer: ${flag}`, value, min);

function list(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The texts of one record: the named fields, or every top-level string and message contents. */
export function recordTexts(record: unknown, fields: readonly string[] | null, where: string): string[] {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new Error(`${where}: expected a JSON object, got ${JSON.stringify(record)?.slice(0, 60)}`);
  }
  const r = record as Record<string, unknown>;
  if (fields) {
    return fields.map((f) => {
      const v = r[f];
      if (typeof v !== "string")
        throw new Error(`${where}: field "${f}" must be a string, got ${JSON.stringify(v) ?? "nothing"}`);
      return v;
    });
  }
  const out: string[] = [];
  for (const v of Object.values(r)) {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) {
      for (const m of v) {
        if (typeof m === "object" && m !== null && typeof (m as Record<string, unknown>)["content"] === "string") {
          out.push((m as Record<string, string>)["content"]!);
        }
      }
    }
  }
  return out;
}

async function* readTexts(file: string, fields: readonly string[] | null): AsyncGenerator<string> {
  if (file.endsWith(".json")) {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(file, "utf8"));
    } catch (e) {
      throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of records`);
    for (let i = 0; i < data.length; i++) yield* recordTexts(data[i], fields, `${file}[${i}]`);
    return;
  }
  const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (!file.endsWith(".jsonl")) {
        yield `${line}\n`;
        continue;
      }
      if (line.trim() === "") continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${n}: invalid JSON (${e instanceof Error ? e.message : String(e)})`);
      }
      yield* recordTexts(record, fields, `${file}:${n}`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${file}: file not found`);
    throw e;
  }
}

export function registerTrainTokenizer(program: Command): void {
  program
    .command("train-tokenizer")
    .description("Train a byte-level BPE tokenizer on text/JSONL files; write tokenizer.json + tokenizer_config.json")
    .requiredOption("--input <files>", "comma-separated files: .jsonl / .json records, or plain text (a text per line)")
    .requiredOption("--vocab-size <n>", "vocabulary size, including special tokens and the 256 byte symbols")
    .requiredOption("--out <dir>", "output folder")
    .option("--fields <names>", "record fields to train on, comma-separated (default: every string field)")
    .option("--min-frequency <n>", "stop when the best pair occurs fewer times", "2")
    .option("--special-tokens <list>", "comma-separated special tokens (ids 0..k-1)", DEFAULT_SPECIAL_TOKENS.join(","))
    .action(async (flags: Flags) => {
      const files = list(flags.input);
      if (files.length === 0) throw new Error("train-tokenizer: --input names no file");
      const specialTokens = list(flags.specialTokens);
      const vocabSize = integer(flags.vocabSize, "--vocab-size", 1);
      const minFrequency = integer(flags.minFrequency, "--min-frequency", 1);
      const fields = flags.fields === undefined ? null : list(flags.fields);

      const counter = new WordCounter(specialTokens);
      const sample: string[] = [];
      const t0 = performance.now();
      for (const file of files) {
        for await (const text of readTexts(file, fields)) {
          counter.add(text);
          if (sample.length < CHECK_TEXTS) sample.push(text);
        }
      }
      if (counter.texts === 0) throw new Error(`train-tokenizer: no text found in ${files.join(", ")}`);
      const { tokenizer, stats } = trainBpeWithStats(counter, { vocabSize, minFrequency, specialTokens });
      const seconds = (performance.now() - t0) / 1000;
      await saveTokenizer(flags.out, tokenizer);

      // Load what we wrote, as a user would, and check it on the first texts.
      const loaded = await Tokenizer.fromDir(flags.out);
      let chars = 0;
      let tokens = 0;
      for (const text of sample) {
        const ids = loaded.encode(text);
        if (loaded.decode(ids) !== text) {
          throw new Error(
            `train-tokenizer: the written tokenizer does not round-trip ${JSON.stringify(text.slice(0, 60))}`,
          );
        }
        chars += text.length;
        tokens += ids.length;
      }
      const n = (x: number) => x.toLocaleString("en-US");
      console.log(
        `train-tokenizer: ${n(stats.texts)} texts (${n(stats.chars)} chars) from ${files.length} file(s), ${n(stats.distinctWords)} distinct words`,
      );
      console.log(
        `train-tokenizer: vocab ${loaded.vocabSize} = ${specialTokens.length} special + 256 bytes + ${stats.merges} merges in ${seconds.toFixed(2)} s` +
          (stats.stoppedEarly ? ` (stopped early: no pair occurs ≥ ${minFrequency} times)` : ""),
      );
      console.log(
        `train-tokenizer: wrote ${join(flags.out, "tokenizer.json")} and tokenizer_config.json; ` +
          `${sample.length} texts round-trip, ${(chars / Math.max(tokens, 1)).toFixed(2)} chars/token`,
      );
    });
}
