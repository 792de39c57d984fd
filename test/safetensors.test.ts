import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import {
  dtypeByteSize,
  fromFloat32,
  fromTyped,
  type HostTensor,
  parseSafetensors,
  planShards,
  readSafetensors,
  readSafetensorsFolder,
  type SafetensorsDType,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
  toFloat32,
  writeSafetensors,
  writeSafetensorsFolder,
} from "../src/engine/safetensors.ts";

const ALL_DTYPES: SafetensorsDType[] = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U8",
  "U16",
  "U32",
  "U64",
  "BOOL",
];

let tmp = "";
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "stepwise-safetensors-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Helpers.

/** A file from a literal header string and data bytes: 8-byte LE length, header, data. */
function fileFrom(header: string, data: ArrayLike<number> = [], length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function patterned(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17) & 0xff);
}

function tensor(dtype: SafetensorsDType, shape: number[], seed = 1): HostTensor {
  return { dtype, shape, data: patterned(shape.reduce((a, b) => a * b, 1) * dtypeByteSize(dtype), seed) };
}

function assertSameTensors(actual: Map<string, HostTensor>, expected: Map<string, HostTensor>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.equal(a.dtype, e.dtype, `dtype of ${name}`);
    assert.deepEqual(a.shape, e.shape, `shape of ${name}`);
    assert.deepEqual(new Uint8Array(a.data), new Uint8Array(e.data), `bytes of ${name}`);
  }
}

function sameEntries(a: Record<string, string>, b: Record<string, string>): void {
  const sorted = (r: Record<string, string>) => Object.entries(r).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  assert.deepEqual(sorted(a), sorted(b));
}

function headerLengthOf(bytes: Uint8Array): bigint {
  if (bytes.length < 8) return 0n;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

function errorOf(f: () => unknown): SafetensorsError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    return e;
  }
  assert.fail("expected a SafetensorsError, nothing was thrown");
}

async function rejectionOf(p: Promise<unknown>): Promise<SafetensorsError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    return e;
  }
  assert.fail("expected a SafetensorsError, nothing was thrown");
}

const f16 = (bits: number[]) => toFloat32(fromTyped(Uint16Array.from(bits), [bits.length], "F16"));
const bf16 = (bits: number[]) => toFloat32(fromTyped(Uint16Array.from(bits), [bits.length], "BF16"));
const bitsOf = (t: HostTensor) => [...new Uint16Array(t.data.slice().buffer)];
const toF16 = (xs: number[]) => bitsOf(fromFloat32(Float32Array.from(xs), [xs.length], "F16"));
const toBf16 = (xs: number[]) => bitsOf(fromFloat32(Float32Array.from(xs), [xs.length], "BF16"));

// Arbitraries for valid contents.
const dtypeArb = fc.constantFrom(...ALL_DTYPES);
const tensorArb: fc.Arbitrary<HostTensor> = fc
  .tuple(dtypeArb, fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }))
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1) * dtypeByteSize(dtype);
    return fc.uint8Array({ minLength: n, maxLength: n }).map((data) => ({ dtype, shape, data }));
  });
const nameArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("__proto__", "constructor", "model.layers.0.weight", "0", ""),
);
const tensorsArb = fc
  .uniqueArray(fc.tuple(nameArb, tensorArb), { selector: ([n]) => n, maxLength: 6 })
  .map((entries) => new Map(entries.filter(([n]) => n !== "__metadata__")));
const metadataArb = fc.option(
  fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "binary", maxLength: 8 }), {
    maxKeys: 3,
    noNullPrototype: true,
  }),
  { nil: undefined },
);

// ---------------------------------------------------------------------------

describe("round trip", () => {
  test("every dtype through a file is byte-identical, incl. scalars and empty tensors", async () => {
    const tensors = new Map<string, HostTensor>();
    ALL_DTYPES.forEach((dtype, i) => {
      tensors.set(`${dtype}.matrix`, tensor(dtype, [3, 2], i));
      tensors.set(`${dtype}.scalar`, tensor(dtype, [], i + 50));
      tensors.set(`${dtype}.empty`, tensor(dtype, [0, 5], i));
    });
    const path = join(tmp, "all-dtypes.safetensors");
    await writeSafetensors(path, tensors, { format: "pt", note: "héllo ✓" });
    const back = await readSafetensors(path);
    assertSameTensors(back.tensors, tensors);
    assert.deepEqual(back.metadata, { format: "pt", note: "héllo ✓" });
    // The file is exactly what serializeSafetensors produces.
    assert.deepEqual(
      new Uint8Array(await readFile(path)),
      serializeSafetensors(tensors, { format: "pt", note: "héllo ✓" }),
    );
  });

  test("property: arbitrary tensors round-trip bit-identically; header length is a multiple of 8", () => {
    fc.assert(
      fc.property(tensorsArb, metadataArb, (tensors, metadata) => {
        const bytes = serializeSafetensors(tensors, metadata);
        assert.equal(headerLengthOf(bytes) % 8n, 0n);
        const back = parseSafetensors(bytes);
        assertSameTensors(back.tensors, tensors);
        sameEntries(back.metadata, metadata ?? {});
        // Re-serializing the parsed contents gives the same bytes.
        assert.deepEqual(serializeSafetensors(back.tensors, metadata), bytes);
      }),
      { numRuns: 300 },
    );
  });
});

describe("byte-level vectors written by hand", () => {
  test("the example from the Rust library's documentation", () => {
    // b"<\x00\x00\x00\x00\x00\x00\x00{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}" + 16 zeros
    const header = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    assert.equal(header.length, 0x3c);
    const { tensors, metadata } = parseSafetensors(fileFrom(header, new Uint8Array(16)));
    assert.deepEqual(metadata, {});
    assert.deepEqual([...tensors.keys()], ["test"]);
    assert.equal(tensors.get("test")!.dtype, "I32");
    assert.deepEqual(tensors.get("test")!.shape, [2, 2]);
    assert.deepEqual([...toFloat32(tensors.get("test")!)], [0, 0, 0, 0]);
  });

  test("entries out of offset order, metadata in the middle, space padding", async () => {
    const header =
      '{"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}      ';
    // 1.0f = 0x3f800000, -2.5f = 0xc0200000, int64 -3, all little-endian
    const data = [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    const bytes = fileFrom(header, data);
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual(metadata, { format: "pt" });
    assert.deepEqual([...tensors.keys()], ["a", "b"]);
    assert.deepEqual([...toFloat32(tensors.get("a")!)], [1, -2.5]);
    assert.deepEqual(tensors.get("b")!.shape, []);
    assert.deepEqual([...toFloat32(tensors.get("b")!)], [-3]);

    const path = join(tmp, "hand.safetensors");
    await writeFile(path, bytes);
    const file = await SafetensorsFile.open(path);
    try {
      assert.deepEqual(file.names(), ["a", "b"]);
      assert.deepEqual(file.info("b"), { dtype: "I64", shape: [], byteOffset: 8 + header.length + 8, byteLength: 8 });
      assert.deepEqual([...(await file.read("b")).data], data.slice(8));
    } finally {
      await file.close();
    }
  });

  test("the writer's exact bytes: dtype-alignment order, compact JSON, __metadata__ first, padded", () => {
    const bytes = serializeSafetensors(
      { a: { dtype: "U8", shape: [2], data: Uint8Array.of(1, 2) }, b: fromFloat32(Float32Array.of(1), [1]) },
      { format: "pt" },
    );
    const json =
      '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}';
    assert.equal(json.length, 137);
    const expected = fileFrom(`${json}       `, [0, 0, 0x80, 0x3f, 1, 2]);
    assert.deepEqual(bytes, expected);
  });

  test("tolerated like the Rust library: null metadata, several empty tensors at one offset", () => {
    const header =
      '{"__metadata__":null,"x":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},' +
      '"y":{"dtype":"BF16","shape":[3,0],"data_offsets":[0,0]},"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
    const { tensors, metadata } = parseSafetensors(fileFrom(header, [7]));
    assert.deepEqual(metadata, {});
    assert.deepEqual([...tensors.get("z")!.data], [7]);
    assert.equal(tensors.get("y")!.data.length, 0);
  });
});

describe("F16 and BF16", () => {
  test("known float16 bit patterns decode exactly", () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x0400, 2 ** -14],
      [0x3555, 0.333251953125],
      [0x0000, 0],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    assert.deepEqual(
      [...f16(cases.map(([b]) => b))],
      cases.map(([, v]) => v),
    );
    assert.ok(Object.is(f16([0x8000])[0], -0));
    const nans = f16([0x7e00, 0x7c01, 0xfe00]);
    assert.ok(nans.every(Number.isNaN));
    // NaN payloads survive: 0x7c01 becomes float32 bits 0x7f802000.
    assert.equal(new Uint32Array(nans.buffer)[1], 0x7f802000);
  });

  test("float16 encoding rounds to nearest, ties to even", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65519, 0x7bff],
      [65520, 0x7c00], // tie between 65504 and 65536: rounds to inf
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 0x0001 and 0x0002
      [2 ** -14 - 2 ** -25, 0x0400], // tie between the largest subnormal and the smallest normal
      [2 ** -30, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    assert.deepEqual(
      toF16(cases.map(([v]) => v)),
      cases.map(([, b]) => b),
    );
    const nan = toF16([Number.NaN])[0]!;
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0);
  });

  test("bfloat16 bit patterns and rounding", () => {
    assert.deepEqual([...bf16([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001])], [1, -2, Infinity, -Infinity, 2 ** -133]);
    assert.ok(Number.isNaN(bf16([0x7fc0])[0]));
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2, 0xc000],
      [1 + 2 ** -8, 0x3f80], // tie: even
      [1 + 3 * 2 ** -8, 0x3f82], // tie: even
      [1 + 2 ** -8 + 2 ** -16, 0x3f81],
      [3.4028234663852886e38, 0x7f80], // float32 max rounds past bfloat16 max
      [-0, 0x8000],
    ];
    assert.deepEqual(
      toBf16(cases.map(([v]) => v)),
      cases.map(([, b]) => b),
    );
    const nan = toBf16([Number.NaN])[0]!;
    assert.equal(nan & 0x7f80, 0x7f80);
    assert.notEqual(nan & 0x7f, 0);
  });

  test("all 65536 float16 patterns: decode matches the formula, encode(decode(h)) = h", () => {
    const all = Array.from({ length: 65536 }, (_, h) => h);
    const decoded = f16(all);
    for (const h of all) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >>> 10) & 0x1f;
      const mant = h & 0x3ff;
      const expected =
        exp === 0x1f
          ? mant
            ? Number.NaN
            : sign * Infinity
          : sign * (exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15));
      assert.ok(Object.is(decoded[h], expected), `0x${h.toString(16)}: ${decoded[h]} != ${expected}`);
    }
    const back = bitsOf(fromFloat32(decoded, [65536], "F16"));
    for (const h of all) {
      if (Number.isNaN(decoded[h])) assert.ok((back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0);
      else assert.equal(back[h], h, `0x${h.toString(16)}`);
    }
  });

  test("all 65536 bfloat16 patterns: encode(decode(h)) = h", () => {
    const all = Array.from({ length: 65536 }, (_, h) => h);
    const decoded = bf16(all);
    const back = bitsOf(fromFloat32(decoded, [65536], "BF16"));
    for (const h of all) {
      if (Number.isNaN(decoded[h])) assert.ok(Number.isNaN(bf16([back[h]!])[0]));
      else assert.equal(back[h], h, `0x${h.toString(16)}`);
    }
  });

  test("property: F16 and BF16 encoding picks the nearest value, ties to even (brute-force oracle)", () => {
    const halfValues = f16(Array.from({ length: 0x7c00 }, (_, h) => h)); // +0 .. 65504, ascending
    const nearest = (x: number, lo: number, loValue: number, hiValue: number) => {
      const dLo = x - loValue;
      const dHi = hiValue - x;
      return dLo < dHi || (dLo === dHi && (lo & 1) === 0) ? lo : lo + 1;
    };
    const oracleF16 = (x: number) => {
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      const a = Math.abs(x);
      if (a >= 65520) return sign | 0x7c00;
      let lo = 0;
      let hi = 0x7bff;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (halfValues[mid]! <= a) lo = mid;
        else hi = mid - 1;
      }
      return (
        sign |
        (lo === 0x7bff
          ? a === 65504
            ? lo
            : nearest(a, lo, 65504, 65536)
          : nearest(a, lo, halfValues[lo]!, halfValues[lo + 1]!))
      );
    };
    const oracleBf16 = (x: number) => {
      const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
      const sign = bits >>> 31 ? 0x8000 : 0;
      const lo = (bits >>> 16) & 0x7fff;
      // bfloat16 0x7f80 is inf, but for rounding it sits where 2^128 would.
      const value = (b: number) => (b === 0x7f80 ? 2 ** 128 : new Float32Array(Uint32Array.of(b << 16).buffer)[0]!);
      return sign | nearest(Math.abs(x), lo, value(lo), value(lo + 1));
    };
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 64 }),
        (xs) => {
          assert.deepEqual(toF16(xs), xs.map(oracleF16));
          assert.deepEqual(toBf16(xs), xs.map(oracleBf16));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("fromFloat32 → toFloat32 is exact for representable values", () => {
    fc.assert(
      fc.property(fc.array(fc.float(), { maxLength: 32 }), (xs) => {
        const data = Float32Array.from(xs);
        const back = toFloat32(fromFloat32(data, [xs.length], "F32"));
        assert.deepEqual(new Uint32Array(back.buffer), new Uint32Array(data.buffer)); // bits, NaNs included
        const f16Exact = f16(toF16(xs));
        assert.deepEqual(toF16([...f16Exact]), toF16(xs));
      }),
      { numRuns: 200 },
    );
    const exact = [0, 1, -1, 0.5, 65504, 2 ** -24, 1.5, -1000.5];
    assert.deepEqual([...toFloat32(fromFloat32(Float32Array.from(exact), [8], "F16"))], exact);
    const exactBf = [0, 1, -1, 0.5, 2 ** 100, 2 ** -126, 1.5, -3.75];
    assert.deepEqual([...toFloat32(fromFloat32(Float32Array.from(exactBf), [2, 4], "BF16"))], exactBf);
  });
});

describe("other conversions", () => {
  test("toFloat32 from integer, bool and F64 tensors", () => {
    assert.deepEqual([...toFloat32(fromTyped(BigInt64Array.of(-3n, 2n ** 40n), [2]))], [-3, 2 ** 40]);
    assert.deepEqual([...toFloat32(fromTyped(BigUint64Array.of(7n), [1]))], [7]);
    assert.deepEqual([...toFloat32(fromTyped(Int32Array.of(-5, 2 ** 30), [2]))], [-5, 2 ** 30]);
    assert.deepEqual([...toFloat32(fromTyped(Int16Array.of(-300), [1]))], [-300]);
    assert.deepEqual([...toFloat32(fromTyped(Uint16Array.of(65535), [1]))], [65535]);
    assert.deepEqual([...toFloat32(fromTyped(Uint32Array.of(4e9), [1]))], [Math.fround(4e9)]);
    assert.deepEqual([...toFloat32(fromTyped(Int8Array.of(-128, 127), [2]))], [-128, 127]);
    assert.deepEqual([...toFloat32(fromTyped(Uint8Array.of(0, 1, 2), [3], "BOOL"))], [0, 1, 1]);
    assert.deepEqual([...toFloat32(fromTyped(Float64Array.of(0.1), []))], [Math.fround(0.1)]);
  });

  test("fromTyped writes little-endian bytes and checks its arguments", () => {
    assert.deepEqual([...fromTyped(Int32Array.of(1, -2), [2]).data], [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
    assert.equal(fromTyped(Float32Array.of(1, 2), [1, 2]).dtype, "F32");
    assert.equal(fromTyped(BigInt64Array.of(1n), [1]).dtype, "I64");
    assert.match(errorOf(() => fromTyped(Float32Array.of(1), [1], "F16")).message, /use fromFloat32/);
    assert.match(
      errorOf(() => fromTyped(Float32Array.of(1, 2, 3), [2, 2])).message,
      /shape \[2,2\] of F32 needs 16 bytes/,
    );
    assert.match(errorOf(() => fromFloat32(Float32Array.of(1), [3], "BF16")).message, /needs 6 bytes/);
    assert.match(errorOf(() => toFloat32({ dtype: "F32", shape: [2], data: new Uint8Array(4) })).message, /needs 8/);
    assert.equal(dtypeByteSize("BF16"), 2);
    assert.equal(dtypeByteSize("U64"), 8);
  });
});

// ---------------------------------------------------------------------------

/** Valid files, then one or two mutations: benign edits, truncation, byte flips, bad lengths, bad JSON fields. */
const mutatedFileArb = (() => {
  const valid = fc.tuple(tensorsArb, metadataArb).map(([t, m]) => serializeSafetensors(t, m));
  const weird = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom("F33", "f32", "", -1, 1.5, 2 ** 53, 2 ** 64, null, [], [-1], [1.5], ["2"], [2 ** 53, 2 ** 53]),
  );
  const mutation = fc.oneof(
    // Benign edits, so that a fair share of mutated files is still valid and gets checked for consistency.
    fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })
      .map((flips) => (b: Uint8Array) => {
        const c = b.slice();
        const start = 8 + Number(headerLengthOf(b));
        for (const [at, x] of flips) {
          const j = start + (at % Math.max(1, c.length - start));
          if (j < c.length) c[j] = c[j]! ^ x;
        }
        return c;
      }),
    fc.nat({ max: 4 }).map((indent) => (b: Uint8Array) => {
      const n = Number(headerLengthOf(b));
      try {
        const h = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<string, unknown>;
        const reversed = Object.fromEntries(Object.entries(h).reverse());
        return fileFrom(JSON.stringify(reversed, null, indent) + " ".repeat(indent), b.subarray(8 + n));
      } catch {
        return b;
      }
    }),
    // Destructive edits.
    fc.nat().map((k) => (b: Uint8Array) => b.slice(0, k % (b.length + 1))),
    fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 })
      .map((flips) => (b: Uint8Array) => {
        const c = b.slice();
        for (const [at, x] of flips) {
          const j = at % Math.max(1, c.length);
          if (j < c.length) c[j] = c[j]! ^ x;
        }
        return c;
      }),
    fc
      .oneof(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: -16, max: 16 }).map((d) => BigInt(d)),
      )
      .map((n) => (b: Uint8Array) => {
        if (b.length < 8) return b;
        const c = b.slice();
        const v = n < 16n && n >= -16n ? headerLengthOf(b) + n : n;
        new DataView(c.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
        return c;
      }),
    fc.tuple(fc.nat(), fc.constantFrom("dtype", "shape", "data_offsets", "*"), weird).map(
      ([pick, field, value]) =>
        (b: Uint8Array) =>
          rewriteHeader(b, (h) => {
            const names = Object.keys(h);
            if (names.length === 0) h.x = structuredClone(value);
            const name = names[pick % Math.max(1, names.length)] ?? "x";
            const e = h[name];
            if (field === "*" || typeof e !== "object" || e === null) h[name] = structuredClone(value);
            else (e as Record<string, unknown>)[field] = structuredClone(value);
          }),
    ),
    fc.nat().map(
      (pick) => (b: Uint8Array) =>
        rewriteHeader(b, (h) => {
          // Swap the offsets of two tensors, or break one entry's order.
          const names = Object.keys(h).filter((n) => n !== "__metadata__");
          const entryAt = (i: number) => {
            const e = h[names[i % Math.max(1, names.length)] ?? ""];
            return typeof e === "object" && e !== null ? (e as { data_offsets?: unknown }) : undefined;
          };
          const a = entryAt(pick);
          const c = entryAt(pick >> 3);
          if (a && c && a !== c) [a.data_offsets, c.data_offsets] = [c.data_offsets, a.data_offsets];
          else if (a && Array.isArray(a.data_offsets)) (a.data_offsets as unknown[]).reverse();
        }),
    ),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => (b: Uint8Array) => {
      const c = new Uint8Array(b.length + extra.length);
      c.set(b);
      c.set(extra, b.length);
      return c;
    }),
    fc
      .string({ unit: "binary", maxLength: 40 })
      .map((s) => (b: Uint8Array) => fileFrom(s, b.subarray(8 + Number(headerLengthOf(b))))),
  );
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 2 }))
    .map(([bytes, mutations]) => mutations.reduce((b, m) => m(b), bytes));
})();

describe("malformed files", () => {
  const entry = (dtype: string, shape: string, offsets: string) =>
    `{"dtype":${dtype},"shape":${shape},"data_offsets":${offsets}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", Uint8Array.of(1, 2, 3), /3 bytes, shorter than the 8-byte header length/],
    [
      "header length past the file",
      fileFrom("{}", [], 1000n),
      /header length 1000 runs past the end of the 10-byte file/,
    ],
    ["absurd header length", fileFrom("{}", [], 2n ** 63n), /exceeds the 100000000-byte limit/],
    ["header length just over the limit", fileFrom("{}", [], 100_000_001n), /exceeds the 100000000-byte limit/],
    ["invalid UTF-8", fileFrom("{\uFFFF}").map((b) => (b === 0xef ? 0xff : b)), /not valid UTF-8/],
    ["invalid JSON", fileFrom('{"a": '), /not valid JSON/],
    ["byte-order mark", fileFrom("\uFEFF{}"), /not valid JSON/],
    ["empty header", fileFrom(""), /not valid JSON/],
    ["not an object (array)", fileFrom("[1,2]"), /must be a JSON object.*got \[1,2\]/],
    ["not an object (null)", fileFrom("null"), /must be a JSON object/],
    ["entry not an object", fileFrom('{"w":5}'), /tensor "w": expected an object/],
    [
      "dtype missing",
      fileFrom('{"w":{"shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]),
      /tensor "w": "dtype" must be a string/,
    ],
    ["dtype wrong type", fileFrom(`{"w":${entry("4", "[1]", "[0,4]")}}`, [0, 0, 0, 0]), /"dtype" must be a string/],
    ["unknown dtype", fileFrom(`{"w":${entry('"F33"', "[1]", "[0,4]")}}`, [0, 0, 0, 0]), /unknown dtype "F33"/],
    ["shape missing", fileFrom('{"w":{"dtype":"U8","data_offsets":[0,1]}}', [0]), /"shape" must be an array/],
    ["shape not an array", fileFrom(`{"w":${entry('"U8"', '"1"', "[0,1]")}}`, [0]), /"shape" must be an array/],
    [
      "negative dimension",
      fileFrom(`{"w":${entry('"U8"', "[-1]", "[0,0]")}}`),
      /"shape" must be .*non-negative integers, got \[-1\]/,
    ],
    ["fractional dimension", fileFrom(`{"w":${entry('"U8"', "[1.5]", "[0,1]")}}`, [0]), /"shape" .* got \[1.5\]/],
    ["offsets missing", fileFrom('{"w":{"dtype":"U8","shape":[1]}}', [0]), /"data_offsets" must be \[begin, end\]/],
    ["three offsets", fileFrom(`{"w":${entry('"U8"', "[1]", "[0,1,2]")}}`, [0]), /"data_offsets" must be/],
    [
      "negative offset",
      fileFrom(`{"w":${entry('"U8"', "[1]", "[-1,0]")}}`, [0]),
      /"data_offsets" must be .* got \[-1,0\]/,
    ],
    ["fractional offset", fileFrom(`{"w":${entry('"U8"', "[1]", "[0,0.5]")}}`, [0]), /"data_offsets" must be/],
    ["offsets reversed", fileFrom(`{"w":${entry('"U8"', "[0]", "[1,0]")}}`, [0]), /\[1, 0\] end before they begin/],
    [
      "size mismatch",
      fileFrom(`{"w":${entry('"F32"', "[2]", "[0,4]")}}`, [0, 0, 0, 0]),
      /tensor "w": shape \[2\] of F32 needs 8 bytes but "data_offsets" \[0, 4\] hold 4/,
    ],
    [
      "offsets out of range",
      fileFrom(`{"w":${entry('"F32"', "[2]", "[0,8]")}}`, [0, 0, 0, 0]),
      /\[0, 8\] run past the end of the 4-byte data buffer/,
    ],
    [
      "huge shape",
      fileFrom(`{"w":${entry('"F32"', "[9007199254740991,9007199254740991]", "[0,4]")}}`, [0, 0, 0, 0]),
      /more than 2\^53 elements/,
    ],
    [
      "huge shape with a zero",
      fileFrom(`{"w":${entry('"U8"', "[4294967296,4294967296,0]", "[0,0]")}}`),
      /more than 2\^53 elements/,
    ],
    [
      "huge offsets",
      fileFrom(`{"w":${entry('"U8"', "[1]", "[18446744073709551615,18446744073709551616]")}}`, [0]),
      /"data_offsets" must be/,
    ],
    [
      "overlapping tensors",
      fileFrom(`{"a":${entry('"F32"', "[1]", "[0,4]")},"b":${entry('"F32"', "[1]", "[2,6]")}}`, new Uint8Array(6)),
      /tensor "b": "data_offsets" \[2, 6\] overlaps tensor "a", which ends at 4/,
    ],
    [
      "identical offsets",
      fileFrom(`{"a":${entry('"F32"', "[1]", "[0,4]")},"b":${entry('"F32"', "[1]", "[0,4]")}}`, new Uint8Array(4)),
      /overlaps tensor "a"/,
    ],
    [
      "gap between tensors",
      fileFrom(`{"a":${entry('"F32"', "[1]", "[0,4]")},"b":${entry('"F32"', "[1]", "[8,12]")}}`, new Uint8Array(12)),
      /tensor "b": "data_offsets" \[8, 12\] leaves a gap after byte 4/,
    ],
    ["gap at the start", fileFrom(`{"a":${entry('"U8"', "[1]", "[1,2]")}}`, [0, 0]), /leaves a gap after byte 0/],
    [
      "trailing bytes",
      fileFrom(`{"a":${entry('"U8"', "[1]", "[0,1]")}}`, [0, 0, 0]),
      /tensors cover 1 bytes but the data buffer has 3/,
    ],
    ["data but no tensors", fileFrom("{}", [0]), /tensors cover 0 bytes but the data buffer has 1/],
    ["metadata not an object", fileFrom('{"__metadata__":["x"]}'), /"__metadata__" must be an object of strings/],
    [
      "metadata value not a string",
      fileFrom('{"__metadata__":{"step":1}}'),
      /"__metadata__" must map strings to strings; key "step" holds 1/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, () => {
      const e = errorOf(() => parseSafetensors(bytes, "bad.safetensors"));
      assert.equal(e.file, "bad.safetensors");
      assert.ok(e.message.startsWith("bad.safetensors: "), e.message);
      assert.match(e.message, message);
    });
  }

  test("the file reader gives the same errors and never allocates an absurd header", async () => {
    for (const [i, [, bytes]] of cases.entries()) {
      const path = join(tmp, `bad-${i}.safetensors`);
      await writeFile(path, bytes);
      const fromFile = await rejectionOf(SafetensorsFile.open(path));
      const inMemory = errorOf(() => parseSafetensors(bytes, path));
      assert.equal(fromFile.message, inMemory.message);
    }
    assert.match((await rejectionOf(SafetensorsFile.open(join(tmp, "nope.safetensors")))).message, /cannot open/);
  });

  test("fuzz: 1,500 mutated files either parse consistently or throw SafetensorsError", () => {
    const outcome = { ok: 0, error: 0 };
    fc.assert(
      fc.property(mutatedFileArb, (mutated) => {
        let parsed: ReturnType<typeof parseSafetensors>;
        try {
          parsed = parseSafetensors(mutated, "fuzz");
        } catch (e) {
          assert.ok(e instanceof SafetensorsError, `not a SafetensorsError: ${e}`);
          assert.ok(e.message.startsWith("fuzz: "));
          outcome.error++;
          return;
        }
        outcome.ok++;
        let total = 0;
        for (const t of parsed.tensors.values()) {
          assert.ok(ALL_DTYPES.includes(t.dtype));
          assert.ok(t.shape.every((d) => Number.isInteger(d) && d >= 0));
          assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1) * dtypeByteSize(t.dtype));
          total += t.data.length;
        }
        assert.equal(8 + Number(headerLengthOf(mutated)) + total, mutated.length);
        assert.ok(Object.values(parsed.metadata).every((v) => typeof v === "string"));
        assertSameTensors(
          parseSafetensors(serializeSafetensors(parsed.tensors, parsed.metadata)).tensors,
          parsed.tensors,
        );
      }),
      { numRuns: 1500 },
    );
    assert.ok(outcome.ok > 100 && outcome.error > 500, JSON.stringify(outcome));
  });

  test("fuzz: the file reader agrees with the in-memory parser", async () => {
    const path = join(tmp, "fuzz.safetensors");
    await fc.assert(
      fc.asyncProperty(mutatedFileArb, async (bytes) => {
        await writeFile(path, bytes);
        let inMemory: ReturnType<typeof parseSafetensors> | SafetensorsError;
        try {
          inMemory = parseSafetensors(bytes, path);
        } catch (e) {
          inMemory = e as SafetensorsError;
        }
        if (inMemory instanceof SafetensorsError) {
          assert.equal((await rejectionOf(readSafetensors(path))).message, inMemory.message);
        } else {
          const fromFile = await readSafetensors(path);
          assertSameTensors(fromFile.tensors, inMemory.tensors);
          assert.deepEqual(fromFile.metadata, inMemory.metadata);
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** Parse a file's header, let `edit` change it, re-encode with a correct length and the same data. */
function rewriteHeader(bytes: Uint8Array, edit: (header: Record<string, unknown>) => void): Uint8Array {
  const n = Number(headerLengthOf(bytes));
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    return bytes; // an earlier mutation already broke the header
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return bytes;
  edit(header as Record<string, unknown>);
  return fileFrom(JSON.stringify(header), bytes.subarray(8 + n));
}

// ---------------------------------------------------------------------------

describe("SafetensorsFile", () => {
  test("reads tensors lazily by name and reports clear errors", async () => {
    const path = join(tmp, "lazy.safetensors");
    const tensors = { big: tensor("F32", [64, 64]), small: tensor("BF16", [3]) };
    await writeSafetensors(path, tensors, { format: "pt" });
    const file = await SafetensorsFile.open(path);
    assert.deepEqual(file.metadata, { format: "pt" });
    assert.deepEqual(file.names(), ["big", "small"]);
    assert.equal(file.info("small").byteLength, 6);
    assert.deepEqual((await file.read("small")).data, tensors.small.data);
    const missing = await rejectionOf(file.read("nope"));
    assert.match(missing.message, /lazy\.safetensors: no tensor "nope" \(the file holds 2: "big", "small"…\)/);
    await truncate(path, 100); // the file changes under an open handle
    assert.match((await rejectionOf(file.read("small"))).message, /file ended at byte \d+, expected 6 more bytes/);
    await file.close();
    await file.close(); // idempotent
    assert.match((await rejectionOf(file.read("big"))).message, /file is closed/);
  });
});

describe("sharded folders", () => {
  const layers = () =>
    new Map(Array.from({ length: 10 }, (_, i): [string, HostTensor] => [`layers.${i}.weight`, tensor("F32", [10], i)]));

  test("huggingface_hub's split: in order, oversized tensors alone", () => {
    const sized = (sizes: number[]) =>
      sizes.map((n, i): [string, { data: Uint8Array }] => [`t${i}`, { data: new Uint8Array(n) }]);
    const plan = (sizes: number[], max: number) =>
      planShards(sized(sizes), max).map((s) => s.map(([, t]) => t.data.length));
    assert.deepEqual(plan([6, 6, 2, 6, 2, 2], 10), [[6], [6, 2], [6, 2, 2]]);
    assert.deepEqual(plan([3, 20, 3], 10), [[20], [3, 3]]);
    assert.deepEqual(plan([], 10), []);
  });

  test("round trip with ≥ 3 shards and an index like save_pretrained's", async () => {
    const dir = join(tmp, "sharded");
    const tensors = layers();
    tensors.set("embed.héllo", tensor("BF16", [2, 15], 99)); // 60 bytes: a shard of its own
    const written = await writeSafetensorsFolder(dir, tensors, { maxShardBytes: 100, metadata: { step: "7" } });
    const shards = written.filter((f) => f !== "model.safetensors.index.json");
    assert.ok(shards.length >= 3);
    assert.deepEqual(
      shards,
      shards.map(
        (_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`,
      ),
    );
    assert.deepEqual((await readdir(dir)).sort(), [...written].sort());

    const text = await readFile(join(dir, "model.safetensors.index.json"), "utf8");
    assert.ok(text.startsWith('{\n  "metadata": {\n    "total_parameters": 130,\n    "total_size": 460\n  },\n'), text);
    assert.ok(text.endsWith("\n  }\n}\n"));
    assert.ok(text.includes('"embed.h\\u00e9llo": "model-00006-of-00006.safetensors"'), text);
    const index = JSON.parse(text) as { metadata: Record<string, number>; weight_map: Record<string, string> };
    assert.deepEqual(index.metadata, { total_parameters: 130, total_size: 460 });
    assert.deepEqual(Object.keys(index.weight_map), [...tensors.keys()].sort());
    assert.equal(index.weight_map["layers.0.weight"], "model-00001-of-00006.safetensors");
    assert.equal(index.weight_map["layers.1.weight"], "model-00001-of-00006.safetensors");
    assert.equal(index.weight_map["layers.2.weight"], "model-00002-of-00006.safetensors");
    for (const shard of shards) {
      const { metadata, tensors: inShard } = await readSafetensors(join(dir, shard));
      assert.deepEqual(metadata, { format: "pt", step: "7" });
      for (const name of inShard.keys()) assert.equal(index.weight_map[name], shard);
    }
    assertSameTensors(await readSafetensorsFolder(dir), tensors);

    // Saving again unsharded replaces the shards and the index with one file.
    assert.deepEqual(await writeSafetensorsFolder(dir, tensors), ["model.safetensors"]);
    assert.deepEqual(await readdir(dir), ["model.safetensors"]);
    assert.deepEqual((await readSafetensors(join(dir, "model.safetensors"))).metadata, { format: "pt" });
    assertSameTensors(await readSafetensorsFolder(dir), tensors);
  });

  test("errors name the index and the shard or tensor at fault", async () => {
    const dir = join(tmp, "broken");
    const setUp = async () => {
      await rm(dir, { recursive: true, force: true });
      await writeSafetensorsFolder(dir, layers(), { maxShardBytes: 100 });
    };
    const index = join(dir, "model.safetensors.index.json");
    const shard2 = join(dir, "model-00002-of-00005.safetensors");

    await setUp();
    await rm(shard2);
    let e = await rejectionOf(readSafetensorsFolder(dir));
    assert.equal(e.file, index);
    assert.match(e.message, /weight_map lists shard "model-00002-of-00005\.safetensors", but .* does not exist/);

    await setUp();
    await writeSafetensors(shard2, { "layers.2.weight": tensor("F32", [10], 2) });
    e = await rejectionOf(readSafetensorsFolder(dir));
    assert.match(
      e.message,
      /index\.json: weight_map puts tensor "layers\.3\.weight" in model-00002-of-00005\.safetensors, which does not hold it/,
    );

    await setUp();
    await writeSafetensors(shard2, {
      "layers.2.weight": tensor("F32", [10]),
      "layers.3.weight": tensor("F32", [10]),
      stray: tensor("U8", [1]),
    });
    e = await rejectionOf(readSafetensorsFolder(dir));
    assert.match(
      e.message,
      /shard model-00002-of-00005\.safetensors holds tensor "stray", but the weight_map does not list it/,
    );

    await setUp();
    await writeSafetensors(shard2, {
      "layers.2.weight": tensor("F32", [10]),
      "layers.3.weight": tensor("F32", [10]),
      "layers.0.weight": tensor("F32", [10]),
    });
    e = await rejectionOf(readSafetensorsFolder(dir));
    assert.match(
      e.message,
      /holds tensor "layers\.0\.weight", but the weight_map assigns it to model-00001-of-00005\.safetensors/,
    );

    await writeFile(index, '{"weight_map": {"a": "../outside.safetensors"}}');
    assert.match((await rejectionOf(readSafetensorsFolder(dir))).message, /must be a file name in this folder/);
    await writeFile(index, '{"weight_map": ');
    assert.match((await rejectionOf(readSafetensorsFolder(dir))).message, /index\.json: cannot read the index as JSON/);
    await writeFile(index, '{"metadata": {}}');
    assert.match((await rejectionOf(readSafetensorsFolder(dir))).message, /expected \{"metadata".*"weight_map"/);

    const empty = join(tmp, "empty-folder");
    await mkdir(empty);
    assert.match(
      (await rejectionOf(readSafetensorsFolder(empty))).message,
      /no model\.safetensors or model\.safetensors\.index\.json/,
    );
  });
});

describe("atomic writes", () => {
  test("a failing write leaves the previous file untouched and no temp file behind", async () => {
    const dir = join(tmp, "atomic");
    await mkdir(dir);
    const path = join(dir, "model.safetensors");
    await writeSafetensors(path, { w: tensor("F32", [4]) });
    const before = await readFile(path);

    const bad = { w: tensor("F32", [4]), broken: { dtype: "F32" as const, shape: [2], data: new Uint8Array(4) } };
    const e = await rejectionOf(writeSafetensors(path, bad));
    assert.match(e.message, /model\.safetensors: tensor "broken": shape \[2\] of F32 needs 8 bytes, data has 4/);
    assert.deepEqual(await readFile(path), before);
    assert.deepEqual(await readdir(dir), ["model.safetensors"]);

    const folderError = await rejectionOf(writeSafetensorsFolder(dir, bad, { maxShardBytes: 8 }));
    assert.match(folderError.message, /tensor "broken"/);
    assert.deepEqual(await readdir(dir), ["model.safetensors"]);
    assert.deepEqual(await readFile(path), before);

    // A failure after the temp file is written (the rename onto a directory fails) cleans up too.
    await mkdir(join(dir, "taken"));
    assert.match(
      (await rejectionOf(writeSafetensors(join(dir, "taken"), { w: tensor("U8", [3]) }))).message,
      /write failed/,
    );
    assert.deepEqual((await readdir(dir)).sort(), ["model.safetensors", "taken"]);
  });

  test("serializing rejects reserved names and bad metadata", () => {
    assert.match(errorOf(() => serializeSafetensors({ __metadata__: tensor("U8", [1]) })).message, /reserved/);
    const badMetadata = { n: 1 } as unknown as Record<string, string>;
    assert.match(errorOf(() => serializeSafetensors({}, badMetadata)).message, /key "n" holds 1/);
    const badDtype = { w: { dtype: "F8" as SafetensorsDType, shape: [1], data: new Uint8Array(1) } };
    assert.match(errorOf(() => serializeSafetensors(badDtype)).message, /unknown dtype "F8"/);
  });
});
