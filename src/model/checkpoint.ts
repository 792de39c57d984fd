/**
 * Hugging Face model folders, read and written as `save_pretrained` does:
 *
 *   config.json                      the architecture (config.ts)
 *   generation_config.json           bos/eos/pad and sampling defaults (optional on load)
 *   model.safetensors                or model-0000i-of-0000n.safetensors + model.safetensors.index.json
 *   tokenizer.json, tokenizer_config.json, ...   copied through untouched
 *
 * F32, F16, BF16 and F64 weights load as float32 (stepwise computes in float32);
 * saving writes F32 by default, or F16/BF16 on request. A folder whose tensors do
 * not match the config is one CheckpointError listing every missing, unexpected
 * and misshapen tensor, so a user sees the whole problem at once.
 *
 * Tolerated on load, as transformers tolerates them: non-persistent buffers some
 * old checkpoints carry (rotary_emb.inv_freq, GPT-2's and GPT-J's attn.bias /
 * attn.masked_bias, GPT-NeoX's attention.bias / attention.masked_bias, T5's unused
 * decoder.block.0.layer.1.EncDecAttention.relative_attention_bias), the output head
 * when the embeddings are tied (lm_head.weight, GPT-NeoX's embed_out.weight), T5's
 * copies of the shared embedding (encoder./decoder.embed_tokens.weight: used as
 * shared.weight when that is absent), and checkpoints of the bare backbone (names
 * without the "model." / "transformer." / "gpt_neox." prefix).
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathExists as exists } from "../engine/files.ts";
import type { Params } from "../engine/params.ts";
import {
  type HostTensor,
  readSafetensorsFolder,
  type WriteFolderOptions,
  writeSafetensorsFolder,
} from "../engine/safetensors.ts";
import { arrayToHost, type FloatSaveDType, hostToArray } from "../engine/tensors.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";
import { type Model, paramShapes } from "./model.ts";

export class CheckpointError extends Error {
  override name = "CheckpointError";
  readonly dir: string;
  readonly missing: string[];
  readonly unexpected: string[];
  constructor(dir: string, detail: string, lists: { missing?: string[]; unexpected?: string[] } = {}) {
    super(`${dir}: ${detail}`);
    this.dir = dir;
    this.missing = lists.missing ?? [];
    this.unexpected = lists.unexpected ?? [];
  }
}

/** Tokenizer and chat-template files copied from one folder to another on save. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
  "spiece.model",
  "chat_template.jinja",
  "chat_template.json",
] as const;

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(path, `invalid JSON (${(err as Error).message})`);
  }
}

/** Buffers transformers does not persist but some checkpoints carry. */
function isIgnorableBuffer(name: string): boolean {
  return (
    /\.rotary_emb\.inv_freq$/.test(name) ||
    /(^|\.)attn\.(masked_)?bias$/.test(name) ||
    /(^|\.)attention\.(masked_)?bias$/.test(name) ||
    name === "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"
  );
}

/** The prefix of each family's backbone in its *ForCausalLM names, and its output head. */
const BACKBONE: { [A in ModelConfig["arch"]]: { prefix: string; head: string } } = {
  llama: { prefix: "model.", head: "lm_head.weight" },
  gpt2: { prefix: "transformer.", head: "lm_head.weight" },
  gptj: { prefix: "transformer.", head: "lm_head.weight" },
  gpt_neox: { prefix: "gpt_neox.", head: "embed_out.weight" },
  t5: { prefix: "", head: "lm_head.weight" },
};

/** Map a file's tensor name to stepwise's (transformers' *ForCausalLM / ForConditionalGeneration) name. */
function canonicalName(name: string, config: ModelConfig): string {
  const { prefix } = BACKBONE[config.arch];
  if (name.startsWith(prefix) || name.startsWith("lm_head.") || name === "embed_out.weight") return name;
  return `${prefix}${name}`;
}

/** T5's encoder and decoder hold the shared embedding under their own names too (tied copies). */
const T5_EMBEDDING_COPIES = new Set(["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]);

/**
 * Check that `tensors` are exactly what `config` needs (names and shapes); returns
 * them keyed by canonical name. Throws one CheckpointError listing every problem.
 */
export function matchTensors(
  tensors: Map<string, HostTensor>,
  config: ModelConfig,
  where: string,
): Map<string, HostTensor> {
  const expected = new Map(paramShapes(config));
  const found = new Map<string, HostTensor>();
  const unexpected: string[] = [];
  const problems: string[] = [];
  const head = BACKBONE[config.arch].head;
  for (const [raw, t] of tensors) {
    if (isIgnorableBuffer(raw)) continue;
    let name = canonicalName(raw, config);
    if (name === head && config.tieWordEmbeddings) continue; // tied: the embedding is the head
    if (config.arch === "t5" && T5_EMBEDDING_COPIES.has(name)) {
      if (tensors.has("shared.weight") || found.has("shared.weight")) continue;
      name = "shared.weight";
    }
    if (!expected.has(name)) {
      unexpected.push(raw);
      continue;
    }
    const want = expected.get(name)!;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      problems.push(`"${raw}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(want)}`);
    } else if (!FLOAT_DTYPES.has(t.dtype)) {
      problems.push(`"${raw}" has dtype ${t.dtype}, expected a float type (F32, F16, BF16, F64)`);
    }
    found.set(name, t);
  }
  const missing = [...expected.keys()].filter((n) => !found.has(n));
  if (missing.length || unexpected.length || problems.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing tensors (${missing.length}): ${missing.join(", ")}`);
    if (unexpected.length) parts.push(`unexpected tensors (${unexpected.length}): ${unexpected.join(", ")}`);
    parts.push(...problems);
    throw new CheckpointError(where, `weights do not match the ${config.modelType} config:\n  ${parts.join("\n  ")}`, {
      missing,
      unexpected,
    });
  }
  return found;
}

/** Read a model folder: config.json, optional generation_config.json, weights. */
export async function loadModel(dir: string): Promise<Model> {
  const configPath = join(dir, "config.json");
  if (!(await exists(configPath))) throw new CheckpointError(dir, "no config.json in this folder");
  const hfConfig = (await readJson(configPath)) as Record<string, unknown>;
  const config = parseModelConfig(hfConfig, configPath);
  const genPath = join(dir, "generation_config.json");
  const generationConfig = (await exists(genPath)) ? ((await readJson(genPath)) as Record<string, unknown>) : undefined;
  const tensors = matchTensors(await readSafetensorsFolder(dir), config, dir);
  const params: Params = {};
  for (const [name, t] of tensors) params[name] = hostToArray(t, `${dir}: "${name}"`);
  return { config, params, hfConfig, ...(generationConfig ? { generationConfig } : {}) };
}

export interface SaveOptions extends WriteFolderOptions {
  /** Float dtype of the saved weights (default F32). */
  dtype?: FloatSaveDType;
  /** Copy tokenizer files (TOKENIZER_FILES that exist) from this folder. */
  tokenizerFrom?: string;
}

/** The generation_config.json transformers derives from a model config. */
export function defaultGenerationConfig(config: ModelConfig): Record<string, unknown> {
  const eos = config.eosTokenIds;
  const out: Record<string, unknown> = {};
  if (config.bosTokenId !== null) out.bos_token_id = config.bosTokenId;
  if (eos.length > 0) out.eos_token_id = eos.length === 1 ? eos[0] : eos;
  if (config.padTokenId !== null) out.pad_token_id = config.padTokenId;
  return out;
}

/**
 * Write a model folder that transformers' from_pretrained (and loadModel) reads.
 * Does not consume the model's parameters. Returns the file names written.
 */
export async function saveModel(dir: string, model: Model, opts: SaveOptions = {}): Promise<string[]> {
  const dtype = opts.dtype ?? "F32";
  const expected = paramShapes(model.config);
  const missing = expected.map(([n]) => n).filter((n) => !(n in model.params));
  const known = new Set(expected.map(([n]) => n));
  const unexpected = Object.keys(model.params).filter((n) => !known.has(n));
  if (missing.length || unexpected.length) {
    throw new CheckpointError(
      dir,
      `saveModel: parameters do not match the config (missing: ${missing.join(", ") || "none"}; unexpected: ${unexpected.join(", ") || "none"})`,
      { missing, unexpected },
    );
  }
  await mkdir(dir, { recursive: true });
  const tensors: Record<string, HostTensor> = {};
  for (const [name] of expected) tensors[name] = await arrayToHost(model.params[name]!.ref, dtype);
  const written = await writeSafetensorsFolder(dir, tensors, opts);
  const torchDtype = { F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype];
  const hfConfig = { ...model.hfConfig, torch_dtype: torchDtype };
  await writeFile(join(dir, "config.json"), `${JSON.stringify(hfConfig, null, 2)}\n`);
  const gen = model.generationConfig ?? defaultGenerationConfig(model.config);
  await writeFile(join(dir, "generation_config.json"), `${JSON.stringify(gen, null, 2)}\n`);
  written.push("config.json", "generation_config.json");
  if (opts.tokenizerFrom && resolve(opts.tokenizerFrom) !== resolve(dir)) {
    for (const name of TOKENIZER_FILES) {
      const from = join(opts.tokenizerFrom, name);
      if (await exists(from)) {
        await copyFile(from, join(dir, name));
        written.push(name);
      }
    }
  }
  return written;
}
