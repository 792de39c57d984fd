/**
 * Parameter trees. stepwise keeps model parameters as a flat record keyed by
 * the dotted names Hugging Face uses ("model.layers.0.self_attn.q_proj.weight"),
 * so that saving is a 1:1 map to safetensors and masks select by name.
 */
import type { Array } from "./jax.ts";

export type Params = Record<string, Array>;

/** A predicate on parameter names and shapes, e.g. which parameters get weight decay. */
export type ParamMask = (name: string, shape: readonly number[]) => boolean;

/**
 * The usual weight-decay mask: decay matrices (ndim ≥ 2), not biases, norm
 * gains or other vectors (as in nanoGPT and Hugging Face's Trainer).
 */
export const decayMatricesOnly: ParamMask = (_name, shape) => shape.length >= 2;

/** Sorted parameter names: a stable order for reductions and files. */
export function paramNames(params: Params): string[] {
  return Object.keys(params).sort();
}

/** Apply fn to every entry of one or more records with the same keys. */
export function mapParams(params: Params, fn: (x: Array, name: string) => Array): Params {
  const out: Params = {};
  for (const name of paramNames(params)) out[name] = fn(params[name]!, name);
  return out;
}

/** Throw unless two records have the same names and shapes. */
export function assertSameStructure(a: Params, b: Params, where: string): void {
  const an = paramNames(a);
  const bn = paramNames(b);
  const missing = an.filter((n) => !(n in b));
  const extra = bn.filter((n) => !(n in a));
  if (missing.length || extra.length) {
    throw new Error(
      `${where}: parameter names differ (missing: ${missing.join(", ") || "none"}; unexpected: ${extra.join(", ") || "none"})`,
    );
  }
  for (const n of an) {
    const sa = a[n]!.shape;
    const sb = b[n]!.shape;
    if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) {
      throw new Error(`${where}: "${n}" has shape ${JSON.stringify(sb)}, expected ${JSON.stringify(sa)}`);
    }
  }
}
