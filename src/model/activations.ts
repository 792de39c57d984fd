/** The MLP activations of config-base.ts's Activation, as transformers' ACT2FN computes them. Consumes x. */
import { type Array, nn } from "../engine/jax.ts";
import type { Activation } from "./config.ts";

export function activate(x: Array, act: Activation): Array {
  if (act === "relu") return nn.relu(x); // max(x, 0)
  if (act === "silu") return nn.silu(x); // x·σ(x)
  return nn.gelu(x, { approximate: act === "gelu_new" }); // x·Φ(x), or its tanh approximation
}
