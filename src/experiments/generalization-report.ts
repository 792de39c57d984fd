/**
 * The generalization experiment's report: a self-contained HTML page (the demo report's CSS
 * and table, src/demo/report.ts) and the same table as Markdown for the terminal and README.
 * Pure functions of the summary.
 */
import { CSS, esc, table } from "../demo/report.ts";
import type { GeneralizationSummary } from "./generalization.ts";

const ARM_TEXT = {
  single: "single: one wording per problem kind",
  pool: "pool: the training part of the wording pool",
  mixed: "mixed: pool + instruction phrasings + Alpaca + direct/step-by-step mix",
} as const;

const pct = (x: number | undefined) => (x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
const pts = (x: number) => x.toFixed(1);

/** Header and rows of the results table. */
function rows(s: GeneralizationSummary): { head: string[]; body: string[][] } {
  const also = s.also.map((p, i) => ({ key: `also-${i}`, label: `--also ${p}` }));
  const head = [
    "fine-tuned on",
    "(i) trained wordings",
    "(ii) held-out wordings",
    "drop (i) → (ii), points [95% CI]",
    `(iii) held-out family: ${s.settings.heldOutTask}, zero-shot (chance ${pct(s.family_chance)}) [95% CI]`,
    "default wording",
    "pool training wordings",
    ...also.map((a) => `(iv) ${a.label}`),
  ];
  const body = (["single", "pool", "mixed"] as const).map((a) => {
    const h = s.headline[a];
    const r = s.results[a];
    return [
      ARM_TEXT[a],
      pct(h.trained),
      pct(h.heldout),
      h.drop_ci_points
        ? `${pts(h.drop_points)} [${pts(h.drop_ci_points.lo)}, ${pts(h.drop_ci_points.hi)}]`
        : pts(h.drop_points),
      h.family_ci ? `${pct(h.family)} [${pct(h.family_ci.lo)}, ${pct(h.family_ci.hi)}]` : pct(h.family),
      pct(r["default"]?.accuracy),
      pct(r["pool"]?.accuracy),
      ...also.map((x) => pct(r[x.key]?.accuracy)),
    ];
  });
  // The base's row (absent in summaries written before it was evaluated): the same sets, not fine-tuned.
  const b = s.base;
  const baseRow = b
    ? [
        "the base, not fine-tuned",
        "–",
        pct(b["heldout"]?.accuracy),
        "–",
        pct(b["family"]?.accuracy),
        pct(b["default"]?.accuracy),
        pct(b["pool"]?.accuracy),
        ...also.map((x) => pct(b[x.key]?.accuracy)),
      ]
    : [];
  return { head, body: b ? [baseRow, ...body] : body };
}

/** The results as a Markdown table. */
export function formatGeneralizationTable(s: GeneralizationSummary): string {
  const { head, body } = rows(s);
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? "---" : "---:"))), ...body.map(line)].join("\n");
}

export function renderGeneralizationReport(s: GeneralizationSummary): string {
  const { head, body } = rows(s);
  const st = s.settings;
  const n = s.results.single["heldout"]?.n ?? 0;
  const sets = [...new Set(Object.values(s.results).flatMap((r) => Object.keys(r)))];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>stepwise experiment: does chain of thought survive a question asked differently?</title><style>${CSS}</style></head>
<body><main>
<h1>Does chain of thought survive a question asked differently?</h1>
<p class="lead">One base (${esc(st.base.kind === "pretrained" ? st.base.dir : "initialised from the seed")}), fine-tuned three ways on the
same ${esc(st.trainProblems)} problems (${esc(st.tasks.join(", "))}) for ${esc(st.steps)} steps of ${esc(st.microBatch)},
then asked ${esc(n)} held-out problems greedily with the zero-shot chain-of-thought prompt.</p>
<h2>Accuracy</h2>
${table(
  head,
  body.map((r) => r.map(esc)),
  (i) => i > 0,
)}
<p class="muted">(i) is each model's own training wordings (single: each generator's default; pool and mixed: the pool's
training wordings), on held-out problems. (ii) the same problems in the held-out wordings, which no fine-tuning saw.
(iii) ${esc(st.heldOutTask)} problems, a family none of the fine-tunings trained on; chance is the mean over its problems of
1 / the number of possible answers. Accuracy is strict: the "#### answer" line equals the gold answer.</p>
<h2>Step validity</h2>
${table(
  ["fine-tuned on", ...sets],
  [
    ...(s.base ? [["the base, not fine-tuned", ...sets.map((k) => pct(s.base?.[k]?.step_validity))]] : []),
    ...(["single", "pool", "mixed"] as const).map((a) => [
      esc(ARM_TEXT[a]),
      ...sets.map((k) => pct(s.results[a][k]?.step_validity)),
    ]),
  ],
  (i) => i > 0,
)}
<h2>How this was run</h2>
<pre>${esc(JSON.stringify({ settings: st, seconds: s.seconds }, null, 2))}</pre>
</main></body></html>
`;
}
