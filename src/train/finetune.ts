/**
 * What a trainer trains and how the model's weights are built from it — shared by SFT, RL and
 * DPO: the starting model (a folder, or fresh from sizes), the trainable/frozen split for full,
 * LoRA and QLoRA fine-tuning, and the export of `final/`.
 *
 *   full    trainable = every weight; checkpoints and final/ hold the model.
 *   LoRA    the base is frozen; trainable = the adapter (model/adapters/lora.ts, A seeded by
 *           the run's seed), so the optimizer state covers the adapter only and
 *           checkpoints/step-N/params.safetensors holds the adapter. A resumed run rebuilds
 *           the same base from the model folder / init seed.
 *   QLoRA   as LoRA, the frozen base stored block-quantised (lora.quant) and dequantised inside
 *           the step; the float32 base is released after quantisation.
 *
 * At the end of an adapter run:
 *   final/adapter/   adapter_config.json + adapter_model.safetensors (PEFT layout)
 *   final/           the merged Hugging Face folder: base + (α/r)·B A folded into the weights.
 *                    For QLoRA the merge is onto the DEQUANTISED base — the weights the adapter
 *                    was trained against — so final/ reproduces the trained model's logits.
 */
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { InitConfig, LoraBlock } from "../config/blocks.ts";
import { disposeTree, keepTree } from "../engine/memory.ts";
import { type Params, paramNames } from "../engine/params.ts";
import { dequantizedBase, type LoraAdapter, type LoraOptions, setupLora, setupQlora } from "../model/adapters/lora.ts";
import { saveAdapter, saveMergedModel } from "../model/adapters/peft.ts";
import type { QuantMeta } from "../model/adapters/quant.ts";
import { loadModel, saveModel } from "../model/checkpoint.ts";
import { createModel, type Model } from "../model/model.ts";
import { ADAPTER_DIR, FINAL_DIR } from "../runs/layout.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { Materialize } from "./loop.ts";

/** The starting model: a Hugging Face folder, or a fresh one from `init` sizes (seeded). */
export async function startingModel(
  source: { model?: string | undefined; init?: InitConfig | undefined },
  tokenizer: Tokenizer,
  seed: number,
  maxPositions: number,
): Promise<Model> {
  if (source.model) return loadModel(source.model);
  const i = source.init!;
  return createModel(
    {
      arch: i.arch,
      vocabSize: tokenizer.vocabSize,
      hiddenSize: i.hidden,
      numLayers: i.layers,
      numHeads: i.heads,
      numKvHeads: i.kvHeads,
      intermediateSize: i.intermediate,
      maxPositionEmbeddings: i.maxPositions ?? maxPositions,
    },
    tokenizer,
    { seed, std: i.std },
  );
}

/** What is trained and how the model's weights are built from it (see the header). */
export interface FineTune {
  kind: "full" | "lora" | "qlora";
  trainable: Params;
  frozen: Params;
  /** Absent for full fine-tuning (identity). */
  materialize?: Materialize;
  adapter?: LoraAdapter;
  /** QLoRA: how to dequantise `frozen`. */
  meta?: Record<string, QuantMeta>;
  /** One line for the log. */
  describe: string;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Full: the model is trainable. LoRA/QLoRA: freeze the base (quantised for QLoRA), train an adapter. */
export async function setupFineTune(lora: LoraBlock | undefined, model: Model, seed: number): Promise<FineTune> {
  if (!lora) return { kind: "full", trainable: model.params, frozen: {}, describe: "full fine-tuning" };
  const opts: LoraOptions = { r: lora.r, dropout: lora.dropout, seed };
  if (lora.alpha !== undefined) opts.alpha = lora.alpha;
  if (lora.targetModules !== undefined) opts.targetModules = lora.targetModules;
  const baseCount = paramNames(model.params).reduce((n, k) => n + model.params[k]!.size, 0);
  const head = (a: LoraAdapter) =>
    `LoRA r=${a.config.r} alpha=${a.config.alpha} on ${Object.keys(a.params).length / 2} modules, base of ${baseCount.toLocaleString("en-US")} params frozen`;
  if (!lora.quant) {
    const s = setupLora(model.params, opts);
    return { kind: "lora", ...s, describe: `${head(s.adapter)} (float32 ${mib(s.frozenBytes)})` };
  }
  const s = await setupQlora(model.params, { ...opts, quant: { bits: lora.quant.bits, block: lora.quant.block } });
  // The frozen tree holds its own quantised copies (and refs to the vectors): drop the float32 base.
  disposeTree(model.params);
  model.params = {};
  return {
    kind: "qlora",
    trainable: s.trainable,
    frozen: s.frozen,
    materialize: s.materialize,
    adapter: s.adapter,
    meta: s.meta,
    describe: `Q${head(s.adapter)} (${lora.quant.bits === 4 ? "NF4" : "int8"} block ${lora.quant.block}: ${mib(s.frozenBytes)})`,
  };
}

/** The model's weights for `trainable` (owned by the caller; does not consume `trainable` or the frozen base). */
export function weightsOf(ft: FineTune, trainable: Params): Params {
  return ft.materialize ? ft.materialize({ ...keepTree(trainable) }, { ...keepTree(ft.frozen) }) : trainable;
}

/**
 * Write `final/` (and final/adapter/ for LoRA) for the trained `trainable`, into a temporary
 * folder renamed into place, so a kill mid-export never leaves a half-written final/.
 * Does not consume `trainable`.
 */
export async function exportFinal(
  runDir: string,
  ft: FineTune,
  model: Model,
  trainable: Params,
  opts: { tokenizerFrom: string; baseModelNameOrPath: string | null },
): Promise<string> {
  const finalDir = join(runDir, FINAL_DIR);
  const tmp = join(runDir, `.tmp-${FINAL_DIR}`);
  await rm(tmp, { recursive: true, force: true });
  if (ft.adapter) {
    const adapter: LoraAdapter = { config: ft.adapter.config, params: trainable };
    // QLoRA merges onto the dequantised base (the weights the adapter was trained against; see the header).
    const base = ft.meta ? dequantizedBase(ft.frozen, ft.meta) : model.params;
    try {
      await saveMergedModel(tmp, { ...model, params: base }, adapter, { tokenizerFrom: opts.tokenizerFrom });
    } finally {
      if (ft.meta) disposeTree(base);
    }
    await saveAdapter(join(tmp, ADAPTER_DIR), adapter, { baseModelNameOrPath: opts.baseModelNameOrPath });
  } else {
    await saveModel(tmp, { ...model, params: trainable }, { tokenizerFrom: opts.tokenizerFrom });
  }
  await rm(finalDir, { recursive: true, force: true });
  await rename(tmp, finalDir);
  return finalDir;
}

/** Release what setupFineTune holds beyond the trainable tree (the frozen base of an adapter run). */
export function disposeFineTune(ft: FineTune, model: Model): void {
  if (ft.kind === "full") return;
  disposeTree(ft.frozen);
  disposeTree(model.params); // LoRA: the float base (frozen held extra refs); QLoRA: already {}
}
