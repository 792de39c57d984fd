// The dashboard page: a runs list, one run's curves / samples / eval / alerts, and a
// comparison of several runs. Plain ES module; all text goes through textContent.
import { ChartGrid, SeriesStore } from "/charts.js";

const view = document.getElementById("view");
const where = document.getElementById("where");
const smoothInput = document.getElementById("smooth");
const logInput = document.getElementById("logy");
const POLL_MS = 1000;
let generation = 0; // bumped on every navigation: stale pollers stop
let grid = null;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

async function api(path, params = {}) {
  const res = await fetch(`${path}?${new URLSearchParams(params)}`);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const fmt = (v) =>
  v === null || v === undefined
    ? "–"
    : typeof v === "number"
      ? Math.abs(v) >= 1000
        ? v.toFixed(0)
        : v.toPrecision(4)
      : v;
const runHash = (path, tab = "curves") => `#/run/${encodeURIComponent(path)}/${tab}`;

smoothInput.addEventListener("input", () => grid?.setOptions({ smooth: Number(smoothInput.value) }));
logInput.addEventListener("change", () => grid?.setOptions({ logy: logInput.checked }));

// ---------------------------------------------------------------- runs list
async function showRuns() {
  where.textContent = "runs";
  const { runs } = await api("/api/runs");
  const chosen = new Set();
  const compare = h(
    "button",
    {
      id: "compare",
      disabled: true,
      onclick: () => {
        location.hash = `#/compare/${[...chosen].map(encodeURIComponent).join(",")}`;
      },
    },
    "Compare selected",
  );
  const rows = runs.map((r) =>
    h(
      "tr",
      { dataset: { run: r.path, kind: r.kind } },
      h(
        "td",
        {},
        h("input", {
          type: "checkbox",
          "aria-label": `select ${r.path}`,
          onchange: (e) => {
            if (e.target.checked) chosen.add(r.path);
            else chosen.delete(r.path);
            compare.disabled = chosen.size < 2;
          },
        }),
      ),
      h("td", {}, h("a", { href: runHash(r.path) }, r.path || ".")),
      h("td", {}, r.kind),
      h("td", { class: `status-${r.status}` }, r.status),
      h("td", {}, r.model ?? "–"),
      h("td", { class: "num" }, r.steps ? `${r.steps.done}${r.steps.total ? ` / ${r.steps.total}` : ""}` : "–"),
      h(
        "td",
        {},
        Object.entries(r.figures)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(", "),
      ),
    ),
  );
  view.replaceChildren(
    h(
      "table",
      { id: "runs" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["", "run", "kind", "status", "model", "steps", "figures"].map((t) => h("th", {}, t)),
        ),
      ),
      h("tbody", {}, rows),
    ),
    h("p", {}, compare, h("span", { class: "muted" }, "  tick two or more runs to overlay their curves")),
  );
}

// ---------------------------------------------------------------- one run
/** Reads a run's logs from where it left off, forever (until navigation), into stores. */
function follow(path, onRows, gen) {
  const offsets = { metrics: 0, eval: 0, alerts: 0 };
  const tick = async () => {
    if (gen !== generation) return;
    const logs = Object.keys(offsets);
    const pages = await Promise.all(
      logs.map((log) => api("/api/log", { run: path, log, offset: offsets[log] }).catch(() => null)),
    );
    logs.forEach((log, i) => {
      const page = pages[i];
      if (!page || gen !== generation) return;
      if (page.restarted) onRows(log, null); // the log was cut back (a resume): start again
      offsets[log] = page.next;
      if (page.rows.length) onRows(log, page.rows);
    });
    if (gen === generation) setTimeout(tick, POLL_MS);
  };
  return tick();
}

async function showRun(path, tab) {
  const gen = ++generation;
  where.textContent = path || ".";
  const tabs = ["curves", "samples", "eval", "alerts"];
  const head = h("p", {});
  const nav = h(
    "nav",
    { class: "tabs" },
    tabs.map((t) => h("a", { href: runHash(path, t), class: t === tab ? "on" : null }, t)),
  );
  const body = h("div", { id: "tab" });
  view.replaceChildren(head, nav, body);
  // Curves need only the path: start reading the logs while the run's description loads.
  const curves = tab === "curves" ? showCurves([{ path }], body, gen) : null;
  const { runs } = await api("/api/runs");
  const run = runs.find((r) => r.path === path);
  if (!run) {
    generation++;
    view.replaceChildren(h("p", {}, `no run ${path}`));
    return;
  }
  head.replaceChildren(
    h("b", {}, run.name),
    ` · ${run.kind} · `,
    h("span", { class: `status-${run.status}` }, run.status),
    run.model ? ` · ${run.model}` : "",
  );
  if (curves) return curves;
  if (tab === "samples") return showSamples(run, body, gen);
  if (tab === "eval") return showEval(run, body);
  if (tab === "alerts") return showAlerts(run, body);
}

function showCurves(runs, body, gen) {
  const charts = h("div", { class: "charts", id: "charts" });
  const alertList = h("ul", { class: "alerts" });
  body.replaceChildren(charts, alertList);
  grid = new ChartGrid(charts);
  grid.options = { smooth: Number(smoothInput.value), logy: logInput.checked };
  const state = runs.map((r) => ({
    label: r.path || ".",
    store: new SeriesStore(),
    evalStore: new SeriesStore("eval/"),
    alerts: [],
  }));
  const redraw = () => {
    const alerts = state.flatMap((s) => s.alerts);
    grid.update(
      state.map((s) => ({ label: s.label, store: merged(s) })),
      alerts,
    );
    alertList.replaceChildren(
      ...alerts.map((a) => h("li", {}, `step ${a.step} · ${a.monitor ?? ""} ${a.severity ?? ""}: ${a.message ?? ""}`)),
    );
  };
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      redraw();
    }, 30);
  };
  return Promise.all(
    runs.map((r, i) =>
      follow(
        r.path,
        (log, rows) => {
          const s = state[i];
          if (rows === null) {
            if (log === "metrics") s.store = new SeriesStore();
            if (log === "eval") s.evalStore = new SeriesStore("eval/");
            if (log === "alerts") s.alerts = [];
            return;
          }
          if (log === "metrics") s.store.add(rows);
          if (log === "eval") s.evalStore.add(rows);
          if (log === "alerts") s.alerts.push(...rows.filter((a) => typeof a.step === "number"));
          schedule();
        },
        gen,
      ),
    ),
  );
}

function merged(s) {
  const m = new SeriesStore();
  for (const [k, v] of s.store.series) m.series.set(k, v);
  for (const [k, v] of s.evalStore.series) m.series.set(k, v);
  return m;
}

async function showSamples(run, body, gen) {
  const sources = [];
  if (run.logs.includes("samples.jsonl")) sources.push("samples");
  if (run.evalDir !== null) sources.push("examples");
  if (sources.length === 0) {
    body.replaceChildren(h("p", { class: "muted" }, "this run wrote no samples and has no eval examples"));
    return;
  }
  const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const state = { source: q.get("source") ?? sources[0], correct: "any", task: "", step: "", offset: 0 };
  const list = h("div", { id: "samples" });
  const count = h("span", { id: "sample-count", class: "muted" });
  const select = (id, options, key) =>
    h(
      "select",
      {
        id,
        onchange: (e) => {
          state[key] = e.target.value;
          state.offset = 0;
          load();
        },
      },
      options.map(([v, t]) => h("option", { value: v, selected: state[key] === v }, t)),
    );
  const taskSel = select("filter-task", [["", "all tasks"]], "task");
  const stepSel = select("filter-step", [["", "all steps"]], "step");
  const pager = h(
    "span",
    {},
    h(
      "button",
      {
        id: "prev",
        onclick: () => {
          state.offset = Math.max(0, state.offset - 50);
          load();
        },
      },
      "‹ prev",
    ),
    h(
      "button",
      {
        id: "next",
        onclick: () => {
          state.offset += 50;
          load();
        },
      },
      "next ›",
    ),
  );
  body.replaceChildren(
    h(
      "div",
      { class: "filters" },
      select(
        "filter-source",
        sources.map((s) => [s, s === "samples" ? "training samples" : "eval examples"]),
        "source",
      ),
      select(
        "filter-correct",
        [
          ["any", "all"],
          ["correct", "correct"],
          ["incorrect", "incorrect"],
        ],
        "correct",
      ),
      taskSel,
      stepSel,
      pager,
      count,
    ),
    list,
  );
  const fill = (sel, values, label) => {
    const cur = sel.value;
    sel.replaceChildren(
      h("option", { value: "" }, label),
      ...values.map((v) => h("option", { value: v, selected: String(v) === cur }, v)),
    );
  };
  async function load() {
    const page = await api("/api/samples", {
      run: run.path,
      source: state.source,
      correct: state.correct,
      task: state.task,
      step: state.step,
      offset: state.offset,
      limit: 50,
    });
    if (gen !== generation) return;
    fill(taskSel, page.tasks, "all tasks");
    fill(stepSel, page.steps, "all steps");
    count.textContent = `${page.total} of ${page.rows} · showing ${page.items.length ? page.offset + 1 : 0}–${page.offset + page.items.length}`;
    count.dataset.total = String(page.total);
    list.replaceChildren(...page.items.map(sampleCard));
  }
  return load();
}

function sampleCard(s) {
  const cls = s.correct === true ? "correct" : s.correct === false ? "incorrect" : "";
  const steps = s.steps
    ? h(
        "ol",
        { class: "steps", start: 1 },
        s.steps.lines.map((l, i) => h("li", { class: i === s.steps.firstInvalid ? "invalid" : null }, l)),
      )
    : h("pre", {}, s.completion);
  const rewards = Object.entries(s.rewards);
  return h(
    "div",
    { class: `sample ${cls}`, dataset: { row: s.row } },
    h(
      "div",
      { class: "meta" },
      [
        `#${s.row}`,
        s.step !== null ? `step ${s.step}` : null,
        s.task,
        s.correct === null ? null : s.correct ? "correct" : "incorrect",
        s.finishReason ? `finish ${s.finishReason}` : null,
      ]
        .filter(Boolean)
        .join(" · "),
    ),
    h("pre", { class: "prompt" }, s.prompt),
    steps,
    h(
      "div",
      { class: "meta" },
      `gold ${s.gold ?? "–"} · extracted ${s.extracted ?? "–"}`,
      s.steps
        ? ` · steps ${s.steps.valid === null ? "unchecked" : s.steps.valid ? "valid" : "invalid"}${s.steps.reason ? ` (${s.steps.reason})` : ""}`
        : "",
      rewards.length ? ` · rewards ${rewards.map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}` : "",
    ),
  );
}

async function showEval(run, body) {
  const ev = await api("/api/eval", { run: run.path });
  if (ev.tasks.length === 0) {
    body.replaceChildren(h("p", { class: "muted" }, "no eval examples in this run"));
    return;
  }
  body.replaceChildren(
    h(
      "table",
      { id: "eval" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["task", "n", "correct", "accuracy", "95% interval (Wilson)"].map((t) => h("th", {}, t)),
        ),
      ),
      h(
        "tbody",
        {},
        ev.tasks.map((t) =>
          h(
            "tr",
            {},
            h("td", {}, t.task),
            h("td", { class: "num" }, t.n),
            h("td", { class: "num" }, t.correct),
            h("td", { class: "num" }, `${(100 * t.accuracy).toFixed(1)}%`),
            h("td", { class: "num" }, `${(100 * t.lo).toFixed(1)}–${(100 * t.hi).toFixed(1)}%`),
          ),
        ),
      ),
    ),
    h("p", {}, h("a", { href: `${runHash(run.path, "samples")}?source=examples` }, "browse the examples")),
  );
}

async function showAlerts(run, body) {
  const page = await api("/api/log", { run: run.path, log: "alerts" });
  body.replaceChildren(
    page.rows.length === 0
      ? h("p", { class: "muted" }, "no alerts")
      : h(
          "ul",
          { class: "alerts" },
          page.rows.map((a) =>
            h("li", {}, `step ${a.step} · ${a.monitor ?? ""} ${a.severity ?? ""}: ${a.message ?? ""}`),
          ),
        ),
  );
}

// ---------------------------------------------------------------- compare
async function showCompare(paths) {
  const gen = ++generation;
  where.textContent = `compare ${paths.map((p) => p || ".").join(" · ")}`;
  const { runs } = await api("/api/runs");
  const chosen = paths.map((p) => runs.find((r) => r.path === p)).filter(Boolean);
  const body = h("div");
  const table = h("div", { id: "bootstrap" });
  view.replaceChildren(body, h("h3", {}, "eval compare: paired bootstrap (B − A)"), table);
  const curves = showCurves(chosen, body, gen);
  const cmp = await api("/api/compare", { runs: paths.join(",") }).catch((e) => ({ pairs: [], error: String(e) }));
  table.replaceChildren(
    ...cmp.pairs.map((p) =>
      p.error
        ? h("p", { class: "muted" }, `${p.a || "."} vs ${p.b || "."}: ${p.error}`)
        : h(
            "table",
            {},
            h(
              "caption",
              {},
              `A = ${p.a || "."}, B = ${p.b || "."}, n = ${p.comparison.n}, ${p.comparison.resamples} resamples`,
            ),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["metric", "A", "B", "B − A", "95% CI"].map((t) => h("th", {}, t)),
              ),
            ),
            h(
              "tbody",
              {},
              p.comparison.metrics.map((m) =>
                h(
                  "tr",
                  {},
                  h("td", {}, m.metric),
                  h("td", { class: "num" }, fmt(m.a)),
                  h("td", { class: "num" }, fmt(m.b)),
                  h("td", { class: "num" }, fmt(m.diff)),
                  h("td", { class: "num" }, m.ci === null ? "–" : `[${fmt(m.ci.lo)}, ${fmt(m.ci.hi)}]`),
                ),
              ),
            ),
          ),
    ),
  );
  return curves;
}

// ---------------------------------------------------------------- routing
function route() {
  const hash = location.hash.split("?")[0];
  let m = hash.match(/^#\/run\/([^/]*)\/?(\w*)$/);
  if (m) return showRun(decodeURIComponent(m[1]), m[2] || "curves");
  m = hash.match(/^#\/compare\/(.+)$/);
  if (m) return showCompare(m[1].split(",").map(decodeURIComponent));
  generation++;
  return showRuns();
}
window.addEventListener("hashchange", () => route().catch(showError));
route().catch(showError);

function showError(err) {
  view.replaceChildren(h("p", { class: "status-failed" }, String(err)));
}
