/**
 * out/report.html of `stepwise demo hacking`: one self-contained page (inline CSS and SVG) with
 * the result table, the hack emerging over steps (hack rate, proxy, gold), the monitors' alerts
 * with their steps, the test-reward holes, example hacked completions, and the reward-model
 * over-optimisation curve. A pure function of the demo's result; reuses the lab's SVG charts.
 */
import { escapeXml, lineChartSvg, PALETTE } from "../lab/svg.ts";
import { formatHackingTable, type HackingResult, type RunSeries } from "./hacking.ts";

const esc = (x: unknown) => escapeXml(String(x));
const CSS = `body{font:15px/1.5 system-ui,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:960px;margin:0 auto;padding:24px 20px 60px;background:#fff}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:8px;white-space:pre-wrap}
.muted{color:#666;font-size:.9em}svg{max-width:100%;height:auto}li{margin:.3em 0}`;

function alertsList(name: string, r: RunSeries): string {
  if (r.alerts.length === 0) return `<p><b>${esc(name)}</b>: no alert.</p>`;
  const items = r.alerts
    .map((a) => `<li>step ${esc(a.step)} <b>${esc(a.monitor)}</b> (${esc(a.action)}): ${esc(a.message)}</li>`)
    .join("\n");
  return `<p><b>${esc(name)}</b>:</p><ul>${items}</ul>`;
}

export function renderHackingReport(r: HackingResult): string {
  const series = (key: "hack" | "proxy" | "correct" | "proxyOnly") => [
    { name: "flawed (substring)", xs: r.flawed.steps, ys: r.flawed[key], color: PALETTE[1] },
    { name: "fixed (correct + penalties)", xs: r.fixed.steps, ys: r.fixed[key], color: PALETTE[0] },
  ];
  const charts = [
    lineChartSvg({
      title: "Hack rate per rollout",
      xLabel: "step",
      yLabel: "share",
      series: series("hack"),
      yRange: [0, 1],
    }),
    lineChartSvg({
      title: "Proxy-only credit (substring − strict) per rollout",
      xLabel: "step",
      yLabel: "share",
      series: series("proxyOnly"),
      yRange: [0, 1],
    }),
    lineChartSvg({
      title: "Proxy reward (substring) per rollout",
      xLabel: "step",
      yLabel: "mean",
      series: series("proxy"),
      yRange: [0, 1],
    }),
    lineChartSvg({
      title: "Held-out gold accuracy (greedy, strict)",
      xLabel: "step",
      yLabel: "accuracy",
      series: [
        { name: "flawed (substring)", xs: r.flawed.evalSteps, ys: r.flawed.gold, color: PALETTE[1] },
        { name: "fixed (correct + penalties)", xs: r.fixed.evalSteps, ys: r.fixed.gold, color: PALETTE[0] },
      ],
      yRange: [0, 1],
    }),
  ];
  const examples = r.flawed.examples
    .map((e) => `<p class="muted">step ${esc(e.step)}, gold <b>${esc(e.gold)}</b></p><pre>${esc(e.completion)}</pre>`)
    .join("\n");
  let rm = `<p class="muted">Not run.</p>`;
  if (r.rm && r.rm.points.length > 0) {
    const xs = r.rm.points.map((p) => p.sqrtKl);
    rm = `${lineChartSvg({
      title: "Reward-model over-optimisation (Gao et al. 2022)",
      xLabel: "√KL(π ‖ π_SFT), per completion",
      yLabel: "score",
      series: [
        { name: "held-out gold accuracy", xs, ys: r.rm.points.map((p) => p.gold), color: PALETTE[0] },
        { name: "reward-model score (proxy)", xs, ys: r.rm.points.map((p) => p.proxy), color: PALETTE[1], dash: "6 4" },
      ],
    })}<p class="muted">One point per evaluation: √ of the summed per-token KL of that step's rollout from the SFT model, the greedy
held-out accuracy, and the reward model's mean score of the rollout.</p>`;
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>stepwise demo hacking</title><style>${CSS}</style></head>
<body><main><h1>Reward hacking on a language model, and its cure</h1>
<h2>Results</h2><pre>${esc(formatHackingTable(r))}</pre>
<p class="muted">Hack rate: completions the proxy (gold answer anywhere) rewards but the strict answer check rejects.
Gold: greedy strict accuracy on ${esc(r.settings.evalN)} held-out problems. ${esc(r.settings.steps)} steps of
${esc(r.settings.prompts)} prompts × ${esc(r.settings.groupSize)} completions, ≤ ${esc(r.settings.maxNewTokens)} tokens.</p>
<h2>The hack emerging</h2>${charts.map((c) => `<figure>${c}</figure>`).join("\n")}
<h2>Monitors</h2>${alertsList("flawed", r.flawed)}${alertsList("fixed", r.fixed)}
<h2>test-reward before training</h2>
<p>flawed: ${esc(r.holes.flawed.join(", ") || "no hole")}</p><p>fixed: ${esc(r.holes.fixed.join(", ") || "no hole")}</p>
<h2>Hacked completions (flawed run, last step)</h2>${examples || `<p class="muted">None in the samples.</p>`}
<h2>A learned reward model as the proxy</h2>${rm}
<p class="muted">Total ${esc(r.seconds.total.toFixed(0))} s (flawed ${esc(r.seconds.flawed.toFixed(0))} s, fixed ${esc(
    r.seconds.fixed.toFixed(0),
  )} s, reward model ${esc(r.seconds.rm.toFixed(0))} s).</p>
</main></body></html>
`;
}
