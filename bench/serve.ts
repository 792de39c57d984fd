/**
 * serve: completion throughput of `stepwise serve` for concurrent requests — HTTP on
 * loopback, JSON, the batcher and generate() included — for a tiny random model (Llama
 * layout, hidden 64, 2 layers, 4 heads, a 512-token BPE tokenizer) answering 32 completion
 * requests of a 16-token prompt and 64 new tokens each (greedy), sent one at a time and all
 * at once. Figures: tokens/s = completion tokens / wall seconds for each concurrency, and the
 * speedup of batching (all at once / one at a time). The best of the rounds is reported.
 */

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { LocalEngine } from "../src/serve/engine.ts";
import { startServer } from "../src/serve/server.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";
import { ROOT } from "./child.ts";
import type { Bench } from "./types.ts";

const run = promisify(execFile);

export const SERVE_PARAMS = {
  requests: 32,
  prompt_tokens: 16,
  new_tokens: 64,
  hidden: 64,
  layers: 2,
  heads: 4,
} as const;

export const serveBench: Bench = async function* (ctx) {
  const p = SERVE_PARAMS;
  const tmp = await mkdtemp(join(tmpdir(), "stepwise-bench-serve-"));
  try {
    const corpus = generateDataset({ tasks: ["arithmetic"], n: 500, seed: 1, split: "train" }).map(
      (r) => `Q: ${r.question}\nA: ${r.chain_of_thought}\n#### ${r.answer}`,
    );
    const tok = join(tmp, "tok");
    await saveTokenizer(tok, trainBpe(corpus, { vocabSize: 512 }));
    const modelDir = join(tmp, "model");
    await run(
      process.execPath,
      [
        join(ROOT, "bin/stepwise.js"),
        ...[
          "init-model",
          "--arch",
          "llama",
          "--hidden",
          String(p.hidden),
          "--layers",
          String(p.layers),
          "--heads",
          String(p.heads),
        ],
        ...["--max-positions", "256", "--out", modelDir, "--tokenizer", tok],
      ],
      { cwd: ROOT, timeout: 300_000 },
    );
    await initEngine();
    const engine = await LocalEngine.load(modelDir, { name: "bench", maxBatch: p.requests, windowMs: 5 });
    const server = await startServer(engine, { port: 0 });
    const ask = async (i: number): Promise<number> => {
      const prompt = Array.from({ length: p.prompt_tokens }, (_, t) => 4 + ((i * 7 + t * 13) % 400));
      const res = await fetch(`${server.url}/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "bench", prompt, max_tokens: p.new_tokens, temperature: 0 }),
      });
      const body = (await res.json()) as { usage: { completion_tokens: number } };
      return body.usage.completion_tokens;
    };
    try {
      // compile: one call at batch 1 and one at the full batch (a new batch size is a new compile)
      await ask(0);
      await Promise.all(Array.from({ length: p.requests }, (_, i) => ask(i)));
      const best: Record<string, number> = {};
      for (let round = 1; round <= Math.max(1, Math.min(ctx.rounds, 3)); round++) {
        for (const concurrency of [1, p.requests]) {
          const calls = engine.batcher.callSizes.length;
          const t0 = performance.now();
          let tokens = 0;
          for (let at = 0; at < p.requests; at += concurrency) {
            const batch = Array.from({ length: Math.min(concurrency, p.requests - at) }, (_, j) => ask(at + j));
            tokens += (await Promise.all(batch)).reduce((a, b) => a + b, 0);
          }
          const rate = tokens / ((performance.now() - t0) / 1000);
          ctx.log(
            `serve round ${round}: concurrency ${concurrency}: ${tokens} tokens, ${rate.toFixed(0)} tokens/s, ` +
              `rows per generate call ${engine.batcher.callSizes.slice(calls).join(",")}`,
          );
          best[concurrency] = Math.max(best[concurrency] ?? 0, rate);
        }
      }
      for (const concurrency of [1, p.requests]) {
        yield {
          bench: "serve",
          impl: "stepwise",
          params: { ...p, concurrency },
          value: Number(best[concurrency]!.toFixed(1)),
          unit: "tokens/s",
        };
      }
      yield {
        bench: "serve",
        impl: "stepwise",
        params: { ...p, metric: "speedup_concurrent_vs_sequential" },
        value: Number((best[p.requests]! / best[1]!).toFixed(2)),
        unit: "x",
      };
    } finally {
      await server.close();
      await engine.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
};
