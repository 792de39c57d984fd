/**
 * Tokenisation with an output-only loss mask.
 *
 *   input_ids = encode(prompt) ++ encode(target) ++ [EOS]
 *   loss_mask =   0 … 0        ++   1 … 1        ++ [1]
 *
 * Correct by construction: prompt and target are encoded SEPARATELY and the ids
 * concatenated. Encoding `prompt + target` in one go would let BPE merge across the
 * boundary (a prompt ending in "\n" and a target starting with "\n" can become one
 * "\n\n" token), and then no cut of the ids decodes to exactly the target. So the
 * masked ids are, by construction, encode(target) plus EOS, and
 * decode(masked ids) === target + eosToken whenever the tokenizer round-trips the
 * target text — which we check per example (`checkRoundTrip`, default on): a
 * tokenizer that normalises text (lower-casing, NFKC, SentencePiece's prepended
 * "▁") fails loudly with the example's index instead of training on a target that
 * differs from the data. A tokenizer whose pre-tokenizer drops whitespace (T5's
 * WhitespaceSplit + Metaspace) is checked up to whitespace runs: it cannot return a
 * newline, and T5 is trained on exactly that. Departure from single-pass encoding: the prompt/target
 * boundary is always a token boundary, which may cost a token versus a joint
 * encoding; the model sees exactly that split at inference too, since generation
 * starts right after the encoded prompt.
 *
 * The prompt is encoded with the tokenizer's special tokens (Llama's BOS, when its
 * post-processor adds one); the target never is. EOS must exist.
 *
 * Over-long examples are never silently cut. With `maxLength` set and
 * prompt + target + EOS longer than it, `overflow` decides:
 *   "drop"            the example is dropped (tokenizeExample returns null,
 *                     tokenizeDataset counts and lists it) — the default;
 *   "truncate-prompt" the prompt loses tokens from its start (a leading BOS is kept)
 *                     down to what fits; if the target + EOS alone (+ BOS) do not
 *                     fit, or fewer than `minPromptTokens` prompt tokens would
 *                     remain, the example is dropped instead;
 *   "error"           throw.
 * The target is never shortened.
 */
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export class TokenizeError extends Error {
  override name = "TokenizeError";
}

export type OverflowPolicy = "drop" | "truncate-prompt" | "error";

export interface TokenizeOptions {
  /** Longest allowed input_ids (EOS included); default no limit. */
  maxLength?: number;
  /** Must be true: the EOS ending the target is what teaches the model to stop. */
  addEos: true;
  /** What to do when an example is longer than maxLength; default "drop". */
  overflow?: OverflowPolicy;
  /** With "truncate-prompt", drop rather than keep fewer prompt tokens than this. Default 1. */
  minPromptTokens?: number;
  /** Check decode(encode(target)) === target; default true. */
  checkRoundTrip?: boolean;
}

export interface TokenizedExample {
  input_ids: number[];
  /** 1 on target tokens and the EOS after them, 0 on prompt tokens. Same length as input_ids. */
  loss_mask: number[];
  /** True when the prompt was shortened to fit (the target never is). */
  truncated: boolean;
  /** Prompt tokens removed by truncation (0 when not truncated). */
  promptTokensRemoved: number;
}

export interface DroppedExample {
  index: number;
  /** Prompt + target + EOS length, in tokens. */
  length: number;
  promptTokens: number;
  targetTokens: number;
  reason: string;
}

function eosOf(tokenizer: Tokenizer): { id: number; text: string } {
  if (tokenizer.eosId === null || tokenizer.eosToken === null) {
    throw new TokenizeError(
      "tokenizeExample: the tokenizer has no EOS token; set eos_token in tokenizer_config.json (saveTokenizer's `eos`)",
    );
  }
  return { id: tokenizer.eosId, text: tokenizer.eosToken };
}

type Outcome = { ok: TokenizedExample } | { dropped: Omit<DroppedExample, "index"> };

function tokenizeOne(
  tokenizer: Tokenizer,
  ex: { prompt: string; target: string },
  opts: TokenizeOptions,
  where: string,
): Outcome {
  if (opts.addEos !== true)
    throw new TokenizeError(`${where}: addEos must be true (the EOS ending the target carries loss)`);
  const eos = eosOf(tokenizer);
  const prompt = tokenizer.encode(ex.prompt, { addSpecialTokens: true });
  const target = tokenizer.encode(ex.target, { addSpecialTokens: false });
  if (opts.checkRoundTrip ?? true) {
    const back = target.length === 0 ? "" : tokenizer.decode(target);
    // A tokenizer that drops whitespace (T5's) is held to round-tripping everything but whitespace runs.
    const squash = (t: string) => (tokenizer.dropsWhitespace ? t.replace(/\s+/g, " ").trim() : t);
    if (squash(back) !== squash(ex.target)) {
      throw new TokenizeError(
        `${where}: the tokenizer does not round-trip the target (${JSON.stringify(ex.target.slice(0, 60))} decodes back as ${JSON.stringify(back.slice(0, 60))}); ` +
          "its loss mask would not decode to the target — use a byte-level tokenizer or normalise the data first",
      );
    }
  }
  const length = prompt.length + target.length + 1;
  const max = opts.maxLength ?? Number.POSITIVE_INFINITY;
  let kept = prompt;
  if (length > max) {
    const policy = opts.overflow ?? "drop";
    const stats = { length, promptTokens: prompt.length, targetTokens: target.length };
    const over = `${length} tokens (prompt ${prompt.length}, target ${target.length}, EOS 1) > maxLength ${max}`;
    if (policy === "error") throw new TokenizeError(`${where}: ${over}; raise maxLength or use overflow "drop"`);
    if (policy === "drop") return { dropped: { ...stats, reason: `${over}: dropped` } };
    const bos = tokenizer.bosId !== null && prompt[0] === tokenizer.bosId ? 1 : 0;
    const room = max - target.length - 1 - bos; // prompt tokens after BOS that fit
    const minPrompt = opts.minPromptTokens ?? 1;
    if (room < minPrompt) {
      return {
        dropped: {
          ...stats,
          reason: `${over}: target + EOS leave room for ${Math.max(room, 0)} prompt tokens (< ${minPrompt}): dropped`,
        },
      };
    }
    kept = [...prompt.slice(0, bos), ...prompt.slice(prompt.length - room)];
  }
  const input_ids = [...kept, ...target, eos.id];
  const loss_mask = [...kept.map(() => 0), ...target.map(() => 1), 1];
  const removed = prompt.length - kept.length;
  return { ok: { input_ids, loss_mask, truncated: removed > 0, promptTokensRemoved: removed } };
}

/** Tokenise one example (see the file header); null when it is over-long and dropped. */
export function tokenizeExample(
  tokenizer: Tokenizer,
  ex: { prompt: string; target: string },
  opts: TokenizeOptions,
): TokenizedExample | null {
  const out = tokenizeOne(tokenizer, ex, opts, "tokenizeExample");
  return "ok" in out ? out.ok : null;
}

export interface TokenizeReport {
  total: number;
  kept: number;
  /** Examples whose prompt was shortened. */
  promptTruncated: number;
  promptTokensRemoved: number;
  dropped: DroppedExample[];
  /** Target + EOS tokens over all kept examples (tokens carrying loss). */
  lossTokens: number;
  tokens: number;
}

export interface TokenizeDatasetResult {
  examples: TokenizedExample[];
  /** For each kept example, its index in the input. */
  sourceIndex: number[];
  report: TokenizeReport;
}

/** Tokenise many examples; drops and truncations are counted and listed in `report`. */
export function tokenizeDataset(
  tokenizer: Tokenizer,
  examples: readonly { prompt: string; target: string }[],
  opts: TokenizeOptions,
): TokenizeDatasetResult {
  const out: TokenizedExample[] = [];
  const sourceIndex: number[] = [];
  const report: TokenizeReport = {
    total: examples.length,
    kept: 0,
    promptTruncated: 0,
    promptTokensRemoved: 0,
    dropped: [],
    lossTokens: 0,
    tokens: 0,
  };
  examples.forEach((ex, i) => {
    const r = tokenizeOne(tokenizer, ex, opts, `tokenizeDataset: example ${i}`);
    if ("dropped" in r) {
      report.dropped.push({ index: i, ...r.dropped });
      return;
    }
    out.push(r.ok);
    sourceIndex.push(i);
    report.kept++;
    if (r.ok.truncated) report.promptTruncated++;
    report.promptTokensRemoved += r.ok.promptTokensRemoved;
    report.tokens += r.ok.input_ids.length;
    for (const m of r.ok.loss_mask) report.lossTokens += m;
  });
  return { examples: out, sourceIndex, report };
}

/** One line for logs: "kept 98/100; dropped 2 over-long; prompt truncated in 3 (41 tokens)". */
export function describeTokenizeReport(r: TokenizeReport): string {
  return (
    `kept ${r.kept}/${r.total}; dropped ${r.dropped.length} over-long` +
    (r.dropped.length > 0
      ? ` (indices ${r.dropped
          .slice(0, 10)
          .map((d) => d.index)
          .join(", ")}${r.dropped.length > 10 ? ", …" : ""})`
      : "") +
    `; prompt truncated in ${r.promptTruncated} (${r.promptTokensRemoved} tokens removed)`
  );
}
