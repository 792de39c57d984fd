/**
 * One process of the rl_step bench: GRPO steps of `stepwise rl` as shipped (src/rl/grpo.ts
 * runRl: KV-cached batched rollouts at fixed shapes, rewards, the rollout-time log-prob pass,
 * group advantages, then the clipped-surrogate update through the shared loop in micro-batches)
 * on the reference model (reference-config.ts, random weights, a 512-token BPE tokenizer trained
 * on generated chains), at the thread count this process was started with (STEPWISE_THREADS).
 *
 * Shape (RL_STEP): N = 4 prompts × G = 4 completions = 16 rows, prompts left-padded to 48
 * tokens, 80 new tokens at most: a packed row is 48 + 80 − 1 = 127 positions, so the update
 * works on the same 16 × ~128 batch as train_step / sft_step. β = 0 (no reference pass, TRL's
 * default), μ = 1, micro-batches of 8. Random weights rarely emit EOS, so nearly every
 * completion runs to the budget and the work per step is fixed.
 *
 * Figures, from metrics.jsonl of the steps after the first (the first compiles):
 *   rollout tokens/s  completion tokens sampled / seconds_rollout (sampling, rewards and the
 *                     rollout-time log-prob pass over the packed rows)
 *   update tokens/s   completion (loss) tokens / seconds_update (forward, backward, AdamW)
 *   rollout share     seconds_rollout / (seconds_rollout + seconds_update)
 *
 *   STEPWISE_THREADS=2 node --import tsx bench/rl-step-worker.ts [--steps 3]
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { disposeTree } from "../src/engine/memory.ts";
import { EXPLOIT_NAMES } from "../src/guard/exploits.ts";
import { saveModel } from "../src/model/checkpoint.ts";
import { configFromSizes, toHfConfig } from "../src/model/config.ts";
import { initParams } from "../src/model/model.ts";
import { parseRlConfig } from "../src/rl/config.ts";
import { runRl } from "../src/rl/grpo.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";
import { REFERENCE } from "./reference-config.ts";
import { formatFigure } from "./types.ts";

export const RL_STEP = { prompts: 4, groupSize: 4, promptColumns: 48, maxNewTokens: 80, microBatch: 8 } as const;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: "string", default: "3" } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 2) throw new Error("rl_step: --steps must be an integer >= 2");
  const { threads } = await initEngine();
  const tmp = await mkdtemp(join(tmpdir(), "stepwise-bench-rl-"));
  try {
    const corpus = generateDataset({ tasks: ["arithmetic"], n: 500, seed: 1, split: "train" }).map(
      (r) => `Q: ${r.question}\nA: ${r.chain_of_thought}\n#### ${r.answer}`,
    );
    await saveTokenizer(join(tmp, "tok"), trainBpe(corpus, { vocabSize: REFERENCE.vocab }));
    const tok = await Tokenizer.fromDir(join(tmp, "tok"));
    const config = configFromSizes({
      arch: "llama",
      vocabSize: Math.max(REFERENCE.vocab, tok.vocabSize),
      hiddenSize: REFERENCE.hidden,
      numLayers: REFERENCE.layers,
      numHeads: REFERENCE.heads,
      numKvHeads: REFERENCE.kvHeads,
      intermediateSize: REFERENCE.mlp,
      maxPositionEmbeddings: 512,
      bosTokenId: tok.bosId,
      eosTokenIds: tok.eosId !== null ? [tok.eosId] : [],
      padTokenId: tok.padId,
    });
    const params = initParams(config, { seed: 0 });
    await saveModel(
      join(tmp, "model"),
      { config, params, hfConfig: toHfConfig(config) },
      { tokenizerFrom: join(tmp, "tok") },
    );
    disposeTree(params);
    const recs = generateDataset({ tasks: ["arithmetic"], n: 64, seed: 0, split: "train" });
    await writeFile(join(tmp, "train.jsonl"), `${recs.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const s = RL_STEP;
    const rl = parseRlConfig({
      model: join(tmp, "model"),
      out: join(tmp, "run"),
      data: {
        train: { files: [{ path: join(tmp, "train.jsonl") }] },
        eval: { files: [{ path: join(tmp, "train.jsonl") }] },
      },
      rollout: {
        prompts: s.prompts,
        groupSize: s.groupSize,
        maxNewTokens: s.maxNewTokens,
        promptColumns: s.promptColumns,
      },
      reward: { spec: "format:1,repetition:1" },
      // a loop test, not a reward test: the reward's known holes (guard/exploits.ts) are accepted
      guard: { acceptHoles: [...EXPLOIT_NAMES] },
      batch: { microBatch: s.microBatch },
      optim: { lr: 1e-5 },
      schedule: { kind: "constant" },
      steps,
      eval: { every: 0, n: 0 },
      checkpoint: { every: 0, keep: 1 },
      samplesPerStep: 0,
    });
    const t0 = performance.now();
    const res = await runRl(rl, { signals: false, stream: { write: () => true } as never });
    if (res.status.kind !== "done") throw new Error(`rl_step: the run ended ${res.status.kind}`);
    const rows = (await readFile(join(tmp, "run", "metrics.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number>)
      .slice(1); // the first step compiles
    const sum = (k: string) => rows.reduce((a, r) => a + r[k]!, 0);
    const tokens = rows.reduce((a, r) => a + r["completions/mean_length"]! * s.prompts * s.groupSize, 0);
    const rollout = sum("seconds_rollout");
    const update = sum("seconds_update");
    const params_ = { prompts: s.prompts, group: s.groupSize, max_new_tokens: s.maxNewTokens, threads };
    const out = [
      { metric: "rollout", value: tokens / rollout, unit: "tokens/s" },
      { metric: "update", value: tokens / update, unit: "tokens/s" },
      { metric: "rollout_share", value: rollout / (rollout + update), unit: "fraction" },
    ];
    for (const f of out) {
      process.stdout.write(
        `${formatFigure({ bench: "rl_step", impl: "stepwise", params: { ...params_, metric: f.metric }, value: f.value, unit: f.unit })}\n`,
      );
    }
    process.stderr.write(
      `rl_step threads=${threads}: ${steps} steps in ${((performance.now() - t0) / 1e3).toFixed(1)} s; timed ${rows.length}: ` +
        `${(tokens / rows.length).toFixed(0)} completion tokens a step, rollout ${(rollout / rows.length).toFixed(2)} s, update ${(update / rows.length).toFixed(2)} s a step\n`,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
