/**
 * Turning generated tokens into OpenAI's response pieces: the logprobs blocks of both
 * endpoints, and the text deltas of a stream.
 *
 * Completions logprobs (the legacy shape lm-evaluation-harness reads):
 *   tokens          the token strings
 *   token_logprobs  log p(token | everything before it); null for an echoed first token
 *   top_logprobs    per position {token string: log-prob} of the `logprobs` most likely
 *                   tokens plus the chosen one (as vLLM and OpenAI do, so up to k + 1
 *                   entries); null where token_logprobs is null
 *   text_offset     where each token starts in the returned text (the running length of
 *                   the token strings; a character split across tokens makes it approximate)
 * Chat logprobs: content[] of {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}.
 *
 * Log-probs are the model's own distribution (temperature 1, no top-p), what vLLM reports
 * by default; `bytes` are the UTF-8 bytes of the token string as decoded.
 *
 * Streaming: text already sent cannot be taken back, so a delta holds back the last
 * (longest stop − 1) characters, which might become the start of a stop string, and any
 * trailing U+FFFD (a character whose bytes are not all generated yet).
 */
import type { ChatLogProbs, CompletionLogProbs } from "../teacher/protocol.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TokenLogProb } from "./batcher.ts";

/** The text of one token, special tokens included. */
export function tokenText(tokenizer: Tokenizer, id: number): string {
  return tokenizer.decode([id], { skipSpecialTokens: false });
}

function utf8(s: string): number[] {
  return [...Buffer.from(s, "utf8")];
}

/**
 * The completions logprobs block for a run of tokens. `first` is the token before them when
 * the run starts the text (echo): its entries are null, as OpenAI returns for the first token.
 */
export function completionLogProbs(
  tokenizer: Tokenizer,
  entries: readonly TokenLogProb[],
  first: number | null,
  offset = 0,
): CompletionLogProbs {
  const out: CompletionLogProbs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  const push = (token: number, lp: number | null, top: Record<string, number> | null) => {
    const s = tokenText(tokenizer, token);
    out.tokens.push(s);
    out.token_logprobs.push(lp);
    out.top_logprobs!.push(top);
    out.text_offset!.push(at);
    at += s.length;
  };
  if (first !== null) push(first, null, null);
  for (const e of entries) {
    const top: Record<string, number> = {};
    for (const t of e.top) {
      const s = tokenText(tokenizer, t.id);
      top[s] = Math.max(top[s] ?? -Infinity, t.logProb);
    }
    const chosen = tokenText(tokenizer, e.token);
    top[chosen] = Math.max(top[chosen] ?? -Infinity, e.logProb);
    push(e.token, e.logProb, top);
  }
  return out;
}

/** The chat logprobs block for generated tokens. */
export function chatLogProbs(tokenizer: Tokenizer, entries: readonly TokenLogProb[]): ChatLogProbs {
  return {
    content: entries.map((e) => {
      const token = tokenText(tokenizer, e.token);
      return {
        token,
        logprob: e.logProb,
        bytes: utf8(token),
        top_logprobs: e.top.map((t) => {
          const s = tokenText(tokenizer, t.id);
          return { token: s, logprob: t.logProb, bytes: utf8(s) };
        }),
      };
    }),
  };
}

/** Incremental text of one streamed choice (see the file header for what is held back). */
export class TextStream {
  readonly #tokenizer: Tokenizer;
  readonly #holdBack: number;
  readonly #ids: number[] = [];
  #sent = "";

  constructor(tokenizer: Tokenizer, stop: readonly string[]) {
    this.#tokenizer = tokenizer;
    this.#holdBack = Math.max(0, ...stop.map((s) => s.length - 1));
  }

  /** Add a token; returns the text that can be sent now ("" when none). */
  push(id: number): string {
    this.#ids.push(id);
    const text = this.#tokenizer.decode(this.#ids, { skipSpecialTokens: true }).replace(/\uFFFD+$/, "");
    const safe = text.slice(0, Math.max(0, text.length - this.#holdBack));
    if (safe.length <= this.#sent.length || !safe.startsWith(this.#sent)) return "";
    const delta = safe.slice(this.#sent.length);
    this.#sent = safe;
    return delta;
  }

  /** The rest of the final text (what generation returned, cut at its stop string). */
  finish(final: string): string {
    const rest = final.startsWith(this.#sent) ? final.slice(this.#sent.length) : "";
    this.#sent = final.startsWith(this.#sent) ? final : this.#sent;
    return rest;
  }

  /** All text sent so far. */
  get sent(): string {
    return this.#sent;
  }
}
