/**
 * The policy-gradient objective as a loop.ts Objective: fixed-shape micro-batches of
 * completions with their advantages and rollout-time log-probabilities in, Σ loss and its
 * count out (policy-loss.ts's aggregation), with the quantities RL says to watch as aux sums.
 *
 *   ℓ_t   = POLICY_LOSSES[kind](log π_θ, log π_old, Â)_t + β k(log π_θ, log π_ref)_t − c_H H_t
 *   S, N  = AGGREGATE[aggregation](ℓ, M, L_max)
 *
 * aux (raw sums over the micro-batch's completion tokens; the trainer divides by `tokens`):
 * tokens, clipped (clip_ratio), kl (the chosen estimator against the reference), entropy,
 * approx_kl (k3 of KL(π_old ‖ π_θ)), logprob (Σ log π_θ).
 *
 * The KL term is in the loss only when β > 0 and klIn = "loss"; with klIn = "reward" the
 * trainer subtracts β·Σ_t k1 from each completion's reward before the advantage (the PPO-RLHF
 * way, Ouyang et al. 2022 eq. 2) and the loss carries no KL. The kl aux is logged either way
 * whenever a reference is held.
 *
 * PPO (value set, ppo.ts): the forward also returns the final hidden states, the value head
 * (value.ts) reads V_θ(s_t) from them, and the clipped value loss joins the per-token loss
 * before the aggregation, ℓ_t += c_V · ½ max((V_θ − R)², (V_clip − R)²); aux adds value_loss
 * and vf_clipped (masked sums).
 */
import { type Array, np } from "../engine/jax.ts";
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { checkTokenIds, forward } from "../model/model.ts";
import type { Objective } from "../train/loop.ts";
import { KL_DEVICE, type KlEstimator } from "./kl.ts";
import {
  AGGREGATE,
  type Aggregation,
  approxKlOf,
  type ClipConfig,
  entropyOf,
  POLICY_LOSSES,
  type PolicyLossKind,
} from "./policy-loss.ts";
import { temperedLogProbs } from "./rollout.ts";
import { clippedValueLoss, splitValueHead, valuesOf } from "./value.ts";

/** One micro-batch of completions on the host: [B, T] each. */
export interface RlMicroBatch {
  rows: number;
  seqLen: number;
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  /** Â per token (a completion's advantage on each of its tokens). */
  advantages: Float32Array;
  oldLogProbs: Float32Array;
  refLogProbs: Float32Array;
  /** PPO: V_old(s_t) at rollout time and the GAE returns R_t. */
  oldValues?: Float32Array;
  returns?: Float32Array;
}

type RlArrays = {
  ids: Array;
  targets: Array;
  mask: Array;
  advantages: Array;
  oldLogProbs: Array;
  refLogProbs: Array;
  oldValues?: Array;
  returns?: Array;
};

export interface PolicyObjectiveConfig extends ClipConfig {
  kind: PolicyLossKind;
  aggregation: Aggregation;
  /** L_max of seq-mean-token-sum-norm: the generation budget. */
  maxNewTokens: number;
  temperature: number;
  /** β of the KL term in the loss (0: none). */
  beta: number;
  kl: KlEstimator;
  /** c_H of the entropy bonus (0: none). */
  entropyCoef: number;
  /** PPO's value loss: coefficient c_V and clip range ε_v (absent: no value head). */
  value?: { coef: number; clip: number };
}

function need(x: Float32Array | undefined, name: string): Float32Array {
  if (!x) throw new Error(`rl micro-batch: PPO needs ${name} (the value head's rollout-time values and returns)`);
  return x;
}

export function policyObjective(config: ModelConfig, cfg: PolicyObjectiveConfig): Objective<RlMicroBatch, RlArrays> {
  return {
    toDevice(b) {
      const shape = [b.rows, b.seqLen];
      checkTokenIds(b.ids, config.vocabSize, "rl micro-batch ids");
      checkTokenIds(b.targets, config.vocabSize, "rl micro-batch targets");
      const f32 = (x: Float32Array) => np.array(x, { shape, dtype: np.float32 });
      return {
        ids: np.array(b.ids, { shape, dtype: np.int32 }),
        targets: np.array(b.targets, { shape, dtype: np.int32 }),
        mask: f32(b.mask),
        advantages: f32(b.advantages),
        oldLogProbs: f32(b.oldLogProbs),
        refLogProbs: f32(b.refLogProbs),
        ...(cfg.value
          ? { oldValues: f32(need(b.oldValues, "oldValues")), returns: f32(need(b.returns, "returns")) }
          : {}),
      };
    },
    loss(params: Params, b: RlArrays) {
      const { head, rest } = cfg.value ? splitValueHead(params) : { head: null, rest: params };
      const { logits, hidden } = forward(rest, config, b.ids, { hidden: Boolean(head) }); // [B, T, V], [B, T, C]
      const { logProbs, all } = temperedLogProbs(logits, b.targets, cfg.temperature); // [B, T], [B, T, V]
      const entropy = entropyOf(all); // H [B, T]
      const kl = KL_DEVICE[cfg.kl](logProbs.ref, b.refLogProbs); // [B, T]
      const approxKl = approxKlOf(logProbs.ref, b.oldLogProbs.ref); // [B, T]
      const pg = POLICY_LOSSES[cfg.kind](logProbs.ref, b.oldLogProbs, b.advantages, cfg); // ℓ_pg [B, T]
      let perToken = pg.loss;
      if (cfg.beta > 0) perToken = np.add(perToken, np.multiply(kl.ref, cfg.beta));
      if (cfg.entropyCoef > 0) perToken = np.subtract(perToken, np.multiply(entropy.ref, cfg.entropyCoef));
      const masked = (x: Array) => np.sum(np.multiply(x, b.mask.ref));
      const valueAux: Record<string, Array> = {};
      if (head && hidden && cfg.value) {
        const values = valuesOf(head, hidden); // V_θ [B, T]
        const vl = clippedValueLoss(values, b.oldValues!, b.returns!, cfg.value.clip); // ℓ^V [B, T]
        perToken = np.add(perToken, np.multiply(vl.loss.ref, cfg.value.coef));
        valueAux.value_loss = masked(vl.loss);
        valueAux.vf_clipped = masked(vl.clipped);
      }
      const { sum, count } = AGGREGATE[cfg.aggregation](perToken, b.mask.ref, cfg.maxNewTokens);
      const aux = {
        ...valueAux,
        clipped: masked(pg.clipped),
        kl: masked(kl),
        entropy: masked(entropy),
        approx_kl: masked(approxKl),
        logprob: masked(logProbs),
        tokens: np.sum(b.mask),
      };
      return { sum, count, aux };
    },
  };
}
