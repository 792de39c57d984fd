/**
 * Likelihood losses: the seed of the whole project.
 *
 * Training a language model minimises the negative log-likelihood of its target
 * tokens. With logits z ∈ R^V for one position and target y,
 *
 *   log p(y) = z_y − logsumexp(z),   logsumexp(z) = m + log Σ_v exp(z_v − m),  m = max_v z_v
 *
 * and the loss over a batch with a 0/1 loss mask M (1 on target tokens only) is
 *
 *   NLL_sum  = −Σ_{b,t} M_{b,t} · log p(y_{b,t})
 *   NLL_mean = NLL_sum / Σ_{b,t} M_{b,t}          (per target token; the count is clamped to ≥ 1)
 *
 * Cross-entropy is the same quantity with every position a target (M ≡ 1);
 * binary cross-entropy is the V = 2 case written with one logit per example.
 *
 * Ownership: like every jax-js op, each function consumes its array arguments.
 * Pass `x.ref` to keep one alive. All functions trace under `jit` and `grad`.
 *
 * Implementation note: the target's log-probability is picked with a one-hot
 * product summed over the vocabulary, not `takeAlongAxis`, because the gradient
 * of `takeAlongAxis` needs `scatter`, which jax-js cannot run inside `jit`.
 */
import { type Array, lax, nn, np } from "./jax.ts";

export type Reduction = "mean" | "sum";

/**
 * logsumexp(x) along `axis`, stable for large |x|: the max is subtracted before
 * `exp` (and is a constant for differentiation, as its gradient cancels exactly).
 */
export function logSumExp(x: Array, axis = -1): Array {
  const m = lax.stopGradient(np.max(x.ref, axis, { keepdims: true })); // [..., 1]
  const lse = np.log(np.sum(np.exp(np.subtract(x, m.ref)), axis, { keepdims: true })); // [..., 1]
  return np.squeeze(np.add(lse, m), axis);
}

/** log-softmax over the last axis: z − logsumexp(z). [..., V] → [..., V] */
export function logSoftmax(logits: Array): Array {
  const lse = logSumExp(logits.ref, -1); // [...]
  return np.subtract(logits, np.expandDims(lse, -1));
}

/**
 * log p(y) for each position: logits [..., V], integer targets [...] → [...].
 */
export function tokenLogProbs(logits: Array, targets: Array): Array {
  const vocab = logits.shape[logits.shape.length - 1]!;
  if (targets.ndim !== logits.ndim - 1 || targets.shape.some((d, i) => d !== logits.shape[i])) {
    const msg = `tokenLogProbs: targets shape ${JSON.stringify(targets.shape)} must equal logits shape ${JSON.stringify(logits.shape)} without its last axis`;
    logits.dispose();
    targets.dispose();
    throw new RangeError(msg);
  }
  const logProbs = logSoftmax(logits); // [..., V]
  const picked = np.multiply(logProbs, nn.oneHot(targets, vocab)); // [..., V], zero off-target
  return np.sum(picked, -1); // [...]
}

export interface NllOptions {
  /** "mean" divides by the number of target tokens (Σ mask); "sum" does not. Default "mean". */
  reduction?: Reduction;
}

/**
 * Token NLL from logits [..., V], targets [...] and a 0/1 loss mask [...] (float).
 * Returns a scalar. Positions with mask 0 contribute nothing, to the value or the gradient.
 */
export function tokenNll(logits: Array, targets: Array, mask: Array, opts: NllOptions = {}): Array {
  const reduction = opts.reduction ?? "mean";
  const logProbs = tokenLogProbs(logits, targets); // [...]
  const nllSum = np.negative(np.sum(np.multiply(logProbs, mask.ref))); // scalar
  if (reduction === "sum") {
    mask.dispose();
    return nllSum;
  }
  const count = np.maximum(np.sum(mask), 1); // Σ M, clamped so an all-padding batch gives 0, not NaN
  return np.divide(nllSum, count);
}

/**
 * Cross-entropy of integer labels [...] under logits [..., V], every position a
 * target: −(1/N) Σ log p(y) ("mean") or −Σ log p(y) ("sum").
 */
export function crossEntropy(logits: Array, labels: Array, opts: NllOptions = {}): Array {
  const logProbs = tokenLogProbs(logits, labels);
  const n = logProbs.size;
  const nllSum = np.negative(np.sum(logProbs));
  return (opts.reduction ?? "mean") === "sum" ? nllSum : np.divide(nllSum, Math.max(n, 1));
}

/**
 * Binary cross-entropy with logits: for logit z and label y ∈ [0, 1],
 *
 *   ℓ(z, y) = −[y log σ(z) + (1 − y) log(1 − σ(z))] = max(z, 0) − z·y + log(1 + exp(−|z|))
 *
 * the right-hand form never overflows (as in PyTorch's BCEWithLogitsLoss).
 * An optional 0/1 mask selects which elements count.
 */
export function binaryCrossEntropyWithLogits(
  logits: Array,
  labels: Array,
  opts: NllOptions & { mask?: Array } = {},
): Array {
  const z = logits;
  const losses = np.add(
    np.subtract(np.maximum(z.ref, 0), np.multiply(z.ref, labels)),
    np.log1p(np.exp(np.negative(np.abs(z)))),
  ); // [...]
  const reduction = opts.reduction ?? "mean";
  if (opts.mask) {
    const mask = opts.mask;
    const total = np.sum(np.multiply(losses, mask.ref));
    if (reduction === "sum") {
      mask.dispose();
      return total;
    }
    return np.divide(total, np.maximum(np.sum(mask), 1));
  }
  return reduction === "sum" ? np.sum(losses) : np.mean(losses);
}

/** Perplexity from a mean per-token NLL in nats: PPL = exp(NLL_mean). */
export function perplexity(meanNll: number): number {
  return Math.exp(meanNll);
}
