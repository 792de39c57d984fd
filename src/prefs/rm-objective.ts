/**
 * The reward model's objective for the shared step (train/loop.ts): the Bradley–Terry loss
 * (losses.ts) of the rewards read at the last token (reward-model.ts), summed over real pairs,
 * normalised by the pair count.
 *
 *   S(θ; b) = Σ_i w_i · [−log σ(r_c,i − r_r,i − m_i) + λ_c (r_c,i + r_r,i)²]     count n_b = Σ_i w_i
 *
 * Aux sums (the trainer divides by the count), named as TRL's DPOTrainer logs them, which
 * issue 16 asks for the reward model too: rewards/chosen, rewards/rejected, rewards/margins
 * (r_c − r_r), rewards/accuracies ([r_c > r_r]). Departure: TRL's RewardTrainer itself logs
 * `accuracy` and `margin`; the same quantities under the DPO names.
 */
import { type Array, np } from "../engine/jax.ts";
import type { ModelConfig } from "../model/config.ts";
import { checkTokenIds } from "../model/model.ts";
import type { Objective } from "../train/loop.ts";
import type { PairBatch } from "./batch.ts";
import { bradleyTerryLoss } from "./losses.ts";
import { rewardsAt } from "./reward-model.ts";

export type RewardArrays = { ids: Array; last: Array; weight: Array; margin: Array };

export interface RewardObjectiveOptions {
  /** λ_c, TRL's center_rewards_coefficient (0 = off). */
  centerCoef: number;
}

/** Weighted sums of the logged pair statistics (shared with dpo-objective.ts). */
export function pairAux(rewardsChosen: Array, rewardsRejected: Array, weight: Array): Record<string, Array> {
  const margins = np.subtract(rewardsChosen.ref, rewardsRejected.ref); // [B]
  const wins = np.greater(margins.ref, 0).astype(np.float32); // [r_c > r_r]
  return {
    "rewards/chosen": np.sum(np.multiply(rewardsChosen, weight.ref)),
    "rewards/rejected": np.sum(np.multiply(rewardsRejected, weight.ref)),
    "rewards/margins": np.sum(np.multiply(margins, weight.ref)),
    "rewards/accuracies": np.sum(np.multiply(wins, weight)),
  };
}

export function rewardObjective(config: ModelConfig, opts: RewardObjectiveOptions): Objective<PairBatch, RewardArrays> {
  return {
    toDevice(b) {
      const shape = [2 * b.pairs, b.seqLen];
      checkTokenIds(b.ids, config.vocabSize, "pair batch ids");
      return {
        ids: np.array(b.ids, { shape, dtype: np.int32 }),
        last: np.array(b.last, { shape, dtype: np.float32 }),
        weight: np.array(b.weight, { shape: [b.pairs], dtype: np.float32 }),
        margin: np.array(b.margin, { shape: [b.pairs], dtype: np.float32 }),
      };
    },
    loss(params, b) {
      const B = b.weight.shape[0]!;
      const r = rewardsAt(params, config, b.ids, b.last); // [2B]
      const rc = r.ref.slice([0, B]); // [B]
      const rr = r.slice([B, 2 * B]); // [B]
      const per = bradleyTerryLoss(rc.ref, rr.ref, b.margin, opts.centerCoef); // [B]
      const sum = np.sum(np.multiply(per, b.weight.ref));
      const aux = pairAux(rc, rr, b.weight.ref);
      return { sum, count: np.sum(b.weight), aux };
    },
  };
}
