/** Shared by the model tests: the committed tiny checkpoints and their reference logits. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type Array as JaxArray, np } from "../src/engine/jax.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { forward, type Model } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";

interface Expected {
  sequences: number[][];
  logits: number[][][];
}

export function readExpected(name: string): Expected {
  return JSON.parse(readFileSync(`test/fixtures/${name}/expected.json`, "utf8")) as Expected;
}

export function ids2d(rows: number[][]): JaxArray {
  return np.array(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: np.int32 });
}

/** Logits of each sequence alone, and of all of them left-padded in one batch, vs the reference. */
export async function checkAgainstReference(model: Model, name: string): Promise<number> {
  const want = readExpected(name);
  const V = model.config.vocabSize;
  let worst = 0;
  const track = (got: Float32Array, exp: number[][], what: string) => {
    const flat = exp.flat();
    assertClose(got, flat, 1e-4, what);
    for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(got[i]! - flat[i]!));
  };
  // One sequence at a time, no mask.
  for (const [s, seq] of want.sequences.entries()) {
    const { logits } = forward(keepTree(model.params), model.config, ids2d([seq]));
    assert.deepEqual(logits.shape, [1, seq.length, V]);
    track(await readFloat32(logits), want.logits[s]!, `${name} sequence ${s}`);
  }
  // All sequences in one batch, left-padded, with positions counting real tokens only.
  const Tmax = Math.max(...want.sequences.map((s) => s.length));
  const rows = want.sequences.map((s) => [...new Array(Tmax - s.length).fill(0), ...s]);
  const mask = want.sequences.map((s) => [...new Array(Tmax - s.length).fill(0), ...s.map(() => 1)]);
  const positions = want.sequences.map((s) => [...new Array(Tmax - s.length).fill(0), ...s.map((_, i) => i)]);
  const { logits } = forward(keepTree(model.params), model.config, ids2d(rows), {
    attentionMask: ids2d(mask),
    positions: ids2d(positions),
  });
  const got = await readFloat32(logits); // [B, Tmax, V]
  for (const [s, seq] of want.sequences.entries()) {
    const pad = Tmax - seq.length;
    const real = got.subarray((s * Tmax + pad) * V, (s + 1) * Tmax * V);
    track(real, want.logits[s]!, `${name} sequence ${s} left-padded in a batch`);
  }
  return worst;
}
