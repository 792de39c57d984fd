/** report.html: self-contained, every number and label shown, model text escaped, no NaN. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LABELS } from "../src/demo/labels.ts";
import { leadSentence, pickExamples, renderReport } from "../src/demo/report.ts";
import { type DemoSummary, VARIANTS, type Variant, type VariantReport, type VariantResult } from "../src/demo/types.ts";
import type { EvalExample } from "../src/eval/score.ts";

function example(index: number, output: string, correct: boolean, valid: boolean, claims = 2): EvalExample {
  return {
    index,
    id: `algebra-test-0-${index}`,
    task: "algebra",
    question: `Solve for x: 2x + ${index} = ${10 + index}`,
    gold: "5",
    reference: "Subtract 1 from both sides: 2x = 10.\nDivide both sides by 2: x = 5.",
    prompt: "Q: …\nA: Let's think step by step.",
    output,
    extracted_strict: correct ? "5" : null,
    extracted_flexible: correct ? "5" : null,
    correct_strict: correct,
    correct_flexible: correct,
    finish_reason: "eos",
    new_tokens: 20,
    steps: {
      valid,
      firstInvalid: valid ? null : 0,
      reason: valid ? null : "step 1: 2x = 11 is not what subtracting 1 gives",
      checker: "task:algebra",
      checkedClaims: claims,
    },
    chain_scores: { bleu: 40, rouge1: 0.5, rouge2: 0.4, rougeL: 0.5 },
  };
}

function result(acc: number): VariantResult {
  return {
    accuracy_strict: acc,
    accuracy_flexible: acc + 0.01,
    accuracy_heldout_wordings: acc - 0.1,
    wording_drop: { diff: 0.1, lo: 0.05, hi: 0.15, level: 0.95, resamples: 2000, method: "paired bootstrap" },
    step_validity: acc / 2,
    bleu: 33.3,
    rougeL: 0.456,
    train_tokens: 123456,
    seconds: 78.9,
  };
}

const ACC: Record<Variant, number> = { direct: 0.18, cot: 0.613, mixed: 0.5 };

function fixture(heldOutPoints: number): { summary: DemoSummary; variants: VariantReport[] } {
  const variants = VARIANTS.map((v) => ({
    variant: v,
    ...LABELS[v],
    result: result(ACC[v]),
    curve: Array.from({ length: 20 }, (_, i) => ({ step: i + 1, loss: 3 / (i + 1) })),
    heldOut: Array.from({ length: heldOutPoints }, (_, i) => ({ step: 10 * i, loss: 2 - i / 10, accuracy: null })),
    examples: [
      example(0, "Subtract 1 from both sides: 2x = 10.\n#### 5", true, true),
      example(1, '<script>alert(1)</script> & "x"\n#### 7', false, false),
      example(2, "#### 5", true, false),
      example(3, "#### 5", true, true, 0),
    ],
  }));
  const summary: DemoSummary = {
    heldout: 300,
    eval_set: "test",
    seed: 0,
    results: Object.fromEntries(variants.map((v) => [v.variant, v.result])) as Record<Variant, VariantResult>,
    chance_accuracy: 0.04,
    cot_minus_direct: { diff: 0.5, lo: 0.4, hi: 0.6, level: 0.95, resamples: 2000, method: "paired bootstrap" },
    by_task: { algebra: { direct: 0.1, cot: 0.6, mixed: 0.5 } },
    seeds: { train_problems: 0, heldout_problems: 1 },
    versions: { stepwise: "0.1.0", node: "20.20.2" },
    machine: { cores: 2, threads: 2, platform: "linux", arch: "x64", cpu: "Test CPU <2 GHz>" },
    settings: { steps: 200, tasks: ["algebra", "logic"] },
    total_seconds: 600,
    finished: "2026-11-24T12:00:00.000Z",
  };
  return { summary, variants };
}

describe("renderReport", () => {
  const { summary, variants } = fixture(3);
  const html = renderReport(summary, variants);

  test("a complete HTML document with the results, per-task and settings tables", () => {
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /<\/html>\s*$/);
    // results, by task, seeds, versions, settings
    assert.equal(html.match(/<table/g)?.length, 5);
  });

  test("self-contained: no scripts, links, images or remote URLs (only the SVG namespace)", () => {
    const stripped = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', "");
    assert.doesNotMatch(stripped, /src=|<link|<script|<img|https?:\/\//i);
  });

  test("every variant's label and its accuracies appear", () => {
    for (const v of variants) {
      assert.ok(html.includes(v.label), v.label);
      assert.ok(html.includes(`${(100 * v.result.accuracy_strict).toFixed(1)}%`), v.variant);
    }
    assert.ok(html.includes("123,456"));
  });

  test("model output and machine strings are escaped", () => {
    assert.ok(!html.includes("<script>alert(1)</script>"));
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
    assert.ok(html.includes("Test CPU &lt;2 GHz&gt;"));
  });

  test("step verdicts name the first invalid step once", () => {
    assert.ok(html.includes("first invalid step 1: 2x = 11 is not what subtracting 1 gives"));
    assert.ok(html.includes("every step valid"));
  });

  test("the held-out wordings' accuracy and drop are columns; a summary from before them shows dashes", () => {
    const { summary: s, variants: vs } = fixture(3);
    const page = renderReport(s, vs);
    assert.ok(page.includes("held-out wordings"));
    assert.ok(page.includes('<td class="n">51.3%</td>'), "cot's 61.3% − 10 points");
    assert.ok(page.includes("+10.0 [+5.0, +15.0]"));
    for (const v of vs) {
      const { accuracy_heldout_wordings: _, wording_drop: __, ...old } = v.result;
      v.result = old;
    }
    assert.equal(renderReport(s, vs).match(/<td class="n">–<\/td>/g)?.length, 2 * vs.length);
  });

  test("NaN metrics render as a dash, never NaN", () => {
    const { summary: s, variants: vs } = fixture(3);
    assert.ok(!html.includes("NaN"));
    assert.equal(html.match(/<td class="n">–<\/td>/g), null);
    vs[0]!.result = { ...vs[0]!.result, bleu: Number.NaN, step_validity: Number.NaN };
    s.results.direct = vs[0]!.result;
    s.by_task.algebra!.mixed = Number.NaN;
    s.settings = { ...s.settings, lr: Number.NaN };
    const page = renderReport(s, vs);
    assert.ok(!page.includes("NaN"));
    // bleu and step validity of one variant, one per-task cell, one setting
    assert.equal(page.match(/<td class="n">–<\/td>/g)?.length, 3);
    assert.ok(page.includes("<td>lr</td><td>–</td>"));
  });

  test("a NaN loss breaks the smoothed training curve at that point only", () => {
    const { summary: s, variants: vs } = fixture(0);
    vs[0]!.curve[3]!.loss = Number.NaN;
    const svg = renderReport(s, vs).match(/<svg[\s\S]*?<\/svg>/)![0];
    const colour = svg.match(/<polyline[^>]*stroke="(#[0-9a-f]+)"/)![1];
    const points = [...svg.matchAll(/<polyline[^>]*stroke="(#[0-9a-f]+)"[^>]*points="([^"]*)"/g)]
      .filter((m) => m[1] === colour)
      .flatMap((m) => m[2]!.split(" "));
    assert.equal(points.length, 19);
  });

  test("settings objects render as JSON, escaped", () => {
    assert.ok(html.includes("<td>tasks</td><td>[&quot;algebra&quot;,&quot;logic&quot;]</td>"));
    assert.ok(html.includes("<td>steps</td><td>200</td>"));
  });

  test("a bare answer with nothing to check is 'not checked', not 'valid'", () => {
    const { summary: s, variants: vs } = fixture(0);
    for (const v of vs) v.examples = [v.examples[3]!];
    const page = renderReport(s, vs);
    assert.ok(page.includes("not checked"));
    assert.ok(!page.includes("every step valid"));
  });

  test("two charts with held-out points, one without", () => {
    assert.equal(html.match(/<svg/g)?.length, 2);
    const { summary: s, variants: vs } = fixture(1);
    assert.equal(renderReport(s, vs).match(/<svg/g)?.length, 1);
  });

  test("the lead sentence states both accuracies, neutrally, and is on the page", () => {
    const lead = leadSentence(summary);
    assert.match(lead, /^On 300 held-out problems, .*61\.3% correctly against 18\.0% for direct/);
    assert.match(lead, /difference \+50\.0 points, 95% interval \+40\.0 to \+60\.0; .* scores 4\.0%\)\.$/);
    assert.ok(html.includes(`<p class="lead">${lead}</p>`));
    const flipped = { ...summary, results: { ...summary.results, cot: result(0.1) } };
    assert.match(leadSentence(flipped), /10\.0% correctly against 18\.0%/);
    assert.doesNotMatch(`${lead} ${leadSentence(flipped)}`, /higher|lower|better|worse|only/);
  });

  test("examples: the first correct and the first wrong one are always shown", () => {
    const exs = variants[0]!.examples;
    const two = pickExamples(exs, 2);
    assert.deepEqual(
      two.map((e) => e.index),
      [0, 1],
    );
    assert.equal(pickExamples(exs, 5).length, 4);
    assert.deepEqual(
      pickExamples([exs[2]!, exs[3]!, exs[1]!], 2).map((e) => e.index),
      [1, 2],
    );
    assert.deepEqual(pickExamples(exs, 0), []);
    // three shown per variant by default, one when asked
    assert.equal(html.match(/class="ex"/g)?.length, 3 * variants.length);
    assert.equal(renderReport(summary, variants, { examplesPerVariant: 1 }).match(/class="ex"/g)?.length, 3);
  });
});
