/**
 * The OpenAI-compatible wire format, as far as stepwise speaks it: the request and
 * response bodies of `POST /v1/chat/completions` and `POST /v1/completions`, their
 * streamed chunks, `GET /v1/models` and the error body. One set of zod schemas serves
 * both ends: the client (client.ts) validates what a server sends back, the server
 * (src/serve/) validates what a client sends, and `ChatClient` is the one interface
 * the remote client, the in-process local model and the server share.
 *
 * Field names are OpenAI's, snake_case, so these objects go on the wire unchanged.
 * Leniency where real servers differ: response fields that vLLM, SGLang, llama.cpp or
 * Ollama omit (`object`, `created`, `usage`, `logprobs`) are optional; `null` is
 * accepted wherever OpenAI's own SDK sends it for "unset"; unknown fields are dropped.
 * Message content may be a string or a list of text parts (joined); other parts
 * (images, tool calls) are refused by the server rather than silently ignored.
 */
import { z } from "zod";

// ---------------------------------------------------------------------------
// Requests

/** `stop`: one string or up to 4 (OpenAI's limit). */
export const StopSchema = z.union([z.string(), z.array(z.string()).max(4)]);

const TextPartSchema = z.object({ type: z.literal("text"), text: z.string() });

export const WireMessageSchema = z.object({
  role: z.enum(["system", "user", "assistant"]),
  content: z.union([z.string(), z.array(TextPartSchema)]),
});
export type WireMessage = z.infer<typeof WireMessageSchema>;

/** What sampling a request asks for; shared by both endpoints. */
const samplingFields = {
  model: z.string(),
  /** Choices per prompt. */
  n: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stop: StopSchema.nullish(),
  seed: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  /** Parameters stepwise does not implement; accepted only at their neutral value (server.ts checks). */
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  user: z.string().nullish(),
};

export const ChatRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(WireMessageSchema).min(1),
  max_tokens: z.number().int().min(1).nullish(),
  /** OpenAI's newer name for max_tokens. */
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
});
export type ChatRequest = z.infer<typeof ChatRequestSchema>;

/** A prompt: text, a batch of texts, token ids, or a batch of token-id lists (lm-evaluation-harness sends ids). */
export const PromptSchema = z.union([
  z.string(),
  z.array(z.string()).min(1),
  z.array(z.number().int()).min(1),
  z.array(z.array(z.number().int()).min(1)).min(1),
]);

export const CompletionRequestSchema = z.object({
  ...samplingFields,
  prompt: PromptSchema,
  /** 0 is allowed with echo (score the prompt only). */
  max_tokens: z.number().int().min(0).nullish(),
  /** Top alternatives per position, 0–5 (null: no logprobs). */
  logprobs: z.number().int().min(0).max(5).nullish(),
  /** Put the prompt (and its log-probs) before the completion. */
  echo: z.boolean().nullish(),
  best_of: z.number().int().min(1).nullish(),
  suffix: z.string().nullish(),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

// ---------------------------------------------------------------------------
// Responses

export const FinishReasonSchema = z.enum(["stop", "length", "content_filter", "tool_calls", "function_call"]);

export const UsageSchema = z.object({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number(),
});
export type Usage = z.infer<typeof UsageSchema>;

const TopLogProbSchema = z.object({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.number()).nullish(),
});

export const ChatLogProbsSchema = z.object({
  content: z
    .array(
      z.object({
        token: z.string(),
        logprob: z.number(),
        bytes: z.array(z.number()).nullish(),
        top_logprobs: z.array(TopLogProbSchema),
      }),
    )
    .nullable(),
});
export type ChatLogProbs = z.infer<typeof ChatLogProbsSchema>;

export const ChatChoiceSchema = z.object({
  index: z.number().int(),
  message: z.object({ role: z.string(), content: z.string().nullable() }),
  finish_reason: FinishReasonSchema.nullable(),
  logprobs: ChatLogProbsSchema.nullish(),
});
export type ChatChoice = z.infer<typeof ChatChoiceSchema>;

export const ChatResponseSchema = z.object({
  id: z.string(),
  object: z.string().optional(),
  created: z.number().optional(),
  model: z.string(),
  choices: z.array(ChatChoiceSchema),
  usage: UsageSchema.nullish(),
});
export type ChatResponse = z.infer<typeof ChatResponseSchema>;

/** The legacy completions logprobs block; the first echoed token has null log-prob and alternatives. */
export const CompletionLogProbsSchema = z.object({
  tokens: z.array(z.string()),
  token_logprobs: z.array(z.number().nullable()),
  top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).nullish(),
  text_offset: z.array(z.number()).nullish(),
});
export type CompletionLogProbs = z.infer<typeof CompletionLogProbsSchema>;

export const CompletionChoiceSchema = z.object({
  index: z.number().int(),
  text: z.string(),
  finish_reason: FinishReasonSchema.nullable(),
  logprobs: CompletionLogProbsSchema.nullish(),
});
export type CompletionChoice = z.infer<typeof CompletionChoiceSchema>;

export const CompletionResponseSchema = z.object({
  id: z.string(),
  object: z.string().optional(),
  created: z.number().optional(),
  model: z.string(),
  choices: z.array(CompletionChoiceSchema),
  usage: UsageSchema.nullish(),
});
export type CompletionResponse = z.infer<typeof CompletionResponseSchema>;

// ---------------------------------------------------------------------------
// Streamed chunks (server-sent events: `data: {json}\n\n`, then `data: [DONE]\n\n`)

export const ChatChunkSchema = z.object({
  id: z.string(),
  object: z.string().optional(),
  created: z.number().optional(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      delta: z.object({ role: z.string().nullish(), content: z.string().nullish() }),
      finish_reason: FinishReasonSchema.nullish(),
      logprobs: ChatLogProbsSchema.nullish(),
    }),
  ),
  usage: UsageSchema.nullish(),
});
export type ChatChunk = z.infer<typeof ChatChunkSchema>;

export const CompletionChunkSchema = z.object({
  id: z.string(),
  object: z.string().optional(),
  created: z.number().optional(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      text: z.string(),
      finish_reason: FinishReasonSchema.nullish(),
      logprobs: CompletionLogProbsSchema.nullish(),
    }),
  ),
  usage: UsageSchema.nullish(),
});
export type CompletionChunk = z.infer<typeof CompletionChunkSchema>;

// ---------------------------------------------------------------------------
// Models and errors

export const ModelListSchema = z.object({
  object: z.literal("list"),
  data: z.array(
    z.object({ id: z.string(), object: z.literal("model"), created: z.number(), owned_by: z.string() }).passthrough(),
  ),
});
export type ModelList = z.infer<typeof ModelListSchema>;

/** OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`. */
export const ErrorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string().nullish(),
    param: z.string().nullish(),
    code: z.union([z.string(), z.number()]).nullish(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

// ---------------------------------------------------------------------------
// The shared interface

/** Per-call options that are not part of the request body. */
export interface CallOptions {
  /** Abort the call (and its retries). */
  signal?: AbortSignal;
}

/**
 * One interface for everything that answers chat requests: the remote OpenAI-compatible
 * client, the in-process local model (local.ts) and `stepwise serve` behind HTTP.
 * `complete` is the legacy completions endpoint, for base models prompted with plain text.
 */
export interface ChatClient {
  /** The model name requests are sent with. */
  readonly model: string;
  chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResponse>;
  complete(req: CompletionRequest, opts?: CallOptions): Promise<CompletionResponse>;
  /** Free what the client holds (a local model's weights); safe to call twice. */
  close?(): Promise<void>;
}

/** The text of a message content (string or text parts joined). */
export function messageText(content: WireMessage["content"]): string {
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

/** `stop` as a list (null/undefined: none). */
export function stopList(stop: z.infer<typeof StopSchema> | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return typeof stop === "string" ? [stop] : stop;
}
