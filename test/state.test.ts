import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { initEngine } from "../src/engine/device.ts";
import { type Array as JaxArray, jit, np, valueAndGrad } from "../src/engine/jax.ts";
import { disposeTree, keepTree, readFloat32, readScalar } from "../src/engine/memory.ts";
import { adamw, type Optimizer, type OptimizerState, sgd } from "../src/engine/optim.ts";
import { loadOptimizerState, saveOptimizerState } from "../src/engine/optim-state.ts";
import type { Params } from "../src/engine/params.ts";
import { Rng } from "../src/engine/rng.ts";
import { fromTyped, SafetensorsError, writeSafetensors } from "../src/engine/safetensors.ts";
import { arrayToHost, hostToArray, loadParams, saveParams } from "../src/engine/tensors.ts";

let dir: string;
before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), "stepwise-state-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function makeParams(seed: number): Params {
  const rng = new Rng(seed);
  const rand = (shape: number[]) =>
    np.array(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
      { shape },
    );
  return { "proj.weight": rand([4, 3]), "proj.bias": rand([3]) };
}

/** A small regression problem; returns a jit step and its data. */
function problem(opt: Optimizer) {
  const rng = new Rng(99);
  const x = np.array(
    Float32Array.from({ length: 32 * 4 }, () => rng.normal()),
    { shape: [32, 4] },
  );
  const y = np.array(
    Float32Array.from({ length: 32 * 3 }, () => rng.normal()),
    { shape: [32, 3] },
  );
  const loss = (p: Params, xs: JaxArray, ys: JaxArray) =>
    np.mean(np.square(np.subtract(np.add(np.matmul(xs, p["proj.weight"]!), p["proj.bias"]!), ys)));
  const step = jit((p: Params, s: OptimizerState, xs: JaxArray, ys: JaxArray, lr: JaxArray) => {
    const [value, grads] = valueAndGrad(loss)(keepTree(p), xs, ys);
    const next = opt.update(p, grads, s, lr);
    return { params: next.params, state: next.state, value };
  });
  return { x, y, step };
}

async function train(opt: Optimizer, params: Params, state: OptimizerState, steps: number) {
  const { x, y, step } = problem(opt);
  for (let i = 0; i < steps; i++) {
    const out = step(params, state, x.ref, y.ref, np.array(0.05));
    params = out.params;
    state = out.state;
    await readScalar(out.value);
  }
  disposeTree([x, y]);
  step.dispose();
  return { params, state };
}

async function bytesOf(p: Params): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p)) out[k] = (await arrayToHost(v.ref)).data;
  return out;
}

describe("optimizer state on disk", () => {
  for (const [name, make] of [
    ["adamw", () => adamw({ weightDecay: 0.1 })],
    ["sgd+momentum", () => sgd({ momentum: 0.9, nesterov: true })],
  ] as const) {
    test(`${name}: 3 steps, save, load, 3 more steps equals 6 uninterrupted steps, bit for bit`, async () => {
      const opt = make();
      // Uninterrupted.
      const p0 = makeParams(1);
      const full = await train(opt, p0, opt.init(p0), 6);
      const want = await bytesOf(full.params);

      // Interrupted: train 3, save both params and state, drop everything, reload, train 3.
      const q0 = makeParams(1);
      const half = await train(opt, q0, opt.init(q0), 3);
      await saveParams(join(dir, `${name}-params.safetensors`), half.params);
      await saveOptimizerState(join(dir, `${name}-opt.safetensors`), opt, half.state);
      disposeTree([half.params, half.state]);
      const { params: loaded } = await loadParams(join(dir, `${name}-params.safetensors`));
      const state = await loadOptimizerState(join(dir, `${name}-opt.safetensors`), opt, loaded);
      assert.equal(await readScalar(state.count.ref), 3);
      const resumed = await train(opt, loaded, state, 3);
      const got = await bytesOf(resumed.params);
      for (const k of Object.keys(want)) assert.deepEqual(got[k], want[k], `${k} differs after resume`);
      disposeTree([full, resumed]);
    });
  }

  test("loading checks the optimizer kind, the parameter names and shapes", async () => {
    const opt = adamw();
    const params = makeParams(2);
    const state = opt.init(params);
    const path = join(dir, "check.safetensors");
    await saveOptimizerState(path, opt, state);
    await assert.rejects(loadOptimizerState(path, sgd({ momentum: 0.9 }), params), /saved by a "adamw" optimizer/);
    const other = { "proj.weight": np.zeros([4, 3]), "other.bias": np.zeros([3]) };
    await assert.rejects(loadOptimizerState(path, opt, other), /missing tensor "exp_avg\/other\.bias"/);
    const wrongShape = { "proj.weight": np.zeros([3, 4]), "proj.bias": np.zeros([3]) };
    await assert.rejects(loadOptimizerState(path, opt, wrongShape), (e: Error) => {
      assert.ok(e instanceof SafetensorsError);
      assert.match(
        e.message,
        /check\.safetensors: optimizer state: "exp_avg\/proj\.weight" has shape \[4,3\], parameter has \[3,4\]/,
      );
      return true;
    });
    const plain = join(dir, "plain.safetensors");
    await saveParams(plain, params);
    await assert.rejects(loadOptimizerState(plain, opt, params), /metadata "format" is undefined/);
    disposeTree([params, state, other, wrongShape]);
  });
});

describe("array <-> safetensors bridge", () => {
  test("float32, int32 and bool arrays round-trip; F16/BF16 load as float32", async () => {
    const f = np.array([1.5, -2.25, 3e-8, 65504]);
    const i = np.array([-5, 0, 2147483647], { dtype: np.int32 });
    const hf = await arrayToHost(f);
    const hi = await arrayToHost(i);
    assert.equal(hf.dtype, "F32");
    assert.equal(hi.dtype, "I32");
    assert.deepEqual(Array.from(await readFloat32(hostToArray(hf))), [1.5, -2.25, Math.fround(3e-8), 65504]);
    assert.deepEqual(Array.from(await hostToArray(hi).data()), [-5, 0, 2147483647]);
    const h16 = await arrayToHost(np.array([1, -2, 0.5]), "F16");
    assert.equal(h16.dtype, "F16");
    assert.deepEqual(Array.from(await readFloat32(hostToArray(h16))), [1, -2, 0.5]);
    const b = await arrayToHost(np.array([1, 0, 1]).greater(0.5));
    assert.equal(b.dtype, "BOOL");
    assert.deepEqual(Array.from(b.data), [1, 0, 1]);
  });

  test("I64 values beyond int32 are an error naming the tensor, not a silent wrap", async () => {
    const path = join(dir, "i64.safetensors");
    await writeSafetensors(path, { ids: fromTyped(BigInt64Array.from([1n, 2n ** 40n]), [2]) });
    await assert.rejects(loadParams(path), /"ids".*I64 value 1099511627776 does not fit in int32/);
  });
});
