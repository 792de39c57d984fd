/**
 * `stepwise eval --endpoint URL --model NAME`: the evaluation of src/eval/run.ts for a model
 * served elsewhere (vLLM, SGLang, llama.cpp, Ollama, a hosted API, `stepwise serve`). The
 * prompts are the ones `stepwise eval` builds (eval/prompting.ts: zero, zero-cot, few-cot);
 * each problem is one request with n = samples, through the OpenAI client (its concurrency
 * limit and retries); the outputs are scored by `scoreOutput` and summarised by `summarize`
 * exactly as local outputs are, so the two reports compare.
 *
 * Plain prompts go to POST /v1/completions with the stop strings of prompting.ts ("\nQ:").
 * With chat, the exemplars become user/assistant turns and the question the last user turn
 * (zero-cot appends the trigger to it, as prompting.ts does), sent to POST
 * /v1/chat/completions: the server applies its own chat template and end-of-turn stops.
 * Departure from the local path: no finish reason "eos" (servers report "stop" for both an
 * end-of-sequence token and a stop string) and new tokens counted from the server's usage.
 */

import { STEP_BY_STEP_TRIGGER as COT_TRIGGER } from "../data/format.ts";
import type { CoTRecord } from "../data/records.ts";
import type { Problem } from "../data/tasks/index.ts";
import { drawExemplars, exemplarAnswer, type PromptingKind, promptBuilder, shufflePool } from "../eval/prompting.ts";
import { type EvalSummary, summarize } from "../eval/report.ts";
import { type EvalExample, scoreOutput } from "../eval/score.ts";
import type { ChatClient, WireMessage } from "./protocol.ts";

export interface EndpointEvalOptions {
  client: ChatClient;
  records: readonly CoTRecord[];
  /** The generated problems behind the records, for exact step checks. */
  problems?: readonly Problem[];
  prompting: PromptingKind;
  shots: number;
  pool?: readonly CoTRecord[];
  seed: number;
  chat: boolean;
  samples: number;
  /** Default: 0 (greedy) for one sample, 0.7 for several. */
  temperature?: number;
  topP: number;
  maxNewTokens: number;
  /** Problems in flight at once (the client also limits requests). */
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EndpointEvalResult {
  report: EvalSummary & { endpoint_model: string; prompting: PromptingKind; samples: number; seconds: number };
  examples: EvalExample[];
}

/** The chat turns of one question, as prompting.ts lays them out for a chat template. */
function chatMessages(question: string, kind: PromptingKind, exemplars: readonly CoTRecord[]): WireMessage[] {
  const messages: WireMessage[] = [];
  for (const e of exemplars) {
    messages.push({ role: "user", content: e.question.trim() }, { role: "assistant", content: exemplarAnswer(e) });
  }
  const q = question.trim();
  messages.push({ role: "user", content: kind === "zero-cot" ? `${q}\n${COT_TRIGGER}` : q });
  return messages;
}

export async function evaluateEndpoint(o: EndpointEvalOptions): Promise<EndpointEvalResult> {
  const t0 = performance.now();
  const temperature = o.temperature ?? (o.samples > 1 ? 0.7 : 0);
  const shots = o.prompting === "few-cot" ? o.shots : 0;
  const plain = promptBuilder({ kind: o.prompting, shots, seed: o.seed, ...(o.pool ? { pool: o.pool } : {}) });
  const ordered = shots > 0 ? shufflePool(o.pool ?? [], o.seed) : [];
  const sampling = {
    model: o.client.model,
    n: o.samples,
    temperature,
    top_p: o.topP,
    max_tokens: o.maxNewTokens,
    seed: o.seed,
  };
  const examples: EvalExample[] = new Array(o.records.length);
  let next = 0;
  let done = 0;
  const one = async (index: number) => {
    const r = o.records[index]!;
    let prompt: string;
    let outputs: string[];
    let finish: string | null | undefined;
    let newTokens: number;
    if (o.chat) {
      const messages = chatMessages(
        r.question,
        o.prompting,
        shots > 0 ? drawExemplars(ordered, r.question, shots) : [],
      );
      prompt = JSON.stringify(messages);
      const res = await o.client.chat({ ...sampling, messages });
      const choices = [...res.choices].sort((a, b) => a.index - b.index);
      outputs = choices.map((c) => c.message.content ?? "");
      finish = choices[0]?.finish_reason;
      newTokens = res.usage?.completion_tokens ?? 0;
    } else {
      const built = plain(r.question);
      prompt = built.prompt;
      const res = await o.client.complete({ ...sampling, prompt, ...(built.stop.length ? { stop: built.stop } : {}) });
      const choices = [...res.choices].sort((a, b) => a.index - b.index);
      outputs = choices.map((c) => c.text);
      finish = choices[0]?.finish_reason;
      newTokens = res.usage?.completion_tokens ?? 0;
    }
    const problem = o.problems?.[index];
    examples[index] = scoreOutput(r, outputs, {
      index,
      prompt,
      finishReason: finish === "length" ? "length" : "stop",
      newTokens,
      ...(problem ? { problem } : {}),
    });
    o.onProgress?.(++done, o.records.length);
  };
  const worker = async () => {
    while (next < o.records.length) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, o.records.length)) }, worker));
  return {
    report: {
      ...summarize(examples),
      endpoint_model: o.client.model,
      prompting: o.prompting,
      samples: o.samples,
      seconds: (performance.now() - t0) / 1000,
    },
    examples,
  };
}
