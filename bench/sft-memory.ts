/**
 * sft_memory: resident memory of fine-tuning the reference config
 * (bench/reference-config.ts, batch 16 × 128 tokens) three ways —
 *
 *   full    every parameter trained: weights + grads + AdamW's two slots
 *   lora    r 16, α 32 on every linear layer of the blocks; float32 base frozen
 *   qlora   the same adapter on a base whose matrices are NF4, block 64 (4.5 bits a weight)
 *
 * Each mode runs in its own process (Wasm memory only grows, so one process
 * would report the largest mode for all): a few jit-compiled AdamW steps,
 * every loss awaited, then the figures — process RSS (MB) after the steps and
 * the bytes of the trained parameters, of the optimizer state and of the base
 * weights as they live on the device. The 4-bit base must be ≤ 1/6 of float32.
 */
import { pathToFileURL } from "node:url";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readScalar } from "../src/engine/memory.ts";
import { adamw, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import { type FineTuneSetup, setupLora, setupQlora } from "../src/model/adapters/lora.ts";
import { forward, initParams } from "../src/model/model.ts";
import { childFigures, ROOT } from "./child.ts";
import { REFERENCE, referenceConfig } from "./reference-config.ts";
import type { Bench, Figure } from "./types.ts";

const MODES = ["full", "lora", "qlora"] as const;
type Mode = (typeof MODES)[number];
const STEPS = 3;
const LORA = {
  r: 16,
  alpha: 32,
  targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
};

const bytes = (t: Params | OptimizerState): number =>
  (Object.values(t) as (JaxArray | Params | Record<string, Params>)[]).reduce<number>((n, x) => {
    if ("size" in x && typeof x.size === "number" && "dtype" in x) return n + (x as JaxArray).size * 4;
    return n + bytes(x as Params);
  }, 0);

async function setupFor(mode: Mode, base: Params): Promise<FineTuneSetup> {
  if (mode === "full") {
    return {
      trainable: base,
      frozen: {},
      materialize: (t, f) => {
        disposeTree(f);
        return t;
      },
      frozenBytes: 0,
    };
  }
  if (mode === "lora") {
    const s = setupLora(base, LORA);
    disposeTree(base); // the setup holds its own refs
    return s;
  }
  const s = await setupQlora(base, { ...LORA, quant: { bits: 4, block: 64 } });
  disposeTree(base);
  return s;
}

/** One mode, in this process: yields its figures. */
export async function* measureMode(mode: Mode): AsyncGenerator<Figure> {
  await initEngine();
  const config = referenceConfig();
  const { batch: B, seq: T, vocab: V } = REFERENCE;
  const base = initParams(config, { seed: 0 });
  const setup = await setupFor(mode, base);
  const rng = new Rng(1);
  const tokens = Int32Array.from({ length: B * (T + 1) }, () => rng.int(0, V - 1));
  const ids = np.array(
    Int32Array.from({ length: B * T }, (_, k) => tokens[Math.floor(k / T) * (T + 1) + (k % T)]!),
    { shape: [B, T], dtype: np.int32 },
  );
  const targets = np.array(
    Int32Array.from({ length: B * T }, (_, k) => tokens[Math.floor(k / T) * (T + 1) + (k % T) + 1]!),
    { shape: [B, T], dtype: np.int32 },
  );
  const mask = np.ones([B, T]);
  const opt = adamw({ weightDecay: 0 });
  const loss = (t: Params, f: Params, x: JaxArray, y: JaxArray, m: JaxArray) =>
    tokenNll(forward(setup.materialize(t, f), config, x).logits, y, m);
  const step = jit((t: Params, s: OptimizerState, f: Params, x: JaxArray, y: JaxArray, m: JaxArray) => {
    const [value, grads] = valueAndGrad(loss)(keepTree(t), f, x, y, m);
    const next = opt.update(t, grads, s, 1e-3);
    return { t: next.params, s: next.state, value };
  });
  let trainable = setup.trainable;
  let state = opt.init(trainable);
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const out = step(trainable, state, { ...keepTree(setup.frozen) }, ids.ref, targets.ref, mask.ref);
    trainable = out.t;
    state = out.s;
    const l = await readScalar(out.value);
    process.stderr.write(
      `${mode} step ${i + 1}: loss ${l.toFixed(4)} (${((performance.now() - t0) / (i + 1)).toFixed(0)} ms/step incl. compile)\n`,
    );
  }
  const rss = process.memoryUsage().rss;
  const p = { batch: B, seq: T, steps: STEPS };
  const fig = (metric: string, value: number, unit: string): Figure => ({
    bench: "sft_memory",
    impl: "stepwise",
    params: { mode, metric, ...p },
    value,
    unit,
  });
  const trainableBytes = bytes(trainable);
  const baseBytes = mode === "full" ? trainableBytes : setup.frozenBytes;
  yield fig("rss", Number((rss / 2 ** 20).toFixed(1)), "MB");
  yield fig("trainable_bytes", trainableBytes, "bytes");
  yield fig("optimizer_state_bytes", bytes(state), "bytes");
  yield fig("base_weight_bytes", baseBytes, "bytes");
  if ("quantBytes" in setup) {
    const q = (setup as { quantBytes: { ratio: number } }).quantBytes;
    yield fig("quantized_over_float32", Number(q.ratio.toFixed(4)), "ratio");
  }
  step.dispose();
  disposeTree([trainable, state, setup.frozen, ids, targets, mask]);
}

export const sftMemory: Bench = async function* (ctx) {
  for (const mode of MODES) {
    yield* childFigures(
      {
        label: `sft_memory ${mode}`,
        command: process.execPath,
        args: ["--import", "tsx", "bench/sft-memory.ts", "--mode", mode],
        env: process.env,
      },
      ctx,
    );
  }
  ctx.log(`sft_memory: each mode ran in its own process from ${ROOT}`);
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const i = process.argv.indexOf("--mode");
  const mode = process.argv[i + 1] as Mode;
  if (i < 0 || !MODES.includes(mode)) {
    process.stderr.write(`sft-memory: expected --mode ${MODES.join("|")}, got ${process.argv.slice(2).join(" ")}\n`);
    process.exit(2);
  }
  for await (const f of measureMode(mode)) process.stdout.write(`${JSON.stringify(f)}\n`);
}
