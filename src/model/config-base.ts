/**
 * What every config parser shares (config.ts for Llama and GPT-2, config-families.ts for
 * GPT-J, GPT-NeoX and T5): the error class, zod primitives for config.json keys, and the
 * small conversions transformers' PretrainedConfig applies to token ids and activations.
 */
import { z } from "zod";

export class ModelConfigError extends Error {
  override name = "ModelConfigError";
}

export const int = z.number().int();
export const posInt = int.positive();
export const tokenId = int.nonnegative().nullable().optional();
export const tokenIds = z
  .union([int.nonnegative(), z.array(int.nonnegative())])
  .nullable()
  .optional();

export function fail(source: string, detail: string): never {
  throw new ModelConfigError(`${source}: ${detail}`);
}

export function zodFail(source: string, err: z.ZodError): never {
  const lines = err.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
  fail(source, `invalid config:\n${lines.join("\n")}`);
}

/** eos_token_id as a list: a number, a list, null (none) or absent (the class default). */
export function eosList(v: number | number[] | null | undefined, fallback: number[]): number[] {
  if (v === undefined) return fallback;
  if (v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** The eos_token_id value transformers writes: null, one id, or a list. */
export function eosJson(ids: number[]): number | number[] | null {
  if (ids.length === 0) return null;
  return ids.length === 1 ? ids[0]! : ids;
}

/**
 * The MLP activations stepwise computes, by transformers' ACT2FN names:
 *   gelu      x·Φ(x), the exact erf form (GELUActivation)
 *   gelu_new  the tanh approximation (NewGELUActivation; gelu_pytorch_tanh is the same function)
 *   relu      max(x, 0)
 *   silu      x·σ(x) (swish)
 */
export type Activation = "gelu" | "gelu_new" | "relu" | "silu";

const ACTIVATION_NAMES: Record<string, Activation> = {
  gelu: "gelu",
  gelu_new: "gelu_new",
  gelu_pytorch_tanh: "gelu_new",
  relu: "relu",
  silu: "silu",
  swish: "silu",
};

/** An ACT2FN name → the activation, or a ModelConfigError naming `key` and the supported names. */
export function parseActivation(source: string, key: string, name: string): Activation {
  const act = ACTIVATION_NAMES[name];
  if (!act) fail(source, `${key} "${name}" is not supported (supported: ${Object.keys(ACTIVATION_NAMES).join(", ")})`);
  return act;
}
