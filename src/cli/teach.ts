import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { dashboardHint } from "../dashboard/hint.ts";
import { SOURCE_FORMATS, type SourceFormat } from "../data/adapters.ts";
import { initEngine } from "../engine/device.ts";
import { OpenAIClient } from "../teacher/client.ts";
import { LocalChatClient } from "../teacher/local.ts";
import { PROMPT_STYLES, type PromptStyle, STYLES } from "../teacher/prompts.ts";
import type { ChatClient } from "../teacher/protocol.ts";
import { runTeach } from "../teacher/teach.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";
import { readCoTRecords } from "./eval.ts";

interface TeachFlags {
  teacher: string;
  model?: string;
  data: string;
  format: string;
  k: string;
  out: string;
  concurrency: string;
  resume?: boolean;
  overwrite?: boolean;
  style: string;
  rationalize: boolean;
  temperature: string;
  topP: string;
  maxTokens: string;
  seed: string;
  timeoutMs: string;
  maxRetries: string;
  backoffMs: string;
  apiKeyEnv: string;
  stream?: boolean;
  json?: boolean;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/**
 * `stepwise teach --teacher URL|DIR --model NAME --data FILE --format F --k K --out DIR
 * [--concurrency C] [--resume]`: chains of thought from a teacher for questions with gold
 * answers only, kept where they reach the gold answer (src/teacher/teach.ts). A URL is any
 * OpenAI-compatible server; a folder is a stepwise model run in process through the same
 * engine `stepwise serve` uses. The API key is read from the environment (--api-key-env).
 */
export function registerTeach(program: Command): void {
  program
    .command("teach")
    .description("Write chain-of-thought data with a teacher model; keep chains that reach the gold answer")
    .requiredOption("--teacher <url|dir>", "an OpenAI-compatible base URL (http://host:8000/v1) or a model folder")
    .option("--model <name>", "model name sent to the server (needed with a URL; a folder's defaults to its name)")
    .requiredOption("--data <file>", "questions with gold answers (JSONL/JSON/CSV/Parquet); chains are not needed")
    .option("--format <f>", `record format (${SOURCE_FORMATS.join(", ")})`, "cot")
    .option("--k <n>", "chains asked per question", "4")
    .requiredOption("--out <dir>", "run folder: chains.jsonl, questions.jsonl, cache.jsonl, stats.json, summary.json")
    .option("--concurrency <n>", "questions (requests) in flight at once", "8")
    .option("--resume", "continue a stopped or killed run: done questions are skipped, cached responses reused")
    .option("--overwrite", "delete a run already in the folder and start again")
    .option(
      "--style <s>",
      `how to ask: ${PROMPT_STYLES.map((k) => `${k} = ${STYLES[k as PromptStyle].description}`).join("; ")}`,
      "chat",
    )
    .option("--no-rationalize", "do not ask again with the gold answer as a hint where no chain is right")
    .option("--temperature <t>", "sampling temperature", "0.7")
    .option("--top-p <p>", "nucleus sampling", "1")
    .option("--max-tokens <n>", "tokens per chain at most", "256")
    .option("--seed <n>", "seed of the per-question request seeds", "0")
    .option("--timeout-ms <n>", "per-request timeout", "120000")
    .option("--max-retries <n>", "retries per request (429, 5xx, timeouts, resets, truncated bodies)", "5")
    .option("--backoff-ms <n>", "first retry's backoff (doubles, with jitter, up to 16x)", "500")
    .option(
      "--api-key-env <var>",
      "environment variable holding the API key (never logged or written)",
      "OPENAI_API_KEY",
    )
    .option("--stream", "ask the server to stream (server-sent events) and assemble the answers")
    .option("--json", "print the run summary as JSON")
    .action(async (flags: TeachFlags) => {
      if (flags.resume && flags.overwrite) throw new Error("teach: give --resume or --overwrite, not both");
      if (!(SOURCE_FORMATS as readonly string[]).includes(flags.format))
        throw new Error(`teach: --format must be one of ${SOURCE_FORMATS.join(", ")}, got "${flags.format}"`);
      if (!(PROMPT_STYLES as readonly string[]).includes(flags.style))
        throw new Error(`teach: --style must be one of ${PROMPT_STYLES.join(", ")}, got "${flags.style}"`);
      const k = parseIntFlag("--k", flags.k, 1, 128);
      const concurrency = parseIntFlag("--concurrency", flags.concurrency, 1, 1024);
      const temperature = parseNumberFlag("--temperature", flags.temperature, 0, 2);
      const topP = parseNumberFlag("--top-p", flags.topP, Number.MIN_VALUE, 1);
      const maxTokens = parseIntFlag("--max-tokens", flags.maxTokens, 1);
      const seed = parseIntFlag("--seed", flags.seed, 0);
      const records = await readCoTRecords(flags.data, flags.format as SourceFormat);

      let client: ChatClient;
      let remote: OpenAIClient | null = null;
      if (isUrl(flags.teacher)) {
        if (!flags.model)
          throw new Error("teach: --model NAME is needed with a URL --teacher (the name the server serves)");
        const base = parseIntFlag("--backoff-ms", flags.backoffMs, 1);
        const key = process.env[flags.apiKeyEnv];
        remote = new OpenAIClient({
          baseUrl: flags.teacher,
          model: flags.model,
          ...(key ? { apiKey: key } : {}),
          concurrency,
          timeoutMs: parseIntFlag("--timeout-ms", flags.timeoutMs, 1),
          maxRetries: parseIntFlag("--max-retries", flags.maxRetries, 0),
          backoff: { baseMs: base, maxMs: 16 * base, jitter: 0.25 },
          stream: flags.stream ?? false,
          onRetry: (r) =>
            console.error(
              `teach: retrying ${r.endpoint} (${r.kind}${r.status ? ` ${r.status}` : ""}) in ${Math.round(r.delayMs)} ms`,
            ),
        });
        client = remote;
      } else {
        const st = await stat(flags.teacher).catch(() => null);
        if (!st?.isDirectory())
          throw new Error(
            `teach: --teacher must be an http(s):// URL or a model folder; "${flags.teacher}" is neither`,
          );
        await initEngine();
        client = await LocalChatClient.load(flags.teacher, {
          maxBatch: Math.max(16, k),
          ...(flags.model ? { name: flags.model } : {}),
        });
      }

      const controller = new AbortController();
      const stop = () => {
        console.error("teach: stopping after the questions in flight (run again with --resume to continue)");
        controller.abort();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        const summary = await runTeach({
          client,
          teacher: flags.teacher,
          records,
          data: [flags.data],
          dir: flags.out,
          mode: flags.resume ? "resume" : flags.overwrite ? "overwrite" : "new",
          style: flags.style as PromptStyle,
          k,
          concurrency,
          rationalize: flags.rationalize,
          temperature,
          topP,
          maxTokens,
          seed,
          ...(remote ? { clientStats: () => remote.stats() } : {}),
          log: (l) => console.error(l),
          signal: controller.signal,
        });
        console.error(dashboardHint(flags.out));
        if (flags.json) console.log(JSON.stringify(summary, null, 2));
        if (summary.status !== "finished") process.exitCode = 1;
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await client.close?.();
      }
    });
}
