/**
 * Conversions between safetensors' little-endian bytes and JavaScript numbers:
 * every dtype decoded to float32 (floats exactly), float32 encoded as F32, F16 or
 * BF16 (round to nearest, ties to even), and typed arrays wrapped as tensors.
 * Bytes go through DataView, so the results do not depend on the host's endianness.
 */
import {
  checkTensor,
  DTYPES,
  describe,
  type HostTensor,
  isDType,
  type SafetensorsDType,
  SafetensorsError,
} from "./format.ts";

let f16Table: Uint32Array | null = null;

/** float32 bits of a float16: exact, including subnormals, infinities and NaN payloads. */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: mant × 2^-24. Shift the leading 1 into the implicit bit.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** float16 bits nearest to float32 `bits`, ties to even; overflow to ±inf; NaN stays NaN (quiet). */
function f32ToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13));
  if (exp >= 143) return sign | 0x7c00; // ≥ 2^16
  if (exp >= 113) {
    // Normal half: keep 10 mantissa bits, round on the 13 dropped (a carry may reach inf, as it should).
    const h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
  }
  if (exp < 102) return sign; // below 2^-25, half the smallest subnormal
  // Subnormal half: units of 2^-24 (may round up to the smallest normal, 0x0400).
  const m = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  const h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && h & 1) ? h + 1 : h);
}

/** bfloat16 bits nearest to float32 `bits`, ties to even; NaN stays NaN (quiet). */
function f32ToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Element values as float32 (floats decoded exactly; 64-bit integers beyond 2^24 round). */
export function toFloat32(t: HostTensor): Float32Array {
  checkTensor(t, `${t.dtype} tensor`, "toFloat32");
  const n = t.data.byteLength / DTYPES[t.dtype].size;
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer); // writing bits keeps NaN payloads
  switch (t.dtype) {
    case "F32":
      for (let i = 0; i < n; i++) bits[i] = v.getUint32(4 * i, true);
      break;
    case "F16": {
      if (!f16Table) f16Table = Uint32Array.from({ length: 65536 }, (_, h) => f16ToF32Bits(h));
      const table = f16Table;
      for (let i = 0; i < n; i++) bits[i] = table[v.getUint16(2 * i, true)]!;
      break;
    }
    case "BF16":
      for (let i = 0; i < n; i++) bits[i] = v.getUint16(2 * i, true) << 16;
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      break;
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(8 * i, true));
      break;
    case "U64":
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigUint64(8 * i, true));
      break;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = v.getInt32(4 * i, true);
      break;
    case "U32":
      for (let i = 0; i < n; i++) out[i] = v.getUint32(4 * i, true);
      break;
    case "I16":
      for (let i = 0; i < n; i++) out[i] = v.getInt16(2 * i, true);
      break;
    case "U16":
      for (let i = 0; i < n; i++) out[i] = v.getUint16(2 * i, true);
      break;
    case "I8":
      for (let i = 0; i < n; i++) out[i] = v.getInt8(i);
      break;
    case "U8":
      for (let i = 0; i < n; i++) out[i] = v.getUint8(i);
      break;
    case "BOOL":
      for (let i = 0; i < n; i++) out[i] = v.getUint8(i) === 0 ? 0 : 1;
      break;
  }
  return out;
}

/** Encode float32 values as F32, F16 or BF16 (round to nearest, ties to even). */
export function fromFloat32(data: Float32Array, shape: number[], dtype: "F32" | "F16" | "BF16" = "F32"): HostTensor {
  if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
    throw new SafetensorsError("fromFloat32", `dtype must be F32, F16 or BF16, got ${describe(dtype)}`);
  }
  if (!(data instanceof Float32Array)) throw new SafetensorsError("fromFloat32", "data must be a Float32Array");
  const size = DTYPES[dtype].size;
  const t: HostTensor = { dtype, shape: [...shape], data: new Uint8Array(data.length * size) };
  checkTensor(t, `Float32Array of ${data.length}`, "fromFloat32");
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const v = new DataView(t.data.buffer);
  if (dtype === "F32") for (let i = 0; i < bits.length; i++) v.setUint32(4 * i, bits[i]!, true);
  else if (dtype === "F16") for (let i = 0; i < bits.length; i++) v.setUint16(2 * i, f32ToF16Bits(bits[i]!), true);
  else for (let i = 0; i < bits.length; i++) v.setUint16(2 * i, f32ToBf16Bits(bits[i]!), true);
  return t;
}

export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

function nativeDType(data: TypedData): SafetensorsDType {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int8Array) return "I8";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof Uint16Array) return "U16";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof BigUint64Array) return "U64";
  return "U8";
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Wrap a typed array as a HostTensor (copying its bytes). `dtype` defaults to the
 * array's own type; another dtype of the same element size reinterprets the bits
 * (Uint16Array of F16/BF16 bits, Uint8Array as BOOL).
 */
export function fromTyped(data: TypedData, shape: number[], dtype: SafetensorsDType = nativeDType(data)): HostTensor {
  if (!isDType(dtype)) throw new SafetensorsError("fromTyped", `unknown dtype ${describe(dtype)}`);
  const size = DTYPES[dtype].size;
  if (size !== data.BYTES_PER_ELEMENT) {
    throw new SafetensorsError(
      "fromTyped",
      `${dtype} has ${size}-byte elements but ${data.constructor.name} has ${data.BYTES_PER_ELEMENT}-byte ones` +
        (size === 2 ? " (use fromFloat32 to convert to F16/BF16)" : ""),
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (!LITTLE_ENDIAN && size > 1) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  const t: HostTensor = { dtype, shape: [...shape], data: bytes };
  checkTensor(t, `${data.constructor.name} of ${data.length}`, "fromTyped");
  return t;
}
