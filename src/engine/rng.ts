/**
 * Seeded randomness.
 *
 * Two kinds, both reproducible from one integer seed:
 *  - `Rng`: a host-side generator (SplitMix64 → xoshiro128**) for data shuffling,
 *    sampling and task generation. Its whole state is four uint32 words, so it
 *    saves into a checkpoint and resumes exactly.
 *  - jax-js PRNG keys (`random.key(seed)`, threefry) for on-device sampling, e.g.
 *    weight initialisation and dropout; `keyFor(seed, ...path)` derives a key per
 *    named use without threading splits through every call.
 */

import type { Array } from "./jax.ts";
import { random } from "./jax.ts";

/** SplitMix32-style mixer: spreads a 32-bit seed into well-distributed words. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a hash of a string to uint32, for deriving seeds from names. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Derive a new 32-bit seed from a seed and a path of names or numbers. */
export function deriveSeed(seed: number, ...path: (string | number)[]): number {
  let s = mix32(seed >>> 0);
  for (const p of path) s = mix32(s ^ (typeof p === "number" ? mix32(p >>> 0) : hashString(p)));
  return s;
}

export type RngState = readonly [number, number, number, number];

/** xoshiro128** (Blackman & Vigna): fast, 2^128−1 period, exact state round trip. */
export class Rng {
  #s: Uint32Array;

  constructor(seed: number | RngState) {
    this.#s = new Uint32Array(4);
    if (typeof seed === "number") {
      if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        this.#s[i] = mix32(x);
      }
      if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
    } else {
      if (seed.length !== 4 || seed.every((w) => w === 0)) {
        throw new RangeError("Rng: state must be four uint32 words, not all zero");
      }
      this.#s.set(seed);
    }
  }

  /** Next uint32. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] inclusive, without modulo bias. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`Rng.int: need integers lo <= hi, got ${lo}, ${hi}`);
    }
    const range = hi - lo + 1;
    if (range > 4294967296) throw new RangeError(`Rng.int: range ${range} exceeds 2^32`);
    const limit = 4294967296 - (4294967296 % range);
    let x: number;
    do x = this.nextU32();
    while (x >= limit);
    return lo + (x % range);
  }

  /** Standard normal sample (Box–Muller). */
  normal(): number {
    const u1 = 1 - this.float(); // (0, 1]
    const u2 = this.float();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Rng.pick: empty array");
    return items[this.int(0, items.length - 1)]!;
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** A copy of the state, for checkpoints. */
  state(): RngState {
    return [this.#s[0]!, this.#s[1]!, this.#s[2]!, this.#s[3]!];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A jax-js PRNG key derived from a seed and a path of names, e.g. keyFor(seed, "init", "layer3"). */
export function keyFor(seed: number, ...path: (string | number)[]): Array {
  return random.key(path.length === 0 ? seed >>> 0 : deriveSeed(seed, ...path));
}
