/**
 * The interface every architecture implements (llama.ts, gpt2.ts): a functional
 * forward pass over a flat parameter record keyed by Hugging Face tensor names.
 */
import type { Array } from "../engine/jax.ts";
import type { KVCache } from "./layers.ts";

export type { KVCache } from "./layers.ts";

export interface ForwardOptions {
  /**
   * A key/value cache to attend to and extend: the T new tokens go into slots
   * [cache.offset, cache.offset + T), and the result carries the updated cache.
   */
  cache?: KVCache;
  /**
   * Absolute position of each new token, int32 [B, T] (rotary angle or learned
   * position row). Default: offset + t. With left padding, pass the count of
   * real tokens before each one.
   */
  positions?: Array;
  /**
   * Which key slots hold real tokens, [B, S] with 1 = real, 0 = padding; S is the
   * cache capacity with a cache, else T. Default: all real.
   */
  attentionMask?: Array;
  /** "last" computes logits for the last new token only ([B, 1, V]); default "all". */
  logits?: "all" | "last";
  /** Also return the final hidden states (after the last norm), [B, T, C] (or [B, 1, C] with logits: "last"). */
  hidden?: boolean;
}

export interface ForwardResult {
  /** [B, T, V] float32, or [B, 1, V] with logits: "last". */
  logits: Array;
  /** [B, T, C] final hidden states (after the last norm), when opts.hidden was set. */
  hidden?: Array;
  /** The updated cache, when one was given. */
  cache?: KVCache;
}

/**
 * What an architecture's trunk returns: the final hidden states after the last norm
 * ([B, T, C], or [B, 1, C] with logits: "last"), the updated cache, and the lm head as a
 * closure over the weights it needs (so a caller that wants only hidden states, a reward
 * or value head, skips the [C, V] matmul). `head` consumes its argument; `release` drops
 * the head's weights when it is not called.
 */
export interface TrunkResult {
  hidden: Array;
  cache?: KVCache;
  head(hidden: Array): Array;
  release(): void;
}

/** Expected tensor names and shapes of a config, in a stable order. */
export type ParamShapes = [name: string, shape: number[]][];

/** Cross-attention keys and values of an encoder output: one [B, S_enc, N, H] pair per decoder layer. */
// A type alias, not an interface, so that it is a jax-js JsTree (jit takes and returns it).
export type CrossKV = {
  keys: Array[];
  values: Array[];
};

export interface EncodeOptions {
  /** Which encoder positions hold real tokens, [B, S_enc] with 1 = real, 0 = padding. Default: all real. */
  attentionMask?: Array;
}

/** The decoder of an encoder–decoder: what it attends to, besides its own cache (ForwardOptions). */
export interface DecodeOptions extends Omit<ForwardOptions, "positions" | "hidden"> {
  /** The encoder's output [B, S_enc, C]; the decoder projects its cross keys and values. Or: */
  encoderHidden?: Array;
  /** ... cross keys and values projected once (generation reuses them every step). */
  cross?: CrossKV;
  /** Which encoder positions are real, [B, S_enc] (1 = real); default all. */
  encoderMask?: Array;
}
