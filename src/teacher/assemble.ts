/**
 * Server-sent chunks assembled into the response a non-streamed call returns (client.ts
 * streams; this is the pure part): deltas and log-probs concatenated per choice index, the
 * first chunk's id/model/created, the last usage seen. A chunk that is not OpenAI-shaped is a
 * fatal "malformed" TeacherError naming the endpoint and the field.
 */
import type { z } from "zod";
import { TeacherError } from "./errors.ts";
import {
  type ChatChoice,
  ChatChunkSchema,
  type ChatResponse,
  type CompletionChoice,
  CompletionChunkSchema,
  type CompletionResponse,
  type Usage,
} from "./protocol.ts";

function malformedChunk(endpoint: string, issue: z.core.$ZodIssue): TeacherError {
  return new TeacherError(
    `a stream event is not an OpenAI-compatible chunk: ${issue.path.join(".")}: ${issue.message}`,
    {
      kind: "malformed",
      retryable: false,
      endpoint,
    },
  );
}

/** Chat chunks → one ChatResponse: deltas concatenated per choice index. */
export function assembleChat(chunks: unknown[], endpoint: string): ChatResponse {
  const byIndex = new Map<number, ChatChoice>();
  let head = { id: "", model: "", created: 0 };
  let usage: Usage | null = null;
  for (const raw of chunks) {
    const p = ChatChunkSchema.safeParse(raw);
    if (!p.success) throw malformedChunk(endpoint, p.error.issues[0]!);
    const c = p.data;
    if (head.id === "") head = { id: c.id, model: c.model, created: c.created ?? 0 };
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const cur = byIndex.get(ch.index) ?? {
        index: ch.index,
        message: { role: "assistant", content: "" },
        finish_reason: null,
      };
      cur.message.content = (cur.message.content ?? "") + (ch.delta.content ?? "");
      if (ch.finish_reason) cur.finish_reason = ch.finish_reason;
      if (ch.logprobs?.content) {
        cur.logprobs = { content: [...(cur.logprobs?.content ?? []), ...ch.logprobs.content] };
      }
      byIndex.set(ch.index, cur);
    }
  }
  const choices = [...byIndex.values()].sort((a, b) => a.index - b.index);
  return { id: head.id, object: "chat.completion", created: head.created, model: head.model, choices, usage };
}

/** Completion chunks → one CompletionResponse: text and logprobs concatenated per choice index. */
export function assembleCompletion(chunks: unknown[], endpoint: string): CompletionResponse {
  const byIndex = new Map<number, CompletionChoice>();
  let head = { id: "", model: "", created: 0 };
  let usage: Usage | null = null;
  for (const raw of chunks) {
    const p = CompletionChunkSchema.safeParse(raw);
    if (!p.success) throw malformedChunk(endpoint, p.error.issues[0]!);
    const c = p.data;
    if (head.id === "") head = { id: c.id, model: c.model, created: c.created ?? 0 };
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const cur = byIndex.get(ch.index) ?? { index: ch.index, text: "", finish_reason: null };
      cur.text += ch.text;
      if (ch.finish_reason) cur.finish_reason = ch.finish_reason;
      if (ch.logprobs) {
        const lp = cur.logprobs ?? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
        lp.tokens.push(...ch.logprobs.tokens);
        lp.token_logprobs.push(...ch.logprobs.token_logprobs);
        lp.top_logprobs = [...(lp.top_logprobs ?? []), ...(ch.logprobs.top_logprobs ?? [])];
        lp.text_offset = [...(lp.text_offset ?? []), ...(ch.logprobs.text_offset ?? [])];
        cur.logprobs = lp;
      }
      byIndex.set(ch.index, cur);
    }
  }
  const choices = [...byIndex.values()].sort((a, b) => a.index - b.index);
  return { id: head.id, object: "text_completion", created: head.created, model: head.model, choices, usage };
}
