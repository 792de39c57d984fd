/**
 * The demo's results as a Markdown table (printed at the end of `stepwise demo`, pasted
 * into the README as it is).
 */
import { LABELS } from "./labels.ts";
import { type DemoSummary, VARIANTS } from "./types.ts";

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "–");
const num = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "–");

/** A difference of accuracies in percentage points, signed: "+6.3", "-2.0". */
const points = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;

export function formatResultsTable(summary: DemoSummary): string {
  const d = summary.cot_minus_direct;
  const head = [
    "variant",
    "accuracy (strict)",
    "accuracy (flexible)",
    "valid chains",
    "BLEU",
    "ROUGE-L",
    "target tokens trained",
    "training time",
  ];
  const rows = VARIANTS.map((v) => {
    const r = summary.results[v];
    return [
      LABELS[v].label,
      pct(r.accuracy_strict),
      pct(r.accuracy_flexible),
      pct(r.step_validity),
      num(r.bleu, 1),
      num(r.rougeL, 3),
      r.train_tokens.toLocaleString("en-US"),
      `${num(r.seconds, 0)} s`,
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `${summary.heldout} ${summary.eval_set === "validation" ? "validation" : "held-out"} problems, seed ${summary.seed}, ${summary.machine.cores} cores, ${num(summary.total_seconds / 60, 1)} min in all`,
    "",
    line(head),
    line(head.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...rows.map(line),
    "",
    `Chain of thought − direct: ${points(d.diff)} points (${Math.round(100 * d.level)}% interval ${points(d.lo)} to ` +
      `${points(d.hi)}, paired bootstrap over the ${summary.heldout} problems). ` +
      `Chance (each task's most common training answer): ${pct(summary.chance_accuracy)}.`,
  ].join("\n");
}
