/**
 * Rollouts from E environments in lock step (CleanRL's SyncVectorEnv with auto-reset), for
 * the MLP learners (a2c.ts, ppo.ts), and the advantages of every env's column of a rollout.
 *
 * Truncated episodes are bootstrapped from V of their final observation, not of the reset
 * state that replaces it.
 */
import type { Params } from "../engine/params.ts";
import { Rng } from "../engine/rng.ts";
import { ADVANTAGE_ESTIMATORS, type AdvantageKind, type Advantages } from "../rl/advantages.ts";
import type { Env } from "./env.ts";
import { sampleCategorical } from "./episodes.ts";

/** An environment with a vector observation (cart-pole). */
export interface VectorObsEnv extends Env<Float64Array> {
  readonly observationSize: number;
}

/** Host-facing forward pass: observations [B·obsSize] → log π [B·A] and V [B]. */
export type PolicyForward = (
  params: Params,
  obs: Float32Array,
  batchSize: number,
) => Promise<{ logProbs: Float32Array; values: Float32Array }>;

/** T steps × E envs, time-major: index t * E + e. */
export interface RolloutBatch {
  numSteps: number;
  numEnvs: number;
  obsSize: number;
  /** s_t. [T·E, obsSize] */
  obs: Float32Array;
  /** a_t. [T·E] */
  actions: Int32Array;
  /** log π_old(a_t | s_t) at collection time. [T·E] */
  logProbs: Float64Array;
  /** V_old(s_t). [T·E] */
  values: Float64Array;
  rewards: Float64Array;
  /** V_old(s'_t), the state reached (the final observation if the episode ended there). [T·E] */
  nextValues: Float64Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  /** Undiscounted returns and lengths of the episodes that finished during this rollout. */
  episodeReturns: number[];
  episodeLengths: number[];
}

/**
 * Steps E copies of an environment in lock step, resetting each when its episode ends,
 * and keeps the episodes going across calls to `collect` (as CleanRL does).
 * Actions are sampled on the host from the log-probabilities read back each step.
 */
export class VecRunner {
  readonly envs: VectorObsEnv[];
  readonly obsSize: number;
  readonly rng: Rng;
  #obs: Float64Array[];
  #epReturn: number[];
  #epLength: number[];

  constructor(makeEnv: () => VectorObsEnv, numEnvs: number, seed: number) {
    if (!(Number.isInteger(numEnvs) && numEnvs >= 1))
      throw new RangeError(`VecRunner: numEnvs must be >= 1, got ${numEnvs}`);
    this.envs = Array.from({ length: numEnvs }, makeEnv);
    this.obsSize = this.envs[0]!.observationSize;
    this.rng = new Rng(seed);
    this.#obs = this.envs.map((env) => env.reset(this.rng));
    this.#epReturn = this.envs.map(() => 0);
    this.#epLength = this.envs.map(() => 0);
  }

  /** Collect `numSteps` steps from every env with the policy/critic `params`. */
  async collect(params: Params, numSteps: number, forward: PolicyForward): Promise<RolloutBatch> {
    const E = this.envs.length;
    const D = this.obsSize;
    const N = numSteps * E;
    const batch: RolloutBatch = {
      numSteps,
      numEnvs: E,
      obsSize: D,
      obs: new Float32Array(N * D),
      actions: new Int32Array(N),
      logProbs: new Float64Array(N),
      values: new Float64Array(N),
      rewards: new Float64Array(N),
      nextValues: new Float64Array(N),
      terminated: new Uint8Array(N),
      truncated: new Uint8Array(N),
      episodeReturns: [],
      episodeLengths: [],
    };
    const finals: { index: number; obs: Float64Array }[] = []; // truncated steps: V(final obs) needed
    for (let t = 0; t < numSteps; t++) {
      for (let e = 0; e < E; e++) batch.obs.set(this.#obs[e]!, (t * E + e) * D);
      const { logProbs, values } = await forward(params, batch.obs.slice(t * E * D, (t + 1) * E * D), E);
      const A = logProbs.length / E;
      for (let e = 0; e < E; e++) {
        const i = t * E + e;
        const row = Array.from({ length: A }, (_, a) => Math.exp(logProbs[e * A + a]!));
        const a = sampleCategorical(row, this.rng);
        const out = this.envs[e]!.step(a, this.rng);
        batch.actions[i] = a;
        batch.logProbs[i] = logProbs[e * A + a]!;
        batch.values[i] = values[e]!;
        batch.rewards[i] = out.reward;
        batch.terminated[i] = out.terminated ? 1 : 0;
        batch.truncated[i] = out.truncated && !out.terminated ? 1 : 0;
        this.#epReturn[e]! += out.reward;
        this.#epLength[e]! += 1;
        if (out.terminated || out.truncated) {
          if (batch.truncated[i]) finals.push({ index: i, obs: out.state });
          batch.episodeReturns.push(this.#epReturn[e]!);
          batch.episodeLengths.push(this.#epLength[e]!);
          this.#epReturn[e] = 0;
          this.#epLength[e] = 0;
          this.#obs[e] = this.envs[e]!.reset(this.rng);
        } else {
          this.#obs[e] = out.state;
        }
      }
    }
    // V(s'_t): the next step's V(s_{t+1}) within an episode; one more forward pass for the
    // observations after the last step and for the final observations of truncated episodes.
    const tail = [...this.#obs, ...finals.map((f) => f.obs)];
    const tailObs = new Float32Array(tail.length * D);
    for (const [j, o] of tail.entries()) tailObs.set(o, j * D);
    const { values: tailValues } = await forward(params, tailObs, tail.length);
    for (let t = 0; t < numSteps; t++) {
      for (let e = 0; e < E; e++) {
        const i = t * E + e;
        batch.nextValues[i] = t + 1 < numSteps ? batch.values[i + E]! : tailValues[e]!;
      }
    }
    finals.forEach((f, j) => {
      batch.nextValues[f.index] = tailValues[E + j]!;
    });
    // (terminated steps: nextValues holds the reset state's value, which the estimators ignore.)
    return batch;
  }
}

/** Advantages for every env's column of a rollout batch, laid out like the batch. [T·E] */
export function batchAdvantages(
  batch: RolloutBatch,
  kind: AdvantageKind,
  cfg: { gamma: number; lam: number },
): Advantages {
  const { numSteps: T, numEnvs: E } = batch;
  const advantages = new Float64Array(T * E);
  const returns = new Float64Array(T * E);
  const column = <A extends Float64Array | Uint8Array>(x: A, e: number) =>
    Array.from({ length: T }, (_, t) => x[t * E + e]!);
  for (let e = 0; e < E; e++) {
    const out = ADVANTAGE_ESTIMATORS[kind](
      {
        rewards: column(batch.rewards, e),
        values: column(batch.values, e),
        nextValues: column(batch.nextValues, e),
        terminated: column(batch.terminated, e),
        truncated: column(batch.truncated, e),
      },
      cfg,
    );
    for (let t = 0; t < T; t++) {
      advantages[t * E + e] = out.advantages[t]!;
      returns[t * E + e] = out.returns[t]!;
    }
  }
  return { advantages, returns };
}
