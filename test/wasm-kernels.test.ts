/**
 * jax-js's Wasm kernels that stepwise's patch touches (patches/@jax-js+jax+*.patch:
 * inline dispatch of small kernels, the cached main-thread instance, matmul
 * micro-tiles; src/engine/setup.ts: relaxed SIMD) against float64 references
 * on the host: matmul in its four transpose layouts over odd, square, matvec
 * and non-multiple-of-4 sizes, batched matmul, the attention einsums, matmuls
 * with fused epilogues and reductions, eager and under jit.
 *
 * The checks and their tolerance (a rigorous float32 rounding bound, stated in
 * the fixture's header) live in test/fixtures/wasm-kernels-child.ts. They run
 * here in this process, then again in child processes with the settings that are
 * fixed at process start: a worker pool (STEPWISE_THREADS=2, plus checks that mix
 * inline and pooled dispatch) and relaxed SIMD off (STEPWISE_RELAXED_SIMD=0).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import {
  type Check,
  type CheckResult,
  type ChildSummary,
  kernelChecks,
  mixedChecks,
  relaxedSimdEnabled,
  runChecks,
} from "./fixtures/wasm-kernels-child.ts";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const childScript = join(root, "test", "fixtures", "wasm-kernels-child.ts");

function describeFailures(results: readonly CheckResult[]): string {
  return results
    .filter((r) => !r.ok)
    .map((r) => `  ${r.group} ${r.name}: ${r.detail ?? `ratio ${r.ratio}`}`)
    .join("\n");
}

function assertAllOk(results: readonly CheckResult[], what: string): void {
  const bad = results.filter((r) => !r.ok || r.ratio === null || !(r.ratio <= 1));
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${results.length} checks failed:\n${describeFailures(bad)}`);
}

/** Run the checks in a fresh Node process with `env` (the pool and V8 flags are set at start). */
async function child(env: Record<string, string>, args: string[] = []): Promise<ChildSummary> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 120_000,
    maxBuffer: 16 << 20,
  });
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as ChildSummary;
}

function groups(checks: Check[]): Map<string, Check[]> {
  const byGroup = new Map<string, Check[]>();
  for (const c of checks) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
  return byGroup;
}

describe("wasm kernels against float64 (this process)", () => {
  before(async () => {
    await initEngine();
  });

  for (const [group, checks] of groups(kernelChecks())) {
    test(`${group}: ${checks.length} cases`, async () => {
      assertAllOk(await runChecks(checks), group);
    });
  }

  test("relaxed SIMD is on in this process unless STEPWISE_RELAXED_SIMD=0", () => {
    assert.equal(relaxedSimdEnabled(), process.env.STEPWISE_RELAXED_SIMD !== "0");
  });
});

describe("wasm kernels against float64 (child processes)", () => {
  const expected = kernelChecks().length;
  const expectedMixed = mixedChecks().length;

  test("with a worker pool (STEPWISE_THREADS=2): every kernel check, and small kernels mixed with pooled ones", async () => {
    const s = await child({ STEPWISE_THREADS: "2", STEPWISE_RELAXED_SIMD: "1" }, ["--mixed"]);
    assert.equal(s.threads, 2);
    assert.equal(s.workersStarted, 2, "the pool did not start its two worker threads");
    assert.equal(s.relaxedSimd, true);
    assert.equal(s.results.length, expected + expectedMixed, "the child ran a different set of checks");
    assert.ok(
      s.results.some((r) => r.group.startsWith("mixed inline/pooled dispatch jit")),
      "the child skipped the mixed dispatch checks",
    );
    assertAllOk(s.results, "STEPWISE_THREADS=2");
  });

  test("with relaxed SIMD off (STEPWISE_RELAXED_SIMD=0, no pool): every kernel check", async () => {
    const s = await child({ STEPWISE_THREADS: "1", STEPWISE_RELAXED_SIMD: "0" });
    assert.equal(s.threads, 1);
    assert.equal(s.workersStarted, 0);
    assert.equal(s.relaxedSimd, false, "STEPWISE_RELAXED_SIMD=0 left f32x4.relaxed_madd available to jax-js");
    assert.equal(s.results.length, expected, "the child ran a different set of checks");
    assertAllOk(s.results, "STEPWISE_RELAXED_SIMD=0");
  });
});
