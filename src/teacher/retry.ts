/**
 * When to retry a request to an OpenAI-compatible server, and how long to wait: pure
 * functions, so the schedule is tested without a clock.
 *
 *   delay_k = min(maxMs, baseMs · 2^k) · (1 − jitter · u),  u ~ U[0, 1)      (k = retries so far)
 *
 * as the OpenAI Python SDK does (0.5 s base, 8 s cap, 25% jitter: its `_calculate_retry_timeout`);
 * jitter spreads the retries of many concurrent requests so they do not arrive together.
 * A `Retry-After` the server sends (delta-seconds or an HTTP date, RFC 9110 §10.2.3, or
 * OpenAI's `retry-after-ms`) is a floor: we wait max(delay_k, Retry-After), the latter
 * capped at `maxRetryAfterMs` so a hostile or buggy header cannot park a run for a day.
 *
 * Retryable statuses are those the SDKs retry: 408 (timeout), 409 (conflict), 425 (too
 * early), 429 (rate limit) and every 5xx. Other 4xx are the caller's mistake and fatal.
 */

export interface BackoffOptions {
  /** First retry's base delay (ms). */
  baseMs: number;
  /** Cap on the exponential part (ms). */
  maxMs: number;
  /** Fraction of the delay removed at random, in [0, 1]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 500, maxMs: 8000, jitter: 0.25 });

/** delay_k = min(maxMs, baseMs · 2^k) · (1 − jitter · u), for retry k = 0, 1, … and u in [0, 1). */
export function backoffDelay(retry: number, o: BackoffOptions, u: number): number {
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** retry);
  return exp * (1 - o.jitter * u);
}

/** What `Retry-After` needs from a Headers object. */
export interface HeaderLookup {
  get(name: string): string | null;
}

/**
 * The wait a response asks for, in ms, or null when it asks for none (or the header is
 * unreadable): `retry-after-ms` (OpenAI) first, then `Retry-After` as seconds or an HTTP date.
 */
export function parseRetryAfter(headers: HeaderLookup, nowMs: number): number | null {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Number(ms);
  const value = headers.get("retry-after");
  if (value === null) return null;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/** The wait before retry k: the backoff, or the server's Retry-After (capped) when that is longer. */
export function retryDelay(
  retry: number,
  o: BackoffOptions,
  retryAfterMs: number | null,
  maxRetryAfterMs: number,
  u: number,
): number {
  const backoff = backoffDelay(retry, o, u);
  return retryAfterMs === null ? backoff : Math.max(backoff, Math.min(retryAfterMs, maxRetryAfterMs));
}

/** Statuses worth retrying: 408, 409, 425, 429 and 5xx. */
export function statusIsRetryable(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/**
 * Whether a text that failed to parse as JSON was cut off (an object or array still
 * open, or a string unterminated, at the end) rather than malformed (a complete text
 * that is not JSON, such as an HTML error page). A cut-off body is worth asking again.
 */
export function isTruncatedJson(text: string): boolean {
  const s = text.trim();
  if (s === "") return true;
  if (s[0] !== "{" && s[0] !== "[") return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return inString || depth > 0;
}
