/**
 * The reference config: the model every model-level bench (train_step,
 * generate) measures, here and in the PyTorch peer (peers/llama.py, which
 * receives these numbers on its command line, so the two cannot drift apart).
 *
 *   Llama-style decoder (RMSNorm, rotary embeddings θ = 10000, SwiGLU MLP,
 *   grouped-query attention, untied embeddings, no biases), float32:
 *
 *     vocab 512, hidden 256, 4 layers, 4 heads of 64 (2 key/value heads),
 *     MLP 688, sequence 128, batch 16
 *
 * 3.16 M parameters (2.90 M in the layers, 0.26 M in the embeddings and head).
 * A training step sees 16 × 128 = 2048 tokens; its matmuls are about
 * 6 · 3.03 M · 2048 ≈ 37.2 GFLOP in the projections and head, plus ≈ 3.2 GFLOP
 * of attention (q·kᵀ and p·v, forward and backward): ≈ 40.5 GFLOP.
 */
import { configFromSizes, type LlamaConfig } from "../src/model/config.ts";

export interface ReferenceShape {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  mlp: number;
  /** Tokens per training sequence. */
  seq: number;
  /** Sequences per training batch. */
  batch: number;
}

export const REFERENCE: Readonly<ReferenceShape> = Object.freeze({
  vocab: 512,
  hidden: 256,
  layers: 4,
  heads: 4,
  kvHeads: 2,
  mlp: 688,
  seq: 128,
  batch: 16,
});

/** The reference config as a stepwise model config (model_type llama). */
export function referenceConfig(): LlamaConfig {
  const c = configFromSizes({
    arch: "llama",
    vocabSize: REFERENCE.vocab,
    hiddenSize: REFERENCE.hidden,
    numLayers: REFERENCE.layers,
    numHeads: REFERENCE.heads,
    numKvHeads: REFERENCE.kvHeads,
    intermediateSize: REFERENCE.mlp,
  });
  if (c.arch !== "llama") throw new Error("referenceConfig: expected a llama config");
  return c;
}

/** Command-line flags giving the reference shape to the Python peer (peers/llama.py). */
export function referenceArgs(): string[] {
  const r = REFERENCE;
  return [
    ...["--vocab", String(r.vocab), "--hidden", String(r.hidden), "--layers", String(r.layers)],
    ...["--heads", String(r.heads), "--kv-heads", String(r.kvHeads), "--mlp", String(r.mlp)],
  ];
}

/** Parameter count of the reference config (embeddings, layers, final norm, untied head). */
export function referenceParamCount(): number {
  const { vocab: V, hidden: C, layers: L, heads: N, kvHeads: K, mlp: F } = REFERENCE;
  const H = C / N;
  const layer = 2 * C + C * N * H + 2 * C * K * H + N * H * C + 3 * C * F;
  return V * C + L * layer + C + V * C;
}
