/**
 * runs/demo/report.html: one self-contained page (inline CSS and SVG, no scripts, no
 * external resources) with the lead result in a sentence, the results table, per-task
 * accuracy, learning curves, example chains with their step verdicts, and how the run was
 * made (seeds, versions, machine, settings). A pure function of the summary and the runs.
 */
import type { EvalExample } from "../eval/score.ts";
import { movingAverage } from "../eval/series.ts";
import { escapeXml, lineChartSvg, PALETTE } from "../lab/svg.ts";
import { brackets, fin, fixed, interval, pct, setName, signedPoints } from "./format.ts";
import { type DemoSummary, VARIANTS, type VariantReport } from "./types.ts";

export const esc = (x: unknown) => escapeXml(String(x));
const int = (x: number | null | undefined) => (fin(x) ? Math.round(x).toLocaleString("en-US") : "–");
/** A settings/seeds/versions value: numbers NaN-safe, objects as JSON, everything escaped. */
const value = (x: unknown) =>
  typeof x === "number"
    ? fin(x)
      ? esc(x)
      : "–"
    : esc(typeof x === "object" && x !== null ? JSON.stringify(x) : String(x));

export const CSS = `
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:960px;margin:0 auto;padding:24px 20px 60px;background:#fff}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
p.lead{font-size:1.1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
th,td{border:1px solid #ddd;padding:4px 10px}th{background:#f3f3f3;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:8px;white-space:pre-wrap;margin:.3em 0}
.ex{border:1px solid #e6e6e6;border-radius:6px;padding:8px 12px;margin:10px 0}
.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.muted{color:#666;font-size:.9em}svg{max-width:100%;height:auto}
`;

export function table(head: string[], rows: string[][], numeric: (col: number) => boolean): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join("");
  const trs = rows
    .map((r) => `<tr>${r.map((c, i) => (numeric(i) ? `<td class="n">${c}</td>` : `<td>${c}</td>`)).join("")}</tr>`)
    .join("\n");
  return `<table>\n<tr>${th}</tr>\n${trs}\n</table>`;
}

/** The lead sentence, stated neutrally from the numbers (no "higher" or "better" the numbers may not make). */
export function leadSentence(summary: DemoSummary): string {
  const cot = summary.results.cot?.accuracy_strict;
  const direct = summary.results.direct?.accuracy_strict;
  const d = summary.cot_minus_direct;
  return (
    `On ${int(summary.heldout)} ${setName(summary.eval_set)} problems, chain-of-thought fine-tuning answered ${pct(cot)} correctly ` +
    `against ${pct(direct)} for direct-answer fine-tuning, with the same base model, training problems ` +
    `and number of steps (difference ${signedPoints(d.diff)} points, ${interval(d)}; ` +
    `answering each task's most common answer scores ` +
    `${pct(summary.chance_accuracy)}).`
  );
}

function resultsTable(variants: readonly VariantReport[]): string {
  const head = [
    "variant",
    "accuracy (strict)",
    "accuracy (flexible)",
    "held-out wordings (strict)",
    "drop (points)",
    "step validity",
    "BLEU",
    "ROUGE-L",
    "target tokens trained",
    "training time (s)",
  ];
  const rows = variants.map((v) => [
    `<b>${esc(v.label)}</b><br><span class="muted">${esc(v.description)}</span>`,
    pct(v.result.accuracy_strict),
    pct(v.result.accuracy_flexible),
    v.result.accuracy_heldout_wordings === undefined ? "–" : pct(v.result.accuracy_heldout_wordings),
    v.result.wording_drop ? `${signedPoints(v.result.wording_drop.diff)} ${brackets(v.result.wording_drop)}` : "–",
    pct(v.result.step_validity),
    fixed(v.result.bleu, 1),
    fixed(v.result.rougeL, 3),
    int(v.result.train_tokens),
    fixed(v.result.seconds, 0),
  ]);
  return table(head, rows, (i) => i > 0);
}

function byTaskTable(summary: DemoSummary, variants: readonly VariantReport[]): string {
  const tasks = Object.keys(summary.by_task).sort();
  if (tasks.length === 0) return "";
  const rows = tasks.map((t) => [esc(t), ...variants.map((v) => pct(summary.by_task[t]?.[v.variant]))]);
  return table(["task", ...variants.map((v) => v.label)], rows, (i) => i > 0);
}

function curves(variants: readonly VariantReport[]): string {
  const colour = (v: VariantReport) => PALETTE[Math.max(0, VARIANTS.indexOf(v.variant)) % PALETTE.length];
  // A single NaN loss would poison a running sum for the rest of the curve: smooth the finite points only.
  const finite = variants.map((v) => v.curve.filter((p) => fin(p.step) && fin(p.loss)));
  const n = Math.max(1, ...finite.map((c) => c.length));
  const window = Math.max(1, Math.round(n / 50));
  const train = lineChartSvg({
    title: "Training loss (per target token)",
    xLabel: "optimizer step",
    yLabel: "loss",
    series: variants.map((v, i) => ({
      name: v.label,
      xs: finite[i]!.map((p) => p.step),
      ys: movingAverage(
        finite[i]!.map((p) => p.loss),
        window,
      ),
      color: colour(v),
    })),
  });
  let out = `<figure>${train}<figcaption class="muted">${window > 1 ? `Smoothed: trailing moving average over ${window} steps.` : "Not smoothed (moving-average window of 1 step)."} Each variant's loss is over its own targets (a direct answer's few tokens, or a whole chain), so the levels are not comparable across variants; the shapes are.</figcaption></figure>`;
  if (variants.some((v) => v.heldOut.length >= 2)) {
    const held = lineChartSvg({
      title: "Held-out loss during training",
      xLabel: "optimizer step",
      yLabel: "loss",
      series: variants
        .filter((v) => v.heldOut.length > 0)
        .map((v) => ({
          name: v.label,
          xs: v.heldOut.map((p) => p.step),
          ys: v.heldOut.map((p) => p.loss),
          color: colour(v),
        })),
    });
    out += `<figure>${held}<figcaption class="muted">On held-out problems, each variant on its own target format.</figcaption></figure>`;
  }
  return out;
}

/** Up to k examples: the first correct and the first wrong one, then the rest in order. */
export function pickExamples(examples: readonly EvalExample[], k: number): EvalExample[] {
  const picked: EvalExample[] = [];
  const add = (e: EvalExample | undefined) => {
    if (e && picked.length < k && !picked.includes(e)) picked.push(e);
  };
  add(examples.find((e) => e.correct_strict));
  add(examples.find((e) => !e.correct_strict));
  for (const e of examples) add(e);
  return picked.sort((a, b) => a.index - b.index);
}

/**
 * The step verdict. No checker applied when the checker is unnamed/"none", or when a chain
 * judged valid had nothing to check (a bare "#### N" answer): that is "not checked", not "valid".
 */
function verdict(e: EvalExample): string {
  const s = e.steps;
  const none = !s.checker || s.checker === "none";
  if (none || (s.valid && !(s.checkedClaims > 0))) return `<span class="muted">not checked</span>`;
  if (s.valid) return `<span class="ok">every step valid</span>`;
  const where = s.firstInvalid === null ? "" : `first invalid step ${s.firstInvalid + 1}`;
  // Task checkers' reasons start with "step N: "; the step is already named.
  const reason = s.reason?.replace(/^step \d+:\s*/, "") ?? "";
  const why = reason ? `${where ? ": " : ""}${esc(reason)}` : "";
  return `<span class="bad">${where || "invalid"}${why}</span>`;
}

function exampleBlock(e: EvalExample): string {
  const mark = e.correct_strict ? `<span class="ok">✓ correct</span>` : `<span class="bad">✗ wrong</span>`;
  return `<div class="ex">
<div><b>Question</b> <span class="muted">(${esc(e.task)})</span></div><pre>${esc(e.question)}</pre>
<div><b>Model output</b></div><pre>${esc(e.output)}</pre>
<div>Gold answer <b>${esc(e.gold)}</b>, extracted <b>${esc(e.extracted_strict ?? "none")}</b>: ${mark}. Steps: ${verdict(e)}</div>
</div>`;
}

function examples(variants: readonly VariantReport[], k: number): string {
  return variants
    .map((v) => {
      const shown = pickExamples(v.examples, k);
      const body = shown.length ? shown.map(exampleBlock).join("\n") : `<p class="muted">No examples recorded.</p>`;
      return `<h3>${esc(v.label)}</h3>\n${body}`;
    })
    .join("\n");
}

function howRun(summary: DemoSummary): string {
  const kv = (o: Record<string, unknown>) =>
    table(
      ["name", "value"],
      Object.entries(o).map(([k, v]) => [esc(k), value(v)]),
      () => false,
    );
  const m = summary.machine;
  return `<p>Finished ${esc(summary.finished)} after ${int(summary.total_seconds)} s (${fixed(summary.total_seconds / 60, 1)} min) on ${int(m.cores)} cores
(${int(m.threads)} engine threads, ${esc(m.cpu)}, ${esc(m.platform)}/${esc(m.arch)}).</p>
<h3>Seeds</h3>${kv(summary.seeds)}
<h3>Versions</h3>${kv(summary.versions)}
<h3>Settings</h3>${kv(summary.settings)}`;
}

export function renderReport(
  summary: DemoSummary,
  variants: readonly VariantReport[],
  opts: { examplesPerVariant?: number } = {},
): string {
  const k = opts.examplesPerVariant ?? 3;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>stepwise demo: chain of thought vs direct answers</title><style>${CSS}</style></head>
<body><main>
<h1>stepwise demo: chain of thought vs direct answers</h1>
<p class="lead">${esc(leadSentence(summary))}</p>
<h2>Results</h2>
${resultsTable(variants)}
<p class="muted">Strict: the "#### answer" line equals the gold answer. Flexible: the last answer-like span does.
Step validity: outputs whose every step is correct and follows from the question or earlier steps, and which reach
the answer (task checkers), out of all ${esc(summary.heldout)} outputs. BLEU (0–100) and ROUGE-L (0–1): generated
chains against the reference chains. ${int(summary.heldout)} ${setName(summary.eval_set)} problems, seed ${value(summary.seed)}.</p>
<h2>Accuracy by task</h2>
${byTaskTable(summary, variants)}
<h2>Learning curves</h2>
${curves(variants)}
<h2>Example chains</h2>
${examples(variants, k)}
<h2>How this was run</h2>
${howRun(summary)}
</main></body></html>
`;
}
