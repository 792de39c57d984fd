/**
 * family_step: speed and memory of one fine-tuning step of each model family on a
 * comparable tiny config — vocab 1024, hidden 128, 4 blocks (T5: 4 encoder + 4 decoder),
 * 4 heads of 32, MLP 4·hidden (Llama's SwiGLU 8/3·hidden, Flan-T5's gated-GELU 2·hidden),
 * batch 8 — full fine-tuning and LoRA (r 16, α 32 on the attention projections: q/k/v/o for
 * Llama, GPT-J and T5, c_attn/c_proj for GPT-2, query_key_value/dense for GPT-NeoX).
 *
 * Decoders see 128 tokens per row, all targets. T5 sees a 64-token encoder input and 64
 * decoder targets per row (the prompt/target split SFT uses), so its figures count 64
 * target tokens a row: tokens/s is target tokens per second for every family.
 *
 * Each (family, mode) runs in its own process (Wasm memory only grows): a jit-compiled step
 * (forward, summed token NLL, gradient, AdamW) warmed up twice, then timed over 3 steps with
 * every loss awaited; figures: tokens/s, ms/step, process RSS after the steps (MB), and the
 * trained parameter count.
 *
 *   node --import tsx bench/family-step.ts --family t5 --mode lora     (one process, figures on stdout)
 */
import { pathToFileURL } from "node:url";
import { initEngine } from "../src/engine/device.ts";
import { blockUntilReady, type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readScalar } from "../src/engine/memory.ts";
import { adamw, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import { setupLora } from "../src/model/adapters/lora.ts";
import { type Arch, type ConfigSizes, configFromSizes, isSeq2seq } from "../src/model/config.ts";
import { forward, forwardSeq2seq, initParams } from "../src/model/model.ts";
import { childFigures } from "./child.ts";
import type { Bench, Figure } from "./types.ts";

const FAMILIES = ["llama", "gpt2", "gptj", "gpt_neox", "t5"] as const satisfies readonly Arch[];
type Family = (typeof FAMILIES)[number];
const MODES = ["full", "lora"] as const;
type Mode = (typeof MODES)[number];

const SIZES = { vocabSize: 1024, hiddenSize: 128, numLayers: 4, numHeads: 4, maxPositionEmbeddings: 256 };
const BATCH = 8;
const SEQ = 128; // tokens a row: decoders' inputs; T5's encoder + decoder halves
const WARMUP = 2;
const STEPS = 3;

const LORA_TARGETS: { [F in Family]: string[] } = {
  llama: ["q_proj", "k_proj", "v_proj", "o_proj"],
  gpt2: ["c_attn", "attn.c_proj"],
  gptj: ["q_proj", "k_proj", "v_proj", "out_proj"],
  gpt_neox: ["query_key_value", "attention.dense"],
  t5: ["q", "k", "v", "o"],
};

function sizesOf(family: Family): ConfigSizes {
  if (family === "t5")
    return { arch: "t5", ...SIZES, numDecoderLayers: SIZES.numLayers, feedForwardProj: "gated-gelu" };
  if (family === "gptj") return { arch: "gptj", ...SIZES, rotaryDim: 8 };
  return { arch: family, ...SIZES };
}

/** One (family, mode), in this process: yields its figures. */
export async function* measure(family: Family, mode: Mode): AsyncGenerator<Figure> {
  const { threads } = await initEngine();
  const config = configFromSizes(sizesOf(family));
  const base = initParams(config, { seed: 0 });
  let trainable: Params;
  let frozen: Params;
  let materialize: (t: Params, f: Params) => Params;
  if (mode === "lora") {
    const s = setupLora(base, { r: 16, alpha: 32, targetModules: LORA_TARGETS[family] });
    disposeTree(base); // the setup holds its own refs
    trainable = s.trainable;
    frozen = s.frozen;
    materialize = s.materialize;
  } else {
    trainable = base;
    frozen = {};
    materialize = (t, f) => {
      disposeTree(f);
      return t;
    };
  }
  const seq2seq = isSeq2seq(config);
  const enc = seq2seq ? SEQ / 2 : 0; // T5: encoder tokens a row
  const dec = seq2seq ? SEQ / 2 : SEQ; // target tokens a row
  const rng = new Rng(1);
  const ints = (n: number) => Int32Array.from({ length: n }, () => rng.int(0, SIZES.vocabSize - 1));
  const arr = (data: Int32Array, T: number) => np.array(data, { shape: [BATCH, T], dtype: np.int32 });
  const inputs = arr(ints(BATCH * dec), dec);
  const targets = arr(ints(BATCH * dec), dec);
  const encoder = arr(ints(BATCH * Math.max(enc, 1)), Math.max(enc, 1));
  const mask = np.ones([BATCH, dec]);
  const opt = adamw({ weightDecay: 0 });
  const loss = (t: Params, f: Params, e: JaxArray, x: JaxArray, y: JaxArray, m: JaxArray) => {
    const params = materialize(t, f);
    if (!seq2seq) e.dispose();
    const logits = seq2seq ? forwardSeq2seq(params, config, e, x).logits : forward(params, config, x).logits;
    return tokenNll(logits, y, m, { reduction: "sum" }); // Σ −log p over the targets
  };
  const step = jit((t: Params, s: OptimizerState, f: Params, e: JaxArray, x: JaxArray, y: JaxArray, m: JaxArray) => {
    const [value, grads] = valueAndGrad(loss)(keepTree(t), f, e, x, y, m);
    const next = opt.update(t, grads, s, 1e-4);
    return { t: next.params, s: next.state, value };
  });
  let state = opt.init(trainable);
  const count = Object.values(trainable).reduce((n, x) => n + x.size, 0);
  let t1 = 0;
  for (let i = 0; i < WARMUP + STEPS; i++) {
    if (i === WARMUP) {
      await blockUntilReady([trainable, state]);
      t1 = performance.now();
    }
    const out = step(trainable, state, keepTree(frozen), encoder.ref, inputs.ref, targets.ref, mask.ref);
    trainable = out.t;
    state = out.s;
    const l = await readScalar(out.value);
    if (!Number.isFinite(l)) throw new Error(`family_step ${family} ${mode}: loss ${l} at step ${i + 1}`);
  }
  await blockUntilReady([trainable, state]);
  const seconds = (performance.now() - t1) / 1e3;
  const rss = process.memoryUsage().rss;
  const params = { family, mode, batch: BATCH, seq: SEQ, threads };
  const fig = (metric: string, value: number, unit: string): Figure => ({
    bench: "family_step",
    impl: "stepwise",
    params: { ...params, metric },
    value,
    unit,
  });
  yield fig("tokens_per_s", Number(((STEPS * BATCH * dec) / seconds).toFixed(1)), "tokens/s");
  yield fig("step_ms", Number(((1000 * seconds) / STEPS).toFixed(1)), "ms");
  yield fig("rss", Number((rss / 2 ** 20).toFixed(1)), "MB");
  yield fig("trainable_params", count, "params");
  step.dispose();
  disposeTree([trainable, state, frozen, encoder, inputs, targets, mask]);
}

export const familyStep: Bench = async function* (ctx) {
  for (const family of FAMILIES) {
    for (const mode of MODES) {
      yield* childFigures(
        {
          label: `family_step ${family} ${mode}`,
          command: process.execPath,
          args: ["--import", "tsx", "bench/family-step.ts", "--family", family, "--mode", mode],
          env: process.env,
        },
        ctx,
      );
    }
  }
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const arg = (flag: string) => process.argv[process.argv.indexOf(flag) + 1];
  const family = arg("--family") as Family;
  const mode = arg("--mode") as Mode;
  if (!FAMILIES.includes(family) || !MODES.includes(mode)) {
    process.stderr.write(
      `family-step: expected --family ${FAMILIES.join("|")} --mode ${MODES.join("|")}, got ${process.argv.slice(2).join(" ")}\n`,
    );
    process.exit(2);
  }
  for await (const f of measure(family, mode)) process.stdout.write(`${JSON.stringify(f)}\n`);
}
