/**
 * Block-wise weight quantisation for QLoRA (Dettmers et al., 2023), in the
 * manner of bitsandbytes:
 *
 *   a weight w (flattened row-major) is cut into blocks of `block` values (64 by default);
 *   each block keeps one float32 scale s_b = absmax_b = max_i |w_i| and one code per value,
 *
 *     code_i = argmin_u |w_i / s_b − Q[u]|,      ŵ_i = Q[code_i] · s_b
 *
 * with Q a codebook on [−1, 1]:
 *
 *   "int8": Q[u] = (u − 128) / 127, u ∈ 1..255 — absmax int8 (Dettmers et al., 2022);
 *           round-to-nearest, so |w − ŵ| ≤ s_b / 254 per element.
 *   "nf4":  the 16 NormalFloat4 levels of QLoRA (bitsandbytes' table), quantiles of
 *           N(0, 1) rescaled to [−1, 1] with an exact 0; nearest level, so
 *           |w − ŵ| ≤ s_b · (half the gap between the two levels around w/s_b) ≤ 0.152 s_b.
 *
 * Storage: int8 one byte per value; nf4 two codes per byte, the first in the high
 * nibble (bitsandbytes' order). Bytes = ⌈n·bits/8⌉ codes + 4·⌈n/block⌉ scales, so
 * 4-bit with block 64 costs 4.5 bits per weight: 0.14 of float32.
 *
 * Departures from QLoRA: no double quantisation of the scales (they stay float32,
 * 0.5 bit per weight at block 64); compute is float32, not bfloat16; plain
 * symmetric int4 is not offered — 4-bit always means NF4.
 *
 * On the device (jax-js has no uint8), the packed bytes travel as little-endian
 * uint32 words (the same bytes, 8 nf4 or 4 int8 codes per word) and
 * `dequantizeArray` unpacks them with shifts and masks, looks the codes up in the
 * codebook with `np.take` and multiplies by the repeated block scales. Host and
 * device dequantisation round identically (one float32 product), so they agree
 * bitwise.
 */
import { type Array, np } from "../../engine/jax.ts";
import type { Params } from "../../engine/params.ts";

export type QuantScheme = "int8" | "nf4";
export type QuantBits = 8 | 4;

export const SCHEME_OF_BITS: { readonly [B in QuantBits]: QuantScheme } = { 8: "int8", 4: "nf4" };
export const BITS_OF_SCHEME: { readonly [S in QuantScheme]: QuantBits } = { int8: 8, nf4: 4 };

/** NF4 levels, as bitsandbytes (functional.py, `get_4bit_type("nf4")`) and QLoRA's appendix. */
export const NF4_LEVELS: readonly number[] = Object.freeze([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** The codebook Q of a scheme as float32 values (index = stored code). */
export function codebook(scheme: QuantScheme): Float32Array {
  if (scheme === "nf4") return Float32Array.from(NF4_LEVELS);
  return Float32Array.from({ length: 256 }, (_, u) => (u - 128) / 127);
}

/** The code that stands for 0 (used for all-zero blocks and padding). */
const ZERO_CODE: { readonly [S in QuantScheme]: number } = { int8: 128, nf4: 7 };

/** Everything about a quantised tensor except its bytes: enough to dequantise on the device. */
export interface QuantMeta {
  scheme: QuantScheme;
  shape: number[];
  /** Values per scale. */
  block: number;
  /** Number of values (product of shape). */
  size: number;
}

export interface QuantTensor extends QuantMeta {
  /** Packed codes: n bytes (int8) or ⌈n/2⌉ bytes (nf4, first code in the high nibble). */
  codes: Uint8Array;
  /** One float32 absmax per block: ⌈n/block⌉ values. */
  scales: Float32Array;
}

export interface QuantizeOptions {
  /** 8 → int8 absmax, 4 → NF4. Default 4. */
  bits?: QuantBits;
  /** Values per block, a positive multiple of 8. Default 64 (QLoRA's). */
  block?: number;
}

export class QuantError extends Error {
  override name = "QuantError";
}

function resolveOptions(opts: QuantizeOptions): { scheme: QuantScheme; block: number } {
  const bits = opts.bits ?? 4;
  const block = opts.block ?? 64;
  if (!(bits in SCHEME_OF_BITS)) throw new QuantError(`quantize: bits must be 8 or 4, got ${bits}`);
  if (!Number.isInteger(block) || block <= 0 || block % 8 !== 0) {
    throw new QuantError(`quantize: block must be a positive multiple of 8, got ${block} (QLoRA uses 64)`);
  }
  return { scheme: SCHEME_OF_BITS[bits], block };
}

/** Quantise a float32 weight block-wise. Pure host code; `w` is not modified. */
export function quantize(w: Float32Array, shape: readonly number[], opts: QuantizeOptions = {}): QuantTensor {
  const { scheme, block } = resolveOptions(opts);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== w.length) {
    throw new QuantError(`quantize: shape ${JSON.stringify(shape)} holds ${size} values, the data has ${w.length}`);
  }
  const numBlocks = Math.ceil(size / block);
  const scales = new Float32Array(numBlocks);
  const codes = new Uint8Array(scheme === "nf4" ? Math.ceil(size / 2) : size);
  const levels = codebook(scheme);
  // Decision thresholds between adjacent NF4 levels (nearest level wins).
  const mids = Float64Array.from({ length: 15 }, (_, u) => (levels[u]! + levels[u + 1]!) / 2);
  for (let b = 0; b < numBlocks; b++) {
    const lo = b * block;
    const hi = Math.min(lo + block, size);
    let absmax = 0;
    for (let i = lo; i < hi; i++) {
      const a = Math.abs(w[i]!);
      if (!Number.isFinite(a)) throw new QuantError(`quantize: value ${w[i]} at index ${i} is not finite`);
      if (a > absmax) absmax = a;
    }
    scales[b] = absmax;
    for (let i = lo; i < hi; i++) {
      let code: number;
      if (absmax === 0) code = ZERO_CODE[scheme];
      else if (scheme === "int8") code = 128 + Math.max(-127, Math.min(127, Math.round((w[i]! / absmax) * 127)));
      else {
        const x = w[i]! / absmax;
        code = 0;
        while (code < 15 && x > mids[code]!) code++;
      }
      if (scheme === "int8") codes[i] = code;
      else if (i % 2 === 0) codes[i >> 1] = code << 4;
      else codes[i >> 1]! |= code;
    }
  }
  if (scheme === "nf4" && size % 2 === 1) codes[codes.length - 1]! |= ZERO_CODE.nf4; // pad the last low nibble
  return { scheme, shape: [...shape], block, size, codes, scales };
}

/** The stored code of value i. */
function codeAt(q: QuantTensor, i: number): number {
  if (q.scheme === "int8") return q.codes[i]!;
  const byte = q.codes[i >> 1]!;
  return i % 2 === 0 ? byte >> 4 : byte & 15;
}

/** ŵ_i = Q[code_i] · s_{⌊i/block⌋}, one float32 product (as on the device). */
export function dequantize(q: QuantTensor): Float32Array {
  const levels = codebook(q.scheme);
  const out = new Float32Array(q.size);
  for (let i = 0; i < q.size; i++) out[i] = levels[codeAt(q, i)]! * q.scales[Math.floor(i / q.block)]!;
  return out;
}

/** Bytes a quantised tensor occupies: packed codes plus float32 scales. */
export function quantBytes(q: Pick<QuantTensor, "codes" | "scales">): number {
  return q.codes.byteLength + q.scales.byteLength;
}

/** Bytes of the packed codes and scales of a tensor of `size` values, without quantising it. */
export function quantBytesFor(size: number, opts: QuantizeOptions = {}): number {
  const { scheme, block } = resolveOptions(opts);
  return Math.ceil((size * BITS_OF_SCHEME[scheme]) / 8) + 4 * Math.ceil(size / block);
}

// ---------------------------------------------------------------------------
// On the device.

/** Codes per uint32 word, and the shift of each code inside its word (little-endian bytes, high nibble first). */
const WORD_LAYOUT: { readonly [S in QuantScheme]: { mask: number; shifts: readonly number[] } } = {
  int8: { mask: 0xff, shifts: [0, 8, 16, 24] },
  nf4: { mask: 0xf, shifts: [4, 0, 12, 8, 20, 16, 28, 24] },
};

/** Device length of the codes: whole blocks (a multiple of 8 values, so whole words). */
function paddedLength(meta: QuantMeta): number {
  return Math.ceil(meta.size / meta.block) * meta.block;
}

/** Packed codes as the uint32 words the device holds (zero-code padded to whole blocks). */
export function codeWords(q: QuantTensor): Uint32Array {
  const n = paddedLength(q);
  const bytes = new Uint8Array((n * BITS_OF_SCHEME[q.scheme]) / 8);
  bytes.fill(q.scheme === "int8" ? ZERO_CODE.int8 : (ZERO_CODE.nf4 << 4) | ZERO_CODE.nf4);
  bytes.set(q.codes); // an odd nf4 tensor's last low nibble is already the zero code
  const view = new DataView(bytes.buffer);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(4 * i, true));
}

/** A quantised tensor on the device: uint32 code words [⌈n/block⌉·block·bits/32] and float32 scales [⌈n/block⌉]. */
export interface DeviceQuant {
  words: Array;
  scales: Array;
}

/** Put a quantised tensor on the device. */
export function quantToDevice(q: QuantTensor): DeviceQuant {
  const words = codeWords(q);
  return {
    words: np.array(words, { shape: [words.length], dtype: np.uint32 }),
    scales: np.array(q.scales, { shape: [q.scales.length], dtype: np.float32 }),
  };
}

/**
 * Dequantise on the device (traces under jit and grad; the codes carry no gradient):
 *
 *   codes = (words[:, None] >> shifts[None, :]) & mask     [W, codes per word]
 *   ŵ     = take(Q, codes) · repeat(scales, block)         [n] → shape
 *
 * Consumes `q`'s arrays.
 */
export function dequantizeArray(q: DeviceQuant, meta: QuantMeta): Array {
  const { mask, shifts } = WORD_LAYOUT[meta.scheme];
  const n = paddedLength(meta);
  const shiftArr = np.array(Uint32Array.from(shifts), { shape: [shifts.length], dtype: np.uint32 });
  const codes = np.bitwiseAnd(np.rightShift(np.expandDims(q.words, 1), np.expandDims(shiftArr, 0)), mask); // [W, k]
  const flat = np.reshape(codes, [n]).astype(np.int32); // [n]
  const levels = np.array(codebook(meta.scheme), { dtype: np.float32 }); // [|Q|]
  let values = np.multiply(np.take(levels, flat, 0), np.repeat(q.scales, meta.block, 0)); // [n]
  if (n !== meta.size) values = values.slice([0, meta.size]);
  return np.reshape(values, meta.shape);
}

// ---------------------------------------------------------------------------
// A whole parameter record.

/** Which parameters to quantise. Default: every float matrix (ndim ≥ 2); vectors (norm gains, biases) stay float32. */
export type QuantSelect = (name: string, shape: readonly number[]) => boolean;
export const matricesOnly: QuantSelect = (_name, shape) => shape.length >= 2;

/** The device names of a quantised parameter's two arrays (no Hugging Face name contains "#"). */
export const codesName = (name: string): string => `${name}#codes`;
export const scalesName = (name: string): string => `${name}#scales`;

export interface QuantizedParams {
  /**
   * The frozen base as it lives on the device: float parameters under their own
   * names, quantised ones as `NAME#codes` (uint32 words) and `NAME#scales`.
   */
  frozen: Params;
  /** Layout of each quantised parameter, by its Hugging Face name. */
  meta: Record<string, QuantMeta>;
  bytes: QuantByteReport;
}

export interface QuantByteReport {
  /** Bytes of the quantised parameters' codes and scales (host layout). */
  quantized: number;
  /** What the same parameters take in float32. */
  quantizedAsFloat32: number;
  /** Bytes of the parameters kept in float32. */
  float: number;
  /** quantized / quantizedAsFloat32. */
  ratio: number;
}

/** Quantise the selected parameters of a record. Does not consume `params` (the result holds new arrays or refs). */
export async function quantizeParams(
  params: Params,
  opts: QuantizeOptions & { select?: QuantSelect } = {},
): Promise<QuantizedParams> {
  const select = opts.select ?? matricesOnly;
  const frozen: Params = {};
  const meta: Record<string, QuantMeta> = {};
  const bytes = { quantized: 0, quantizedAsFloat32: 0, float: 0, ratio: 0 };
  for (const name of Object.keys(params).sort()) {
    const x = params[name]!;
    if (x.dtype !== np.float32 || !select(name, x.shape)) {
      frozen[name] = x.ref;
      bytes.float += x.size * 4;
      continue;
    }
    const q = quantize((await x.ref.data()) as Float32Array, x.shape, opts);
    const dev = quantToDevice(q);
    frozen[codesName(name)] = dev.words;
    frozen[scalesName(name)] = dev.scales;
    meta[name] = { scheme: q.scheme, shape: q.shape, block: q.block, size: q.size };
    bytes.quantized += quantBytes(q);
    bytes.quantizedAsFloat32 += q.size * 4;
  }
  bytes.ratio = bytes.quantizedAsFloat32 > 0 ? bytes.quantized / bytes.quantizedAsFloat32 : 1;
  return { frozen, meta, bytes };
}

/**
 * The float32 parameters of a quantised base, dequantised on the device. Does
 * not consume `frozen` (takes refs); the result is the caller's to consume.
 */
export function dequantizeParams(frozen: Params, meta: Record<string, QuantMeta>): Params {
  const out: Params = {};
  for (const [name, x] of Object.entries(frozen)) {
    const hash = name.indexOf("#");
    if (hash < 0) out[name] = x.ref;
  }
  for (const [name, m] of Object.entries(meta)) {
    const words = frozen[codesName(name)];
    const scales = frozen[scalesName(name)];
    if (!words || !scales)
      throw new QuantError(`dequantizeParams: "${name}" has no ${codesName(name)} / ${scalesName(name)}`);
    out[name] = dequantizeArray({ words: words.ref, scales: scales.ref }, m);
  }
  return out;
}
