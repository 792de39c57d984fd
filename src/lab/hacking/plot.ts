/**
 * The hacking picture: proxy return and true return over training, flawed reward
 * against fixed reward, with a vertical line where the divergence detector fired.
 * Two panels stacked in one SVG (the two returns have different units).
 */
import { movingAverage } from "../../eval/series.ts";
import { lineChartSvg, PALETTE } from "../svg.ts";
import type { HackingReport, VariantReport } from "./index.ts";

const COLOR = { flawed: PALETTE[3], fixed: PALETTE[2] } as const;

/** One SVG document: top, proxy return per episode; bottom, true return per episode. */
export function hackingCurvesSvg(report: HackingReport): string {
  const window = report.flawed.detector.options.window;
  const panel = (quantity: "proxy" | "truth", title: string, yLabel: string) => {
    const variants = [report.flawed, report.fixed];
    const smoothed = variants.map((v) => movingAverage(v.curve[quantity], window));
    const all = smoothed.flat();
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    const series = variants.map((v, k) => ({
      name: `${v.variant} reward`,
      xs: smoothed[k]!.map((_, i) => i),
      ys: smoothed[k]!,
      color: COLOR[v.variant],
    }));
    const alarms = variants
      .filter((v) => v.detector.fired)
      .map((v: VariantReport) => ({
        name: `alarm (${v.variant})`,
        xs: [v.detector.firedAt!, v.detector.firedAt!],
        ys: [lo, hi],
        color: COLOR[v.variant],
        dash: "6 4",
      }));
    return lineChartSvg({ title, xLabel: "training episode", yLabel, series: [...series, ...alarms], height: 360 });
  };
  const name = report.scenario;
  return stackSvg([
    panel("proxy", `${name}: proxy return (the reward trained on), moving average of ${window}`, "proxy return"),
    panel("truth", `${name}: true return (held out from training), moving average of ${window}`, "true return"),
  ]);
}

/** Stack complete SVG documents vertically into one, as nested <svg> elements. */
export function stackSvg(panels: readonly string[]): string {
  let y = 0;
  let width = 0;
  const body: string[] = [];
  for (const svg of panels) {
    const w = Number(/width="([\d.]+)"/.exec(svg)?.[1]);
    const h = Number(/height="([\d.]+)"/.exec(svg)?.[1]);
    if (!(w > 0 && h > 0)) throw new RangeError("stackSvg: each panel must be an <svg> with numeric width and height");
    body.push(svg.replace("<svg ", `<svg x="0" y="${y}" `));
    y += h;
    width = Math.max(width, w);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">`,
    ...body,
    "</svg>",
  ].join("\n");
}
