/**
 * One process of the generate bench: KV-cached greedy decoding with
 * src/model/generate.ts on a randomly initialised reference-config model, at
 * the thread count this process was started with (STEPWISE_THREADS). For each
 * batch size it prints one figure line:
 *
 *   {"bench":"generate","impl":"stepwise","params":{"batch":16,"prompt":16,"new_tokens":64,"prefill":"included","threads":2},"value":…,"unit":"tokens/s"}
 *
 * A timed run is one `generate()` call: prefill of the `prompt`-token prompts,
 * then one cached decoding step per further token, greedy, EOS ignored, so
 * every row makes exactly `new_tokens` tokens; host-side sampling and log-prob
 * bookkeeping included. tokens/s = batch · new_tokens / median run time (prefill
 * included). The warm-up run compiles the prefill and decoding steps.
 *
 *   STEPWISE_THREADS=2 node --import tsx bench/generate-worker.ts --batches 1,16 --prompt 16 --new-tokens 64
 *
 * Run by bench/generate.ts; usable alone to probe one configuration.
 */
import { parseArgs } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { Rng } from "../src/engine/rng.ts";
import { toHfConfig } from "../src/model/config.ts";
import { generate } from "../src/model/generate.ts";
import { initParams, type Model } from "../src/model/model.ts";
import { measure } from "./measure.ts";
import { REFERENCE, referenceConfig } from "./reference-config.ts";
import { formatFigure } from "./types.ts";

const SEED = 20240601;

function positiveInts(raw: string, flag: string): number[] {
  const xs = raw.split(",").map((s) => Number(s.trim()));
  if (xs.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`generate-worker: ${flag} must be positive integers, got "${raw}"`);
  }
  return xs;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batches: { type: "string", default: "1,16" },
      prompt: { type: "string", default: "16" },
      "new-tokens": { type: "string", default: "64" },
      "min-reps": { type: "string", default: "3" },
      "min-seconds": { type: "string", default: "1" },
      attempts: { type: "string", default: "1" },
      "quiet-seconds": { type: "string", default: "10" },
    },
  });
  const batches = positiveInts(values.batches, "--batches");
  const [promptLen] = positiveInts(values.prompt, "--prompt") as [number];
  const [newTokens] = positiveInts(values["new-tokens"], "--new-tokens") as [number];
  const { threads } = await initEngine();
  const config = referenceConfig();
  const model: Model = { config, params: initParams(config, { seed: SEED }), hfConfig: toHfConfig(config) };
  const rng = new Rng(SEED);

  for (const batch of batches) {
    const prompts = Array.from({ length: batch }, () =>
      Array.from({ length: promptLen }, () => rng.int(0, REFERENCE.vocab - 1)),
    );
    const run = () => generate(model, prompts, { maxNewTokens: newTokens, eosTokenIds: [] });
    const t0 = performance.now();
    const first = await run(); // compiles the prefill and decoding steps
    const compileSeconds = (performance.now() - t0) / 1e3;
    let last = first;
    const m = await measure(
      async () => {
        last = await run();
      },
      {
        warmup: 0,
        minReps: Number(values["min-reps"]),
        minSeconds: Number(values["min-seconds"]),
        attempts: Number(values.attempts),
        quietSeconds: Number(values["quiet-seconds"]),
      },
    );
    // greedy decoding is deterministic: a run that differs from the first is a bug, not noise
    const same = first.every((r, b) => r.tokenIds.join() === last[b]!.tokenIds.join());
    if (!same || first.some((r) => r.tokenIds.length !== newTokens)) {
      throw new Error(`generate-worker: batch ${batch}: runs differ or stopped early; the benchmark is invalid`);
    }
    process.stdout.write(
      formatFigure({
        bench: "generate",
        impl: "stepwise",
        params: { batch, prompt: promptLen, new_tokens: newTokens, prefill: "included", threads },
        value: (batch * newTokens) / m.median,
        unit: "tokens/s",
      }) + "\n",
    );
    const others = m.otherCores === null ? "" : `, others used ${m.otherCores.toFixed(2)} cores`;
    const retried = m.attempts > 1 ? ` after ${m.attempts} attempts` : "";
    process.stderr.write(
      `generate batch=${batch} threads=${threads}: first run (compile) ${compileSeconds.toFixed(1)} s;` +
        ` median ${(m.median * 1e3).toFixed(0)} ms over ${m.times.length} runs` +
        ` (${((m.median / newTokens) * 1e3).toFixed(1)} ms/token, best ${(m.min * 1e3).toFixed(0)} ms${others}${retried})\n`,
    );
  }
}

await main();
