/**
 * LoRA adapters in Hugging Face PEFT's layout, so that
 * `PeftModel.from_pretrained(base, dir)` loads what stepwise trains:
 *
 *   adapter_config.json          peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, ...
 *   adapter_model.safetensors    base_model.model.<module>.lora_A.weight [r, in], .lora_B.weight [out, r]
 *
 * and the merged export: base + (α/r)·B A folded into the weights, written as
 * an ordinary Hugging Face model folder by saveModel.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { disposeTree } from "../../engine/memory.ts";
import type { Params } from "../../engine/params.ts";
import { loadParams, saveParams } from "../../engine/tensors.ts";
import { type SaveOptions, saveModel } from "../checkpoint.ts";
import type { Model } from "../model.ts";
import { type LoraAdapter, type LoraConfig, LoraError, mergeLora, PEFT_PREFIX } from "./lora.ts";

export const ADAPTER_CONFIG_NAME = "adapter_config.json";
export const ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors";

/** adapter_config.json as PEFT (0.10+) writes it for a plain LoRA. */
export interface PeftLoraConfig {
  peft_type: "LORA";
  task_type: "CAUSAL_LM" | "SEQ_2_SEQ_LM";
  base_model_name_or_path: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  bias: "none";
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  init_lora_weights: boolean;
  modules_to_save: null;
  layers_to_transform: null;
  layers_pattern: null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  use_rslora: boolean;
  use_dora: boolean;
  revision: null;
}

export function peftConfig(config: LoraConfig, baseModelNameOrPath: string | null): PeftLoraConfig {
  return {
    peft_type: "LORA",
    task_type: config.taskType,
    base_model_name_or_path: baseModelNameOrPath,
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: config.targetModules,
    bias: "none",
    fan_in_fan_out: config.fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
}

/** Write adapter_config.json and adapter_model.safetensors. Does not consume the adapter. Returns the file names. */
export async function saveAdapter(
  dir: string,
  adapter: LoraAdapter,
  opts: { baseModelNameOrPath?: string | null } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const cfg = peftConfig(adapter.config, opts.baseModelNameOrPath ?? null);
  await writeFile(join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(cfg, null, 2)}\n`);
  await saveParams(join(dir, ADAPTER_WEIGHTS_NAME), adapter.params, { metadata: { format: "pt" } });
  return [ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME];
}

/** Read a PEFT LoRA folder. Rejects variants stepwise does not compute (DoRA, rsLoRA, rank/alpha patterns, bias training). */
export async function loadAdapter(dir: string): Promise<{ adapter: LoraAdapter; peft: PeftLoraConfig }> {
  const where = join(dir, ADAPTER_CONFIG_NAME);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(where, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new LoraError(`${where}: cannot read the adapter config (${(err as Error).message})`);
  }
  const bad = (key: string, expected: string) =>
    new LoraError(`${where}: "${key}" is ${JSON.stringify(raw[key])}, expected ${expected}`);
  if (raw.peft_type !== "LORA") throw bad("peft_type", '"LORA"');
  if (!Number.isInteger(raw.r) || (raw.r as number) < 1) throw bad("r", "a positive integer");
  if (typeof raw.lora_alpha !== "number" || !(raw.lora_alpha > 0)) throw bad("lora_alpha", "a number > 0");
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) throw bad("lora_dropout", "a number in [0, 1)");
  const targets = raw.target_modules;
  if (!(typeof targets === "string" || (Array.isArray(targets) && targets.every((t) => typeof t === "string")))) {
    throw bad("target_modules", "a list of module names or a regular expression");
  }
  if ((raw.bias ?? "none") !== "none") throw bad("bias", '"none" (stepwise trains no biases)');
  for (const key of ["use_dora", "use_rslora"]) if (raw[key] === true) throw bad(key, "false (not supported)");
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    const v = raw[key];
    if (v && typeof v === "object" && Object.keys(v).length > 0)
      throw bad(key, "empty (per-module ranks are not supported)");
  }
  const config: LoraConfig = {
    r: raw.r as number,
    alpha: raw.lora_alpha,
    dropout,
    targetModules: typeof targets === "string" ? targets : [...(targets as string[])],
    fanInFanOut: raw.fan_in_fan_out === true,
    taskType: raw.task_type === "SEQ_2_SEQ_LM" ? "SEQ_2_SEQ_LM" : "CAUSAL_LM",
  };
  const { params } = await loadParams(join(dir, ADAPTER_WEIGHTS_NAME));
  const names = Object.keys(params);
  const badName = names.find((n) => !n.startsWith(PEFT_PREFIX) || !/\.lora_[AB]\.weight$/.test(n));
  if (badName) {
    disposeTree(params);
    throw new LoraError(
      `${join(dir, ADAPTER_WEIGHTS_NAME)}: tensor "${badName}" is not a PEFT LoRA tensor (base_model.model.<module>.lora_A.weight / .lora_B.weight)`,
    );
  }
  return { adapter: { config, params }, peft: { ...peftConfig(config, null), ...(raw as object) } as PeftLoraConfig };
}

/**
 * Merge the adapter into the model's weights and write a full Hugging Face folder.
 * Consumes nothing (the merged weights are released after writing).
 */
export async function saveMergedModel(
  dir: string,
  model: Model,
  adapter: LoraAdapter,
  opts: SaveOptions = {},
): Promise<string[]> {
  const merged: Params = mergeLora(model.params, adapter);
  try {
    return await saveModel(dir, { ...model, params: merged }, opts);
  } finally {
    disposeTree(merged);
  }
}
