/**
 * LoRA (Hu et al., 2021): fine-tune a frozen weight W [out, in] through a
 * low-rank update,
 *
 *   W_eff = W + (α / r) · B A,      A [r, in] ~ U(−1/√in, 1/√in),   B [out, r] = 0
 *
 * so W_eff = W at step 0 and only A and B (r·(in + out) numbers per target) are
 * trained. The init is PEFT's: kaiming_uniform_(A, a=√5), whose bound is 1/√in;
 * each A draws from its own key keyFor(seed, "lora_A", module).
 *
 * Naming follows PEFT's saved adapters, so `peft.ts` writes tensors as they are:
 *
 *   base_model.model.<module>.lora_A.weight    [r, in]
 *   base_model.model.<module>.lora_B.weight    [out, r]
 *
 * with <module> the Hugging Face module path ("model.layers.0.self_attn.q_proj").
 * Targets are chosen as PEFT chooses them: a list of names matches a module whose
 * path equals a name or ends with "." + name ("q_proj", "v_proj"); a single string
 * is a regular expression the whole module path must match. Only 2-D weights of
 * linear layers can be targets (embeddings and T5's relative_attention_bias are rejected).
 * Default targets are PEFT's per family (peft/utils/constants.py): q_proj, v_proj (Llama,
 * GPT-J), c_attn (GPT-2), query_key_value (GPT-NeoX), q, v (T5; its other linear modules are
 * k, o, wi or wi_0 / wi_1, wo). GPT-2's Conv1D stores
 * W as [in, out] (PEFT's fan_in_fan_out): there the update is (α/r)·(B A)ᵀ.
 *
 * Where this departs from PEFT: the update is applied to the weight
 * (materialise W_eff, then the model's own forward), not as a side branch
 * x ↦ (α/r)·B A x. The two are equal in exact arithmetic; in float32 they differ
 * by rounding only. Consequence: LoRA dropout on the branch input (PEFT's
 * lora_dropout) cannot be expressed on a merged weight, so any dropout other
 * than 0 is refused rather than silently ignored. rsLoRA and DoRA are not supported.
 *
 * The base stays frozen by construction: the trainer differentiates, clips and
 * optimises the `trainable` tree (A and B) only; the base travels as `frozen`,
 * receives no gradient and has no optimizer state.
 */
import { np, random } from "../../engine/jax.ts";
import { disposeTree, keepTree } from "../../engine/memory.ts";
import type { Params } from "../../engine/params.ts";
import { keyFor } from "../../engine/rng.ts";
import {
  dequantizeParams,
  type QuantByteReport,
  type QuantizeOptions,
  type QuantMeta,
  quantizeParams,
} from "./quant.ts";

export class LoraError extends Error {
  override name = "LoraError";
}

export interface LoraOptions {
  /** Rank r of the update. Default 8. */
  r?: number;
  /** α; the update is scaled by α / r. Default 16 (2r at the default rank). */
  alpha?: number;
  /** PEFT's lora_dropout. Only 0: dropout cannot be applied to a merged weight (see the header). */
  dropout?: number;
  /** Module names (PEFT suffix match) or one regular expression over the module path. Default: PEFT's for the family (see the header). */
  targetModules?: readonly string[] | string;
  /** Seed of A's initialisation. Default 0. */
  seed?: number;
}

/** A resolved LoRA config: what adapter_config.json records. */
export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: string[] | string;
  /** True when the targeted weights are stored [in, out] (GPT-2's Conv1D). */
  fanInFanOut: boolean;
  /** PEFT's task_type: SEQ_2_SEQ_LM for an encoder–decoder base (T5), else CAUSAL_LM. */
  taskType: "CAUSAL_LM" | "SEQ_2_SEQ_LM";
}

/** One adapted module: the base weight it updates and the two adapter tensors. */
export interface LoraTarget {
  module: string;
  weight: string;
  a: string;
  b: string;
}

export interface LoraAdapter {
  config: LoraConfig;
  /** The trainable tensors, keyed by PEFT name. */
  params: Params;
}

export const PEFT_PREFIX = "base_model.model.";
export const loraAName = (module: string): string => `${PEFT_PREFIX}${module}.lora_A.weight`;
export const loraBName = (module: string): string => `${PEFT_PREFIX}${module}.lora_B.weight`;

/** Module paths that are embeddings (or T5's bias table), not linear layers: never LoRA targets here. */
const EMBEDDING = /(^|\.)(embed_tokens|wte|wpe|shared|embed_in|relative_attention_bias)$/;
/** GPT-2's Conv1D modules (weights [in, out]). */
const CONV1D = /^transformer\.h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)$/;

type Family = "llama" | "gpt2" | "gptj" | "gpt_neox" | "t5";

/** PEFT's default targets per family (peft/utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: { [F in Family]: string[] } = {
  llama: ["q_proj", "v_proj"],
  gpt2: ["c_attn"],
  gptj: ["q_proj", "v_proj"],
  gpt_neox: ["query_key_value"],
  t5: ["q", "v"],
};

/** The family of a parameter tree, from the tensor names only each family has. */
function familyOf(base: Params): Family {
  const names = Object.keys(base);
  if ("shared.weight" in base) return "t5";
  if (names.some((n) => n.startsWith("gpt_neox."))) return "gpt_neox";
  if ("transformer.wpe.weight" in base) return "gpt2";
  if (names.some((n) => n.startsWith("transformer."))) return "gptj";
  return "llama";
}

/** Does a module path match the targets, as PEFT's check_target_module_exists decides? */
export function matchesTarget(module: string, targets: readonly string[] | string): boolean {
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** The targeted modules of a base, sorted; throws when a target matches nothing usable. */
export function findTargets(base: Params, targetModules: readonly string[] | string): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (const name of Object.keys(base).sort()) {
    if (!name.endsWith(".weight")) continue;
    const module = name.slice(0, -".weight".length);
    if (!matchesTarget(module, targetModules)) continue;
    const shape = base[name]!.shape;
    if (EMBEDDING.test(module) || shape.length !== 2) {
      throw new LoraError(
        `lora: target "${module}" is not a linear layer (shape ${JSON.stringify(shape)}); LoRA here adapts 2-D linear weights only — drop it from targetModules`,
      );
    }
    out.push({ module, weight: name, a: loraAName(module), b: loraBName(module) });
  }
  if (out.length === 0) {
    throw new LoraError(
      `lora: targetModules ${JSON.stringify(targetModules)} match no linear weight of the model (its modules look like "${Object.keys(base).sort()[0]}")`,
    );
  }
  return out;
}

/** Validate options and fill defaults. */
export function resolveLoraConfig(base: Params, opts: LoraOptions = {}): LoraConfig {
  const r = opts.r ?? 8;
  const alpha = opts.alpha ?? 2 * r;
  const dropout = opts.dropout ?? 0;
  if (!Number.isInteger(r) || r < 1) throw new LoraError(`lora: r must be a positive integer, got ${r}`);
  if (!(alpha > 0)) throw new LoraError(`lora: alpha must be > 0, got ${alpha}`);
  if (dropout !== 0) {
    throw new LoraError(
      `lora: dropout ${dropout} is not implemented (the adapter is merged into the weight before the forward pass); use 0`,
    );
  }
  const family = familyOf(base);
  const targetModules = opts.targetModules === undefined ? DEFAULT_TARGETS[family] : opts.targetModules;
  const targets = findTargets(base, targetModules);
  const conv = targets.filter((t) => CONV1D.test(t.module)).length;
  if (conv !== 0 && conv !== targets.length) {
    throw new LoraError(
      "lora: targets mix Conv1D ([in, out]) and Linear ([out, in]) weights; PEFT's fan_in_fan_out is one flag per adapter",
    );
  }
  return {
    r,
    alpha,
    dropout,
    targetModules: typeof targetModules === "string" ? targetModules : [...targetModules],
    fanInFanOut: conv > 0,
    taskType: family === "t5" ? "SEQ_2_SEQ_LM" : "CAUSAL_LM",
  };
}

/** [out, in] of a target weight (Conv1D weights are stored transposed). */
function outIn(shape: readonly number[], fanInFanOut: boolean): [number, number] {
  return fanInFanOut ? [shape[1]!, shape[0]!] : [shape[0]!, shape[1]!];
}

/**
 * A fresh adapter for `base`: A uniform in ±1/√in, B zero. Does not consume `base`.
 */
export function initLora(base: Params, opts: LoraOptions = {}): LoraAdapter {
  const config = resolveLoraConfig(base, opts);
  const seed = opts.seed ?? 0;
  const params: Params = {};
  for (const t of findTargets(base, config.targetModules)) {
    const [out, inp] = outIn(base[t.weight]!.shape, config.fanInFanOut);
    const bound = 1 / Math.sqrt(inp);
    params[t.a] = random.uniform(keyFor(seed, "lora_A", t.module), [config.r, inp], { minval: -bound, maxval: bound });
    params[t.b] = np.zeros([out, config.r], { dtype: np.float32 });
  }
  return { config, params };
}

/** The targets an adapter's tensors name (from the PEFT names), checked against a base. */
export function adapterTargets(lora: Params, base: Params, config: LoraConfig): LoraTarget[] {
  const modules = Object.keys(lora)
    .filter((n) => n.endsWith(".lora_A.weight"))
    .map((n) => n.slice(PEFT_PREFIX.length, -".lora_A.weight".length))
    .sort();
  const targets: LoraTarget[] = [];
  for (const module of modules) {
    const t = { module, weight: `${module}.weight`, a: loraAName(module), b: loraBName(module) };
    const w = base[t.weight];
    const a = lora[t.a];
    const b = lora[t.b];
    if (!w)
      throw new LoraError(`lora: adapter tensor "${t.a}" adapts "${t.weight}", which the base model does not have`);
    if (!b) throw new LoraError(`lora: adapter has "${t.a}" but no "${t.b}"`);
    const [out, inp] = outIn(w.shape, config.fanInFanOut);
    const want = { a: [config.r, inp], b: [out, config.r] };
    for (const [k, x] of [
      ["a", a!],
      ["b", b],
    ] as const) {
      if (x.shape.length !== 2 || x.shape[0] !== want[k][0] || x.shape[1] !== want[k][1]) {
        throw new LoraError(
          `lora: "${k === "a" ? t.a : t.b}" has shape ${JSON.stringify(x.shape)}, expected ${JSON.stringify(want[k])} for base weight ${JSON.stringify(w.shape)} at r=${config.r}`,
        );
      }
    }
    targets.push(t);
  }
  const loraB = Object.keys(lora).filter((n) => n.endsWith(".lora_B.weight")).length;
  if (loraB !== targets.length || Object.keys(lora).length !== 2 * targets.length) {
    throw new LoraError(`lora: adapter tensors ${JSON.stringify(Object.keys(lora))} are not lora_A/lora_B pairs`);
  }
  return targets;
}

/**
 * W_eff = W + (α/r)·B A on every target (transposed for Conv1D), other tensors
 * passed through. CONSUMES `lora` and `base` (the loop's Materialize contract);
 * traces under jit and grad.
 */
export function applyLora(lora: Params, base: Params, config: LoraConfig): Params {
  const targets = adapterTargets(lora, base, config);
  const scale = config.alpha / config.r;
  const out: Params = { ...base };
  for (const t of targets) {
    let delta = np.matmul(lora[t.b]!, lora[t.a]!); // [out, r] @ [r, in] → [out, in]
    if (config.fanInFanOut) delta = np.transpose(delta); // [in, out]
    out[t.weight] = np.add(base[t.weight]!, np.multiply(delta, scale));
  }
  return out;
}

/** The loop's hook: Materialize(trainable, frozen) for LoRA over a float base (consumes both). */
export function loraMaterialize(config: LoraConfig): (trainable: Params, frozen: Params) => Params {
  return (trainable, frozen) => applyLora(trainable, frozen, config);
}

/** Base + adapter as a model's parameters. Does NOT consume `lora` or `base` (takes refs). */
export function materializeLora(lora: LoraAdapter, base: Params): Params {
  return applyLora({ ...keepTree(lora.params) }, { ...keepTree(base) }, lora.config);
}

/**
 * Fold the adapter into the base for export: W ← W + (α/r)·B A. The result is
 * an ordinary checkpoint (saveModel writes it). Does not consume its arguments.
 */
export function mergeLora(base: Params, lora: LoraAdapter): Params {
  return materializeLora(lora, base);
}

/** Count of trainable numbers of an adapter. */
export function loraParamCount(lora: LoraAdapter): number {
  return Object.values(lora.params).reduce((n, x) => n + x.size, 0);
}

// ---------------------------------------------------------------------------
// What a trainer needs for each mode: the trees and the hook.

export interface FineTuneSetup {
  /** Differentiated and optimised. */
  trainable: Params;
  /** Never updated; no gradient, no optimizer state. */
  frozen: Params;
  /** Builds the model's parameters; consumes both trees (loop.ts's Materialize). */
  materialize(trainable: Params, frozen: Params): Params;
  /** Bytes of the frozen base on the device (codes + scales for QLoRA). */
  frozenBytes: number;
}

function treeBytes(t: Params): number {
  return Object.values(t).reduce((n, x) => n + x.size * 4, 0); // float32, int32 and uint32 are all 4 bytes
}

/**
 * LoRA over a float32 base. `base` is taken by reference (the setup's `frozen`
 * holds refs; dispose the setup's trees when done).
 */
export function setupLora(base: Params, opts: LoraOptions = {}): FineTuneSetup & { adapter: LoraAdapter } {
  const adapter = initLora(base, opts);
  const frozen = { ...keepTree(base) };
  return {
    adapter,
    trainable: adapter.params,
    frozen,
    materialize: loraMaterialize(adapter.config),
    frozenBytes: treeBytes(frozen),
  };
}

/** The QLoRA hook: dequantise the base on the device, then add the adapter (consumes both). */
export function qloraMaterialize(
  config: LoraConfig,
  meta: Record<string, QuantMeta>,
): (trainable: Params, frozen: Params) => Params {
  return (trainable, frozen) => {
    const base = dequantizeParams(frozen, meta);
    disposeTree(frozen);
    return applyLora(trainable, base, config);
  };
}

/**
 * QLoRA (Dettmers et al., 2023): the base's matrices stored block-quantised
 * (4-bit NF4 by default, or int8), dequantised on the fly inside the step; LoRA
 * on top. `base` is not consumed (it may be disposed after this returns: the
 * frozen tree holds its own quantised copies and refs to the float vectors).
 */
export async function setupQlora(
  base: Params,
  opts: LoraOptions & { quant?: QuantizeOptions } = {},
): Promise<FineTuneSetup & { adapter: LoraAdapter; meta: Record<string, QuantMeta>; quantBytes: QuantByteReport }> {
  const adapter = initLora(base, opts);
  const q = await quantizeParams(base, opts.quant ?? {});
  return {
    adapter,
    trainable: adapter.params,
    frozen: q.frozen,
    materialize: qloraMaterialize(adapter.config, q.meta),
    frozenBytes: treeBytes(q.frozen),
    meta: q.meta,
    quantBytes: q.bytes,
  };
}

/** The float32 base of a QLoRA setup, dequantised (e.g. to merge an adapter for export). Does not consume `frozen`. */
export function dequantizedBase(frozen: Params, meta: Record<string, QuantMeta>): Params {
  return dequantizeParams(frozen, meta);
}
