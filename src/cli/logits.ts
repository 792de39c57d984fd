import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { np } from "../engine/jax.ts";
import { readFloat32 } from "../engine/memory.ts";
import { fromFloat32, writeSafetensors } from "../engine/safetensors.ts";
import { loadModel } from "../model/checkpoint.ts";
import { isSeq2seq } from "../model/config.ts";
import { forward, forwardSeq2seq } from "../model/model.ts";
import { parseIdList } from "./args.ts";

/**
 * `stepwise logits --model DIR --ids 1,2,3 [--decoder-ids 0,5] --out FILE.safetensors`: the tensor
 * `logits` (float32, [T, vocab]) of one id sequence, for comparing with another implementation
 * (transformers' `model(ids).logits[0]`). For an encoder–decoder (T5) --ids is the encoder input
 * and the logits are the decoder's at --decoder-ids ([T_dec, vocab], as
 * `model(input_ids=ids, decoder_input_ids=decoder_ids).logits[0]`).
 */
export function registerLogits(program: Command): void {
  program
    .command("logits")
    .description("Write the forward-pass logits of a token id sequence to a safetensors file")
    .requiredOption("--model <dir>", "model folder (config.json + safetensors weights)")
    .requiredOption("--ids <ids>", "comma-separated token ids, e.g. 1,2,3 (t5: the encoder input)")
    .option("--decoder-ids <ids>", "t5: the decoder input ids, starting with decoder_start_token_id (e.g. 0,5,9)")
    .requiredOption("--out <file>", "output .safetensors file (tensor `logits`, float32 [T, vocab])")
    .action(async (flags: { model: string; ids: string; decoderIds?: string; out: string }) => {
      await initEngine();
      const model = await loadModel(flags.model);
      const { config } = model;
      const V = config.vocabSize;
      const ids = parseIdList("--ids", flags.ids, V);
      const row = (xs: number[]) => np.array(Int32Array.from(xs), { shape: [1, xs.length], dtype: np.int32 }); // [1, T]
      let logits: ReturnType<typeof forward>["logits"];
      let T: number;
      if (isSeq2seq(config)) {
        if (flags.decoderIds === undefined) {
          throw new Error(
            `logits: ${config.modelType} is an encoder–decoder; give --decoder-ids (the decoder input, starting with decoder_start_token_id ${config.decoderStartTokenId})`,
          );
        }
        const dec = parseIdList("--decoder-ids", flags.decoderIds, V);
        T = dec.length;
        logits = forwardSeq2seq(model.params, config, row(ids), row(dec)).logits; // [1, T_dec, V]; consumes the params
      } else {
        if (flags.decoderIds !== undefined) {
          throw new Error(`logits: --decoder-ids is for encoder–decoder models; ${config.modelType} is decoder-only`);
        }
        if (ids.length > config.maxPositionEmbeddings) {
          throw new Error(`logits: ${ids.length} ids exceed max_position_embeddings (${config.maxPositionEmbeddings})`);
        }
        T = ids.length;
        logits = forward(model.params, config, row(ids)).logits; // [1, T, V]; consumes the params
      }
      const data = await readFloat32(logits);
      await writeSafetensors(flags.out, { logits: fromFloat32(data, [T, V]) });
      let argmax = 0;
      const last = data.subarray((T - 1) * V);
      for (let v = 1; v < V; v++) if (last[v]! > last[argmax]!) argmax = v;
      console.log(`logits: [${T}, ${V}] float32 -> ${flags.out} (argmax at the last position: ${argmax})`);
    });
}
