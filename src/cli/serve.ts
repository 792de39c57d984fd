import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { LocalEngine } from "../serve/engine.ts";
import { startServer } from "../serve/server.ts";
import { parseIntFlag } from "./args.ts";

interface ServeFlags {
  model: string;
  host: string;
  port: string;
  name?: string;
  maxBatch: string;
  maxTokens: string;
  maxBodyBytes: string;
  maxPending: string;
  seed: string;
  windowMs: string;
}

/**
 * `stepwise serve --model DIR [--host 127.0.0.1] [--port 8000]`: an OpenAI-compatible server
 * (GET /v1/models, POST /v1/completions, POST /v1/chat/completions, streaming) over a model
 * folder, batching concurrent requests. Binds loopback unless --host says otherwise.
 */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Serve a model folder over an OpenAI-compatible HTTP API (completions, chat, streaming)")
    .requiredOption("--model <dir>", "model folder (config.json, weights, tokenizer.json)")
    .option("--host <addr>", "address to bind; 0.0.0.0 exposes the server to the network", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", "8000")
    .option("--name <name>", "model name clients send (default: the folder's name)")
    .option("--max-batch <n>", "rows per batched generation, and the largest n", "16")
    .option("--max-tokens <n>", "chat max_tokens when a request gives none", "512")
    .option("--max-body-bytes <n>", "largest request body", String(4 * 1024 * 1024))
    .option("--max-pending <n>", "requests waiting for the model at most (then 503)", "256")
    .option("--seed <n>", "seed of sampling for requests without a seed", "0")
    .option("--window-ms <n>", "wait before a batch starts, so simultaneous requests share it", "5")
    .action(async (flags: ServeFlags) => {
      const port = parseIntFlag("--port", flags.port, 0, 65535);
      const opts = {
        maxBatch: parseIntFlag("--max-batch", flags.maxBatch, 1),
        defaultMaxTokens: parseIntFlag("--max-tokens", flags.maxTokens, 1),
        seed: parseIntFlag("--seed", flags.seed, 0),
        windowMs: parseIntFlag("--window-ms", flags.windowMs, 0),
        ...(flags.name !== undefined ? { name: flags.name } : {}),
      };
      const maxBodyBytes = parseIntFlag("--max-body-bytes", flags.maxBodyBytes, 1024);
      const maxPending = parseIntFlag("--max-pending", flags.maxPending, 1);
      await initEngine();
      const engine = await LocalEngine.load(flags.model, opts);
      const server = await startServer(engine, { host: flags.host, port, maxBodyBytes, maxPending });
      console.error(
        `stepwise serve: serving "${engine.name}" at ${server.url} (context ${engine.maxContext}, batch ${opts.maxBatch})`,
      );
      if (flags.host !== "127.0.0.1" && flags.host !== "localhost" && flags.host !== "::1") {
        console.error(
          `stepwise serve: bound to ${flags.host}: anyone who can reach it can use the model; there is no authentication`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
      await engine.close();
    });
}
