/**
 * The OpenAI endpoints over one stepwise model, without HTTP: `chat` and `complete` take a
 * request body (validated here, so the HTTP server and the in-process LocalChatClient
 * share every check), run it through the batcher and return the response body; with
 * `onChunk` they also stream it as chunks while it is generated.
 *
 * Semantics (OpenAI's, with the defaults its API documents):
 *   temperature 1, top_p 1, n 1; completions max_tokens 16; chat max_tokens: the rest of the
 *   context, capped at `defaultMaxTokens`. A prompt plus max_tokens beyond the model's
 *   context is refused (context_length_exceeded), as is n beyond the batch size.
 *   Chat prompts go through the tokenizer's chat template (ChatML when it has none) with the
 *   generation prompt; generation stops at EOS and the template's end-of-turn tokens.
 *   Completions prompts are text (encoded with the tokenizer's special tokens, e.g. BOS) or
 *   token ids; several prompts make several choices, index = prompt · n + j.
 *   echo (completions): the prompt text comes first; with logprobs, one forward pass over
 *   prompt + completion scores every token (the first has null, as OpenAI returns), so
 *   lm-evaluation-harness can read log-likelihoods with max_tokens 0 or 1.
 * Refused rather than ignored: presence/frequency penalties, logit_bias, suffix, best_of ≠ n,
 * echo with stream, top_logprobs without logprobs.
 */
import { randomBytes } from "node:crypto";
import { basename, resolve } from "node:path";
import { disposeTree } from "../engine/memory.ts";
import { loadModel } from "../model/checkpoint.ts";
import { type FinishReason, releaseCompiled } from "../model/generate.ts";
import type { Model } from "../model/model.ts";
import {
  type ChatChunk,
  type ChatRequest,
  ChatRequestSchema,
  type ChatResponse,
  type CompletionChunk,
  type CompletionRequest,
  CompletionRequestSchema,
  type CompletionResponse,
  type ModelList,
  messageText,
  stopList,
} from "../teacher/protocol.ts";
import { applyChatTemplate, chatStopIds } from "../tokenizer/chat.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { Batcher, type GenJob, type TokenLogProb } from "./batcher.ts";
import { fromZod, ServeError } from "./errors.ts";
import { chatLogProbs, completionLogProbs, TextStream } from "./format.ts";

export interface EngineOptions {
  /** The model name clients send (default: the folder's name). */
  name?: string;
  /** Rows per generate call, and the largest n (default 16). */
  maxBatch?: number;
  /** Chat max_tokens when the request gives none (default 512). */
  defaultMaxTokens?: number;
  /** Prompts per completions request at most (default 64). */
  maxPrompts?: number;
  /** Seed of the unseeded sampling calls (default 0). */
  seed?: number;
  /** Batching window, ms (default 5). */
  windowMs?: number;
}

const FINISH: { [K in FinishReason]: "stop" | "length" } = { eos: "stop", stop: "stop", length: "length" };

const id = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`;
const now = () => Math.floor(Date.now() / 1000);

export class LocalEngine {
  readonly name: string;
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  readonly batcher: Batcher;
  readonly maxContext: number;
  readonly #o: Required<Omit<EngineOptions, "name">>;
  readonly #created = now();
  #closed = false;

  constructor(model: Model, tokenizer: Tokenizer, opts: EngineOptions & { name: string }) {
    this.name = opts.name;
    this.model = model;
    this.tokenizer = tokenizer;
    this.#o = {
      maxBatch: opts.maxBatch ?? 16,
      defaultMaxTokens: opts.defaultMaxTokens ?? 512,
      maxPrompts: opts.maxPrompts ?? 64,
      seed: opts.seed ?? 0,
      windowMs: opts.windowMs ?? 5,
    };
    this.maxContext = model.config.maxPositionEmbeddings;
    this.batcher = new Batcher(model, tokenizer, {
      maxBatch: this.#o.maxBatch,
      maxContext: this.maxContext,
      seed: this.#o.seed,
      windowMs: this.#o.windowMs,
    });
  }

  /** Load a model folder (weights and tokenizer.json). */
  static async load(dir: string, opts: EngineOptions = {}): Promise<LocalEngine> {
    const model = await loadModel(dir);
    const tokenizer = await Tokenizer.fromDir(dir);
    return new LocalEngine(model, tokenizer, { ...opts, name: opts.name ?? basename(resolve(dir)) });
  }

  models(): ModelList {
    return {
      object: "list",
      data: [
        {
          id: this.name,
          object: "model",
          created: this.#created,
          owned_by: "stepwise",
          max_model_len: this.maxContext,
        },
      ],
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    releaseCompiled(this.model.config);
    disposeTree(this.model.params);
  }

  async chat(raw: unknown, onChunk?: (c: ChatChunk) => void, signal?: AbortSignal): Promise<ChatResponse> {
    const parsed = ChatRequestSchema.safeParse(raw);
    if (!parsed.success) throw fromZod(parsed.error, "chat/completions");
    const req: ChatRequest = parsed.data;
    this.#checkCommon(req);
    if (req.top_logprobs && !req.logprobs) {
      throw new ServeError(400, "top_logprobs needs logprobs: true", { param: "top_logprobs" });
    }
    const messages = req.messages.map((m) => ({ role: m.role, content: messageText(m.content) }));
    let promptIds: number[];
    try {
      promptIds = applyChatTemplate(this.tokenizer, messages, { addGenerationPrompt: true, tokenize: true });
    } catch (err) {
      throw new ServeError(400, `messages: ${(err as Error).message}`, { param: "messages" });
    }
    this.#checkIds(promptIds, "messages");
    const room = this.maxContext - promptIds.length;
    const maxTokens =
      req.max_completion_tokens ?? req.max_tokens ?? Math.max(1, Math.min(this.#o.defaultMaxTokens, room));
    this.#checkContext(promptIds.length, maxTokens);
    const n = req.n ?? 1;
    const stop = stopList(req.stop);
    const head = { id: id("chatcmpl"), object: "chat.completion.chunk", created: now(), model: this.name };
    const streams = Array.from({ length: n }, () => new TextStream(this.tokenizer, stop));
    const logprobs = req.logprobs === true;
    if (onChunk) {
      onChunk({
        ...head,
        choices: streams.map((_, index) => ({ index, delta: { role: "assistant", content: "" }, finish_reason: null })),
      });
    }
    const result = await this.batcher.generate({
      ...this.#sampling(req, n, maxTokens, stop, [...this.#eosIds(), ...chatStopIds(this.tokenizer)]),
      ...(signal ? { signal } : {}),
      promptIds,
      top: logprobs ? (req.top_logprobs ?? 0) : 0,
      ...(onChunk
        ? {
            onToken: (c: number, t: TokenLogProb) => {
              const delta = streams[c]!.push(t.token);
              if (delta !== "" || logprobs) {
                onChunk({
                  ...head,
                  choices: [
                    {
                      index: c,
                      delta: { content: delta },
                      finish_reason: null,
                      ...(logprobs ? { logprobs: chatLogProbs(this.tokenizer, [t]) } : {}),
                    },
                  ],
                });
              }
            },
          }
        : {}),
    });
    const choices = result.sequences.map((s, index) => ({
      index,
      message: { role: "assistant", content: s.text ?? "" },
      finish_reason: FINISH[s.finishReason],
      logprobs: logprobs ? chatLogProbs(this.tokenizer, result.logProbs[index]!) : null,
    }));
    if (onChunk) {
      for (const c of choices) {
        onChunk({
          ...head,
          choices: [
            {
              index: c.index,
              delta: { content: streams[c.index]!.finish(c.message.content) },
              finish_reason: c.finish_reason,
            },
          ],
        });
      }
    }
    const completionTokens = result.sequences.reduce((a, s) => a + s.tokenIds.length, 0);
    return {
      id: head.id,
      object: "chat.completion",
      created: head.created,
      model: this.name,
      choices,
      usage: {
        prompt_tokens: promptIds.length,
        completion_tokens: completionTokens,
        total_tokens: promptIds.length + completionTokens,
      },
    };
  }

  async complete(
    raw: unknown,
    onChunk?: (c: CompletionChunk) => void,
    signal?: AbortSignal,
  ): Promise<CompletionResponse> {
    const parsed = CompletionRequestSchema.safeParse(raw);
    if (!parsed.success) throw fromZod(parsed.error, "completions");
    const req: CompletionRequest = parsed.data;
    this.#checkCommon(req);
    if (req.suffix) throw new ServeError(400, "suffix is not supported", { param: "suffix" });
    if (req.echo && onChunk) throw new ServeError(400, "echo with stream is not supported", { param: "echo" });
    const n = req.n ?? 1;
    if (req.best_of !== null && req.best_of !== undefined && req.best_of !== n) {
      throw new ServeError(400, `best_of must equal n (${n}) here; got ${req.best_of}`, { param: "best_of" });
    }
    const maxTokens = req.max_tokens ?? 16;
    if (maxTokens === 0 && !req.echo) {
      throw new ServeError(400, "max_tokens 0 is only meaningful with echo (scoring the prompt)", {
        param: "max_tokens",
      });
    }
    const prompts = this.#prompts(req.prompt);
    for (const p of prompts) this.#checkContext(p.length, maxTokens);
    const stop = stopList(req.stop);
    const top = req.logprobs ?? 0;
    const wantLogprobs = req.logprobs !== null && req.logprobs !== undefined;
    const head = { id: id("cmpl"), object: "text_completion", created: now(), model: this.name };
    const streams = prompts.map(() => Array.from({ length: n }, () => new TextStream(this.tokenizer, stop)));
    const results = await Promise.all(
      prompts.map((promptIds, p) =>
        maxTokens === 0
          ? Promise.resolve({
              sequences: Array.from({ length: n }, () => ({
                tokenIds: [],
                logProbs: [],
                text: "",
                finishReason: "length" as const,
              })),
              logProbs: Array.from({ length: n }, () => []),
            })
          : this.batcher.generate({
              ...this.#sampling(req, n, maxTokens, stop, this.#eosIds()),
              ...(signal ? { signal } : {}),
              promptIds,
              top,
              ...(onChunk
                ? {
                    onToken: (c: number, t: TokenLogProb) => {
                      const text = streams[p]![c]!.push(t.token);
                      if (text !== "" || wantLogprobs) {
                        onChunk({
                          ...head,
                          choices: [
                            {
                              index: p * n + c,
                              text,
                              finish_reason: null,
                              logprobs: wantLogprobs ? completionLogProbs(this.tokenizer, [t], null) : null,
                            },
                          ],
                        });
                      }
                    },
                  }
                : {}),
            }),
      ),
    );
    // echo + logprobs: score prompt + completion in one pass, so every position has its alternatives
    const scored =
      req.echo && wantLogprobs
        ? await this.batcher.score(
            prompts.flatMap((ids, p) => results[p]!.sequences.map((s) => [...ids, ...s.tokenIds])),
            top,
          )
        : null;
    const choices = prompts.flatMap((ids, p) =>
      results[p]!.sequences.map((s, c) => {
        const index = p * n + c;
        const promptText = req.echo ? this.tokenizer.decode(ids, { skipSpecialTokens: false }) : "";
        let logprobs = null;
        if (scored) logprobs = completionLogProbs(this.tokenizer, scored[index]!, ids[0]!);
        else if (wantLogprobs) logprobs = completionLogProbs(this.tokenizer, results[p]!.logProbs[c]!, null);
        return { index, text: promptText + (s.text ?? ""), finish_reason: FINISH[s.finishReason], logprobs };
      }),
    );
    if (onChunk) {
      for (const c of choices) {
        const stream = streams[Math.floor(c.index / n)]![c.index % n]!;
        onChunk({
          ...head,
          choices: [{ index: c.index, text: stream.finish(c.text), finish_reason: c.finish_reason, logprobs: null }],
        });
      }
    }
    const promptTokens = prompts.reduce((a, p) => a + p.length, 0);
    const completionTokens = results.reduce((a, r) => a + r.sequences.reduce((b, s) => b + s.tokenIds.length, 0), 0);
    return {
      ...head,
      object: "text_completion",
      choices,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  }

  #checkCommon(req: ChatRequest | CompletionRequest): void {
    if (req.model !== this.name) {
      throw new ServeError(404, `The model \`${req.model}\` does not exist; this server serves \`${this.name}\``, {
        param: "model",
        code: "model_not_found",
      });
    }
    const n = req.n ?? 1;
    if (n > this.#o.maxBatch) {
      throw new ServeError(400, `n must be at most ${this.#o.maxBatch} (the server's --max-batch), got ${n}`, {
        param: "n",
      });
    }
    for (const k of ["presence_penalty", "frequency_penalty"] as const) {
      if ((req[k] ?? 0) !== 0) throw new ServeError(400, `${k} is not supported (only 0)`, { param: k });
    }
    if (req.logit_bias && Object.keys(req.logit_bias).length > 0) {
      throw new ServeError(400, "logit_bias is not supported", { param: "logit_bias" });
    }
  }

  #sampling(
    req: ChatRequest | CompletionRequest,
    n: number,
    maxTokens: number,
    stop: string[],
    stopIds: number[],
  ): Omit<GenJob, "promptIds" | "top"> {
    return {
      n,
      maxTokens,
      temperature: req.temperature ?? 1,
      topP: req.top_p ?? 1,
      stop,
      stopIds: [...new Set(stopIds)],
      seed: req.seed ?? null,
    };
  }

  #eosIds(): number[] {
    const ids = [...this.model.config.eosTokenIds];
    if (this.tokenizer.eosId !== null) ids.push(this.tokenizer.eosId);
    return ids;
  }

  /** Each prompt of a completions request as token ids. */
  #prompts(prompt: CompletionRequest["prompt"]): number[][] {
    const list: (string | number[])[] =
      typeof prompt === "string"
        ? [prompt]
        : typeof prompt[0] === "number"
          ? [prompt as number[]]
          : (prompt as (string | number[])[]);
    if (list.length > this.#o.maxPrompts) {
      throw new ServeError(400, `at most ${this.#o.maxPrompts} prompts per request, got ${list.length}`, {
        param: "prompt",
      });
    }
    return list.map((p, i) => {
      let ids = typeof p === "string" ? this.tokenizer.encode(p) : p;
      if (ids.length === 0 && this.tokenizer.bosId !== null) ids = [this.tokenizer.bosId];
      if (ids.length === 0) throw new ServeError(400, `prompt ${i} is empty`, { param: "prompt" });
      this.#checkIds(ids, list.length > 1 ? `prompt.${i}` : "prompt");
      return ids;
    });
  }

  #checkIds(ids: readonly number[], param: string): void {
    const V = this.model.config.vocabSize;
    const bad = ids.find((t) => t < 0 || t >= V || !Number.isInteger(t));
    if (bad !== undefined)
      throw new ServeError(400, `${param}: token id ${bad} is outside the vocabulary [0, ${V})`, { param });
  }

  #checkContext(promptTokens: number, maxTokens: number): void {
    if (promptTokens + maxTokens > this.maxContext) {
      throw new ServeError(
        400,
        `This model's maximum context length is ${this.maxContext} tokens. However, you requested ${promptTokens + maxTokens} tokens ` +
          `(${promptTokens} in the prompt, ${maxTokens} in the completion). Please reduce the prompt or max_tokens.`,
        { param: "max_tokens", code: "context_length_exceeded" },
      );
    }
  }
}
