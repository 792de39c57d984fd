/**
 * Block-wise quantisation (src/model/adapters/quant.ts): error bounds against the
 * codebook's spacing, exact round trips of representable values, packed byte
 * counts, host vs device dequantisation (bitwise), the reference config's 4-bit
 * base-weight bytes, and QLoRA steps on a 4-bit base.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { referenceConfig } from "../bench/reference-config.ts";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { tokenNll } from "../src/engine/losses.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { adamw, type OptimizerState } from "../src/engine/optim.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import { setupQlora } from "../src/model/adapters/lora.ts";
import {
  codebook,
  dequantize,
  dequantizeArray,
  NF4_LEVELS,
  type QuantBits,
  quantBytes,
  quantBytesFor,
  quantize,
  quantToDevice,
} from "../src/model/adapters/quant.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { forward, paramShapes } from "../src/model/model.ts";

function gaussian(n: number, seed: number, std = 0.05): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => std * rng.normal());
}

/** Max |w − ŵ| allowed for value i: half a code step around w/s (nearest-code rounding), plus float32 rounding. */
function bound(bits: QuantBits, x: number, scale: number): number {
  if (bits === 8) return scale / 254 + 1e-7 * scale;
  let u = 0;
  while (u < 14 && x > NF4_LEVELS[u + 1]!) u++;
  return ((NF4_LEVELS[u + 1]! - NF4_LEVELS[u]!) / 2) * scale + 1e-7 * scale;
}

describe("quantize / dequantize on the host", () => {
  for (const bits of [8, 4] as const) {
    test(`${bits === 8 ? "int8" : "nf4"}: error within half a code step of each block's absmax`, () => {
      const shape = [37, 50]; // 1850 values: a partial last block, an odd count
      const w = gaussian(1850, bits);
      w[3] = 0.9; // an outlier: its block's scale grows, the other blocks keep theirs
      const q = quantize(w, shape, { bits, block: 64 });
      const back = dequantize(q);
      let worst = 0;
      for (let i = 0; i < w.length; i++) {
        const s = q.scales[Math.floor(i / 64)]!;
        const err = Math.abs(w[i]! - back[i]!);
        assert.ok(err <= bound(bits, w[i]! / s, s), `value ${i}: |${w[i]} − ${back[i]}| = ${err} (scale ${s})`);
        worst = Math.max(worst, err / s);
      }
      assert.ok(bits === 8 ? worst <= 1 / 254 + 1e-6 : worst <= 0.152, `worst relative error ${worst}`);
      // scales are the block absmax
      for (let b = 0; b < q.scales.length; b++) {
        const block = w.subarray(b * 64, Math.min((b + 1) * 64, w.length));
        assert.equal(q.scales[b], Math.max(...Array.from(block, Math.abs)));
      }
    });

    test(`${bits === 8 ? "int8" : "nf4"}: representable values round-trip exactly; packed byte counts`, () => {
      const levels = codebook(bits === 8 ? "int8" : "nf4");
      const first = bits === 8 ? 1 : 0; // int8 code 0 (−128/127) is never produced
      const n = 640;
      const scales = Float32Array.from({ length: n / 64 }, (_, b) => 0.01 * (b + 1));
      const rng = new Rng(7);
      const w = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const s = scales[Math.floor(i / 64)]!;
        // first value of each block at +1·s so the block's absmax is exactly s
        w[i] = i % 64 === 0 ? s : levels[rng.int(first, levels.length - 1)]! * s;
      }
      const q = quantize(w, [n], { bits });
      assert.deepEqual(dequantize(q), w);
      assert.deepEqual(quantize(dequantize(q), [n], { bits }).codes, q.codes);
      assert.equal(q.codes.byteLength, bits === 8 ? n : n / 2);
      assert.equal(q.scales.byteLength, 4 * (n / 64));
      assert.equal(quantBytes(q), quantBytesFor(n, { bits }));
      assert.equal(quantize(new Float32Array(129), [129], { bits: 4 }).codes.byteLength, 65);
    });
  }

  test("all-zero blocks dequantise to zeros; bad options are rejected with the value", () => {
    assert.deepEqual(dequantize(quantize(new Float32Array(128), [2, 64], { bits: 4 })), new Float32Array(128));
    assert.throws(
      () => quantize(new Float32Array(8), [8], { block: 12 }),
      /block must be a positive multiple of 8, got 12/,
    );
    assert.throws(() => quantize(new Float32Array(8), [8], { bits: 3 as QuantBits }), /bits must be 8 or 4, got 3/);
    assert.throws(() => quantize(new Float32Array(8), [3, 3]), /holds 9 values, the data has 8/);
  });

  test("4-bit base bytes of the reference config's weights are at most 1/6 of float32", () => {
    const shapes = paramShapes(referenceConfig()); // vocab 512, hidden 256, 4 layers, MLP 688
    let f32 = 0;
    let q4 = 0;
    let q8 = 0;
    for (const [, shape] of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      f32 += 4 * n;
      // matrices quantised; vectors (norm gains) stay float32
      q4 += shape.length >= 2 ? quantBytesFor(n, { bits: 4 }) : 4 * n;
      q8 += shape.length >= 2 ? quantBytesFor(n, { bits: 8 }) : 4 * n;
    }
    console.log(
      `reference base: float32 ${f32} B, int8 ${q8} B (${(q8 / f32).toFixed(4)}), nf4 ${q4} B (${(q4 / f32).toFixed(4)})`,
    );
    assert.ok(q4 <= f32 / 6, `nf4 ${q4} B > float32 ${f32} B / 6`);
  });
});

describe("dequantize on the device", () => {
  before(async () => {
    await initEngine();
  });

  for (const bits of [8, 4] as const) {
    test(`${bits}-bit: device dequantisation equals the host's bitwise, eager and under jit (odd sizes too)`, async () => {
      for (const shape of [
        [24, 64],
        [5, 27],
      ]) {
        const n = shape[0]! * shape[1]!;
        const q = quantize(gaussian(n, 3), shape, { bits, block: 64 });
        const host = dequantize(q);
        const meta = { scheme: q.scheme, shape: q.shape, block: q.block, size: q.size };
        const eager = dequantizeArray(quantToDevice(q), meta);
        assert.deepEqual(eager.shape, shape);
        assert.deepEqual(await readFloat32(eager), host);
        const f = jit((words: JaxArray, scales: JaxArray) => dequantizeArray({ words, scales }, meta));
        const dev = quantToDevice(q);
        assert.deepEqual(await readFloat32(f(dev.words, dev.scales)), host);
        f.dispose();
      }
    });
  }
});

describe("QLoRA on the tiny-llama fixture", () => {
  before(async () => {
    await initEngine();
  });

  for (const bits of [4, 8] as const) {
    test(`${bits}-bit base: jit steps lower the loss; codes and scales stay bitwise unchanged`, async () => {
      const model = await loadModel("test/fixtures/tiny-llama");
      const setup = await setupQlora(model.params, {
        r: 4,
        alpha: 8,
        targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        quant: { bits },
      });
      disposeTree(model.params); // the frozen tree holds its own copies
      assert.ok(setup.quantBytes.ratio <= (bits === 4 ? 1 / 6 : 0.27), `bytes ratio ${setup.quantBytes.ratio}`);
      const before = new Map<string, Float32Array | Uint32Array>();
      for (const [name, x] of Object.entries(setup.frozen)) before.set(name, (await x.ref.data()) as Float32Array);
      assert.ok([...before.keys()].some((k) => k.endsWith("#codes")));

      const config = model.config;
      const T = 12;
      const seq = Array.from({ length: 2 * (T + 1) }, (_, i) => 3 + ((i * 5) % 11)); // a periodic sequence
      const ids = np.array(Int32Array.from([...seq.slice(0, T), ...seq.slice(T + 1, 2 * T + 1)]), {
        shape: [2, T],
        dtype: np.int32,
      });
      const targets = np.array(Int32Array.from([...seq.slice(1, T + 1), ...seq.slice(T + 2, 2 * T + 2)]), {
        shape: [2, T],
        dtype: np.int32,
      });
      const mask = np.ones([2, T]);
      const opt = adamw({ weightDecay: 0 });
      const loss = (t: Params, f: Params, x: JaxArray, y: JaxArray, m: JaxArray) =>
        tokenNll(forward(setup.materialize(t, f), config, x).logits, y, m);
      const step = jit((t: Params, s: OptimizerState, f: Params, x: JaxArray, y: JaxArray, m: JaxArray) => {
        const [value, grads] = valueAndGrad(loss)(keepTree(t), f, x, y, m);
        const next = opt.update(t, grads, s, 1e-2);
        return { t: next.params, s: next.state, value };
      });
      let trainable = setup.trainable;
      let state = opt.init(trainable);
      const losses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const out = step(trainable, state, keepTree(setup.frozen), ids.ref, targets.ref, mask.ref);
        trainable = out.t;
        state = out.s;
        losses.push(await readScalar(out.value));
      }
      console.log(`QLoRA ${bits}-bit losses: ${losses.map((l) => l.toFixed(4)).join(" ")}`);
      assert.ok(losses[7]! < losses[0]! - 0.1, `loss should fall: ${losses}`);
      for (const [name, x] of Object.entries(setup.frozen)) {
        assert.deepEqual(await x.ref.data(), before.get(name), `${name} changed`);
      }
      step.dispose();
      disposeTree([trainable, state, setup.frozen, ids, targets, mask]);
    });
  }
});
