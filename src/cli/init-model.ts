import { readdir, stat } from "node:fs/promises";
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
  gptj: { arch: "gptj" },
  gpt_neox: { arch: "gpt_neox" },
  t5: { arch: "t5" },
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
  decoderLayers?: string;
  feedForward?: string;
  rotaryDim?: string;
  rotaryPct?: string;
  sequentialResidual?: boolean;
  seed: string;
  std: string;
  dtype: string;
  out: string;
  tokenizer?: string;
}

/**
 * Refuse an --out that exists and is not an empty folder: writing into it would mix the new
 * weights with files left there (a stale tokenizer.json, other shards).
 */
async function checkOutFolder(dir: string): Promise<void> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error(`init-model: --out ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (entries.length > 0) {
    const shown = entries.sort().slice(0, 5).join(", ") + (entries.length > 5 ? ", ..." : "");
    throw new Error(
      `init-model: --out ${dir} is not empty (it holds ${shown}); give a new folder, or empty this one first`,
    );
  }
}

/**
 * `stepwise init-model --arch llama|qwen2|qwen3|mistral|gpt2|gptj|gpt_neox|t5 --vocab N --hidden N
 *  --layers N --heads N [--kv-heads N] --out DIR [--tokenizer DIR]`: a randomly initialised
 *  checkpoint folder, written into a new (or empty) folder.
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
    .option(
      "--intermediate <n>",
      "MLP width (default: llama ≈ 8/3·hidden rounded up to 16, t5 2·hidden gated / 4·hidden relu, others 4·hidden)",
    )
    .option("--head-dim <n>", "head size (default hidden / heads; t5's d_kv may differ)")
    .option("--max-positions <n>", "max_position_embeddings (default 2048; gpt2 1024; t5 n_positions 512)")
    .option("--tie-embeddings", "share the input embedding with the output head (always on for gpt2)")
    .option("--decoder-layers <n>", "t5: decoder blocks (default --layers)")
    .option("--feed-forward <kind>", "t5: feed_forward_proj, gated-gelu (T5 v1.1, Flan-T5) or relu (T5)", "gated-gelu")
    .option("--rotary-dim <n>", "gptj: rotated dims per head (default a quarter of the head)")
    .option("--rotary-pct <x>", "gpt_neox: fraction of each head rotated (rotary_pct)", "0.25")
    .option("--sequential-residual", "gpt_neox: x + attn, then + mlp (default: parallel, x + attn + mlp)")
    .option("--seed <n>", "random seed", "0")
    .option(
      "--std <x>",
      "std of weight matrices (transformers' initializer_range; t5 scales by fan-in instead)",
      "0.02",
    )
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
      await checkOutFolder(flags.out);
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
        numDecoderLayers: opt("--decoder-layers", flags.decoderLayers),
        feedForwardProj: flags.feedForward,
        rotaryDim: opt("--rotary-dim", flags.rotaryDim),
        rotaryPct: flags.rotaryPct === undefined ? undefined : parseNumberFlag("--rotary-pct", flags.rotaryPct, 0, 1),
        parallelResidual: !flags.sequentialResidual,
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
