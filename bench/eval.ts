/**
 * eval: wall-clock seconds of `stepwise eval` — a user's command, process start,
 * model load, prompting, batched greedy generation, extraction and step checks
 * included — for a tiny random model (GPT-2 layout, hidden 64, 2 layers, 4 heads, a
 * 512-token BPE tokenizer trained on generated chains) on 200 generated arithmetic
 * problems, zero-shot CoT, 64 new tokens at most, batch 32. The target: under
 * a minute. Each round runs the command in a fresh process; the figure is the best round.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateDataset } from "../src/data/tasks/index.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";
import { ROOT } from "./child.ts";
import type { Bench } from "./types.ts";

const run = promisify(execFile);

export const EVAL_PARAMS = {
  problems: 200,
  task: "arithmetic",
  hidden: 64,
  layers: 2,
  heads: 4,
  vocab: 512,
  max_new_tokens: 64,
  batch: 32,
  prompting: "zero-cot",
} as const;

export const evalBench: Bench = async function* (ctx) {
  const p = EVAL_PARAMS;
  const tmp = await mkdtemp(join(tmpdir(), "stepwise-bench-eval-"));
  const cli = (...args: string[]) =>
    run(process.execPath, [join(ROOT, "bin/stepwise.js"), ...args], { cwd: ROOT, timeout: 600_000 });
  try {
    const corpus = generateDataset({ tasks: [p.task], n: 500, seed: 1, split: "train" }).map(
      (r) => `Q: ${r.question}\nA: ${r.chain_of_thought}\n#### ${r.answer}`,
    );
    const tok = join(tmp, "tok");
    await saveTokenizer(tok, trainBpe(corpus, { vocabSize: p.vocab }));
    const model = join(tmp, "model");
    await cli(
      ...["init-model", "--arch", "gpt2", "--hidden", String(p.hidden), "--layers", String(p.layers)],
      ...["--heads", String(p.heads), "--max-positions", "512", "--std", "0.2", "--out", model, "--tokenizer", tok],
    );
    let best = Number.POSITIVE_INFINITY;
    const rounds = Math.max(1, Math.min(ctx.rounds, 2));
    for (let round = 1; round <= rounds; round++) {
      const t0 = performance.now();
      const res = await cli(
        ...["eval", "--model", model, "--task", p.task, "--n", String(p.problems), "--seed", "0"],
        ...["--prompting", p.prompting, "--max-new-tokens", String(p.max_new_tokens), "--batch", String(p.batch)],
        "--json",
      );
      const seconds = (performance.now() - t0) / 1000;
      const report = JSON.parse(res.stdout.trim().split("\n").pop()!);
      ctx.log(
        `eval round ${round}: ${seconds.toFixed(2)} s wall (${report.seconds.toFixed(2)} s generating ` +
          `${report.new_tokens} tokens, ${report.tokens_per_s.toFixed(0)} tokens/s), accuracy ${report.accuracy_flexible}`,
      );
      best = Math.min(best, seconds);
    }
    ctx.log(`eval: ${best.toFixed(2)} s for ${p.problems} problems (target: under 60 s)`);
    yield { bench: "eval", impl: "stepwise", params: { ...p }, value: Number(best.toFixed(3)), unit: "s" };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
};
