/**
 * A content-addressed cache of teacher responses, so that a rerun or a resumed `stepwise
 * teach` never asks the same question twice and a kill loses nothing.
 *
 *   key = sha256( JSON([endpoint, body]) )     body: the request exactly as sent (model,
 *                                              prompt or messages, n, sampling, seed)
 *
 * The cache is one append-only JSON-lines file in the run folder (`cache.jsonl`, one row
 * {key, endpoint, response} per answered request), appended through src/runs/jsonl.ts the
 * moment a response arrives, before it is used. A process killed mid-write leaves at most a
 * torn last line, which readJsonl skips: that one request is asked again, nothing else.
 * The request body is not stored (it may be long); the key alone identifies it.
 */
import { createHash } from "node:crypto";
import { appendJsonl, readJsonl } from "../runs/jsonl.ts";

export const CACHE_FILE = "cache.jsonl";

export type Endpoint = "chat/completions" | "completions";

/** The key of one request: sha256 of its endpoint and body, hex. */
export function requestKey(endpoint: Endpoint, body: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify([endpoint, body]))
    .digest("hex");
}

interface CacheRow {
  key: string;
  endpoint: Endpoint;
  response: unknown;
}

export class ResponseCache {
  readonly path: string;
  readonly #rows: Map<string, unknown>;
  /** Requests answered from the cache in this process. */
  hits = 0;
  /** Responses added in this process. */
  added = 0;

  private constructor(path: string, rows: Map<string, unknown>) {
    this.path = path;
    this.#rows = rows;
  }

  /** The cache at `path` (empty when the file is absent). */
  static async open(path: string): Promise<ResponseCache> {
    const rows = new Map<string, unknown>();
    for (const r of await readJsonl<CacheRow>(path)) {
      if (typeof r.key === "string" && r.response !== undefined) rows.set(r.key, r.response);
    }
    return new ResponseCache(path, rows);
  }

  get size(): number {
    return this.#rows.size;
  }

  /**
   * The cached response of (endpoint, body), or the one `ask` fetches, appended to the file
   * before it is returned. Two identical requests in flight at once are both asked (the
   * teacher never sends two, since every request of a run differs in its prompt or seed).
   */
  async get<T>(endpoint: Endpoint, body: unknown, ask: () => Promise<T>): Promise<T> {
    const key = requestKey(endpoint, body);
    if (this.#rows.has(key)) {
      this.hits++;
      return this.#rows.get(key) as T;
    }
    const response = await ask();
    await appendJsonl(this.path, { key, endpoint, response } satisfies CacheRow);
    this.#rows.set(key, response);
    this.added++;
    return response;
  }
}
