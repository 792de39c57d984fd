// Curves for the dashboard: every numeric field of every row becomes a series, named by its
// path ("rewards/format/mean" for nested objects), so new metrics need no change here.
import uPlot from "/vendor/uplot.js";

const COLORS = ["#0a6ed1", "#d1490a", "#1e7b34", "#8a3ffc", "#b3261e", "#00838f", "#9a6700", "#5b6270"];

/** The numeric leaves of a row except its step, as [name, value] pairs. */
export function numericFields(row, prefix = "") {
  const out = [];
  for (const [k, v] of Object.entries(row)) {
    const name = prefix + k;
    if (prefix === "" && k === "step") continue;
    if (typeof v === "number" && Number.isFinite(v)) out.push([name, v]);
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...numericFields(v, `${name}/`));
  }
  return out;
}

/** Series of one run: name -> {x: steps, y: values}, grown row by row. */
export class SeriesStore {
  constructor(prefix = "") {
    this.prefix = prefix;
    this.series = new Map();
  }
  add(rows) {
    for (const row of rows) {
      if (typeof row.step !== "number") continue;
      for (const [name, v] of numericFields(row)) {
        const key = this.prefix + name;
        let s = this.series.get(key);
        if (!s) {
          s = { x: [], y: [] };
          this.series.set(key, s);
        }
        s.x.push(row.step);
        s.y.push(v);
      }
    }
  }
}

/** Exponential moving average with TensorBoard's debiasing: s_t = w s_{t-1} + (1 - w) y_t, / (1 - w^t). */
export function smooth(y, w) {
  if (!(w > 0)) return y;
  const out = new Array(y.length);
  let acc = 0;
  let n = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    n++;
    acc = w * acc + (1 - w) * v;
    out[i] = acc / (1 - w ** n);
  }
  return out;
}

/** Aligned uPlot data for several runs' versions of one series: [xs, ys_run0, ys_run1, ...]. */
function aligned(lines, w, logy) {
  const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((l) => {
    const col = new Array(xs.length).fill(null);
    const sm = smooth(l.y, w);
    l.x.forEach((x, i) => {
      const v = sm[i];
      col[at.get(x)] = logy && !(v > 0) ? null : v;
    });
    return col;
  });
  return [xs, ...ys];
}

function alertsPlugin(getAlerts) {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#b3261e";
        ctx.setLineDash([4, 3]);
        ctx.lineWidth = 1.5;
        for (const a of getAlerts()) {
          const x = u.valToPos(a.step, "x", true);
          if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) continue;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

/**
 * A grid of charts, one per series name, each with one line per run. update() adds new
 * charts and new points in place (no reload); setOptions() changes smoothing or log scale.
 */
export class ChartGrid {
  constructor(container) {
    this.container = container;
    this.charts = new Map();
    this.options = { smooth: 0, logy: false };
    this.runs = [];
    this.alerts = [];
  }
  update(runs, alerts = []) {
    this.runs = runs;
    this.alerts = alerts;
    const names = [...new Set(runs.flatMap((r) => [...r.store.series.keys()]))].sort(byImportance);
    for (const name of names) {
      const lines = runs.map((r) => r.store.series.get(name) ?? { x: [], y: [] });
      let c = this.charts.get(name);
      if (!c) {
        c = this.create(name);
        this.charts.set(name, c);
      }
      c.u.setData(aligned(lines, this.options.smooth, this.options.logy));
      c.el.dataset.points = String(Math.max(...lines.map((l) => l.x.length)));
      c.el.dataset.lines = String(lines.filter((l) => l.x.length > 0).length);
      c.el.dataset.alerts = String(alerts.length);
    }
  }
  setOptions(options) {
    const rebuild = options.logy !== this.options.logy;
    this.options = { ...this.options, ...options };
    if (rebuild) {
      for (const c of this.charts.values()) {
        c.u.destroy();
        c.el.remove();
      }
      this.charts.clear();
    }
    this.update(this.runs, this.alerts);
  }
  create(name) {
    const el = document.createElement("div");
    el.className = "chart";
    el.dataset.series = name;
    const title = document.createElement("h3");
    title.textContent = name;
    el.append(title);
    // Keep charts in name order as new series appear.
    const after = [...this.charts.keys()].filter((k) => byImportance(k, name) < 0).length;
    const next = this.container.children[after] ?? null;
    this.container.insertBefore(el, next);
    const opts = {
      width: 400,
      height: 200,
      legend: { show: this.runs.length > 1 },
      scales: { x: { time: false }, y: this.options.logy ? { distr: 3 } : {} },
      axes: [{}, { values: (_u, splits) => splits.map(tick), size: 60 }],
      series: [
        { label: "step" },
        ...this.runs.map((r, i) => ({ label: r.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true })),
      ],
      plugins: [alertsPlugin(() => this.alerts)],
    };
    const u = new uPlot(opts, [[], ...this.runs.map(() => [])], el);
    return { el, u };
  }
}

/** An axis label: a learning rate of 3e-4 must not read "0". */
function tick(v) {
  if (v === null) return "";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a < 1e-2 || a >= 1e6 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/** Loss first, then learning rate, then the rest by name. */
function byImportance(a, b) {
  const rank = (n) => (n === "loss" ? 0 : n === "lr" ? 1 : n.startsWith("eval/") ? 3 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}
