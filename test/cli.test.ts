import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 120_000 });

describe("stepwise CLI", () => {
  test("likelihood runs the logistic-regression worked example end to end and reports a match", async () => {
    const { stdout } = await cli("likelihood", "--n", "300", "--d", "3", "--steps", "300");
    assert.match(stdout, /engine: wasm, \d+ thread\(s\)/);
    assert.match(stdout, /max \|θ_stepwise − θ_newton\| = [\d.e+-]+ \(match at 1e-4\)/);
  });

  test("info prints the engine as JSON with a correct check product", async () => {
    const { stdout } = await cli("info");
    const info = JSON.parse(stdout);
    assert.equal(info.device, "wasm");
    assert.deepEqual(info.check, [19, 22, 43, 50]);
  });

  test("info --device webgpu runs the check on a WebGPU adapter (Mesa's GLES backend on a CPU machine)", async () => {
    const { stdout } = await cli("info", "--device", "webgpu");
    const info = JSON.parse(stdout);
    assert.equal(info.device, "webgpu");
    assert.match(info.adapter, /Vulkan|opengles/);
    assert.deepEqual(info.check, [19, 22, 43, 50]);
  });

  test("bad input is a clear error with a non-zero exit", async () => {
    await assert.rejects(cli("likelihood", "--steps", "ten"), (e: Error & { stderr: string; code: number }) => {
      assert.match(e.stderr, /likelihood: --steps must be an integer >= 1, got "ten"/);
      assert.equal(e.code, 1);
      return true;
    });
    await assert.rejects(cli("demo", "--steps", "ten"), /demo: --steps must be an integer >= 1, got "ten"/);
    await assert.rejects(
      cli("info", "--device", "tpu"),
      /--device: unknown device "tpu", expected one of: wasm, webgpu/,
    );
  });
});
