/**
 * Wording pools (src/data/tasks/wordings.ts): every kind has at least 8 forms, template 0 is
 * exactly what the generator writes, every wording is in exactly one split (never both,
 * never neither, defaults always trained), every wording of every kind keeps the gold answer
 * and passes the step checker, and a pooled dataset is the default one with other questions.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateDataset, generateProblems, reword, TASK_NAMES, TASKS } from "../src/data/tasks/index.ts";
import { fill, heldOutIndices, wordingIndices, wordingSplitOf } from "../src/data/tasks/wordings.ts";
import { Rng } from "../src/engine/rng.ts";

describe("wording pools", () => {
  test("every task has ≥ 8 distinct forms per kind, with both splits non-empty", () => {
    for (const t of TASK_NAMES) {
      const { pools } = TASKS[t].wordings;
      for (const [kind, pool] of Object.entries(pools)) {
        assert.ok(pool.length >= 8, `${t}/${kind}: ${pool.length} forms`);
        assert.equal(new Set(pool).size, pool.length, `${t}/${kind}: repeated form`);
        assert.ok(wordingIndices(t, pools, kind, "heldout").length >= 1, `${t}/${kind}: nothing held out`);
        assert.ok(wordingIndices(t, pools, kind, "train").length >= 2, `${t}/${kind}: too few trained`);
      }
    }
  });

  test("every wording is in exactly one split; defaults are trained; a template's split is the same in every kind", () => {
    for (const t of TASK_NAMES) {
      const { pools } = TASKS[t].wordings;
      const splitOfText = new Map<string, string>();
      for (const [kind, pool] of Object.entries(pools)) {
        const train = wordingIndices(t, pools, kind, "train");
        const held = wordingIndices(t, pools, kind, "heldout");
        assert.deepEqual(
          [...train, ...held].sort((a, b) => a - b),
          pool.map((_, i) => i),
        );
        assert.equal(train.filter((i) => held.includes(i)).length, 0, `${t}/${kind}: a wording in both splits`);
        assert.ok(train.includes(0), `${t}/${kind}: the default wording is held out`);
        for (const [i, text] of pool.entries()) {
          const split = wordingSplitOf(t, pools, kind, i);
          const before = splitOfText.get(text);
          assert.ok(
            before === undefined || before === split,
            `${t}: "${text}" is ${before} in one kind, ${split} in another`,
          );
          splitOfText.set(text, split);
        }
      }
    }
  });

  test("the split depends only on the template text and the fraction (not on seeds or order)", () => {
    const { pools } = TASKS.algebra.wordings;
    const a = [...heldOutIndices("algebra", pools, "equation", 0.25)].sort();
    const b = [...heldOutIndices("algebra", pools, "equation", 0.25)].sort();
    assert.deepEqual(a, b);
    assert.ok(heldOutIndices("algebra", pools, "equation", 0.5).size > a.length);
    assert.throws(() => heldOutIndices("algebra", pools, "equation", 1), /fraction must be in \(0, 1\)/);
    assert.throws(() => heldOutIndices("algebra", pools, "nope", 0.25), /no problem kind "nope"/);
  });

  test("template 0 is exactly the generator's question", () => {
    for (const t of TASK_NAMES) {
      const rng = new Rng(11);
      const w = TASKS[t].wordings;
      for (let k = 0; k < 150; k++) {
        const p = TASKS[t].generate(rng);
        const kind = w.kindOf(p.structured);
        assert.equal(fill(w.pools[kind]![0]!, w.slots(p.structured)), p.question, `${t}/${kind}`);
      }
    }
  });

  test("every wording of every kind keeps the gold answer and passes the step checker", () => {
    for (const t of TASK_NAMES) {
      const rng = new Rng(7);
      const w = TASKS[t].wordings;
      const seen = new Set<string>();
      for (let k = 0; k < 120; k++) {
        const p = TASKS[t].generate(rng);
        const kind = w.kindOf(p.structured);
        for (let i = 0; i < w.pools[kind]!.length; i++) {
          const q = reword(p, i);
          seen.add(`${kind}/${i}`);
          assert.equal(q.answer, p.answer);
          assert.ok(TASKS[t].checkAnswer(q, p.answer), `${t}/${kind}/${i}: gold answer rejected`);
          const v = TASKS[t].checkSteps(q, q.steps);
          assert.ok(v.valid, `${t}/${kind}/${i}: ${v.reasons[0]}`);
          assert.ok(!/\{\w+\}/.test(q.question), `${t}/${kind}/${i}: unfilled slot in "${q.question}"`);
          assert.equal(q.question === p.question, i === 0, `${t}/${kind}/${i}: "${q.question}"`);
        }
      }
      const all = Object.entries(w.pools).flatMap(([kind, pool]) => pool.map((_, i) => `${kind}/${i}`));
      assert.deepEqual([...seen].sort(), all.sort(), `${t}: some wordings never drawn`);
    }
  });

  test("a pooled dataset has the default run's problems, with questions of the requested split only", () => {
    const opts = { tasks: [...TASK_NAMES], n: 120, seed: 3, split: "test" as const };
    const plain = generateProblems(opts);
    for (const wordings of ["train", "heldout"] as const) {
      const pooled = generateProblems({ ...opts, wordings });
      assert.deepEqual(
        pooled.map((p) => p.canonical),
        plain.map((p) => p.canonical),
      );
      for (const p of pooled) assert.equal(p.wording?.split, wordings);
      const records = generateDataset({ ...opts, wordings });
      for (const r of records) assert.equal(r.meta?.["wording_split"], wordings);
    }
    // Held-out wordings never appear among the training ones (as question templates).
    const train = new Set(
      generateProblems({ ...opts, n: 600, wordings: "train" }).map(
        (p) => `${p.task}/${p.wording!.kind}/${p.wording!.index}`,
      ),
    );
    const held = new Set(
      generateProblems({ ...opts, n: 600, wordings: "heldout" }).map(
        (p) => `${p.task}/${p.wording!.kind}/${p.wording!.index}`,
      ),
    );
    for (const h of held) assert.ok(!train.has(h), `${h} in both`);
    // Without a pool, records carry no wording meta (byte-identical to before pools existed).
    for (const r of generateDataset(opts)) assert.equal(r.meta?.["wording"], undefined);
  });
});
