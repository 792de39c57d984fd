/** Answer metrics: accuracy with Wilson intervals, unbiased pass@k, majority vote (maj@k). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  accuracy,
  exactMatch,
  majAtK,
  majorityVote,
  meanPassAtK,
  passAtK,
  wilsonInterval,
} from "../src/eval/metrics.ts";

/** Naive pass@k: the fraction of all k-subsets of n samples (c of them correct) holding ≥ 1 correct sample. */
function passAtKByEnumeration(n: number, c: number, k: number): number {
  let hit = 0;
  let all = 0;
  // samples 0..c-1 are the correct ones; enumerate subsets as bit masks
  for (let mask = 0; mask < 1 << n; mask++) {
    let bits = 0;
    for (let m = mask; m; m &= m - 1) bits++;
    if (bits !== k) continue;
    all++;
    if ((mask & ((1 << c) - 1)) !== 0) hit++;
  }
  return hit / all;
}

/** Exact binomial C(a, b) as bigint. */
function binom(a: number, b: number): bigint {
  if (b < 0 || b > a) return 0n;
  let r = 1n;
  for (let i = 0; i < b; i++) r = (r * BigInt(a - i)) / BigInt(i + 1);
  return r;
}

describe("pass@k", () => {
  test("equals exhaustive enumeration of k-subsets for every n ≤ 10", () => {
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) {
          const want = passAtKByEnumeration(n, c, k);
          assert.ok(Math.abs(passAtK(n, c, k) - want) < 1e-12, `n=${n} c=${c} k=${k}: ${passAtK(n, c, k)} vs ${want}`);
        }
      }
    }
  });

  test("stable at n = 200, k = 100 (C(200,100) ≈ 9e58 is never formed)", () => {
    for (const c of [0, 1, 2, 5, 50, 100, 101, 200]) {
      const got = passAtK(200, c, 100);
      // reference: 1 − C(n−c, k)/C(n, k) with exact bigints, scaled to 1e-30 resolution
      const scale = 10n ** 30n;
      const want = 1 - Number((binom(200 - c, 100) * scale) / binom(200, 100)) / 1e30;
      assert.ok(Number.isFinite(got) && got >= 0 && got <= 1, `c=${c}: ${got}`);
      assert.ok(Math.abs(got - want) < 1e-12, `c=${c}: ${got} vs ${want}`);
    }
    assert.equal(passAtK(200, 0, 100), 0);
    assert.equal(passAtK(200, 101, 100), 1); // n − c = 99 < k: every 100-subset holds a correct sample
    // c = 1: exactly k/n
    assert.ok(Math.abs(passAtK(200, 1, 100) - 0.5) < 1e-15);
  });

  test("pass@1 = c/n and the mean over problems", () => {
    assert.ok(Math.abs(passAtK(10, 3, 1) - 0.3) < 1e-15);
    assert.ok(
      Math.abs(
        meanPassAtK(
          [
            { n: 10, c: 3 },
            { n: 10, c: 0 },
          ],
          1,
        ) - 0.15,
      ) < 1e-15,
    );
  });

  test("rejects impossible arguments with the values", () => {
    assert.throws(() => passAtK(5, 6, 1), /passAtK: .*n=5, c=6, k=1/);
    assert.throws(() => passAtK(5, 1, 6), /k=6/);
    assert.throws(() => passAtK(5, 1, 0), /k=0/);
  });
});

describe("majority vote / maj@k", () => {
  test("groups equivalent answers (1/2, 0.5, 0.50)", () => {
    const v = majorityVote(["0.5", "3", "1/2", "3", "0.50"], "gsm8k");
    assert.equal(v.key, "0.5");
    assert.equal(v.answer, "0.5");
    assert.equal(v.votes, 3);
    assert.equal(v.voters, 5);
  });

  test("ties go to the answer whose first vote came earliest", () => {
    assert.equal(majorityVote(["7", "8", "8", "7"], "gsm8k").answer, "7");
    assert.equal(majorityVote(["8", "7", "7", "8"], "gsm8k").answer, "8");
    assert.equal(majorityVote(["B", "A", "C"], "mc").answer, "B");
  });

  test("null answers abstain; all-null gives null", () => {
    assert.equal(majorityVote([null, "4", null], "gsm8k").answer, "4");
    const none = majorityVote([null, null], "gsm8k");
    assert.equal(none.answer, null);
    assert.equal(none.votes, 0);
    assert.equal(majAtK([null, null], "4", "gsm8k", 2), 0);
  });

  test("maj@k uses the first k samples", () => {
    const samples = ["5", "4", "4", "5", "5"];
    assert.equal(majAtK(samples, "5", "gsm8k", 1), 1);
    assert.equal(majAtK(samples, "5", "gsm8k", 3), 0); // 4 wins 2–1
    assert.equal(majAtK(samples, "5", "gsm8k", 4), 1); // 2–2 tie → 5 voted first
    assert.equal(majAtK(samples, "5", "gsm8k", 5), 1);
    assert.throws(() => majAtK(samples, "5", "gsm8k", 6), /majAtK: need 1 <= k <= answers.length \(5\), got k=6/);
  });
});

describe("accuracy and Wilson intervals", () => {
  test("per-task breakdown", () => {
    const r = accuracy([
      { task: "gsm8k", correct: true },
      { task: "gsm8k", correct: false },
      { task: "aqua", correct: true },
      { task: "gsm8k", correct: true },
    ]);
    assert.equal(r.n, 4);
    assert.equal(r.correct, 3);
    assert.equal(r.accuracy, 0.75);
    assert.deepEqual(Object.keys(r.byTask), ["aqua", "gsm8k"]);
    assert.equal(r.byTask["gsm8k"]!.accuracy, 2 / 3);
    assert.equal(r.byTask["aqua"]!.n, 1);
    assert.equal(accuracy([]).accuracy, 0);
  });

  test("Wilson interval matches hand values", () => {
    // 8/10, z = 1.96, z² = 3.8416: centre p̂ + z²/2n = 0.8 + 0.19208 = 0.99208, denominator 1 + z²/n = 1.38416,
    // half-width 1.96·sqrt(0.8·0.2/10 + 3.8416/400) = 1.96·sqrt(0.025604) = 0.313624
    // → lo = 0.678456/1.38416 = 0.49016, hi = 1.305704/1.38416 = 0.94332
    const a = wilsonInterval(8, 10);
    assert.ok(Math.abs(a.lo - 0.4902) < 1e-4 && Math.abs(a.hi - 0.9433) < 1e-4, JSON.stringify(a));
    // 0/10 → [0, z²/(n+z²)] = [0, 3.8416/13.8416] = [0, 0.27754]
    const b = wilsonInterval(0, 10);
    assert.equal(b.lo, 0);
    assert.ok(Math.abs(b.hi - 3.8416 / 13.8416) < 1e-12);
    assert.deepEqual(wilsonInterval(0, 0), { lo: 0, hi: 1 });
    assert.throws(() => wilsonInterval(3, 2), /correct=3, n=2/);
  });

  test("exactMatch uses the task's normalisation", () => {
    assert.equal(exactMatch("1,000.0", "1000", "gsm8k"), 1);
    assert.equal(exactMatch("\\dfrac{1}{2}", "\\frac{1}{2}", "math"), 1);
    assert.equal(exactMatch(null, "1", "gsm8k"), 0);
  });
});
