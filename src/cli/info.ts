import type { Command } from "commander";
import { initEngine, parseDevice } from "../engine/device.ts";
import { np } from "../engine/jax.ts";
import { readFloat32 } from "../engine/memory.ts";
import { VERSION } from "../runs/version.ts";

/** `stepwise info [--device D]`: what the engine runs on, proved by a tiny computation. */
export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("Show the engine's device and thread count, and run a 2x2 matmul on it")
    .option("--device <name>", "wasm (default) or webgpu", "wasm")
    .action(async (opts: { device: string }) => {
      const engine = await initEngine({ device: parseDevice(opts.device, "--device") });
      const product = await readFloat32(
        np.matmul(
          np.array([
            [1, 2],
            [3, 4],
          ]),
          np.array([
            [5, 6],
            [7, 8],
          ]),
        ),
      );
      console.log(
        JSON.stringify({
          stepwise: VERSION,
          node: process.version,
          device: engine.device,
          threads: engine.threads,
          ...(engine.adapter ? { adapter: engine.adapter } : {}),
          check: Array.from(product),
        }),
      );
    });
}
