/**
 * Packing and bucketing (src/data/packing.ts): every token of every example appears
 * exactly once and in order; the attention mask from segment ids is block-diagonal
 * causal (checked against a naive second definition); positions restart per
 * example; padding efficiency on hand-counted cases; determinism.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { blockCausalMask, bucketBatches, packExamples, type SequenceExample } from "../src/data/packing.ts";
import { Rng } from "../src/engine/rng.ts";

const PAD = 0;

/** Example i of length n: ids 1000·(i+1) + t, first half prompt (mask 0), rest target (mask 1). */
function example(i: number, n: number): SequenceExample {
  const input_ids = Array.from({ length: n }, (_, t) => 1000 * (i + 1) + t);
  const loss_mask = input_ids.map((_, t) => (t >= Math.floor(n / 2) ? 1 : 0));
  return { input_ids, loss_mask };
}

function checkPacking(examples: SequenceExample[], seqLen: number, strategy: "first-fit-decreasing" | "sequential") {
  const { rows, placement, stats } = packExamples(examples, { seqLen, padId: PAD, strategy });
  // Every token of every example exactly once, in order, at its placement, with its loss mask.
  const seen = new Set<number>();
  examples.forEach((ex, i) => {
    const { row, offset } = placement[i]!;
    const r = rows[row]!;
    assert.deepEqual(r.input_ids.slice(offset, offset + ex.input_ids.length), ex.input_ids, `example ${i}`);
    assert.deepEqual(r.loss_mask.slice(offset, offset + ex.input_ids.length), ex.loss_mask);
    const seg = r.segment_ids[offset]!;
    assert.ok(seg > 0);
    assert.deepEqual(
      r.position_ids.slice(offset, offset + ex.input_ids.length),
      ex.input_ids.map((_, t) => t),
      "positions restart at 0 for each example",
    );
    assert.ok(r.segment_ids.slice(offset, offset + ex.input_ids.length).every((s) => s === seg));
    assert.equal(r.segment_ids.filter((s) => s === seg).length, ex.input_ids.length, "one segment per example");
    for (const id of ex.input_ids) seen.add(id);
  });
  let real = 0;
  for (const r of rows) {
    assert.equal(r.input_ids.length, seqLen);
    for (let t = 0; t < seqLen; t++) {
      if (r.segment_ids[t] === 0) {
        assert.equal(r.input_ids[t], PAD);
        assert.equal(r.loss_mask[t], 0);
      } else {
        real++;
        assert.ok(seen.has(r.input_ids[t]!));
      }
    }
    // Padding only at the end of a row; examples in a row in input order.
    const firstPad = r.segment_ids.indexOf(0);
    if (firstPad >= 0) assert.ok(r.segment_ids.slice(firstPad).every((s) => s === 0));
    assert.deepEqual(
      r.examples,
      [...r.examples].sort((a, b) => a - b),
    );
  }
  const total = examples.reduce((s, e) => s + e.input_ids.length, 0);
  assert.equal(real, total, "no token duplicated or lost");
  assert.equal(stats.tokens, total);
  assert.equal(stats.slots, rows.length * seqLen);
  assert.equal(stats.paddingTokens, stats.slots - total);
  return { rows, stats };
}

describe("packing", () => {
  test("hand-counted: lengths 5, 3, 4, 2, 6 into rows of 8", () => {
    const examples = [5, 3, 4, 2, 6].map((n, i) => example(i, n));
    // First-fit decreasing: 6 → row0 (2 left), 5 → row1 (3 left), 4 → row2 (4 left), 3 → row1 (0 left), 2 → row0 (0 left).
    const ffd = checkPacking(examples, 8, "first-fit-decreasing");
    assert.deepEqual(
      ffd.rows.map((r) => r.examples),
      [[3, 4], [0, 1], [2]],
    );
    assert.equal(ffd.stats.rows, 3);
    assert.equal(ffd.stats.efficiency, 20 / 24);
    assert.equal(ffd.stats.examplesPerRow, 5 / 3);
    assert.deepEqual(ffd.rows[0]!.segment_ids, [1, 1, 2, 2, 2, 2, 2, 2]);
    assert.deepEqual(ffd.rows[0]!.position_ids, [0, 1, 0, 1, 2, 3, 4, 5]);
    assert.deepEqual(ffd.rows[2]!.segment_ids, [1, 1, 1, 1, 0, 0, 0, 0]);
    // Sequential: [5, 3] [4, 2] [6] — also 3 rows here, input order kept across rows.
    const seq = checkPacking(examples, 8, "sequential");
    assert.deepEqual(
      seq.rows.map((r) => r.examples),
      [[0, 1], [2, 3], [4]],
    );
  });

  test("property: random lengths, both strategies, every token once and in order; deterministic", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 32 }), { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 32, max: 64 }),
        (lengths, seqLen) => {
          const examples = lengths.map((n, i) => example(i, n));
          for (const s of ["first-fit-decreasing", "sequential"] as const) {
            const a = checkPacking(examples, seqLen, s);
            assert.deepEqual(packExamples(examples, { seqLen, padId: PAD, strategy: s }).rows, a.rows);
          }
        },
      ),
      { numRuns: 200, seed: 1 },
    );
  });

  test("an example longer than seqLen is an error that says where to drop it", () => {
    assert.throws(
      () => packExamples([example(0, 4), example(1, 9)], { seqLen: 8, padId: PAD }),
      /packExamples: example 1 has 9 tokens > seqLen 8; tokenize with maxLength/,
    );
  });
});

describe("block-causal attention mask", () => {
  test("by hand: segments [1,1,2,2,2,0]", () => {
    const m = blockCausalMask([1, 1, 2, 2, 2, 0]);
    const rows = Array.from({ length: 6 }, (_, i) => Array.from(m.subarray(i * 6, i * 6 + 6)).join(""));
    assert.deepEqual(rows, ["100000", "110000", "001000", "001100", "001110", "000001"]);
  });

  test("property: equals the naive definition seg[i] = seg[j] ≠ 0 ∧ j ≤ i (padding: diagonal only)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 6 }),
        (lens, pad) => {
          const seg = [...lens.flatMap((n, k) => new Array<number>(n).fill(k + 1)), ...new Array<number>(pad).fill(0)];
          const T = seg.length;
          const m = blockCausalMask(seg);
          assert.equal(m.length, T * T);
          for (let i = 0; i < T; i++)
            for (let j = 0; j < T; j++) {
              const want = seg[i] === 0 ? i === j : seg[i] === seg[j] && j <= i;
              assert.equal(m[i * T + j], want ? 1 : 0, `(${i}, ${j})`);
            }
        },
      ),
      { numRuns: 200, seed: 2 },
    );
  });

  test("on a packed row: no position attends across examples", () => {
    const { rows } = packExamples([example(0, 3), example(1, 4)], { seqLen: 10, padId: PAD });
    const r = rows[0]!;
    const m = blockCausalMask(r.segment_ids);
    for (let i = 0; i < 10; i++)
      for (let j = 0; j < 10; j++) if (m[i * 10 + j]) assert.equal(r.segment_ids[i], r.segment_ids[j]);
  });
});

describe("length-bucketed padding", () => {
  test("hand-counted: lengths 5, 3, 4, 2, 6, 1 in batches of 2", () => {
    const examples = [5, 3, 4, 2, 6, 1].map((n, i) => example(i, n));
    const { batches, stats } = bucketBatches(examples, { batchSize: 2, padId: PAD });
    // Sorted by length: 1(5) 2(3) | 3(1) 4(2) | 5(0) 6(4) → batch lengths 2, 4, 6.
    assert.deepEqual(
      batches.map((b) => b.examples),
      [
        [5, 3],
        [1, 2],
        [0, 4],
      ],
    );
    assert.deepEqual(
      batches.map((b) => b.input_ids[0]!.length),
      [2, 4, 6],
    );
    assert.deepEqual(batches[0]!.attention_mask, [
      [1, 0],
      [1, 1],
    ]);
    assert.deepEqual(batches[0]!.input_ids[0], [6000, PAD]);
    assert.deepEqual(batches[0]!.loss_mask[0], [1, 0]);
    assert.equal(stats.tokens, 21);
    assert.equal(stats.slots, 2 * 2 + 2 * 4 + 2 * 6);
    assert.equal(stats.efficiency, 21 / 24);
    // Rounded up to a multiple of 4: lengths 4, 4, 8 → 32 slots.
    assert.equal(bucketBatches(examples, { batchSize: 2, padId: PAD, padToMultipleOf: 4 }).stats.slots, 32);
  });

  test("every example exactly once, unpadded part intact; batch order shuffled reproducibly", () => {
    const examples = Array.from({ length: 37 }, (_, i) => example(i, 1 + ((i * 7) % 13)));
    const a = bucketBatches(examples, { batchSize: 4, padId: PAD, rng: new Rng(5) });
    const b = bucketBatches(examples, { batchSize: 4, padId: PAD, rng: new Rng(5) });
    assert.deepEqual(a, b);
    const all = a.batches.flatMap((x) => x.examples).sort((p, q) => p - q);
    assert.deepEqual(
      all,
      examples.map((_, i) => i),
    );
    for (const batch of a.batches)
      batch.examples.forEach((i, r) => {
        const n = examples[i]!.input_ids.length;
        assert.deepEqual(batch.input_ids[r]!.slice(0, n), examples[i]!.input_ids);
        assert.equal(
          batch.attention_mask[r]!.reduce((s, x) => s + x, 0),
          n,
        );
      });
    const unsorted = a.batches.map((x) => x.input_ids[0]!.length);
    assert.notDeepEqual(
      unsorted,
      [...unsorted].sort((p, q) => p - q),
      "shuffled batch order",
    );
    // Bucketing pads less than one batch of random order would.
    assert.ok(a.stats.efficiency > 0.85, String(a.stats.efficiency));
  });
});
