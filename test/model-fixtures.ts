/** Shared by the model tests: the committed tiny checkpoints and their reference logits. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type Array as JaxArray, np } from "../src/engine/jax.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { forward, forwardSeq2seq, type Model } from "../src/model/model.ts";
import { assertClose } from "./helpers.ts";

interface Expected {
  sequences: number[][];
  /** Encoder–decoder fixtures: the decoder inputs (the sequences are the encoder's). */
  decoder_sequences?: number[][];
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

/**
 * An encoder–decoder fixture: each (encoder, decoder) pair alone, then all pairs in one batch
 * with the encoder inputs padded on `encoderPadding`'s side (masked) and the decoder inputs
 * right-padded, vs the reference decoder logits.
 */
export async function checkSeq2seqAgainstReference(
  model: Model,
  name: string,
  encoderPadding: "left" | "right",
): Promise<number> {
  const want = readExpected(name);
  const dec = want.decoder_sequences!;
  const V = model.config.vocabSize;
  let worst = 0;
  const track = (got: Float32Array, exp: number[][], what: string) => {
    const flat = exp.flat();
    assertClose(got, flat, 1e-4, what);
    for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(got[i]! - flat[i]!));
  };
  for (const [s, seq] of want.sequences.entries()) {
    const { logits } = forwardSeq2seq(keepTree(model.params), model.config, ids2d([seq]), ids2d([dec[s]!]));
    assert.deepEqual(logits.shape, [1, dec[s]!.length, V]);
    track(await readFloat32(logits), want.logits[s]!, `${name} pair ${s}`);
  }
  const S = Math.max(...want.sequences.map((s) => s.length));
  const T = Math.max(...dec.map((d) => d.length));
  const padded = (row: number[], n: number, fill: number, left: boolean) => {
    const p = new Array(n - row.length).fill(fill);
    return left ? [...p, ...row] : [...row, ...p];
  };
  const left = encoderPadding === "left";
  const enc = want.sequences.map((s) => padded(s, S, 0, left));
  const encMask = want.sequences.map((s) =>
    padded(
      s.map(() => 1),
      S,
      0,
      left,
    ),
  );
  const { logits } = forwardSeq2seq(
    keepTree(model.params),
    model.config,
    ids2d(enc),
    ids2d(dec.map((d) => padded(d, T, 0, false))),
    { encoderMask: ids2d(encMask) },
  );
  const got = await readFloat32(logits); // [B, T, V]
  for (const [s, d] of dec.entries()) {
    track(
      got.subarray(s * T * V, (s * T + d.length) * V),
      want.logits[s]!,
      `${name} pair ${s} in a ${encoderPadding}-padded batch`,
    );
  }
  return worst;
}
