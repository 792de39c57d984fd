/**
 * One process of the matmul bench: times float32 C = A·B for each size on the
 * thread count this process was started with (STEPWISE_THREADS, read when
 * jax-js is imported) and prints one figure line per size.
 *
 *   STEPWISE_THREADS=2 node --import tsx bench/matmul-worker.ts --sizes 256,512,1024
 *
 * Run by bench/matmul.ts; usable alone to probe one configuration.
 */
import { parseArgs } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { type Array, np, random } from "../src/engine/jax.ts";
import { readFloat32 } from "../src/engine/memory.ts";
import { keyFor } from "../src/engine/rng.ts";
import { measure } from "./measure.ts";
import { type Figure, formatFigure } from "./types.ts";

const SEED = 20240601;

function parseSizes(raw: string): number[] {
  const sizes = raw.split(",").map((s) => Number(s.trim()));
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`matmul-worker: --sizes must be positive integers, got "${raw}"`);
  }
  return sizes;
}

/**
 * Check a few entries of C against a float64 dot product on the host, so the
 * bench never times a kernel that computes the wrong thing.
 */
async function checkProduct(a: Array, b: Array, n: number): Promise<void> {
  const c = np.matmul(a.ref, b.ref);
  const [ha, hb, hc] = await Promise.all([readFloat32(a.ref), readFloat32(b.ref), readFloat32(c)]);
  for (const [i, j] of [
    [0, 0],
    [n - 1, n - 1],
    [n >> 1, n >> 2],
  ] as const) {
    let want = 0;
    for (let k = 0; k < n; k++) want += ha[i * n + k]! * hb[k * n + j]!;
    const got = hc[i * n + j]!;
    // float32 accumulation over n terms: allow a relative error of n·1e-6
    if (!(Math.abs(got - want) <= 1e-6 * n * Math.max(1, Math.abs(want)))) {
      throw new Error(`matmul-worker: C[${i},${j}] = ${got}, expected ${want} (n=${n}); the matmul kernel is wrong`);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "256,512,1024" },
      "min-seconds": { type: "string", default: "1" },
      "min-reps": { type: "string", default: "5" },
    },
  });
  const sizes = parseSizes(values.sizes);
  const minSeconds = Number(values["min-seconds"]);
  const minReps = Number(values["min-reps"]);
  const { threads } = await initEngine();

  for (const n of sizes) {
    const a = random.uniform(keyFor(SEED, "matmul", n, "a"), [n, n]); // [n, n] float32 in [0, 1)
    const b = random.uniform(keyFor(SEED, "matmul", n, "b"), [n, n]); // [n, n]
    await checkProduct(a, b, n);
    const m = await measure(
      async () => {
        const c = np.matmul(a.ref, b.ref); // [n, n]
        await c.blockUntilReady();
        c.dispose();
      },
      { minSeconds, minReps },
    );
    a.dispose();
    b.dispose();
    const gflops = (s: number) => (2 * n ** 3) / s / 1e9;
    const fig: Figure = {
      bench: "matmul",
      impl: "stepwise",
      params: { size: n, threads },
      value: gflops(m.median),
      unit: "GFLOP/s",
    };
    process.stdout.write(formatFigure(fig) + "\n");
    const others = m.otherCores === null ? "" : `, others used ${m.otherCores.toFixed(2)} cores`;
    const retried = m.attempts > 1 ? ` after ${m.attempts} attempts` : "";
    process.stderr.write(
      `size=${n} threads=${threads}: median ${(m.median * 1e3).toFixed(2)} ms over ${m.times.length} reps` +
        ` (best ${gflops(m.min).toFixed(1)} GFLOP/s${others}${retried})\n`,
    );
  }
}

await main();
