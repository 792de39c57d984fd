/**
 * One model, many concurrent requests: the batcher queues generation and scoring jobs and
 * runs them one model call at a time, putting the waiting generation jobs that can share a
 * call into one batched `generate` (src/model/generate.ts: left-padded, KV-cached).
 *
 * Which jobs share a call (same "group key"):
 *  - greedy jobs (temperature 0) with the same stop strings and stop ids: each row of a
 *    left-padded batch computes what it would alone, so batching changes nothing;
 *  - sampling jobs without a seed with the same temperature, top_p, stops and stop ids: they
 *    draw from one stream seeded per call from the server's seed (`deriveSeed(seed, call)`);
 *  - a sampling job WITH a seed runs alone, its `n` rows drawn from `Rng(seed)`, so the same
 *    request with the same seed gives the same choices however busy the server is.
 * A call takes jobs in arrival order while their rows fit in `maxBatch` and the longest
 * prompt plus the largest max_tokens fits the model's context; it generates max_tokens of the
 * largest job and cuts each job's rows to its own max_tokens afterwards (finish "length").
 *
 * A job whose client has hung up (its `signal` aborted) while it waits is dropped from the
 * queue, so a client that times out and retries does not leave the abandoned copy to be
 * generated in front of the retry. A job already in a running call runs to its end.
 *
 * Departure from vLLM-style continuous batching: a call runs to its end before the next
 * starts; a request arriving mid-call waits for it. generate() has no way to add rows to a
 * running batch, and on this engine's scale that would gain little.
 */

import { np } from "../engine/jax.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import { deriveSeed } from "../engine/rng.ts";
import { type GeneratedSequence, generate, logSoftmaxRow } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import { forward } from "../model/model.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

/** One token's log-prob and, when asked, the most likely alternatives at its position. */
export interface TokenLogProb {
  token: number;
  logProb: number;
  /** The `top` most likely tokens at this position (id, log-prob), most likely first. */
  top: { id: number; logProb: number }[];
}

export interface GenJob {
  promptIds: number[];
  /** Rows (choices) to generate from this prompt. */
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  stopIds: number[];
  seed: number | null;
  /** Alternatives per position to report (0: the chosen token's log-prob only). */
  top: number;
  /** Each new token of choice `choice`, as it is made (for streaming). */
  onToken?: (choice: number, t: TokenLogProb) => void;
  /** Aborted when the client has gone: a job still waiting is dropped (rejected) and never generated. */
  signal?: AbortSignal;
}

/** The error a dropped job rejects with. */
export class JobAbortedError extends Error {
  override name = "JobAbortedError";
}

export interface GenResult {
  /** One per choice, cut to the job's max_tokens. */
  sequences: GeneratedSequence[];
  /** Per choice, per token. */
  logProbs: TokenLogProb[][];
}

export interface BatcherOptions {
  /** Rows per generate call at most. */
  maxBatch: number;
  /** Positions the model can attend to (prompt + new tokens). */
  maxContext: number;
  /** Seeds the unseeded sampling calls. */
  seed: number;
  /** Wait this long (ms) before a call takes its jobs, so requests sent together share it. */
  windowMs: number;
}

interface Pending {
  job: GenJob;
  key: string;
  resolve: (r: GenResult) => void;
  reject: (e: unknown) => void;
}

/** The k largest entries of a log-prob row, most likely first (ties: lower id first). */
export function topLogProbs(logProbs: Float64Array, k: number): { id: number; logProb: number }[] {
  if (k <= 0) return [];
  const best: { id: number; logProb: number }[] = [];
  for (let id = 0; id < logProbs.length; id++) {
    const lp = logProbs[id]!;
    if (best.length === k && lp <= best[k - 1]!.logProb) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.logProb < lp) at--;
    best.splice(at, 0, { id, logProb: lp });
    if (best.length > k) best.pop();
  }
  return best;
}

export class Batcher {
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  readonly options: BatcherOptions;
  #queue: Pending[] = [];
  #scheduled = false;
  #jobs = 0;
  #calls = 0;
  #tail: Promise<unknown> = Promise.resolve();
  /** Rows per generate call so far (for the bench and tests). */
  readonly callSizes: number[] = [];

  constructor(model: Model, tokenizer: Tokenizer, options: BatcherOptions) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.options = options;
  }

  /** Queue a generation job; resolves when its call has run. */
  generate(job: GenJob): Promise<GenResult> {
    return new Promise((resolve, reject) => {
      if (job.signal?.aborted) {
        reject(new JobAbortedError("the client went away before generation started"));
        return;
      }
      const seeded = job.temperature > 0 && job.seed !== null;
      const key = seeded
        ? `seeded:${this.#jobs++}`
        : JSON.stringify([
            job.temperature,
            job.temperature > 0 ? job.topP : 1,
            [...job.stop].sort(),
            [...job.stopIds].sort(),
          ]);
      const pending: Pending = { job, key, resolve, reject };
      this.#queue.push(pending);
      job.signal?.addEventListener(
        "abort",
        () => {
          const at = this.#queue.indexOf(pending);
          if (at < 0) return; // already taken into a call
          this.#queue.splice(at, 1);
          reject(new JobAbortedError("the client went away before generation started"));
        },
        { once: true },
      );
      this.#kick();
    });
  }

  /**
   * log p of every token of each sequence given the ones before it, with the `top`
   * alternatives at each position: index t holds token t + 1 (token 0 has no context).
   * One forward pass per sequence, serialised with the generate calls.
   */
  score(sequences: number[][], top: number): Promise<TokenLogProb[][]> {
    return this.#serial(async () => {
      const V = this.model.config.vocabSize;
      const out: TokenLogProb[][] = [];
      for (const seq of sequences) {
        if (seq.length < 2) {
          out.push([]);
          continue;
        }
        const ids = np.array(Int32Array.from(seq), { shape: [1, seq.length], dtype: np.int32 });
        const z = await readFloat32(forward(keepTree(this.model.params), this.model.config, ids).logits); // [1, T, V]
        const row: TokenLogProb[] = [];
        for (let t = 0; t + 1 < seq.length; t++) {
          const lp = logSoftmaxRow(z.subarray(t * V, (t + 1) * V));
          const token = seq[t + 1]!;
          row.push({ token, logProb: lp[token]!, top: topLogProbs(lp, top) });
        }
        out.push(row);
      }
      return out;
    });
  }

  /** Run `fn` after every model call queued before it (scoring shares the model with generation). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Schedule one model call for the waiting jobs (after a short window that lets simultaneous requests meet). */
  #kick(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    void this.#serial(async () => {
      if (this.options.windowMs > 0) await new Promise((r) => setTimeout(r, this.options.windowMs));
      this.#scheduled = false;
      if (this.#queue.length > 0) await this.#runOne();
    }).finally(() => this.#kick());
  }

  /** The next group of compatible jobs, in arrival order, removed from the queue. */
  #takeGroup(): Pending[] {
    const first = this.#queue[0]!;
    const group: Pending[] = [];
    let rows = 0;
    let longest = 0;
    let maxTokens = 0;
    this.#queue = this.#queue.filter((p) => {
      if (p.key !== first.key) return true;
      const r = rows + p.job.n;
      const l = Math.max(longest, p.job.promptIds.length);
      const m = Math.max(maxTokens, p.job.maxTokens);
      if (group.length > 0 && (r > this.options.maxBatch || l + m > this.options.maxContext)) return true;
      group.push(p);
      rows = r;
      longest = l;
      maxTokens = m;
      return false;
    });
    return group;
  }

  async #runOne(): Promise<void> {
    const group = this.#takeGroup();
    const call = this.#calls++;
    const lead = group[0]!.job;
    // each row: (job index in group, choice index)
    const rows = group.flatMap((p, g) => Array.from({ length: p.job.n }, (_, c) => ({ g, c })));
    const logProbs: TokenLogProb[][][] = group.map((p) => Array.from({ length: p.job.n }, () => []));
    const maxTokens = Math.max(...group.map((p) => p.job.maxTokens));
    const seed = lead.temperature > 0 ? (lead.seed ?? deriveSeed(this.options.seed, "serve", call)) : 0;
    this.callSizes.push(rows.length);
    try {
      const seqs = await generate(
        this.model,
        rows.map(({ g }) => group[g]!.job.promptIds),
        {
          maxNewTokens: maxTokens,
          temperature: lead.temperature,
          topP: lead.topP,
          seed,
          eosTokenIds: lead.stopIds,
          tokenizer: this.tokenizer,
          ...(lead.stop.length > 0 ? { stop: lead.stop } : {}),
          onToken: ({ row, step, token, logProb, logits }) => {
            const { g, c } = rows[row]!;
            const job = group[g]!.job;
            if (step >= job.maxTokens) return;
            const t: TokenLogProb = {
              token,
              logProb,
              top: job.top > 0 ? topLogProbs(logSoftmaxRow(logits), job.top) : [],
            };
            logProbs[g]![c]!.push(t);
            job.onToken?.(c, t);
          },
        },
      );
      group.forEach((p, g) => {
        const sequences = rows
          .map((r, i) => ({ r, s: seqs[i]! }))
          .filter(({ r }) => r.g === g)
          .map(({ s }) => this.#cut(s, p.job.maxTokens, p.job.stop));
        p.resolve({ sequences, logProbs: logProbs[g]! });
      });
    } catch (err) {
      for (const p of group) p.reject(err);
    }
  }

  /** A row generated past its job's max_tokens, cut back to it. */
  #cut(s: GeneratedSequence, maxTokens: number, stop: string[]): GeneratedSequence {
    if (s.tokenIds.length <= maxTokens) return s;
    const tokenIds = s.tokenIds.slice(0, maxTokens);
    let text = this.tokenizer.decode(tokenIds, { skipSpecialTokens: true });
    for (const st of stop) {
      const at = text.indexOf(st);
      if (at >= 0) text = text.slice(0, at);
    }
    return { tokenIds, logProbs: s.logProbs.slice(0, maxTokens), text, finishReason: "length" };
  }
}
