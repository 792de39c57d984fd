/**
 * Output-only loss masks (src/data/tokenize.ts), checked against the acceptance line:
 * decoding the masked tokens of any example gives exactly its target text plus EOS.
 * A byte-level BPE tokenizer is trained here, saved and reloaded with
 * Tokenizer.fromDir; records are random (Unicode, digits, white space at both
 * ends) and go through plain and chat templates as cot, direct and instruction
 * examples. Also: the prompt/target boundary survives a BPE merge across it, and
 * over-long examples are dropped or prompt-truncated, counted, never cut in the target.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { chatTemplateOf, formatExample, plainTemplate, type Template } from "../src/data/format.ts";
import type { CoTRecord, InstructionRecord } from "../src/data/records.ts";
import {
  describeTokenizeReport,
  type TokenizedExample,
  tokenizeDataset,
  tokenizeExample,
} from "../src/data/tokenize.ts";
import { Rng } from "../src/engine/rng.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";

const CORPUS = [
  "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
  "How many clips did Natalia sell altogether in April and May?",
  "Let's think step by step. 48 / 2 = 24 clips in May. 48 + 24 = 72 clips.\n#### 72",
  "Solve step by step. Explain your reasoning and solve. Work it out one step at a time.",
  "Answer:\n\nQuestion: Give only the final answer.\n\n",
  "Ünïcödé — 数学 🙂 naïve café\t tabs  and   spaces\n\n\n",
];

let dir: string;
let tok: Tokenizer;
let eosText: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "stepwise-tokenize-"));
  await saveTokenizer(dir, trainBpe(CORPUS, { vocabSize: 400 }));
  tok = await Tokenizer.fromDir(dir);
  eosText = tok.eosToken!;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function masked(ex: TokenizedExample): number[] {
  return ex.input_ids.filter((_, i) => ex.loss_mask[i] === 1);
}

// Text with the troublesome parts: any code point (astral included), digits, white space at the ends.
const edgeSpace = fc.constantFrom("", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n");
const body = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.stringMatching(/^[0-9 .,+*=/-]{0,20}$/),
  fc.constantFrom("48 + 24 = 72", "Ünïcödé 数学 🙂", "\n\n", "####"),
);
const text = fc.tuple(edgeSpace, body, edgeSpace).map(([a, b, c]) => a + b + c);
const nonEmpty = text.filter((s) => s.length > 0);

const cotRecord = fc.record({ question: nonEmpty, chain_of_thought: text, answer: nonEmpty });
const instructionRecord = fc.record(
  { instruction: nonEmpty, input: text, output: text },
  { requiredKeys: ["instruction", "output"] },
);

describe("acceptance: decode(masked ids) === target + EOS", () => {
  test("random records × {plain, chat} × {cot, direct, instruction}, tokenizer trained, saved and reloaded", () => {
    const templates: Template[] = [plainTemplate(), chatTemplateOf(tok)];
    let runs = 0;
    const kinds = { cot: 0, direct: 0, instruction: 0 };
    fc.assert(
      fc.property(
        fc.oneof(cotRecord, instructionRecord),
        fc.integer({ min: 0, max: 1 }),
        fc.constantFrom<"cot" | "direct">("cot", "direct"),
        fc.boolean(),
        fc.option(
          text.filter((s) => s.length > 0),
          { nil: undefined },
        ),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (record, t, kind, trigger, system, seed) => {
          const ex = formatExample(
            record as CoTRecord | InstructionRecord,
            { template: templates[t]!, trigger, ...(system === undefined ? {} : { system }) },
            new Rng(seed),
            kind,
          );
          const out = tokenizeExample(tok, ex, { addEos: true })!;
          assert.equal(out.input_ids.length, out.loss_mask.length);
          assert.equal(tok.decode(masked(out)), ex.target + eosText);
          // Prompt tokens carry no loss: the unmasked ids are exactly the encoded prompt, in front.
          const nPrompt = out.loss_mask.indexOf(1);
          assert.ok(out.loss_mask.slice(0, nPrompt).every((m) => m === 0));
          assert.ok(
            out.loss_mask.slice(nPrompt).every((m) => m === 1),
            "loss mask is one contiguous suffix",
          );
          assert.equal(tok.decode(out.input_ids.slice(0, nPrompt)), ex.prompt);
          assert.equal(out.input_ids[out.input_ids.length - 1], tok.eosId);
          assert.equal(out.truncated, false);
          kinds[ex.kind]++;
          runs++;
        },
      ),
      { numRuns: 300, seed: 20241124 },
    );
    assert.equal(runs, 300);
    for (const k of ["cot", "direct", "instruction"] as const) assert.ok(kinds[k] > 30, `${k}: ${kinds[k]}`);
  });

  test("a BPE merge across the prompt/target boundary cannot leak: joint encoding differs, ours decodes exactly", () => {
    // Prompt ends with a space, target starts with digits: jointly encoded, " 48" is one pre-token and one
    // BPE token ("Ġ48" is in the corpus), so no split of the joint ids gives the target.
    const ex = { prompt: "How many clips did Natalia sell? Answer: ", target: "48 + 24 = 72\n#### 72" };
    const joint = tok.encode(ex.prompt + ex.target, { addSpecialTokens: false });
    const p = tok.encode(ex.prompt, { addSpecialTokens: false });
    assert.notDeepEqual(joint.slice(0, p.length), p, "the joint encoding merges across the boundary");
    const out = tokenizeExample(tok, ex, { addEos: true })!;
    assert.equal(tok.decode(masked(out)), ex.target + eosText);
    assert.equal(masked(out).length, tok.encode(ex.target, { addSpecialTokens: false }).length + 1);
  });

  test("a tokenizer that adds BOS: BOS opens the prompt (no loss), the mask still decodes exactly, truncation keeps BOS", () => {
    const json = structuredClone(tok.json);
    const bos = tok.tokenToId("<|endoftext|>")!;
    json.post_processor = {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [bos], tokens: ["<|endoftext|>"] } },
    };
    const withBos = new Tokenizer(json, { ...tok.config, bos_token: "<|endoftext|>" });
    const ex = { prompt: "Solve step by step. ".repeat(5), target: " 48 / 2 = 24\n#### 24 " };
    const full = tokenizeExample(withBos, ex, { addEos: true })!;
    assert.equal(full.input_ids[0], bos);
    assert.equal(full.loss_mask[0], 0);
    assert.equal(withBos.decode(masked(full)), ex.target + eosText);
    const cut = tokenizeExample(withBos, ex, {
      addEos: true,
      maxLength: full.input_ids.length - 3,
      overflow: "truncate-prompt",
    })!;
    assert.equal(cut.input_ids[0], bos, "BOS survives prompt truncation");
    assert.equal(cut.promptTokensRemoved, 3);
    assert.deepEqual(cut.input_ids.slice(1), full.input_ids.slice(4));
    assert.equal(withBos.decode(masked(cut)), ex.target + eosText);
  });

  test("an empty target still ends in a loss-carrying EOS", () => {
    const out = tokenizeExample(tok, { prompt: "Say nothing.", target: "" }, { addEos: true })!;
    assert.deepEqual(masked(out), [tok.eosId]);
  });
});

describe("over-long examples: counted and reported, never a cut target", () => {
  const examples = [
    { prompt: "Q: 1 + 1?\n", target: "1 + 1 = 2\n#### 2" }, // short: fits
    { prompt: "Solve step by step. ".repeat(20), target: "48 / 2 = 24\n#### 24" }, // long prompt, short target
    { prompt: "Q?\n", target: "48 + 24 = 72 clips. ".repeat(20) }, // target alone too long
  ];
  let lengths: number[] = [];
  before(() => {
    lengths = examples.map(
      (e) =>
        tok.encode(e.prompt, { addSpecialTokens: true }).length +
        tok.encode(e.target, { addSpecialTokens: false }).length +
        1,
    );
  });
  const maxLength = 40;

  test("the fixture: example 0 fits, 1 and 2 do not, 2's target alone does not", () => {
    assert.ok(lengths[0]! <= maxLength && lengths[1]! > maxLength && lengths[2]! > maxLength, String(lengths));
    assert.ok(tok.encode(examples[2]!.target, { addSpecialTokens: false }).length + 1 > maxLength);
  });

  test('overflow "drop" (default): 2 dropped, listed with their lengths, 1 kept', () => {
    const { examples: kept, sourceIndex, report } = tokenizeDataset(tok, examples, { addEos: true, maxLength });
    assert.deepEqual(sourceIndex, [0]);
    assert.equal(kept.length, 1);
    assert.deepEqual(
      report.dropped.map((d) => [d.index, d.length]),
      [
        [1, lengths[1]],
        [2, lengths[2]],
      ],
    );
    assert.equal(report.promptTruncated, 0);
    assert.match(
      describeTokenizeReport(report),
      /kept 1\/3; dropped 2 over-long \(indices 1, 2\); prompt truncated in 0/,
    );
    assert.equal(tokenizeExample(tok, examples[1]!, { addEos: true, maxLength }), null);
  });

  test('overflow "truncate-prompt": example 1 keeps its whole target and the END of its prompt; 2 is still dropped', () => {
    const {
      examples: kept,
      sourceIndex,
      report,
    } = tokenizeDataset(tok, examples, {
      addEos: true,
      maxLength,
      overflow: "truncate-prompt",
    });
    assert.deepEqual(sourceIndex, [0, 1]);
    assert.equal(report.promptTruncated, 1);
    assert.equal(report.promptTokensRemoved, lengths[1]! - maxLength);
    assert.deepEqual(
      report.dropped.map((d) => d.index),
      [2],
    );
    const ex1 = kept[1]!;
    assert.equal(ex1.input_ids.length, maxLength);
    assert.equal(ex1.truncated, true);
    // No returned example has a cut target.
    kept.forEach((ex, k) => {
      assert.equal(tok.decode(masked(ex)), examples[sourceIndex[k]!]!.target + eosText);
    });
    const prompt1 = tok.encode(examples[1]!.prompt, { addSpecialTokens: true });
    const nPrompt = ex1.loss_mask.indexOf(1);
    assert.deepEqual(ex1.input_ids.slice(0, nPrompt), prompt1.slice(prompt1.length - nPrompt));
  });

  test('overflow "error" throws with the lengths', () => {
    assert.throws(
      () => tokenizeExample(tok, examples[1]!, { addEos: true, maxLength, overflow: "error" }),
      new RegExp(`tokenizeExample: ${lengths[1]} tokens .* > maxLength 40`),
    );
  });

  test("a tokenizer that does not round-trip the target is an error, not a wrong mask", async () => {
    // A lower-casing normalizer: "ABC" encodes as "abc".
    const json = structuredClone(tok.json);
    json.normalizer = { type: "Lowercase" };
    const lower = new Tokenizer(json, tok.config);
    assert.throws(
      () => tokenizeExample(lower, { prompt: "q", target: "ABC" }, { addEos: true }),
      /does not round-trip the target \("ABC" decodes back as "abc"\)/,
    );
  });
});
