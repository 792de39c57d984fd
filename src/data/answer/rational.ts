/**
 * The one exact-rational type: bigint numerator over bigint denominator, always reduced,
 * denominator positive. Answers, step claims and task checkers compare with it, never with
 * floats, so 0.1 + 0.2 = 0.3, 1/3 ≠ 0.333 and 1/2 = 0.5 = 0.50 = 2/4.
 *
 * Canonical text (`formatRational`, also `toString`): an integer ("12", "-3"), else the
 * finite decimal when the reduced denominator has no prime factor but 2 and 5 ("2.5",
 * "-0.25"), else "a/b" ("7/3"). Decimals were chosen over "5/2" because that is how gold
 * answers are written (GSM8K, and every task generator renders its numbers this way), so a
 * canonical answer, a majority-vote key or a step-checker message reads like the answer it
 * stands for. The text is still injective: one string per value, "a/b" only where no
 * finite decimal exists.
 */

/** Greatest common divisor of |a| and |b| (Euclid); gcd(0, 0) = 0. */
export function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** An exact rational n/d with d > 0 and gcd(|n|, d) = 1. Immutable. */
export class Rational {
  readonly n: bigint;
  readonly d: bigint;

  /** n/d reduced; throws a RangeError on a zero denominator. */
  constructor(n: bigint, d = 1n) {
    if (d === 0n) throw new RangeError(`Rational: zero denominator in ${n}/${d}`);
    if (d < 0n) [n, d] = [-n, -d];
    const g = gcd(n, d) || 1n;
    this.n = n / g;
    this.d = d / g;
  }

  /** An integer as a rational; a non-integer number is refused (parse its text instead). */
  static of(x: number | bigint): Rational {
    if (typeof x === "bigint") return new Rational(x);
    if (!Number.isInteger(x)) throw new RangeError(`Rational.of: ${x} is not an integer; use parseNumber`);
    return new Rational(BigInt(x));
  }

  add(o: Rational): Rational {
    return new Rational(this.n * o.d + o.n * this.d, this.d * o.d);
  }
  sub(o: Rational): Rational {
    return new Rational(this.n * o.d - o.n * this.d, this.d * o.d);
  }
  mul(o: Rational): Rational {
    return new Rational(this.n * o.n, this.d * o.d);
  }
  /** this / o, or null when o = 0. */
  div(o: Rational): Rational | null {
    return o.n === 0n ? null : new Rational(this.n * o.d, this.d * o.n);
  }
  neg(): Rational {
    return new Rational(-this.n, this.d);
  }
  abs(): Rational {
    return this.n < 0n ? this.neg() : this;
  }
  eq(o: Rational): boolean {
    return this.n === o.n && this.d === o.d;
  }
  /** this ≤ o (cross-multiplied; both denominators are positive). */
  lessOrEqual(o: Rational): boolean {
    return this.n * o.d <= o.n * this.d;
  }
  isInteger(): boolean {
    return this.d === 1n;
  }
  /** The canonical text, `formatRational(this)`. */
  toString(): string {
    return formatRational(this);
  }
}

/** True when d has no prime factor other than 2 and 5, i.e. n/d has a finite decimal form. */
function isFiniteDecimal(d: bigint): boolean {
  let x = d;
  while (x % 2n === 0n) x /= 2n;
  while (x % 5n === 0n) x /= 5n;
  return x === 1n;
}

/**
 * Canonical text of a rational (see the file header): "12", "2.5", "-0.25", "7/3". Zero is
 * "0", never "-0"; a decimal has no trailing zeros.
 */
export function formatRational(r: Rational): string {
  if (r.d === 1n) return r.n.toString();
  if (!isFiniteDecimal(r.d)) return `${r.n}/${r.d}`;
  let places = 0;
  let scale = 1n;
  while ((r.n * scale) % r.d !== 0n) {
    scale *= 10n;
    places += 1;
  }
  const scaled = (r.n * scale) / r.d;
  const neg = scaled < 0n;
  const digits = (neg ? -scaled : scaled).toString().padStart(places + 1, "0");
  return `${neg ? "-" : ""}${digits.slice(0, -places)}.${digits.slice(-places)}`;
}
