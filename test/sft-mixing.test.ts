/**
 * Instruction mixing through `stepwise sft` config keys (train/sft-data.ts): instruction
 * records at an exact fraction, questions wrapped in phrasings that ask for the target's kind,
 * the exact direct / step-by-step mixture, and the loss mask on outputs only — no
 * instruction, phrasing or question token ever carries loss.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { COT_PHRASINGS, DIRECT_PHRASINGS, STEP_BY_STEP_TRIGGER } from "../src/data/format.ts";
import type { InstructionRecord } from "../src/data/records.ts";
import { generateDataset } from "../src/data/tasks/index.ts";
import { tokenizeDataset } from "../src/data/tokenize.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { parseSftConfig } from "../src/train/config.ts";
import { formatAll, mixInstructions } from "../src/train/sft-data.ts";

const INSTRUCTIONS: InstructionRecord[] = Array.from({ length: 7 }, (_, i) => ({
  instruction: `Name a colour number ${i}.`,
  input: i % 2 ? "" : `Context ${i}.`,
  output: `Colour ${i} is blue.`,
}));

const config = (data: Record<string, unknown>) =>
  parseSftConfig({
    model: "assets/demo-base",
    data: {
      train: { generate: { tasks: ["algebra"], n: 40 } },
      eval: { generate: { tasks: ["algebra"], n: 4 } },
      ...data,
    },
    batch: { microBatch: 2, seqLen: 256 },
    optim: { lr: 1e-3 },
    steps: 1,
  });

describe("instruction mixing", () => {
  const records = generateDataset({ tasks: ["algebra", "logic"], n: 60, seed: 1, split: "train", wordings: "train" });

  test("instructionFraction gives exactly that share of instruction examples, cycling a small file", () => {
    const mixed = mixInstructions(INSTRUCTIONS, 60, 0.25, 0);
    assert.equal(mixed.length, 20); // 0.25 / 0.75 · 60
    assert.deepEqual(mixInstructions(INSTRUCTIONS, 60, 0.25, 0), mixed, "deterministic");
    assert.equal(mixInstructions(INSTRUCTIONS, 60, undefined, 0).length, 7, "absent = every record once");
    assert.equal(mixInstructions(INSTRUCTIONS, 60, 0, 0).length, 0);
    assert.throws(
      () => config({ template: "qa", instructionFraction: 0.2 }),
      /instructionFraction[\s\S]*needs `data.instructions`/,
    );
  });

  test("qa: wrapped questions ask for the target's kind; the mixture is exact; loss on outputs only", async () => {
    const c = config({
      template: "qa",
      directFraction: 0.5,
      phrasings: true,
      phrasingFraction: 0.5,
      instructions: [{ path: "unused.json", format: "alpaca" }],
      instructionFraction: 0.2,
    });
    const examples = formatAll(c, records, INSTRUCTIONS, null, 0);
    const problems = examples.slice(0, records.length);
    const inst = examples.slice(records.length);
    assert.equal(inst.length, 15); // round(0.2 / 0.8 · 60)
    const direct = problems.filter((e) => !e.prompt.endsWith(STEP_BY_STEP_TRIGGER));
    assert.equal(direct.length, 30, "exactly half direct");
    let wrapped = 0;
    for (const e of problems) {
      const isDirect = !e.prompt.endsWith(STEP_BY_STEP_TRIGGER);
      const cot = COT_PHRASINGS.find((p) => e.prompt.startsWith(`Q: ${p} `));
      const dir = DIRECT_PHRASINGS.find((p) => e.prompt.startsWith(`Q: ${p} `));
      if (cot || dir) wrapped++;
      assert.ok(!(cot && isDirect) && !(dir && !isDirect), `phrasing asks for the other kind: ${e.prompt}`);
      assert.equal(e.target.includes("####"), true);
    }
    assert.equal(wrapped, 30, "exactly phrasingFraction of the problems wrapped");
    for (const e of inst) {
      assert.match(e.prompt, /^Q: Name a colour number \d\./);
      assert.match(e.target, /^ Colour \d is blue\.$/);
    }

    const tokenizer = await Tokenizer.fromDir("assets/demo-base");
    const tok = tokenizeDataset(tokenizer, examples, { addEos: true });
    assert.equal(tok.examples.length, examples.length);
    for (const [k, t] of tok.examples.entries()) {
      const e = examples[tok.sourceIndex[k]!]!;
      const promptLen = tokenizer.encode(e.prompt).length;
      assert.deepEqual(
        t.loss_mask,
        t.input_ids.map((_, j) => (j < promptLen ? 0 : 1)),
        `example ${k}: mask must cover exactly the output`,
      );
      const out = tokenizer.decode(t.input_ids.filter((_, j) => t.loss_mask[j] === 1));
      assert.equal(out, e.target + tokenizer.decode([tokenizer.eosId!]));
      for (const p of [...COT_PHRASINGS, ...DIRECT_PHRASINGS, "Name a colour", "Context", "Q:"])
        assert.ok(!out.includes(p), `example ${k}: "${p}" carries loss`);
    }
  });

  test("qa without phrasings or instructionFraction formats as before (no extra draws)", () => {
    const base = formatAll(config({ template: "qa", directFraction: 0.5 }), records, INSTRUCTIONS, null, 0);
    const same = formatAll(
      config({ template: "qa", directFraction: 0.5, phrasingFraction: 0.9 }),
      records,
      INSTRUCTIONS,
      null,
      0,
    );
    assert.deepEqual(same, base);
    assert.equal(base.length, records.length + INSTRUCTIONS.length);
    assert.ok(base.every((e) => e.prompt.startsWith("Q: ")));
  });

  test("qa bareFraction: exactly that share written bare (the raw text's form), loss on the target only", async () => {
    const c = config({
      template: "qa",
      directFraction: 0.5,
      phrasings: true,
      phrasingFraction: 0.5,
      bareFraction: 0.25,
    });
    const examples = formatAll(c, records, [], null, 0);
    const bare = examples.filter((e) => !e.prompt.startsWith("Q: "));
    assert.equal(bare.length, 15, "round(0.25 · 60) bare");
    for (const [i, e] of examples.entries()) {
      if (e.prompt.startsWith("Q: ")) continue;
      const r = records[i]!;
      assert.equal(e.prompt, `${r.question.trim()}\n`);
      const chain = r.chain_of_thought.trim();
      assert.ok(
        e.target === `#### ${r.answer}` || e.target === `${chain}\n#### ${r.answer}`,
        `bare target is the raw text's tail: ${JSON.stringify(e.target)}`,
      );
    }
    // Direct and step-by-step stay an exact half of all problems, bare ones included.
    const direct = examples.filter((e) => !e.target.includes("\n"));
    assert.equal(direct.length, 30);
    const tokenizer = await Tokenizer.fromDir("assets/demo-base");
    const tok = tokenizeDataset(tokenizer, bare, { addEos: true });
    for (const [k, t] of tok.examples.entries()) {
      const e = bare[tok.sourceIndex[k]!]!;
      const out = tokenizer.decode(t.input_ids.filter((_, j) => t.loss_mask[j] === 1));
      assert.equal(out, e.target + tokenizer.decode([tokenizer.eosId!]), "the question carries no loss");
    }
    // bareFraction 0 draws nothing: the same examples as without the key.
    const without = formatAll(config({ template: "qa", directFraction: 0.5, phrasings: true }), records, [], null, 0);
    assert.deepEqual(
      formatAll(
        config({ template: "qa", directFraction: 0.5, phrasings: true, bareFraction: 0 }),
        records,
        [],
        null,
        0,
      ),
      without,
    );
  });
});
