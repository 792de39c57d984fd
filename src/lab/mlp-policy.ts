/**
 * An MLP actor and critic in jax-js (CleanRL's ppo.py network for CartPole), shared by the
 * A2C trainer (a2c.ts) and PPO (ppo.ts):
 *
 *   actor:  obs → 64 → tanh → 64 → tanh → logits [A]
 *   critic: obs → 64 → tanh → 64 → tanh → V(s)
 *
 * Orthogonal initialisation (Saxe et al. 2014) with gain √2 for hidden layers, 0.01 for
 * the policy head (near-uniform π at the start) and 1 for the value head; zero biases.
 * Also: the jit-compiled host-facing forward pass the rollouts use, and the evaluation of
 * a trained policy by full episodes.
 */
import { type Array as JaxArray, jit, np } from "../engine/jax.ts";
import { logSoftmax } from "../engine/losses.ts";
import { keepTree, readFloat32 } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { Rng } from "../engine/rng.ts";
import { mean, sampleCategorical } from "./episodes.ts";
import type { PolicyForward, VectorObsEnv } from "./vec-rollout.ts";

export interface MlpConfig {
  obsSize: number;
  numActions: number;
  hidden: number;
}

/** A [rows, cols] matrix with orthonormal rows or columns, times `gain`, from the host Rng. */
export function orthogonalInit(rows: number, cols: number, gain: number, rng: Rng): Float32Array {
  const tall = rows >= cols;
  const [n, k] = tall ? [rows, cols] : [cols, rows]; // orthonormalise k columns of length n
  const q = Array.from({ length: k }, () => Float64Array.from({ length: n }, () => rng.normal()));
  for (let j = 0; j < k; j++) {
    // modified Gram–Schmidt: the sign convention of QR with a positive diagonal of R
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += q[i]![r]! * q[j]![r]!;
      for (let r = 0; r < n; r++) q[j]![r]! -= dot * q[i]![r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += q[j]![r]! ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < n; r++) q[j]![r]! /= norm;
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? q[c]![r]! : q[r]![c]!);
  }
  return out;
}

/** Parameters named "actor.fc1.weight" … "critic.fc3.bias"; weights are [in, out]. */
export function initMlpActorCritic(cfg: MlpConfig, seed: number): Params {
  const rng = new Rng(seed);
  const params: Params = {};
  const dense = (name: string, nIn: number, nOut: number, gain: number) => {
    params[`${name}.weight`] = np.array(orthogonalInit(nIn, nOut, gain, rng), { shape: [nIn, nOut] });
    params[`${name}.bias`] = np.zeros([nOut], { dtype: np.float32 });
  };
  const { obsSize, numActions, hidden } = cfg;
  for (const [net, outSize, headGain] of [
    ["actor", numActions, 0.01],
    ["critic", 1, 1.0],
  ] as const) {
    dense(`${net}.fc1`, obsSize, hidden, Math.SQRT2);
    dense(`${net}.fc2`, hidden, hidden, Math.SQRT2);
    dense(`${net}.fc3`, hidden, outSize, headGain);
  }
  return params;
}

function mlp(params: Params, net: "actor" | "critic", obs: JaxArray): JaxArray {
  const layer = (x: JaxArray, i: number) =>
    np.add(np.matmul(x, params[`${net}.fc${i}.weight`]!), params[`${net}.fc${i}.bias`]!);
  const h1 = np.tanh(layer(obs, 1)); // [B, H]
  const h2 = np.tanh(layer(h1, 2)); // [B, H]
  return layer(h2, 3); // [B, out]
}

/**
 * log π(·|s) and V(s) for a batch of observations [B, obsSize] → { logProbs [B, A], values [B] }.
 * Consumes `params` and `obs` (pass `keepTree(params)` to keep them).
 */
export function actorCriticForward(params: Params, obs: JaxArray): { logProbs: JaxArray; values: JaxArray } {
  const logits = mlp(params, "actor", obs.ref); // [B, A]
  const values = mlp(params, "critic", obs); // [B, 1]
  return { logProbs: logSoftmax(logits), values: np.squeeze(values, -1) };
}

/**
 * Per-sample log π(a|s) and entropy H(π(·|s)) from log-probabilities [B, A] and a
 * one-hot of the actions [B, A] (the one-hot pick works under jit; takeAlongAxis's
 * gradient does not). Returns { logProb [B], entropy [B] }. Consumes both.
 */
export function pickLogProb(logProbs: JaxArray, actionsOneHot: JaxArray): { logProb: JaxArray; entropy: JaxArray } {
  const entropy = np.negative(np.sum(np.multiply(np.exp(logProbs.ref), logProbs.ref), -1)); // H = −Σ_a π log π  [B]
  const logProb = np.sum(np.multiply(logProbs, actionsOneHot), -1); // [B]
  return { logProb, entropy };
}

/** A jit-compiled `actorCriticForward` behind the host-facing `PolicyForward` signature. */
export function makePolicyForward(): { forward: PolicyForward; dispose: () => void } {
  const f = jit((params: Params, obs: JaxArray) => actorCriticForward(params, obs));
  const forward: PolicyForward = async (params, obs, batchSize) => {
    const out = f(keepTree(params), np.array(obs, { shape: [batchSize, obs.length / batchSize] }));
    const [logProbs, values] = await Promise.all([readFloat32(out.logProbs), readFloat32(out.values)]);
    return { logProbs, values };
  };
  return { forward, dispose: () => f.dispose() };
}

/** One-hot rows [B, A] built on the host (float32). */
export function oneHotHost(actions: Int32Array, numActions: number): JaxArray {
  const out = new Float32Array(actions.length * numActions);
  actions.forEach((a, i) => {
    out[i * numActions + a] = 1;
  });
  return np.array(out, { shape: [actions.length, numActions] });
}

/**
 * Mean undiscounted return and length of `episodes` full episodes of the MLP policy,
 * sampling actions (or taking the argmax when `greedy`). Borrows `params`.
 */
export async function evaluateMlpPolicy(
  params: Params,
  makeEnv: () => VectorObsEnv,
  opts: { episodes: number; seed: number; greedy?: boolean; maxSteps?: number },
): Promise<{ meanReturn: number; meanLength: number; lengths: number[] }> {
  const env = makeEnv();
  const rng = new Rng(opts.seed);
  const policy = makePolicyForward();
  const returns: number[] = [];
  const lengths: number[] = [];
  try {
    for (let ep = 0; ep < opts.episodes; ep++) {
      let s = env.reset(rng);
      let total = 0;
      for (let t = 1; ; t++) {
        const { logProbs } = await policy.forward(params, Float32Array.from(s), 1);
        const a = opts.greedy ? argmax(logProbs) : sampleCategorical(Array.from(logProbs, Math.exp), rng);
        const out = env.step(a, rng);
        total += out.reward;
        s = out.state;
        if (out.terminated || out.truncated || t >= (opts.maxSteps ?? Number.POSITIVE_INFINITY)) {
          returns.push(total);
          lengths.push(t);
          break;
        }
      }
    }
  } finally {
    policy.dispose();
  }
  return { meanReturn: mean(returns), meanLength: mean(lengths), lengths };
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}
