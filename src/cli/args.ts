/** Flag parsing shared by the commands: values checked, errors that name the flag and what was expected. */

/** An integer flag value in [min, max], or an error naming the flag. */
export function parseIntFlag(flag: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new Error(`${flag} must be an integer ${range}, got "${value}"`);
  }
  return n;
}

/** A finite number flag value in [min, max]. */
export function parseNumberFlag(flag: string, value: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`${flag} must be a number in [${min}, ${max}], got "${value}"`);
  }
  return n;
}

/** A comma-separated list of token ids, each in [0, vocab). */
export function parseIdList(flag: string, value: string, vocab: number): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s === "")) {
    throw new Error(`${flag} must be comma-separated token ids like 1,2,3, got "${value}"`);
  }
  return parts.map((s) => parseIntFlag(`${flag} (id "${s}")`, s, 0, vocab - 1));
}
