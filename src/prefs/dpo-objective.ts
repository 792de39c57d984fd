/**
 * DPO's objective for the shared step (train/loop.ts): the policy's sequence log-probabilities
 * of both completions (one forward pass over the 2B rows), against the cached reference ones,
 * through the loss kind of the registry (losses.ts), plus RPO's NLL term on the chosen
 * completion when α > 0:
 *
 *   logπ_r = Σ_t M_{r,t} log π(x_{r,t+1} | x_{r,≤t})          (IPO: ÷ |y_r|, as TRL)
 *   h_i    = (logπ_c,i − logπ_r,i) − (logπref_c,i − logπref_r,i)
 *   S(θ;b) = Σ_i w_i [ℓ_kind(h_i) + α · (−logπ_c,i / |y_c,i|)]    count n_b = Σ_i w_i
 *
 * Logged (aux sums, divided by the pair count): TRL's rewards/chosen = β(logπ_c − logπref_c),
 * rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen, logps/rejected (sums
 * over tokens, as TRL logs them), and nll_loss when α > 0.
 *
 * Departures from TRL: RPO's NLL here is the per-pair mean over the chosen completion's tokens,
 * then averaged over pairs; TRL's is the token mean over the whole batch (equal when chosen
 * completions have equal lengths). The reference log-probabilities are always precomputed
 * (TRL's precompute_ref_log_probs=True), never recomputed per step.
 */
import { type Array, np } from "../engine/jax.ts";
import { tokenLogProbs } from "../engine/losses.ts";
import type { Params } from "../engine/params.ts";
import type { ModelConfig } from "../model/config.ts";
import { checkTokenIds, forward } from "../model/model.ts";
import type { Objective } from "../train/loop.ts";
import type { PairBatch } from "./batch.ts";
import { DPO_LOSSES, type DpoLossKind, sequenceLogProbs } from "./losses.ts";
import { pairAux } from "./rm-objective.ts";

export type DpoArrays = {
  ids: Array;
  targets: Array;
  mask: Array;
  weight: Array;
  lengths: Array;
  refLogProbs: Array;
};

export interface DpoObjectiveOptions {
  kind: DpoLossKind;
  beta: number;
  labelSmoothing: number;
  /** RPO's α: weight of the chosen completion's NLL (0 = plain DPO). */
  rpoAlpha: number;
}

/** Σ_t M log π over each row: ids/targets/mask [R, T] → [R]. Consumes params and the arrays. */
export function rowLogProbs(params: Params, config: ModelConfig, ids: Array, targets: Array, mask: Array): Array {
  const { logits } = forward(params, config, ids); // [R, T, V]
  return sequenceLogProbs(tokenLogProbs(logits, targets), mask); // [R]
}

/** The device arrays of a pair batch (shared with the reference pass). */
export function pairArrays(b: PairBatch, vocabSize: number): DpoArrays {
  const shape = [2 * b.pairs, b.seqLen];
  checkTokenIds(b.ids, vocabSize, "pair batch ids");
  checkTokenIds(b.targets, vocabSize, "pair batch targets");
  return {
    ids: np.array(b.ids, { shape, dtype: np.int32 }),
    targets: np.array(b.targets, { shape, dtype: np.int32 }),
    mask: np.array(b.mask, { shape, dtype: np.float32 }),
    weight: np.array(b.weight, { shape: [b.pairs], dtype: np.float32 }),
    lengths: np.array(b.lengths, { shape: [2 * b.pairs], dtype: np.float32 }),
    refLogProbs: np.array(b.refLogProbs, { shape: [2 * b.pairs], dtype: np.float32 }),
  };
}

/**
 * The DPO loss from the four per-row quantities (pure; what the tests check against a float64
 * reference): logps and refLogProbs [2B] (sums), lengths [2B], weight [B].
 */
export function dpoLossFromLogProbs(
  logps: Array,
  refLogProbs: Array,
  lengths: Array,
  weight: Array,
  o: DpoObjectiveOptions,
): { sum: Array; count: Array; aux: Record<string, Array> } {
  const B = weight.shape[0]!;
  const spec = DPO_LOSSES[o.kind];
  const len = np.maximum(lengths, 1); // |y| ≥ 1
  const pol = spec.averageLogProbs ? np.divide(logps.ref, len.ref) : logps.ref; // [2B]
  const ref = spec.averageLogProbs ? np.divide(refLogProbs, len.ref) : refLogProbs; // [2B]
  const ratio = np.subtract(pol, ref); // log π − log π_ref per row, [2B]
  const ratioC = ratio.ref.slice([0, B]);
  const ratioR = ratio.slice([B, 2 * B]);
  const h = np.subtract(ratioC.ref, ratioR.ref); // [B]
  let per = spec.loss(h, { beta: o.beta, labelSmoothing: o.labelSmoothing }); // [B]
  const aux = pairAux(np.multiply(ratioC, o.beta), np.multiply(ratioR, o.beta), weight.ref);
  const logpC = logps.ref.slice([0, B]);
  const logpR = logps.slice([B, 2 * B]);
  aux["logps/chosen"] = np.sum(np.multiply(logpC.ref, weight.ref));
  aux["logps/rejected"] = np.sum(np.multiply(logpR, weight.ref));
  if (o.rpoAlpha > 0) {
    const nll = np.negative(np.divide(logpC, len.slice([0, B]))); // −log π_c / |y_c|, [B]
    aux.nll_loss = np.sum(np.multiply(nll.ref, weight.ref));
    per = np.add(per, np.multiply(nll, o.rpoAlpha));
  } else {
    logpC.dispose();
    len.dispose();
  }
  return { sum: np.sum(np.multiply(per, weight.ref)), count: np.sum(weight), aux };
}

export function dpoObjective(config: ModelConfig, o: DpoObjectiveOptions): Objective<PairBatch, DpoArrays> {
  return {
    toDevice: (b) => pairArrays(b, config.vocabSize),
    loss(params, b) {
      const logps = rowLogProbs(params, config, b.ids, b.targets, b.mask); // [2B]
      return dpoLossFromLogProbs(logps, b.refLogProbs, b.lengths, b.weight, o);
    },
  };
}
