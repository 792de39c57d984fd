/**
 * Formatting (src/data/format.ts): the exact mixture of direct and chain targets,
 * seeded; the phrasing pools; the step-by-step trigger; plain and chat rendering;
 * instruction records; the answer line as a parameter.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  COT_PHRASINGS,
  chatTemplateOf,
  DIRECT_PHRASINGS,
  FormatError,
  formatDataset,
  formatExample,
  plainTemplate,
  planDirect,
  STEP_BY_STEP_TRIGGER,
} from "../src/data/format.ts";
import type { CoTRecord, InstructionRecord } from "../src/data/records.ts";
import { renderTarget } from "../src/data/tasks/types.ts";
import { Rng } from "../src/engine/rng.ts";
import { CHATML_TEMPLATE } from "../src/tokenizer/chat.ts";

const NATALIA: CoTRecord = {
  question: "Natalia sold clips to 48 friends in April and half as many in May. How many in total?",
  chain_of_thought: "In May she sold 48 / 2 = 24 clips.\nIn total 48 + 24 = 72 clips.",
  answer: "72",
};

const records = (n: number): CoTRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    question: `What is ${i} + ${i}?`,
    chain_of_thought: `${i} + ${i} = ${2 * i}.`,
    answer: String(2 * i),
  }));

describe("plain template", () => {
  test("chain target = chain + answer line; prompt = phrasing, question, trigger, 'Answer:'", () => {
    const ex = formatExample(NATALIA, { phrasings: ["Solve step by step."] }, new Rng(0), "cot");
    assert.equal(ex.kind, "cot");
    assert.equal(ex.prompt, `Solve step by step.\n\n${NATALIA.question}\n\nLet's think step by step.\n\nAnswer:\n`);
    assert.equal(ex.target, `${NATALIA.chain_of_thought}\n#### 72`);
  });

  test("direct target = answer line only; its prompt asks for the answer only and has no trigger", () => {
    const ex = formatExample(NATALIA, { trigger: true }, new Rng(0), "direct");
    assert.equal(ex.kind, "direct");
    assert.equal(ex.target, "#### 72");
    assert.ok(!ex.prompt.includes(STEP_BY_STEP_TRIGGER));
    assert.ok(
      DIRECT_PHRASINGS.some((p) => ex.prompt.startsWith(`${p}\n\n`)),
      ex.prompt,
    );
  });

  test("trigger present / absent as configured; [] phrasings = no instruction line; system prompt first", () => {
    const on = formatExample(NATALIA, { trigger: true }, new Rng(1), "cot");
    const off = formatExample(NATALIA, { trigger: false }, new Rng(1), "cot");
    assert.ok(on.prompt.includes(STEP_BY_STEP_TRIGGER));
    assert.ok(!off.prompt.includes(STEP_BY_STEP_TRIGGER));
    const bare = formatExample(
      NATALIA,
      { trigger: false, phrasings: [], system: "You are careful." },
      new Rng(1),
      "cot",
    );
    assert.equal(bare.prompt, `You are careful.\n\n${NATALIA.question}\n\nAnswer:\n`);
  });

  test("the chain target equals the task generators' renderTarget (ANSWER_LINE)", () => {
    assert.equal(formatExample(NATALIA, {}, new Rng(0), "cot").target, renderTarget(NATALIA));
    const noChain = { ...NATALIA, chain_of_thought: "" };
    assert.equal(formatExample(noChain, {}, new Rng(0), "cot").target, renderTarget(noChain));
  });

  test("the answer line is a parameter", () => {
    const ex = formatExample(NATALIA, { answerLine: (a) => `The answer is ${a}.` }, new Rng(0), "cot");
    assert.ok(ex.target.endsWith("\nThe answer is 72."));
  });

  test("instruction records: instruction + input → output", () => {
    const r: InstructionRecord = { instruction: "Translate to French.", input: "Good morning", output: "Bonjour" };
    const ex = formatExample(r, {}, new Rng(0));
    assert.deepEqual(ex, {
      prompt: "Translate to French.\n\nGood morning\n\nAnswer:\n",
      target: "Bonjour",
      kind: "instruction",
    });
    const noInput = formatExample({ instruction: "Say hi.", output: "Hi" }, {}, new Rng(0));
    assert.equal(noInput.prompt, "Say hi.\n\nAnswer:\n");
  });

  test("bad options fail before any work", () => {
    assert.throws(
      () => formatExample(NATALIA, { directFraction: 1.5 }, new Rng(0)),
      /directFraction must be in \[0, 1\], got 1.5/,
    );
    assert.throws(() => formatExample(NATALIA, { phrasings: [" "] }, new Rng(0)), FormatError);
  });
});

describe("chat template", () => {
  test("prompt = [system, user] + generation header; target = assistant content + <|im_end|>\\n", () => {
    const t = chatTemplateOf({ template: CHATML_TEMPLATE, eosToken: "<|endoftext|>" });
    const ex = formatExample(
      NATALIA,
      { template: t, system: "Be brief.", phrasings: ["Solve step by step."] },
      new Rng(0),
      "cot",
    );
    assert.equal(
      ex.prompt,
      `<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSolve step by step.\n\n${NATALIA.question}\n\n` +
        `${STEP_BY_STEP_TRIGGER}<|im_end|>\n<|im_start|>assistant\n`,
    );
    assert.equal(ex.target, `${NATALIA.chain_of_thought}\n#### 72<|im_end|>\n`);
  });

  test("a template that rewrites earlier turns is refused", () => {
    // Renders the last message first: the full conversation does not start with the prompt.
    const weird = chatTemplateOf({
      template:
        "{{ messages[messages|length - 1]['content'] }}|{% for m in messages %}{{ m['content'] }};{% endfor %}{% if add_generation_prompt %}>{% endif %}",
    });
    assert.throws(
      () => formatExample(NATALIA, { template: weird }, new Rng(0), "cot"),
      /does not start with the rendered prompt/,
    );
  });
});

describe("mixture of formats", () => {
  test("exactly round(directFraction · N) direct targets, for several N and fractions", () => {
    for (const [n, f] of [
      [100, 0.3],
      [7, 0.5],
      [10, 0],
      [10, 1],
      [33, 0.25],
    ] as const) {
      const { examples, counts } = formatDataset(records(n), { directFraction: f }, new Rng(42));
      const direct = examples.filter((e) => e.kind === "direct").length;
      assert.equal(direct, Math.round(f * n), `n=${n} f=${f}`);
      assert.equal(counts.direct, direct);
      assert.equal(counts.cot, n - direct);
      for (const e of examples) {
        // The prompt says which format is wanted, consistently with the target.
        if (e.kind === "direct") {
          assert.match(e.target, /^#### \d+$/);
          assert.ok(DIRECT_PHRASINGS.some((p) => e.prompt.startsWith(p)));
        } else {
          assert.match(e.target, /= \d+\.\n#### \d+$/);
          assert.ok(COT_PHRASINGS.some((p) => e.prompt.startsWith(p)));
          assert.ok(e.prompt.includes(STEP_BY_STEP_TRIGGER));
        }
      }
    }
  });

  test("seeded: same seed → same choices; another seed → other positions", () => {
    const a = formatDataset(records(50), { directFraction: 0.4 }, new Rng(7)).examples;
    const b = formatDataset(records(50), { directFraction: 0.4 }, new Rng(7)).examples;
    const c = formatDataset(records(50), { directFraction: 0.4 }, new Rng(8)).examples;
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.map((e) => e.kind),
      c.map((e) => e.kind),
    );
    assert.deepEqual(planDirect(10, 0.3, new Rng(3)), planDirect(10, 0.3, new Rng(3)));
    assert.equal(planDirect(10, 0.3, new Rng(3)).filter(Boolean).length, 3);
  });

  test("instruction records pass through a mixture untouched and are not counted in the fraction", () => {
    const mixed = [...records(10), { instruction: "Say hi.", output: "Hi" }];
    const { counts } = formatDataset(mixed, { directFraction: 0.5 }, new Rng(1));
    assert.deepEqual(counts, { cot: 5, direct: 5, instruction: 1 });
  });
});

describe("phrasing pool", () => {
  test("at least 8 chain phrasings; all appear over 400 examples; frequencies near uniform", () => {
    assert.ok(COT_PHRASINGS.length >= 8);
    const { examples } = formatDataset(records(400), {}, new Rng(11));
    const seen = new Map<string, number>();
    for (const e of examples) {
      const p = COT_PHRASINGS.find((q) => e.prompt.startsWith(`${q}\n\n`));
      assert.ok(p, e.prompt);
      seen.set(p, (seen.get(p) ?? 0) + 1);
    }
    assert.equal(seen.size, COT_PHRASINGS.length);
    // 400 / 10 = 40 expected each; a binomial(400, 0.1) stays within [15, 70] with overwhelming probability.
    for (const [p, c] of seen) assert.ok(c >= 15 && c <= 70, `${p}: ${c}`);
  });

  test("same seed, same phrasing per example", () => {
    const pick = (seed: number) => formatDataset(records(30), {}, new Rng(seed)).examples.map((e) => e.prompt);
    assert.deepEqual(pick(5), pick(5));
    assert.notDeepEqual(pick(5), pick(6));
  });

  test("without a forced kind, formatExample draws direct with probability directFraction", () => {
    const rng = new Rng(9);
    let direct = 0;
    for (let i = 0; i < 2000; i++)
      if (formatExample(NATALIA, { directFraction: 0.25 }, rng).kind === "direct") direct++;
    // Binomial(2000, 0.25): mean 500, sd ≈ 19.4; ±100 is > 5 sd.
    assert.ok(Math.abs(direct - 500) < 100, String(direct));
  });
});

test("plainTemplate takes another assistant prefix", () => {
  const t = plainTemplate({ assistantPrefix: "\nA: " });
  assert.deepEqual(t.render({ user: "Q: 1+1?", assistant: "2" }), { prompt: "Q: 1+1?\nA: ", target: "2" });
});
