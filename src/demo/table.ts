/**
 * The demo's results as a Markdown table (printed at the end of `stepwise demo`, pasted
 * into the README as it is).
 */
import { brackets, interval, fixed as num, pct, signedPoints as points, setName } from "./format.ts";
import { LABELS } from "./labels.ts";
import { type DemoSummary, VARIANTS } from "./types.ts";

export function formatResultsTable(summary: DemoSummary): string {
  const d = summary.cot_minus_direct;
  const head = [
    "variant",
    "accuracy (strict)",
    "accuracy (flexible)",
    "held-out wordings (strict)",
    "drop, points [95% CI]",
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
      r.accuracy_heldout_wordings === undefined ? "–" : pct(r.accuracy_heldout_wordings),
      r.wording_drop ? `${points(r.wording_drop.diff)} ${brackets(r.wording_drop)}` : "–",
      pct(r.step_validity),
      num(r.bleu, 1),
      num(r.rougeL, 3),
      r.train_tokens.toLocaleString("en-US"),
      `${num(r.seconds, 0)} s`,
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `${summary.heldout} ${setName(summary.eval_set)} problems, seed ${summary.seed}, ${summary.machine.cores} cores, ${num(summary.total_seconds / 60, 1)} min in all`,
    "",
    line(head),
    line(head.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...rows.map(line),
    "",
    `Chain of thought − direct: ${points(d.diff)} points (${interval(d)}, paired bootstrap over the ${summary.heldout} problems). ` +
      `Chance (each task's most common training answer): ${pct(summary.chance_accuracy)}.`,
  ].join("\n");
}
