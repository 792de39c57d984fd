/**
 * DPO's reference log-probabilities, computed once before training and cached in the run
 * folder (reference_logps.json), as TRL's precompute_ref_log_probs does:
 *
 *   logπ_ref(y|x) = Σ_t M_t log π_ref(x_{t+1} | x_{≤t})      per completion, chosen and rejected
 *
 * The reference is the starting policy: for full fine-tuning its weights before the first
 * update; for LoRA the base with the adapter off (B = 0 at initialisation, so the
 * materialized starting weights ARE the base: no second copy is kept). A resumed run reads the
 * cache, which is keyed by the model folder and the pair count, so it never recomputes them
 * from trained weights.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathExists, writeTextAtomic } from "../engine/files.ts";
import { type Array, jit } from "../engine/jax.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { batchesInOrder, type TokenizedPair } from "./batch.ts";
import { pairArrays, rowLogProbs } from "./dpo-objective.ts";

export const REFERENCE_FILE = "reference_logps.json";

export interface ReferenceCache {
  model: string;
  /** Per set, per pair index: [logπ_ref(chosen), logπ_ref(rejected)]. */
  sets: Record<string, Record<string, [number, number]>>;
}

/** [chosen, rejected] reference sums of every pair, in batches of `size` pairs. Does not consume params. */
export async function referenceLogProbs(
  params: Params,
  config: ModelConfig,
  pairs: readonly TokenizedPair[],
  opts: { size: number; seqLen: number; padMultiple: number; padId: number },
): Promise<Record<string, [number, number]>> {
  const run = jit((p: Params, ids: Array, targets: Array, mask: Array) => rowLogProbs(p, config, ids, targets, mask));
  const out: Record<string, [number, number]> = {};
  try {
    for (const b of batchesInOrder(pairs, opts.size, opts.seqLen, opts.padMultiple, opts.padId)) {
      const a = pairArrays(b, config.vocabSize);
      for (const x of [a.weight, a.lengths, a.refLogProbs]) x.dispose();
      const logps = await readFloat32(run(keepTree(params), a.ids, a.targets, a.mask)); // [2B]
      b.weight.forEach((w, i) => {
        if (w > 0) out[String(b.index[i])] = [logps[i]!, logps[b.pairs + i]!];
      });
    }
  } finally {
    run.dispose();
  }
  return out;
}

/** The cached sums for these sets, or compute and write them (see the header). */
export async function cachedReference(
  runDir: string,
  model: string,
  sets: Record<string, readonly TokenizedPair[]>,
  compute: (pairs: readonly TokenizedPair[]) => Promise<Record<string, [number, number]>>,
  say: (s: string) => void,
): Promise<Record<string, (i: number) => readonly [number, number]>> {
  const path = join(runDir, REFERENCE_FILE);
  let cache: ReferenceCache | null = null;
  if (await pathExists(path)) {
    const c = JSON.parse(await readFile(path, "utf8")) as ReferenceCache;
    const complete = Object.entries(sets).every(([k, pairs]) => pairs.every((p) => c.sets[k]?.[String(p.index)]));
    if (c.model === model && complete) cache = c;
  }
  if (cache) say(`dpo: reference log-probs read from ${path}`);
  else {
    const t0 = performance.now();
    cache = { model, sets: {} };
    for (const [k, pairs] of Object.entries(sets)) cache.sets[k] = await compute(pairs);
    await writeTextAtomic(path, JSON.stringify(cache));
    say(
      `dpo: reference log-probs of ${Object.values(sets).reduce((n, p) => n + p.length, 0)} pairs in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${path}`,
    );
  }
  const c = cache;
  const lookups: Record<string, (i: number) => readonly [number, number]> = {};
  for (const k of Object.keys(sets)) {
    lookups[k] = (i) => {
      const v = c.sets[k]?.[String(i)];
      if (!v) throw new Error(`dpo: no reference log-probs for ${k} pair ${i} in ${path}`);
      return v;
    };
  }
  return lookups;
}
