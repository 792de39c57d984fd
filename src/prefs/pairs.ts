/**
 * Preference pairs from the task generators: for each generated problem, the gold chain
 * (chosen) against a corrupted copy of it (rejected), in the prompt layout SFT and the
 * evaluator use (train/sft-data.ts qaExample: "Q: …\nA: Let's think step by step." then
 * " {chain}\n#### {answer}").
 *
 * Corruption kinds (the ones the task property tests use, test/tasks.test.ts):
 *   number   one number inside one step changed by ±delta
 *   result   the last number of one step (its result) changed by ±delta
 *   drop     one step removed
 *   swap     two steps exchanged
 * A corrupted chain is kept only if the task's own step checker rejects it
 * (checkRecordSteps), so no "rejected" chain is secretly valid. The answer line is the gold
 * one in both completions: the pair differs only in the chain, so a reward model must read
 * the steps, not the final number. `meta.corruption` and `meta.firstInvalid` record what was
 * done (the first invalid step, from the checker).
 */
import type { CoTRecord } from "../data/records.ts";
import { answerLine, checkRecordSteps, splitSteps } from "../data/tasks/index.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { qaExample } from "../train/sft-data.ts";
import type { PreferencePair } from "./data.ts";

export const CORRUPTIONS = ["number", "result", "drop", "swap"] as const;
export type Corruption = (typeof CORRUPTIONS)[number];

const NUMBER = /-?\d+(\.\d+)?/g;

/** Replace the k-th (or the last) number of a step by itself + delta; null if the step has none. */
function shiftNumber(step: string, pick: number, delta: number, last: boolean): string | null {
  const found = [...step.matchAll(NUMBER)];
  if (found.length === 0) return null;
  const m = last ? found[found.length - 1]! : found[pick % found.length]!;
  const value = Number(m[0]) + delta;
  return step.slice(0, m.index) + String(value) + step.slice(m.index! + m[0].length);
}

/** A uniform integer in [0, n). */
const below = (rng: Rng, n: number): number => rng.int(0, n - 1);

const BOOL_SWAP: Record<string, string> = { True: "False", False: "True" };

/** One corruption of `steps` (see the header), or null when it cannot apply. Pure in (steps, kind, rng). */
export function corruptSteps(steps: readonly string[], kind: Corruption, rng: Rng): string[] | null {
  if (steps.length === 0) return null;
  const s = [...steps];
  const i = below(rng, s.length);
  if (kind === "number" || kind === "result") {
    const delta = (below(rng, 2) === 0 ? -1 : 1) * (1 + below(rng, 5));
    let next = shiftNumber(s[i]!, below(rng, 8), delta, kind === "result");
    if (next === null) {
      // Logic chains have truth values where others have numbers.
      const words = [...s[i]!.matchAll(/\b(True|False)\b/g)];
      if (words.length === 0) return null;
      const w = kind === "result" ? words[words.length - 1]! : words[below(rng, words.length)]!;
      next = s[i]!.slice(0, w.index) + BOOL_SWAP[w[0]]! + s[i]!.slice(w.index! + w[0].length);
    }
    s[i] = next;
    return s;
  }
  if (kind === "drop") {
    if (s.length < 2) return null;
    s.splice(i, 1);
    return s;
  }
  if (s.length < 2) return null;
  const j = (i + 1 + below(rng, s.length - 1)) % s.length;
  if (s[i] === s[j]) return null;
  [s[i], s[j]] = [s[j]!, s[i]!];
  return s;
}

export interface GeneratorPairOptions {
  /** Corruption kinds to draw from, round-robin over the records. */
  kinds: readonly Corruption[];
  seed: number;
  /** Tries per record before it is skipped (some chains admit no checked corruption). */
  tries?: number;
}

/**
 * One pair per record where some corruption of its gold chain is rejected by the checker:
 * prompt and chosen from qaExample, rejected = the corrupted chain + the gold answer line.
 */
export function generatorPairs(records: readonly CoTRecord[], opts: GeneratorPairOptions): PreferencePair[] {
  if (opts.kinds.length === 0)
    throw new Error("generatorPairs: kinds is empty; give at least one of " + CORRUPTIONS.join(", "));
  const out: PreferencePair[] = [];
  records.forEach((record, n) => {
    const gold = splitSteps(record.chain_of_thought);
    const rng = new Rng(deriveSeed(opts.seed, "pairs", n));
    const { prompt, target } = qaExample(record, false);
    for (let t = 0; t < (opts.tries ?? 8); t++) {
      const kind = opts.kinds[(n + t) % opts.kinds.length]!;
      const bad = corruptSteps(gold, kind, rng);
      if (!bad) continue;
      const verdict = checkRecordSteps(record, bad);
      if (!verdict || verdict.valid) continue;
      out.push({
        prompt,
        chosen: target,
        rejected: ` ${bad.join("\n")}\n${answerLine(record.answer)}`,
        meta: {
          ...(record.meta?.task === undefined ? {} : { task: record.meta.task }),
          ...(record.meta?.id === undefined ? {} : { id: record.meta.id }),
          ...(typeof record.meta?.canonical === "string" ? { canonical: record.meta.canonical } : {}),
          corruption: kind,
          firstInvalid: verdict.firstInvalid ?? null,
        },
      });
      return;
    }
  });
  return out;
}
