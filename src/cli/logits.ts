import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { np } from "../engine/jax.ts";
import { readFloat32 } from "../engine/memory.ts";
import { fromFloat32, writeSafetensors } from "../engine/safetensors.ts";
import { loadModel } from "../model/checkpoint.ts";
import { forward } from "../model/model.ts";
import { parseIdList } from "./args.ts";

/**
 * `stepwise logits --model DIR --ids 1,2,3 --out FILE.safetensors`: the tensor
 * `logits` (float32, [T, vocab]) of one id sequence, for comparing with another
 * implementation (e.g. transformers' `model(ids).logits[0]`).
 */
export function registerLogits(program: Command): void {
  program
    .command("logits")
    .description("Write the forward-pass logits of a token id sequence to a safetensors file")
    .requiredOption("--model <dir>", "model folder (config.json + safetensors weights)")
    .requiredOption("--ids <ids>", "comma-separated token ids, e.g. 1,2,3")
    .requiredOption("--out <file>", "output .safetensors file (tensor `logits`, float32 [T, vocab])")
    .action(async (flags: { model: string; ids: string; out: string }) => {
      await initEngine();
      const model = await loadModel(flags.model);
      const V = model.config.vocabSize;
      const ids = parseIdList("--ids", flags.ids, V);
      if (ids.length > model.config.maxPositionEmbeddings) {
        throw new Error(
          `logits: ${ids.length} ids exceed max_position_embeddings (${model.config.maxPositionEmbeddings})`,
        );
      }
      const T = ids.length;
      const input = np.array(Int32Array.from(ids), { shape: [1, T], dtype: np.int32 }); // [1, T]
      const { logits } = forward(model.params, model.config, input); // [1, T, V]; consumes the params
      const data = await readFloat32(logits);
      await writeSafetensors(flags.out, { logits: fromFloat32(data, [T, V]) });
      let argmax = 0;
      const last = data.subarray((T - 1) * V);
      for (let v = 1; v < V; v++) if (last[v]! > last[argmax]!) argmax = v;
      console.log(`logits: [${T}, ${V}] float32 -> ${flags.out} (argmax at the last position: ${argmax})`);
    });
}
