/**
 * Reward models as verifiers: one scalar per (prompt, completion) from an outcome reward model
 * (ORM, reward-model.ts) or a process reward model (PRM, per-step scores), or from an ensemble
 * of several. `stepwise rl` reward specs (`rm:DIR`, `prm:DIR`, rl/rewards.ts) and `stepwise eval
 * --select` (eval/select.ts) both go through `verifierScores`.
 *
 * Spec (after the `rm:` / `prm:` prefix):   DIR[+DIR…][@OPTION…]
 *   DIR+DIR          an ensemble: every folder scores every item, the scores are aggregated
 *   @steps=min|prod|last  PRM only: how per-step scores p_1..p_S become one score (default min)
 *                      min   min_s p_s               (the weakest step; Wang et al. 2024, Math-Shepherd)
 *                      prod  ∏_s p_s                 (Lightman et al. 2023: P(every step is correct))
 *                      last  p_S                     (Cobbe et al. 2021: the verifier's prediction at the
 *                                                    end of the solution, for one trained with outcome
 *                                                    labels at every step: data preferences --step-labels outcome)
 *   @ensemble=mean|min|mean-Kstd
 *                    how the M member scores r_1..r_M of an item become one (default mean)
 *                      mean       (1/M) Σ_m r_m
 *                      min        min_m r_m
 *                      mean-Kstd  mean − K·std, std = sqrt((1/M) Σ_m (r_m − mean)²) (ddof 0):
 *                                 an uncertainty-penalised score (Coste et al. 2024, "Reward model
 *                                 ensembles help mitigate overoptimization", UWO); e.g. mean-0.5std
 *   Short forms: on `prm:` a bare `@min` / `@prod` / `@last` is steps=; on `rm:` a bare `@mean`, `@min`,
 *   `@mean-1std` is ensemble=. On `prm:` write `@ensemble=min` to mean the ensemble's min.
 * DIR may not contain "," "+" or "@" (they separate terms, members and options).
 *
 * `null` is "does not apply": a PRM chain with no steps gets null (no step to judge), and an
 * ensemble member's null leaves that member out of the item's aggregate; null when all are.
 *
 * Scorers load once per (kind, folder) and are cached (`ScorerCache`); `releaseVerifiers()`
 * frees the default cache's weights and compiled functions.
 *
 * The process scorer (process-model.ts): `processScorer(dir).scoreSteps(prompts, completions)
 * → number[][]`, one probability p_k ∈ [0, 1] per step that the step is valid. The loaders are
 * injectable (tests pass stand-ins). A folder's kind (config.json stepwise_reward.kind) must
 * match the prefix: `rm:` on a process model, or `prm:` on an outcome model, is an error.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type ProcessScorer as FullProcessScorer, processScorer } from "./process-model.ts";
import { type RewardScorer, rewardKindOf, rewardScorer } from "./reward-model.ts";

export const VERIFIER_KINDS = ["rm", "prm"] as const;
export type VerifierKind = (typeof VERIFIER_KINDS)[number];

export const STEP_AGGREGATIONS = ["min", "prod", "last"] as const;
export type StepAggregation = (typeof STEP_AGGREGATIONS)[number];

export type EnsembleAggregation = { kind: "mean" } | { kind: "min" } | { kind: "mean-std"; k: number };

export interface VerifierSpec {
  kind: VerifierKind;
  /** One folder, or an ensemble's members. */
  dirs: string[];
  /** PRM only (default min). */
  steps: StepAggregation;
  ensemble: EnsembleAggregation;
}

export class VerifierError extends Error {
  override name = "VerifierError";
}

/** What a verifier needs of the process reward model's scorer (see the header). */
export type ProcessScorer = Pick<FullProcessScorer, "scoreSteps" | "dispose">;

export interface ScorerLoaders {
  rm(dir: string): Promise<RewardScorer>;
  prm(dir: string): Promise<ProcessScorer>;
}

/** The kind a reward-model folder declares: "rm" (outcome) or "prm" (process); errors name the file. */
export async function folderKind(dir: string): Promise<VerifierKind> {
  const path = join(dir, "config.json");
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new VerifierError(`${dir}: cannot read ${path} as a reward-model config (${(err as Error).message})`);
  }
  return rewardKindOf(cfg) === "process" ? "prm" : "rm";
}

export const DEFAULT_LOADERS: ScorerLoaders = {
  async rm(dir) {
    if ((await folderKind(dir)) === "prm") {
      throw new VerifierError(`rm:${dir} is a process reward model (stepwise_reward.kind "process"); write prm:${dir}`);
    }
    return rewardScorer(dir);
  },
  prm: (dir) => processScorer(dir),
};

const ENSEMBLE_TEXT = /^mean-(\d+(?:\.\d+)?|\.\d+)std$/;

function parseEnsemble(text: string, where: string): EnsembleAggregation {
  if (text === "mean" || text === "min") return { kind: text };
  const m = ENSEMBLE_TEXT.exec(text);
  if (m) return { kind: "mean-std", k: Number(m[1]) };
  throw new VerifierError(
    `${where}: ensemble aggregation "${text}"; expected mean, min or mean-Kstd (e.g. mean-0.5std)`,
  );
}

/** The text of an ensemble aggregation, as the spec writes it. */
export function ensembleText(e: EnsembleAggregation): string {
  return e.kind === "mean-std" ? `mean-${e.k}std` : e.kind;
}

/** "runs/a+runs/b@mean-1std" after the "rm:" / "prm:" prefix → a spec; errors name `where` and the text. */
export function parseVerifier(kind: VerifierKind, body: string, where: string): VerifierSpec {
  const [dirText = "", ...options] = body.split("@").map((s) => s.trim());
  const full = `${kind}:${body}`;
  if (dirText === "") throw new VerifierError(`${where}: "${full}" names no folder; expected ${kind}:DIR`);
  const dirs = dirText.split("+").map((d) => d.trim());
  if (dirs.some((d) => d === "")) {
    throw new VerifierError(`${where}: "${full}" has an empty ensemble member; expected ${kind}:DIR1+DIR2`);
  }
  if (new Set(dirs).size !== dirs.length) throw new VerifierError(`${where}: "${full}" names a folder twice`);
  const spec: VerifierSpec = { kind, dirs, steps: "min", ensemble: { kind: "mean" } };
  const seen = new Set<string>();
  for (const opt of options) {
    const eq = opt.indexOf("=");
    let key = eq >= 0 ? opt.slice(0, eq).trim() : "";
    const value = eq >= 0 ? opt.slice(eq + 1).trim() : opt;
    if (key === "")
      key = kind === "prm" && (STEP_AGGREGATIONS as readonly string[]).includes(value) ? "steps" : "ensemble";
    if (seen.has(key)) throw new VerifierError(`${where}: "${full}" sets ${key} twice`);
    seen.add(key);
    if (key === "steps") {
      if (kind !== "prm") {
        throw new VerifierError(
          `${where}: "${full}": @steps= is for process reward models (prm:DIR@steps=min|prod|last)`,
        );
      }
      if (!(STEP_AGGREGATIONS as readonly string[]).includes(value)) {
        throw new VerifierError(
          `${where}: "${full}": step aggregation "${value}"; expected ${STEP_AGGREGATIONS.join(", ")}`,
        );
      }
      spec.steps = value as StepAggregation;
    } else if (key === "ensemble") {
      spec.ensemble = parseEnsemble(value, `${where}: "${full}"`);
    } else {
      throw new VerifierError(`${where}: "${full}": unknown option "${key}"; expected steps= (prm) or ensemble=`);
    }
  }
  return spec;
}

/** The spec written back in its canonical form (used as the reward's log name). */
export function verifierText(s: VerifierSpec): string {
  const opts = [
    ...(s.kind === "prm" ? [`steps=${s.steps}`] : []),
    ...(s.dirs.length > 1 ? [`ensemble=${ensembleText(s.ensemble)}`] : []),
  ];
  return `${s.kind}:${s.dirs.join("+")}${opts.map((o) => `@${o}`).join("")}`;
}

/** One score from a chain's per-step scores p_1..p_S (see the header); null for a chain without steps. */
export function aggregateSteps(stepScores: readonly number[], how: StepAggregation): number | null {
  if (stepScores.length === 0) return null;
  if (how === "min") return Math.min(...stepScores);
  if (how === "last") return stepScores[stepScores.length - 1]!;
  return stepScores.reduce((p, x) => p * x, 1); // ∏_s p_s
}

/** One score from M member scores (see the header); nulls are left out, null when all are. */
export function aggregateEnsemble(scores: readonly (number | null)[], how: EnsembleAggregation): number | null {
  const xs = scores.filter((x): x is number => x !== null);
  if (xs.length === 0) return null;
  if (how.kind === "min") return Math.min(...xs);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (how.kind === "mean") return mean;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length); // ddof 0
  return mean - how.k * std;
}

/** Loaded scorers by (kind, folder); each folder loads once. */
export class ScorerCache {
  readonly #loaders: ScorerLoaders;
  readonly #rm = new Map<string, Promise<RewardScorer>>();
  readonly #prm = new Map<string, Promise<ProcessScorer>>();

  constructor(loaders: ScorerLoaders = DEFAULT_LOADERS) {
    this.#loaders = loaders;
  }

  outcome(dir: string): Promise<RewardScorer> {
    let s = this.#rm.get(dir);
    if (!s) {
      s = this.#loaders.rm(dir);
      this.#rm.set(dir, s);
      s.catch(() => this.#rm.delete(dir)); // a failed load is retried next time, not cached
    }
    return s;
  }

  process(dir: string): Promise<ProcessScorer> {
    let s = this.#prm.get(dir);
    if (!s) {
      s = this.#loaders.prm(dir);
      this.#prm.set(dir, s);
      s.catch(() => this.#prm.delete(dir));
    }
    return s;
  }

  /** Folders loaded so far, as "rm:DIR" / "prm:DIR". */
  loaded(): string[] {
    return [...[...this.#rm.keys()].map((d) => `rm:${d}`), ...[...this.#prm.keys()].map((d) => `prm:${d}`)];
  }

  async dispose(): Promise<void> {
    const all = [...this.#rm.values(), ...this.#prm.values()];
    this.#rm.clear();
    this.#prm.clear();
    for (const s of await Promise.allSettled(all)) if (s.status === "fulfilled") s.value.dispose();
  }
}

/** The cache `stepwise rl` and `stepwise eval` share within one process. */
export const DEFAULT_SCORERS = new ScorerCache();

/** Free the default cache's reward models. */
export function releaseVerifiers(): Promise<void> {
  return DEFAULT_SCORERS.dispose();
}

/** One member's score per item: the ORM's reward, or the PRM's steps aggregated. */
async function memberScores(
  spec: VerifierSpec,
  dir: string,
  prompts: readonly string[],
  completions: readonly string[],
  cache: ScorerCache,
): Promise<(number | null)[]> {
  if (spec.kind === "rm") return (await cache.outcome(dir)).score(prompts, completions);
  const steps = await (await cache.process(dir)).scoreSteps(prompts, completions);
  if (steps.length !== prompts.length) {
    throw new VerifierError(`prm:${dir}: scoreSteps returned ${steps.length} rows for ${prompts.length} completions`);
  }
  return steps.map((s) => aggregateSteps(s, spec.steps));
}

/** The verifier's score of every (prompt, completion): members scored, then aggregated (see the header). */
export async function verifierScores(
  spec: VerifierSpec,
  prompts: readonly string[],
  completions: readonly string[],
  cache: ScorerCache = DEFAULT_SCORERS,
): Promise<(number | null)[]> {
  if (prompts.length !== completions.length) {
    throw new VerifierError(`verifierScores: ${prompts.length} prompts but ${completions.length} completions`);
  }
  if (prompts.length === 0) return [];
  const members: (number | null)[][] = [];
  for (const dir of spec.dirs) members.push(await memberScores(spec, dir, prompts, completions, cache));
  if (members.length === 1) return members[0]!;
  return prompts.map((_, i) =>
    aggregateEnsemble(
      members.map((m) => m[i]!),
      spec.ensemble,
    ),
  );
}
