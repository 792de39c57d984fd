/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser
 * download). scripts/install-chromium.sh installs it, and npm's pretest hook runs it under CI, so CI
 * always has it; on a machine without it these tests are skipped with one line that says how
 * to install it (and fail under CI=true, where its absence is a broken set-up).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Dashboard, startDashboard } from "../src/dashboard/server.ts";
import { METRICS_FILE } from "../src/runs/layout.ts";
import { liveRow, writeFixtureRuns } from "./dashboard-fixtures.ts";

export const CHROMIUM = process.env["STEPWISE_CHROMIUM"] ?? "/usr/bin/chromium";
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const present = existsSync(CHROMIUM);
const skip = present || process.env["CI"] ? false : `${CHROMIUM} not found: run \`bash scripts/install-chromium.sh\``;
if (skip) console.log(`# dashboard browser tests skipped: ${skip}`);

describe("dashboard in chromium", { skip }, () => {
  let base: string;
  let root: string;
  let d: Dashboard;
  let browser: Browser;
  let page: Page;
  before(async () => {
    assert.ok(
      present,
      `${CHROMIUM} not found under CI: npm test's pretest hook (scripts/install-chromium.sh --ci) should have installed it`,
    );
    base = await mkdtemp(join(tmpdir(), "stepwise-dash-browser-"));
    ({ root } = await writeFixtureRuns(base));
    d = await startDashboard({ runs: root, port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close();
    await d?.close();
    if (base) await rm(base, { recursive: true, force: true });
  });

  test("the runs list shows the fixture runs", async () => {
    await page.goto(d.url);
    await page.waitForSelector("#runs tbody tr");
    const runs = await page.$$eval("#runs tbody tr", (trs) => trs.map((tr) => (tr as HTMLElement).dataset["run"]));
    assert.deepEqual(runs, ["leaky", "live", "sft-a", "sft-b"]);
    const live = await page.textContent('#runs tr[data-run="live"]');
    assert.match(live ?? "", /rl.*running/);
  });

  test("a curve renders with the right number of points; eval series and alerts too", async () => {
    await page.goto(`${d.url}#/run/sft-a/curves`);
    const loss = page.locator('.chart[data-series="loss"]');
    await loss.waitFor();
    await page.waitForSelector('.chart[data-series="loss"][data-points="40"]');
    // uPlot holds exactly the logged points, and drew its canvas.
    assert.equal(await loss.locator("canvas").count(), 1);
    await page.waitForSelector('.chart[data-series="eval/accuracy"][data-points="3"]');
    await page.waitForSelector('.chart[data-series="lr"][data-alerts="1"]');
    assert.match((await page.textContent(".alerts")) ?? "", /step 20 .*loss spike/);
    // Log scale and smoothing redraw the same points.
    await page.check("#logy");
    await page.waitForSelector('.chart[data-series="loss"][data-points="40"]');
  });

  test("new run kinds and metric names appear, and an appended row shows without a reload", async () => {
    await page.goto(`${d.url}#/run/live/curves`);
    await page.waitForSelector('.chart[data-series="rewards/format/mean"][data-points="10"]');
    await page.waitForSelector('.chart[data-series="completions/mean_length"][data-points="10"]');
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    await appendFile(join(root, "live", METRICS_FILE), `${JSON.stringify(liveRow(11))}\n`);
    await page.waitForSelector('.chart[data-series="kl"][data-points="11"]', { timeout: 5000 });
    const marker = await page.evaluate(() => (window as unknown as { marker?: number }).marker);
    assert.equal(marker, 42, "the page was not reloaded");
  });

  test("the sample filter narrows the list", async () => {
    await page.goto(`${d.url}#/run/sft-a/samples`);
    await page.waitForSelector('#sample-count[data-total="20"]');
    assert.equal(await page.locator("#samples .sample").count(), 20);
    await page.selectOption("#filter-correct", "incorrect");
    await page.waitForSelector('#sample-count[data-total="10"]');
    assert.equal(await page.locator("#samples .sample.incorrect").count(), 10);
    assert.equal(await page.locator("#samples .sample.correct").count(), 0);
    // The first invalid step is marked.
    assert.equal(await page.locator("#samples .sample").first().locator("li.invalid").count(), 1);
    await page.selectOption("#filter-task", "algebra");
    await page.waitForFunction(() => {
      const n = Number(document.querySelector<HTMLElement>("#sample-count")?.dataset["total"]);
      return n > 0 && n < 10;
    });
    const tasks = await page.$$eval("#samples .sample .meta:first-child", (els) => els.map((e) => e.textContent));
    assert.ok(tasks.length > 0 && tasks.every((t) => t?.includes("algebra") && t.includes("incorrect")));
    await page.selectOption("#filter-source", "examples");
    // Still incorrect + algebra: examples 0 and 6 of the 12.
    await page.waitForSelector('#sample-count[data-total="2"]');
  });

  test("compare overlays two runs, with the paired bootstrap table", async () => {
    await page.goto(d.url);
    await page.waitForSelector("#runs tbody tr");
    await page.check('#runs tr[data-run="sft-a"] input[type=checkbox]');
    await page.check('#runs tr[data-run="sft-b"] input[type=checkbox]');
    await page.click("#compare");
    await page.waitForSelector('.chart[data-series="loss"][data-lines="2"][data-points="40"]');
    const legend = await page.textContent('.chart[data-series="loss"] .u-legend');
    assert.match(legend ?? "", /sft-a/);
    assert.match(legend ?? "", /sft-b/);
    await page.waitForSelector("#bootstrap table");
    assert.match((await page.textContent("#bootstrap")) ?? "", /accuracy_strict/);
  });

  test("a traversal attempt from the browser gets 404", async () => {
    for (const path of ["%2e%2e%2fpackage.json", "..%2f..%2fetc%2fpasswd", "api/log?run=escape&log=metrics"]) {
      const res = await page.goto(`${d.url}${path}`);
      assert.equal(res?.status(), 404, path);
    }
  });
});
