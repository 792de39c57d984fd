/**
 * Wording pools: several surface forms of the same question, and a held-out split by wording.
 *
 * Each generator names its problem kinds (algebra: one equation kind; units: "down" and "up";
 * logic: "ordering" and "boolean"; …) and, per kind, a pool of question templates with
 * `{slot}` placeholders that its `slots(structured)` fills. Template 0 of every kind is the
 * generator's own wording: `generate` writes exactly `fill(pool[kind][0], slots(s))`, so a
 * dataset drawn without a pool is byte-identical to one drawn before pools existed.
 *
 * Split rule (the problem split's twin, by wording instead of by problem): within a task,
 * every template that is the default of some kind is a training wording; of the others, the
 * round(fraction · n) of each kind's pool of n (at least one) with the lowest
 * hash(task + template text) are held out. The rule reads only the template text, so
 * a template shared by several kinds is held out for all of them or for none, and it never
 * depends on the seed or on which problems were drawn.
 */
import { hashString } from "../../engine/rng.ts";

/** Per kind, the question templates; index 0 is the generator's default wording. */
export type WordingPools = Readonly<Record<string, readonly string[]>>;

/** How a generator exposes its wordings. `S` is its structured form. */
export interface Wordings<S> {
  pools: WordingPools;
  /** The problem kind of a structured problem (a key of `pools`). */
  kindOf(structured: S): string;
  /** The values of the templates' `{slot}`s for a structured problem. */
  slots(structured: S): Record<string, string>;
}

export type WordingSplit = "train" | "heldout";
/** Which wordings a dataset uses: the generator's one wording, or a split of the pool. */
export const WORDING_CHOICES = ["default", "train", "heldout"] as const;
export type WordingChoice = (typeof WORDING_CHOICES)[number];

/** Default share of each kind's pool held out. */
export const DEFAULT_WORDING_HELDOUT = 0.25;

/** Where a problem's question came from: its kind, template index and that template's split. */
export interface WordingTag {
  kind: string;
  index: number;
  split: WordingSplit;
}

/** Fill `{slot}`s; an unknown slot is an error naming the template. */
export function fill(template: string, slots: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = slots[k];
    if (v === undefined) throw new Error(`wordings: template "${template}" uses {${k}}, which the task does not fill`);
    return v;
  });
}

/** The held-out template indices of one kind's pool (see the header). */
export function heldOutIndices(task: string, pools: WordingPools, kind: string, fraction: number): Set<number> {
  if (!(fraction > 0 && fraction < 1))
    throw new Error(`wordings: held-out fraction must be in (0, 1), got ${fraction}`);
  const pool = pools[kind];
  if (!pool)
    throw new Error(`wordings: ${task} has no problem kind "${kind}"; kinds: ${Object.keys(pools).join(", ")}`);
  const defaults = new Set(Object.values(pools).map((p) => p[0]));
  const k = Math.max(1, Math.round(fraction * pool.length));
  const ranked = pool
    .map((t, i) => ({ i, t, h: hashString(`${task}\u0000${t}`) }))
    .filter((e) => !defaults.has(e.t))
    .sort((a, b) => a.h - b.h || a.i - b.i);
  return new Set(ranked.slice(0, k).map((e) => e.i));
}

/** The split of template `index` of `kind`. */
export function wordingSplitOf(
  task: string,
  pools: WordingPools,
  kind: string,
  index: number,
  fraction = DEFAULT_WORDING_HELDOUT,
): WordingSplit {
  return heldOutIndices(task, pools, kind, fraction).has(index) ? "heldout" : "train";
}

/** The template indices of `kind` in one split, ascending. */
export function wordingIndices(
  task: string,
  pools: WordingPools,
  kind: string,
  split: WordingSplit,
  fraction = DEFAULT_WORDING_HELDOUT,
): number[] {
  const held = heldOutIndices(task, pools, kind, fraction);
  return pools[kind]!.map((_, i) => i).filter((i) => held.has(i) === (split === "heldout"));
}
