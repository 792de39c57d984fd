/**
 * The README's dashboard screenshots, taken from the real dashboard in Debian's chromium:
 *   node --import tsx scripts/dashboard-screenshot.ts RUNS_DIR OUT_DIR CURVES_RUN SAMPLES_RUN RUN_A RUN_B
 * writes OUT_DIR/dashboard-runs.png (the runs list), dashboard-curves.png (CURVES_RUN's
 * curves), dashboard-samples.png (SAMPLES_RUN's incorrect eval examples) and
 * dashboard-compare.png (RUN_A and RUN_B overlaid, with the paired bootstrap table).
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startDashboard } from "../src/dashboard/server.ts";

const [runs, out, run, samplesRun, runA, runB] = process.argv.slice(2);
if (!runs || !out || !run || !samplesRun || !runA || !runB) {
  throw new Error("usage: dashboard-screenshot.ts RUNS_DIR OUT_DIR CURVES_RUN SAMPLES_RUN RUN_A RUN_B");
}
const d = await startDashboard({ runs, port: 0 });
const browser = await chromium.launch({
  executablePath: process.env["STEPWISE_CHROMIUM"] ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1320, height: 860 } });
  await page.goto(d.url);
  await page.waitForSelector("#runs tbody tr");
  await page.screenshot({ path: join(out, "dashboard-runs.png") });
  await page.goto(`${d.url}#/run/${encodeURIComponent(run)}/curves`);
  await page.waitForSelector('.chart[data-series="loss"]');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, "dashboard-curves.png"), fullPage: false });
  await page.goto(`${d.url}#/run/${encodeURIComponent(samplesRun)}/samples?source=examples`);
  await page.waitForSelector("#samples .sample");
  await page.selectOption("#filter-correct", "incorrect");
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(out, "dashboard-samples.png") });
  await page.goto(`${d.url}#/compare/${[runA, runB].map(encodeURIComponent).join(",")}`);
  await page.waitForSelector('.chart[data-series="loss"][data-lines="2"]');
  await page.waitForSelector("#bootstrap table, #bootstrap p");
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(out, "dashboard-compare.png"), fullPage: true });
} finally {
  await browser.close();
  await d.close();
}
