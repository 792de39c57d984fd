import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import type { FloatSaveDType } from "../engine/tensors.ts";
import { saveModel } from "../model/checkpoint.ts";
import type { Arch, LlamaModelType } from "../model/config.ts";
import { createModel } from "../model/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";

const ARCH_CHOICES: Record<string, { arch: Arch; modelType?: LlamaModelType }> = {
  llama: { arch: "llama", modelType: "llama" },
  qwen2: { arch: "llama", modelType: "qwen2" },
  qwen3: { arch: "llama", modelType: "qwen3" },
  mistral: { arch: "llama", modelType: "mistral" },
  gpt2: { arch: "gpt2" },
};

interface InitModelFlags {
  arch: string;
  vocab?: string;
  hidden: string;
  layers: string;
  heads: string;
  kvHeads?: string;
  intermediate?: string;
  headDim?: string;
  maxPositions?: string;
  tieEmbeddings?: boolean;
  seed: string;
  std: string;
  dtype: string;
  out: string;
  tokenizer?: string;
}

/**
 * `stepwise init-model --arch llama|gpt2 --vocab N --hidden N --layers N --heads N [--kv-heads N]
 *  --out DIR [--tokenizer DIR]`: a randomly initialised checkpoint folder.
 */
export function registerInitModel(program: Command): void {
  program
    .command("init-model")
    .description("Write a randomly initialised model folder (config.json, model.safetensors, tokenizer files)")
    .requiredOption("--arch <arch>", `architecture: ${Object.keys(ARCH_CHOICES).join(", ")}`)
    .option("--vocab <n>", "vocabulary size (default: the tokenizer's, with --tokenizer)")
    .requiredOption("--hidden <n>", "hidden size")
    .requiredOption("--layers <n>", "number of layers")
    .requiredOption("--heads <n>", "attention heads")
    .option("--kv-heads <n>", "key/value heads (grouped-query attention; default: --heads)")
    .option("--intermediate <n>", "MLP width (default: llama ≈ 8/3·hidden rounded up to 16, gpt2 4·hidden)")
    .option("--head-dim <n>", "head size (default hidden / heads)")
    .option("--max-positions <n>", "max_position_embeddings (default 2048 llama, 1024 gpt2)")
    .option("--tie-embeddings", "share the input embedding with the output head (always on for gpt2)")
    .option("--seed <n>", "random seed", "0")
    .option("--std <x>", "std of weight matrices (transformers' initializer_range)", "0.02")
    .option("--dtype <dtype>", "saved float type: F32, F16 or BF16", "F32")
    .requiredOption("--out <dir>", "output folder")
    .option("--tokenizer <dir>", "copy tokenizer files from this folder and take bos/eos/pad ids from it")
    .action(async (flags: InitModelFlags) => {
      const choice = ARCH_CHOICES[flags.arch];
      if (!choice) {
        throw new Error(
          `init-model: --arch must be one of ${Object.keys(ARCH_CHOICES).join(", ")}, got "${flags.arch}"`,
        );
      }
      if (!["F32", "F16", "BF16"].includes(flags.dtype)) {
        throw new Error(`init-model: --dtype must be F32, F16 or BF16, got "${flags.dtype}"`);
      }
      const tok = flags.tokenizer ? await Tokenizer.fromDir(flags.tokenizer) : null;
      const opt = (flag: string, v: string | undefined) => (v === undefined ? undefined : parseIntFlag(flag, v, 1));
      let vocab = opt("--vocab", flags.vocab);
      if (vocab === undefined) {
        if (!tok)
          throw new Error("init-model: give --vocab N, or --tokenizer DIR to use the tokenizer's vocabulary size");
        vocab = tok.vocabSize;
      }
      if (tok && vocab < tok.vocabSize) {
        throw new Error(`init-model: --vocab ${vocab} is smaller than the tokenizer's vocabulary (${tok.vocabSize})`);
      }
      const sizes = {
        arch: choice.arch,
        ...(choice.modelType ? { modelType: choice.modelType } : {}),
        vocabSize: vocab,
        hiddenSize: parseIntFlag("--hidden", flags.hidden, 1),
        numLayers: parseIntFlag("--layers", flags.layers, 1),
        numHeads: parseIntFlag("--heads", flags.heads, 1),
        numKvHeads: opt("--kv-heads", flags.kvHeads),
        intermediateSize: opt("--intermediate", flags.intermediate),
        headDim: opt("--head-dim", flags.headDim),
        maxPositionEmbeddings: opt("--max-positions", flags.maxPositions),
        tieWordEmbeddings: flags.tieEmbeddings ?? false,
      };
      const init = { seed: parseIntFlag("--seed", flags.seed, 0), std: parseNumberFlag("--std", flags.std, 0) };
      await initEngine();
      const model = createModel(sizes, tok ?? null, init);
      const { config, params } = model;
      const count = Object.values(params).reduce((n, x) => n + x.size, 0);
      const written = await saveModel(flags.out, model, {
        dtype: flags.dtype as FloatSaveDType,
        ...(flags.tokenizer ? { tokenizerFrom: flags.tokenizer } : {}),
      });
      disposeTree(params);
      console.log(
        `init-model: ${config.modelType}, ${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}, ` +
          `${count.toLocaleString("en-US")} parameters -> ${flags.out} (${written.join(", ")})`,
      );
    });
}
