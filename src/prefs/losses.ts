/**
 * The preference losses, as pure functions of per-pair quantities (jax-js arrays, [B] each):
 * the Bradley–Terry loss of a reward model, and DPO with the variants TRL's DPOTrainer offers
 * as `loss_type`, in a typed registry.
 *
 * Bradley–Terry (Ouyang et al. 2022, eq. 1; TRL RewardTrainer):
 *
 *   ℓ_BT = −log σ(r_c − r_r − m) + λ_c · (r_c + r_r)²
 *
 * with an optional per-pair margin m (TRL's `margin` column) and TRL's centering regulariser
 * λ_c (`center_rewards_coefficient`, Eisenstein et al. 2023), which pins the mean reward near 0.
 *
 * DPO (Rafailov et al. 2023, eq. 7), with the implicit rewards of the policy π against the
 * reference π_ref (sequence log-probabilities of the completion given the prompt):
 *
 *   h  = (log π(y_c|x) − log π(y_r|x)) − (log π_ref(y_c|x) − log π_ref(y_r|x))   TRL's `logits`
 *   sigmoid  ℓ = −(1−ε) log σ(βh) − ε log σ(−βh)                  (cDPO label smoothing ε)
 *   robust   ℓ = (−(1−ε) log σ(βh) + ε log σ(−βh)) / (1 − 2ε)     (Chowdhury et al. 2024)
 *   hinge    ℓ = max(0, 1 − βh)                                   (SLiC / RSO, Liu et al. 2023)
 *   ipo      ℓ = (h − 1/(2β))²                                    (Azar et al. 2023, eq. 17)
 *   rewards  r_c = β (log π(y_c|x) − log π_ref(y_c|x)),  r_r likewise   (logged, not trained)
 *
 * IPO, as in TRL, reads LENGTH-AVERAGED log-probabilities (Σ_t log p / |y|); the other kinds
 * read sums. The registry says which (`averageLogProbs`).
 *
 * Departures from TRL: every loss here returns PER-PAIR values and the trainer sums them with
 * a pair weight (0 for padding rows) and divides by the pair count of the whole accumulated
 * batch (train/loop.ts), where TRL takes a mean per device batch. With equal micro-batches the
 * two agree. The RPO term (TRL's `rpo_alpha`) is added by the objective (dpo-objective.ts).
 *
 * Ownership: every function consumes its array arguments (jax-js convention); pass `.ref` to keep.
 */
import { type Array, nn, np } from "../engine/jax.ts";

/** Per-pair Bradley–Terry loss −log σ(r_c − r_r − m) + λ_c (r_c + r_r)²: [B] each → [B]. */
export function bradleyTerryLoss(
  rewardsChosen: Array,
  rewardsRejected: Array,
  margin: Array,
  centerCoef: number,
): Array {
  const diff = np.subtract(np.subtract(rewardsChosen.ref, rewardsRejected.ref), margin); // r_c − r_r − m, [B]
  const nll = np.negative(nn.logSigmoid(diff)); // [B]
  if (centerCoef === 0) {
    rewardsChosen.dispose();
    rewardsRejected.dispose();
    return nll;
  }
  const center = np.multiply(np.square(np.add(rewardsChosen, rewardsRejected)), centerCoef); // λ_c (r_c + r_r)²
  return np.add(nll, center);
}

export const DPO_LOSS_KINDS = ["sigmoid", "robust", "hinge", "ipo"] as const;
export type DpoLossKind = (typeof DPO_LOSS_KINDS)[number];

export interface DpoLossOptions {
  /** β: the strength of the implicit KL constraint to the reference. */
  beta: number;
  /** ε: the probability that a preference label is flipped (sigmoid and robust only). */
  labelSmoothing: number;
}

export interface DpoLossSpec {
  /** h [B] → per-pair loss [B] (see the header). Consumes h. */
  loss(h: Array, o: DpoLossOptions): Array;
  /** Whether h is built from length-averaged log-probabilities (TRL: IPO only). */
  averageLogProbs: boolean;
  /** Whether ε is read (the config refuses ε > 0 for the others). */
  usesLabelSmoothing: boolean;
}

export const DPO_LOSSES: { [K in DpoLossKind]: DpoLossSpec } = {
  sigmoid: {
    // −(1−ε) log σ(βh) − ε log σ(−βh)
    loss(h, { beta, labelSmoothing: eps }) {
      const bh = np.multiply(h, beta); // βh, [B]
      const pos = np.multiply(nn.logSigmoid(bh.ref), -(1 - eps));
      if (eps === 0) {
        bh.dispose();
        return pos;
      }
      return np.add(pos, np.multiply(nn.logSigmoid(np.negative(bh)), -eps));
    },
    averageLogProbs: false,
    usesLabelSmoothing: true,
  },
  robust: {
    // (−(1−ε) log σ(βh) + ε log σ(−βh)) / (1 − 2ε)
    loss(h, { beta, labelSmoothing: eps }) {
      const bh = np.multiply(h, beta);
      const pos = np.multiply(nn.logSigmoid(bh.ref), -(1 - eps));
      const neg = np.multiply(nn.logSigmoid(np.negative(bh)), eps);
      return np.divide(np.add(pos, neg), 1 - 2 * eps);
    },
    averageLogProbs: false,
    usesLabelSmoothing: true,
  },
  hinge: {
    // max(0, 1 − βh)
    loss: (h, { beta }) => nn.relu(np.subtract(1, np.multiply(h, beta))),
    averageLogProbs: false,
    usesLabelSmoothing: false,
  },
  ipo: {
    // (h − 1/(2β))², h from length-averaged log-probabilities
    loss: (h, { beta }) => np.square(np.subtract(h, 1 / (2 * beta))),
    averageLogProbs: true,
    usesLabelSmoothing: false,
  },
};

/**
 * Per-row sequence log-probability Σ_t M_{r,t} log p(y_{r,t}) from per-token log-probs and a
 * completion mask, [R, T] each → [R]. Consumes both.
 */
export function sequenceLogProbs(tokenLogProbs: Array, mask: Array): Array {
  return np.sum(np.multiply(tokenLogProbs, mask), -1);
}
