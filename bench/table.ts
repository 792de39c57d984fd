/**
 * The run's figures side by side: one row per bench and params (threads aside),
 * stepwise and PyTorch at each thread count, and the ratio of each side at its
 * best thread count (the figure the acceptance lines of issue 21 use). `npm run
 * bench` prints it on stderr at the end, as a Markdown table, so stdout stays
 * one JSON line per figure.
 */
import { keyOf } from "./derive.ts";
import type { Figure } from "./types.ts";

interface Row {
  bench: string;
  params: string;
  unit: string;
  stepwise: Map<number, number>;
  pytorch: Map<number, number>;
}

/** The highest value and the thread count it came at, or null when there is none. */
function best(byThreads: Map<number, number>): { threads: number; value: number } | null {
  let top: { threads: number; value: number } | null = null;
  for (const [threads, value] of byThreads) if (top === null || value > top.value) top = { threads, value };
  return top;
}

function number(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3);
}

function perThreads(byThreads: Map<number, number>, threads: number[]): string {
  return threads.map((t) => (byThreads.has(t) ? number(byThreads.get(t)!) : "–")).join(" / ");
}

/**
 * A Markdown table of the throughput figures (units other than "x"; a higher value
 * is better), or "" when there are none. Ratio = best stepwise / best PyTorch.
 */
export function sideBySide(figures: readonly Figure[]): string {
  const rows = new Map<string, Row>();
  for (const f of figures) {
    if (f.unit === "x" || f.impl === "stepwise/pytorch" || typeof f.params.threads !== "number") continue;
    const { threads: _, ...rest } = f.params;
    const key = `${f.bench} ${keyOf(rest)} ${f.unit}`;
    let row = rows.get(key);
    if (!row) {
      const params = Object.entries(rest)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      row = { bench: f.bench, params, unit: f.unit, stepwise: new Map(), pytorch: new Map() };
      rows.set(key, row);
    }
    row[f.impl].set(f.params.threads, f.value);
  }
  if (rows.size === 0) return "";
  const threads = [...new Set([...rows.values()].flatMap((r) => [...r.stepwise.keys(), ...r.pytorch.keys()]))].sort(
    (a, b) => a - b,
  );
  const lines = [
    `| bench | params | unit | stepwise (${threads.join(" / ")} threads) | PyTorch (${threads.join(" / ")}) | best / best |`,
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows.values()) {
    const ours = best(r.stepwise);
    const theirs = best(r.pytorch);
    const ratio =
      ours && theirs && theirs.value > 0
        ? `**${(ours.value / theirs.value).toFixed(2)}×** (${ours.threads} vs ${theirs.threads} threads)`
        : "–";
    lines.push(
      `| ${r.bench} | ${r.params} | ${r.unit} | ${perThreads(r.stepwise, threads)} | ${perThreads(r.pytorch, threads)} | ${ratio} |`,
    );
  }
  return lines.join("\n");
}
