/**
 * Tiny, dependency-free SVG writers for the lab's pictures: line charts (learning
 * curves, proxy-vs-true hacking curves), grouped bar charts (gradient variances) and
 * a heat map with arrows (value functions and greedy policies on gridworlds).
 *
 * Each function is pure: options in, a complete `<svg ...>` document string out.
 * Non-finite values are skipped (lines break at them) rather than poisoning the axes.
 */

/** Ten distinguishable colours (matplotlib's tab10). */
export const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
] as const;

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Short number text for ticks and labels: 0.25, 1.5e+3, -12. */
export function formatNumber(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(1).replace("e+", "e");
  return String(Number(x.toPrecision(4)));
}

/** "Nice" tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) ticks.push(10 ** k);
  return ticks;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function header(f: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${f.width}" height="${f.height}" fill="white"/>`,
    `<text x="${f.width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

/** Axes, grid lines, tick labels and axis titles; returns the y mapping. */
function axes(
  out: string[],
  f: Frame,
  x: { ticks: number[]; map: (v: number) => number; label: string; tickText?: (v: number) => string },
  y: { ticks: number[]; map: (v: number) => number; label: string },
): void {
  const x0 = f.left;
  const x1 = f.width - f.right;
  const y0 = f.height - f.bottom;
  const y1 = f.top;
  for (const t of y.ticks) {
    const py = y.map(t).toFixed(1);
    out.push(`<line x1="${x0}" y1="${py}" x2="${x1}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${formatNumber(t)}</text>`);
  }
  for (const t of x.ticks) {
    const px = x.map(t).toFixed(1);
    out.push(`<line x1="${px}" y1="${y0}" x2="${px}" y2="${y0 + 5}" stroke="#333"/>`);
    const text = x.tickText ? x.tickText(t) : formatNumber(t);
    out.push(`<text x="${px}" y="${y0 + 18}" text-anchor="middle">${escapeXml(text)}</text>`);
  }
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#333"/>`);
  out.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#333"/>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${f.height - 8}" text-anchor="middle">${escapeXml(x.label)}</text>`);
  const cy = (y0 + y1) / 2;
  out.push(`<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(y.label)}</text>`);
}

/** Room for a legend on the right: swatch plus about 7 px per character of the longest name. */
function legendWidth(names: string[]): number {
  return Math.max(120, 56 + 7 * Math.max(0, ...names.map((n) => n.length)));
}

function legend(out: string[], f: Frame, items: { name: string; color: string; dash?: string }[]): void {
  const x = f.width - f.right + 14;
  items.forEach((it, i) => {
    const y = f.top + 8 + i * 20;
    const dash = it.dash ? ` stroke-dasharray="${it.dash}"` : "";
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${it.color}" stroke-width="3"${dash}/>`);
    out.push(`<text x="${x + 28}" y="${y}" dominant-baseline="middle">${escapeXml(it.name)}</text>`);
  });
}

export interface LineSeries {
  name: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  color?: string;
  /** SVG stroke-dasharray, e.g. "6 4". */
  dash?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  width?: number;
  height?: number;
  /** Fix the y range instead of fitting the data. */
  yRange?: [number, number];
  /** Logarithmic y axis (non-positive values are skipped). */
  logY?: boolean;
}

/** A line chart of several series with axes, grid and a legend on the right. */
export function lineChartSvg(o: LineChartOptions): string {
  const right = legendWidth(o.series.map((s) => s.name));
  const f: Frame = { width: o.width ?? 550 + right, height: o.height ?? 420, left: 70, right, top: 36, bottom: 48 };
  const ok = (y: number) => Number.isFinite(y) && (!o.logY || y > 0);
  let [xlo, xhi, ylo, yhi] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of o.series) {
    if (s.xs.length !== s.ys.length) {
      throw new RangeError(`lineChartSvg: series "${s.name}" has ${s.xs.length} xs but ${s.ys.length} ys`);
    }
    for (let i = 0; i < s.xs.length; i++) {
      if (!Number.isFinite(s.xs[i]!) || !ok(s.ys[i]!)) continue;
      xlo = Math.min(xlo, s.xs[i]!);
      xhi = Math.max(xhi, s.xs[i]!);
      ylo = Math.min(ylo, s.ys[i]!);
      yhi = Math.max(yhi, s.ys[i]!);
    }
  }
  if (!Number.isFinite(xlo)) [xlo, xhi, ylo, yhi] = [0, 1, o.logY ? 1 : 0, o.logY ? 10 : 1];
  if (o.yRange) [ylo, yhi] = o.yRange;
  const xt = niceTicks(xlo, xhi);
  const yt = o.logY ? logTicks(ylo, yhi) : niceTicks(ylo, yhi);
  const [xa, xb, ya, yb] = [xt[0]!, xt[xt.length - 1]!, yt[0]!, yt[yt.length - 1]!];
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const mapX = (v: number) => f.left + ((v - xa) / (xb - xa || 1)) * pw;
  const mapY = o.logY
    ? (v: number) => f.top + ph - ((Math.log10(v) - Math.log10(ya)) / (Math.log10(yb) - Math.log10(ya) || 1)) * ph
    : (v: number) => f.top + ph - ((v - ya) / (yb - ya || 1)) * ph;

  const out = header(f, o.title);
  axes(out, f, { ticks: xt, map: mapX, label: o.xLabel }, { ticks: yt, map: mapY, label: o.yLabel });
  const items = o.series.map((s, k) => ({
    name: s.name,
    color: s.color ?? PALETTE[k % PALETTE.length]!,
    dash: s.dash,
  }));
  o.series.forEach((s, k) => {
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
    let pts: string[] = [];
    const flush = () => {
      if (pts.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${items[k]!.color}" stroke-width="2"${dash} points="${pts.join(" ")}"/>`,
        );
      } else if (pts.length === 1) {
        const [x, y] = pts[0]!.split(",");
        out.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${items[k]!.color}"/>`);
      }
      pts = [];
    };
    for (let i = 0; i < s.xs.length; i++) {
      const y = s.ys[i]!;
      if (!Number.isFinite(s.xs[i]!) || !ok(y)) {
        flush();
        continue;
      }
      const cy = Math.min(Math.max(mapY(y), f.top), f.top + ph);
      pts.push(`${mapX(s.xs[i]!).toFixed(1)},${cy.toFixed(1)}`);
    }
    flush();
  });
  legend(out, f, items);
  out.push("</svg>");
  return out.join("\n");
}

export interface BarSeries {
  name: string;
  values: ArrayLike<number>;
  /** Half-length of an error bar per value (e.g. a standard error). */
  errors?: ArrayLike<number>;
  color?: string;
}

export interface BarChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** One group of bars per category, one bar per series in each group. */
  categories: string[];
  series: BarSeries[];
  width?: number;
  height?: number;
  /** Logarithmic y axis, for quantities spanning orders of magnitude (variances). */
  logY?: boolean;
}

/** A grouped bar chart with optional error bars and a legend on the right. */
export function barChartSvg(o: BarChartOptions): string {
  const n = o.categories.length;
  for (const s of o.series) {
    if (s.values.length !== n) {
      throw new RangeError(`barChartSvg: series "${s.name}" has ${s.values.length} values for ${n} categories`);
    }
  }
  const right = legendWidth(o.series.map((s) => s.name));
  const f: Frame = {
    width: o.width ?? Math.max(350, 100 + n * 26 * Math.max(1, o.series.length)) + right,
    height: o.height ?? 420,
    left: 70,
    right,
    top: 36,
    bottom: 48,
  };
  const vals: number[] = [];
  for (const s of o.series) {
    for (let i = 0; i < n; i++) {
      const v = s.values[i]!;
      const e = s.errors?.[i] ?? 0;
      for (const x of [v, v + e, o.logY ? v : v - e]) if (Number.isFinite(x) && (!o.logY || x > 0)) vals.push(x);
    }
  }
  const lo = o.logY ? Math.min(...vals, Infinity) : Math.min(0, ...vals);
  const hi = Math.max(...vals, o.logY ? lo * 10 : 0);
  const yt = o.logY ? logTicks(Number.isFinite(lo) ? lo : 1, Number.isFinite(hi) ? hi : 10) : niceTicks(lo, hi);
  const [ya, yb] = [yt[0]!, yt[yt.length - 1]!];
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const mapY = o.logY
    ? (v: number) => f.top + ph - ((Math.log10(v) - Math.log10(ya)) / (Math.log10(yb) - Math.log10(ya) || 1)) * ph
    : (v: number) => f.top + ph - ((v - ya) / (yb - ya || 1)) * ph;
  const groupW = pw / Math.max(1, n);
  const barW = (groupW * 0.8) / Math.max(1, o.series.length);
  const mapX = (i: number) => f.left + (i + 0.5) * groupW;

  const out = header(f, o.title);
  axes(
    out,
    f,
    { ticks: o.categories.map((_, i) => i), map: mapX, label: o.xLabel, tickText: (i) => o.categories[i] ?? "" },
    { ticks: yt, map: mapY, label: o.yLabel },
  );
  const base = o.logY ? f.top + ph : mapY(0);
  const items = o.series.map((s, k) => ({ name: s.name, color: s.color ?? PALETTE[k % PALETTE.length]! }));
  o.series.forEach((s, k) => {
    for (let i = 0; i < n; i++) {
      const v = s.values[i]!;
      if (!Number.isFinite(v) || (o.logY && v <= 0)) continue;
      const x = f.left + i * groupW + groupW * 0.1 + k * barW;
      const y = mapY(v);
      const [top, h] = y < base ? [y, base - y] : [base, y - base];
      out.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${h.toFixed(1)}" fill="${items[k]!.color}"/>`,
      );
      const e = s.errors?.[i];
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        const cx = (x + barW * 0.46).toFixed(1);
        const yUp = mapY(v + e).toFixed(1);
        const yDown = Math.min(o.logY && v - e <= 0 ? base : mapY(v - e), base).toFixed(1);
        out.push(`<line x1="${cx}" y1="${yUp}" x2="${cx}" y2="${yDown}" stroke="#222" stroke-width="1.5"/>`);
      }
    }
  });
  legend(out, f, items);
  out.push("</svg>");
  return out.join("\n");
}

/** Sequential colour scale (viridis, five stops) at t ∈ [0, 1]. */
export function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const w = x - i;
  const c = stops[i]!.map((v, j) => Math.round(v + (stops[i + 1]![j]! - v) * w));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export interface HeatMapOptions {
  title: string;
  rows: number;
  cols: number;
  /** values[r * cols + c]; null draws a wall (dark grey, no text). */
  values: (number | null)[];
  /** Arrow per cell: 0 up, 1 right, 2 down, 3 left; null for none. */
  arrows?: (number | null)[];
  /** A short label per cell (e.g. S, G, H), drawn in the top-left corner. */
  labels?: (string | null)[];
  /** A fixed fill per cell (e.g. terminal cells): such cells stay out of the colour scale and show no value. */
  fills?: (string | null)[];
  cellSize?: number;
}

/** A grid of coloured cells with the value printed in each and optional arrows and labels. */
export function heatMapSvg(o: HeatMapOptions): string {
  const size = o.cellSize ?? 56;
  if (o.values.length !== o.rows * o.cols) {
    throw new RangeError(`heatMapSvg: ${o.values.length} values for a ${o.rows}x${o.cols} grid`);
  }
  const finite = o.values.filter((v, i): v is number => v !== null && Number.isFinite(v) && !o.fills?.[i]);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 1;
  const f: Frame = {
    width: o.cols * size + 120,
    height: o.rows * size + 60,
    left: 20,
    right: 100,
    top: 36,
    bottom: 24,
  };
  const out = header(f, o.title);
  for (let r = 0; r < o.rows; r++) {
    for (let c = 0; c < o.cols; c++) {
      const i = r * o.cols + c;
      const v = o.values[i] ?? null;
      const x = f.left + c * size;
      const y = f.top + r * size;
      if (v === null) {
        out.push(`<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="#333" stroke="white"/>`);
        continue;
      }
      const fixed = o.fills?.[i];
      if (fixed) {
        out.push(`<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="${fixed}" stroke="white"/>`);
        const label = o.labels?.[i];
        if (label) {
          out.push(
            `<text x="${x + size / 2}" y="${y + size / 2}" text-anchor="middle" dominant-baseline="middle" font-size="${Math.round(size / 3)}" font-weight="bold">${escapeXml(label)}</text>`,
          );
        }
        continue;
      }
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      const ink = t > 0.6 ? "black" : "white";
      out.push(`<rect x="${x}" y="${y}" width="${size}" height="${size}" fill="${viridis(t)}" stroke="white"/>`);
      out.push(
        `<text x="${x + size / 2}" y="${y + size - 6}" text-anchor="middle" font-size="${Math.round(size / 5)}" fill="${ink}">${formatNumber(v)}</text>`,
      );
      const label = o.labels?.[i];
      if (label) {
        out.push(
          `<text x="${x + 4}" y="${y + 14}" font-size="12" font-weight="bold" fill="${ink}">${escapeXml(label)}</text>`,
        );
      }
      const a = o.arrows?.[i];
      if (a !== null && a !== undefined) out.push(arrow(x + size / 2, y + size / 2 - size * 0.08, size * 0.28, a, ink));
    }
  }
  // Colour bar.
  const bx = f.left + o.cols * size + 24;
  const bh = o.rows * size;
  for (let k = 0; k < 20; k++) {
    out.push(
      `<rect x="${bx}" y="${(f.top + (bh * k) / 20).toFixed(1)}" width="16" height="${(bh / 20 + 0.5).toFixed(1)}" fill="${viridis(1 - k / 19)}"/>`,
    );
  }
  out.push(`<text x="${bx + 22}" y="${f.top + 10}">${formatNumber(hi)}</text>`);
  out.push(`<text x="${bx + 22}" y="${f.top + bh}">${formatNumber(lo)}</text>`);
  out.push("</svg>");
  return out.join("\n");
}

/** An arrow of half-length `len` centred at (cx, cy) pointing up/right/down/left (0..3). */
function arrow(cx: number, cy: number, len: number, dir: number, color: string): string {
  const [dx, dy] = [
    [0, -1],
    [1, 0],
    [0, 1],
    [-1, 0],
  ][((dir % 4) + 4) % 4]!;
  const [px, py] = [-dy!, dx!];
  const tip = [cx + dx! * len, cy + dy! * len];
  const back = [cx - dx! * len, cy - dy! * len];
  const head = len * 0.55;
  const h1 = [tip[0]! - dx! * head + px * head * 0.6, tip[1]! - dy! * head + py * head * 0.6];
  const h2 = [tip[0]! - dx! * head - px * head * 0.6, tip[1]! - dy! * head - py * head * 0.6];
  const p = (q: number[]) => `${q[0]!.toFixed(1)},${q[1]!.toFixed(1)}`;
  return [
    `<line x1="${back[0]!.toFixed(1)}" y1="${back[1]!.toFixed(1)}" x2="${tip[0]!.toFixed(1)}" y2="${tip[1]!.toFixed(1)}" stroke="${color}" stroke-width="2.5"/>`,
    `<polygon points="${p(tip)} ${p(h1)} ${p(h2)}" fill="${color}"/>`,
  ].join("");
}
