/**
 * The bridge between jax-js arrays (on the device) and safetensors' host tensors.
 *
 * Compute is float32: F16, BF16 and F64 tensors load as float32 arrays, integer
 * tensors as int32 (64-bit values outside the int32 range are an error, not a wrap),
 * BOOL as bool. Saving writes float32 arrays as F32 (or F16/BF16 on request), int32
 * as I32, bool as BOOL, so a save → load round trip of float32 state is bit-exact.
 */
import { type Array, np } from "./jax.ts";
import type { Params } from "./params.ts";
import {
  fromFloat32,
  fromTyped,
  type HostTensor,
  readSafetensors,
  SafetensorsError,
  toFloat32,
  writeSafetensors,
} from "./safetensors.ts";

export type FloatSaveDType = "F32" | "F16" | "BF16";

/** Copy an array to the host as a safetensors tensor and release it. */
export async function arrayToHost(x: Array, floatDType: FloatSaveDType = "F32"): Promise<HostTensor> {
  const shape = [...x.shape];
  const dtype = x.dtype;
  const data = await x.data();
  // jax-js hands bool arrays back as 32-bit integers of 0/1.
  if (dtype === np.bool)
    return fromTyped(
      Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0)),
      shape,
      "BOOL",
    );
  if (data instanceof Float32Array) return fromFloat32(data, shape, floatDType);
  if (data instanceof Int32Array) return fromTyped(data, shape, "I32");
  if (data instanceof Uint32Array) return fromTyped(data, shape, "U32");
  if (data instanceof Float64Array) return fromFloat32(Float32Array.from(data), shape, floatDType);
  return fromFloat32(Float32Array.from(data as ArrayLike<number>), shape, floatDType);
}

/** Make a device array from a host tensor (floats become float32). `name` is for errors. */
export function hostToArray(t: HostTensor, name = "tensor"): Array {
  const shape = [...t.shape];
  switch (t.dtype) {
    case "F32":
    case "F16":
    case "BF16":
    case "F64":
      return np.array(toFloat32(t), { shape, dtype: np.float32 });
    case "BOOL":
      return np.array(Int32Array.from(toFloat32(t)), { shape, dtype: np.int32 }).astype(np.bool);
    case "U32":
      return np.array(new Uint32Array(t.data.slice().buffer), { shape, dtype: np.uint32 });
    default: {
      // I32/U32/I64/U64 read exactly (float32 would round values above 2^24); smaller ints are exact in float32.
      const values = WIDE_INTS.has(t.dtype) ? wideIntValues(t) : [...toFloat32(t)];
      for (const v of values) {
        if (v < -2147483648 || v > 2147483647) {
          throw new SafetensorsError(
            name,
            `${t.dtype} value ${v} does not fit in int32, the widest integer jax-js has`,
          );
        }
      }
      return np.array(Int32Array.from(values), { shape, dtype: np.int32 });
    }
  }
}

const WIDE_INTS = new Set(["I32", "I64", "U64"]);

function wideIntValues(t: HostTensor): number[] {
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out: number[] = [];
  if (t.dtype === "I32") for (let i = 0; i < t.data.byteLength; i += 4) out.push(v.getInt32(i, true));
  else if (t.dtype === "I64") for (let i = 0; i < t.data.byteLength; i += 8) out.push(Number(v.getBigInt64(i, true)));
  else for (let i = 0; i < t.data.byteLength; i += 8) out.push(Number(v.getBigUint64(i, true)));
  return out;
}

/** Save a parameter record to one safetensors file. Does not consume `params`. */
export async function saveParams(
  path: string,
  params: Params,
  opts: { dtype?: FloatSaveDType; metadata?: Record<string, string> } = {},
): Promise<void> {
  const tensors: Record<string, HostTensor> = {};
  for (const [name, x] of Object.entries(params)) tensors[name] = await arrayToHost(x.ref, opts.dtype);
  await writeSafetensors(path, tensors, opts.metadata);
}

/** Load every tensor of a safetensors file as a parameter record. */
export async function loadParams(path: string): Promise<{ params: Params; metadata: Record<string, string> }> {
  const { tensors, metadata } = await readSafetensors(path);
  const params: Params = {};
  for (const [name, t] of tensors) params[name] = hostToArray(t, `${path}: "${name}"`);
  return { params, metadata };
}
