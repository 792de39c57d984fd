/**
 * The dashboard's server without a browser: its API over fixture runs, the paged JSONL reader
 * it polls with, and the safety rules (404 for anything outside the runs folder, read-only).
 */
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Dashboard, startDashboard } from "../src/dashboard/server.ts";
import { lastJsonlRow, readJsonlFrom } from "../src/runs/jsonl.ts";
import { writeFixtureRuns } from "./dashboard-fixtures.ts";

/** GET (or another method) with the path sent exactly as written: no client-side normalisation of `..`. */
function raw(url: string, path: string, method = "GET"): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

/** Every file under `dir` with its size and mtime, links not followed. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    const s = await stat(p).catch(() => null);
    out.push(`${p} ${s?.size} ${s?.mtimeMs}`);
  }
  return out.sort();
}

describe("readJsonlFrom / lastJsonlRow", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "stepwise-jsonl-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("reads on from an offset, leaves a torn last line, restarts after a cut", async () => {
    const p = join(dir, "m.jsonl");
    await writeFile(p, '{"step":1}\n{"step":2}\nnot json\n{"step":3}\n{"step":4');
    const all = await readJsonlFrom(p);
    assert.deepEqual(all.rows, [{ step: 1 }, { step: 2 }, { step: 3 }]);
    assert.equal(all.next, Buffer.byteLength('{"step":1}\n{"step":2}\nnot json\n{"step":3}\n'));
    const one = await readJsonlFrom(p, 0, 1);
    assert.deepEqual(one.rows, [{ step: 1 }]);
    assert.deepEqual((await readJsonlFrom(p, one.next)).rows, [{ step: 2 }, { step: 3 }]);
    await appendFile(p, "}\n");
    assert.deepEqual((await readJsonlFrom(p, all.next)).rows, [{ step: 4 }]);
    assert.deepEqual(await lastJsonlRow(p), { step: 4 });
    const cut = await readJsonlFrom(p, 10_000);
    assert.equal(cut.restarted, true);
    assert.equal(cut.rows.length, 4);
    assert.deepEqual(await readJsonlFrom(join(dir, "absent.jsonl")), { rows: [], next: 0, restarted: false });
  });

  test("a row longer than a read chunk", async () => {
    const p = join(dir, "long.jsonl");
    const long = { step: 1, text: "x".repeat(200_000) };
    await writeFile(p, `${JSON.stringify(long)}\n{"step":2}\n`);
    const page = await readJsonlFrom(p);
    assert.equal(page.rows.length, 2);
    assert.equal((page.rows[0] as typeof long).text.length, 200_000);
  });
});

describe("dashboard server", () => {
  let base: string;
  let root: string;
  let d: Dashboard;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), "stepwise-dash-"));
    ({ root } = await writeFixtureRuns(base));
    d = await startDashboard({ runs: root, port: 0 });
  });
  after(async () => {
    await d.close();
    await rm(base, { recursive: true, force: true });
  });

  test("binds 127.0.0.1 by default", () => {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  test("lists the runs with kind, status and steps; links out are not followed", async () => {
    const { runs } = JSON.parse((await raw(d.url, "/api/runs")).body) as {
      runs: { path: string; kind: string; status: string; steps: { done: number } | null; logs: string[] }[];
    };
    assert.deepEqual(
      runs.map((r) => r.path),
      ["leaky", "live", "sft-a", "sft-b"],
    );
    const a = runs.find((r) => r.path === "sft-a")!;
    assert.equal(a.kind, "sft");
    assert.equal(a.status, "finished");
    assert.equal(a.steps?.done, 40);
    assert.equal(runs.find((r) => r.path === "live")!.kind, "rl");
    assert.deepEqual(runs.find((r) => r.path === "leaky")!.logs, []);
  });

  test("pages a log from an offset", async () => {
    const first = JSON.parse((await raw(d.url, "/api/log?run=sft-a&log=metrics&limit=15")).body);
    assert.equal(first.rows.length, 15);
    const rest = JSON.parse((await raw(d.url, `/api/log?run=sft-a&log=metrics&offset=${first.next}`)).body);
    assert.equal(rest.rows.length, 25);
    assert.equal(rest.rows[0].step, 16);
  });

  test("filters samples by correct, task and step", async () => {
    const get = async (q: string) => JSON.parse((await raw(d.url, `/api/samples?run=sft-a&${q}`)).body);
    assert.equal((await get("")).total, 20);
    assert.equal((await get("correct=correct")).total, 10);
    assert.equal((await get("correct=incorrect")).total, 10);
    const algebraWrong = await get("correct=incorrect&task=algebra");
    assert.ok(algebraWrong.total > 0 && algebraWrong.total < 10);
    assert.ok(algebraWrong.items.every((s: { task: string; correct: boolean }) => s.task === "algebra" && !s.correct));
    const step = (await get("")).steps[0];
    assert.equal((await get(`step=${step}`)).total, 5);
    const wrong = (await get("correct=incorrect&limit=1")).items[0];
    assert.equal(wrong.steps.firstInvalid, 1);
    assert.equal(wrong.steps.lines.length, 2);
    assert.deepEqual(wrong.rewards, { correctness: 0, format: 0.5 });
    assert.equal((await get("source=examples")).total, 12);
  });

  test("eval view: accuracy per task with intervals; compare: the paired bootstrap", async () => {
    const ev = JSON.parse((await raw(d.url, "/api/eval?run=sft-a")).body);
    const all = ev.tasks.find((t: { task: string }) => t.task === "all");
    assert.equal(all.n, 12);
    assert.equal(all.correct, 8);
    assert.ok(all.lo < all.accuracy && all.accuracy < all.hi);
    const cmp = JSON.parse((await raw(d.url, "/api/compare?runs=sft-a,sft-b")).body);
    const acc = cmp.pairs[0].comparison.metrics.find((m: { metric: string }) => m.metric === "accuracy_strict");
    assert.equal(acc.a, 8 / 12);
    assert.equal(acc.b, 9 / 12);
  });

  test("anything outside the runs folder is 404: .., encoded forms, absolute paths, links", async () => {
    assert.equal((await raw(d.url, "/api/log?run=sft-a&log=metrics")).status, 200, "the control request");
    const attempts = [
      "/../package.json",
      "/..%2fpackage.json",
      "/%2e%2e%2fpackage.json",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/vendor/../../package.json",
      "//etc/passwd",
      "/etc/passwd",
      "/api/log?run=..&log=metrics",
      "/api/log?run=../outside&log=metrics",
      "/api/log?run=%2e%2e%2foutside&log=metrics",
      "/api/log?run=sft-a%2f..%2f..%2foutside&log=metrics",
      `/api/log?run=${encodeURIComponent(join(base, "outside"))}&log=metrics`,
      "/api/log?run=%2Fetc&log=metrics",
      "/api/log?run=escape&log=metrics",
      "/api/log?run=leaky&log=metrics",
      "/api/samples?run=escape",
      "/api/log?run=sft-a&log=..%2f..%2foutside%2fmetrics",
      "/api/log?run=sft-a%00&log=metrics",
      "/api/eval?run=escape",
      "/api/compare?runs=sft-a,escape",
    ];
    for (const path of attempts) {
      const res = await raw(d.url, path);
      assert.equal(res.status, 404, `${path} -> ${res.status} ${res.body.slice(0, 80)}`);
      assert.doesNotMatch(res.body, /secret|root:/);
    }
  });

  test("read-only: other methods are refused and no file is written", async () => {
    const before = await snapshot(root);
    for (const m of ["POST", "PUT", "DELETE", "PATCH"]) assert.equal((await raw(d.url, "/api/runs", m)).status, 405);
    for (const p of ["/", "/app.js", "/api/runs", "/api/log?run=live&log=metrics", "/api/samples?run=sft-b"]) {
      assert.equal((await raw(d.url, p)).status, 200, p);
    }
    assert.deepEqual(await snapshot(root), before);
  });
});
