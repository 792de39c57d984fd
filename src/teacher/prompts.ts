/**
 * How the teacher is asked for chains, one entry per prompt style (a typed registry), and
 * how a chain is read back out of its answer.
 *
 *   qa    POST completions, the prompt the stepwise SFT "qa" template trains on:
 *           "Q: {question}\nA: Let's think step by step."   → " {chain}\n#### {answer}"
 *         stop "\nQ:". For base models and stepwise's own models (the demo's CoT model).
 *   chat  POST chat/completions: a system turn asking for steps and a final "#### answer"
 *         line, the question as the user turn. For instruction-tuned models anywhere.
 *
 * Rationalisation (STaR, Zelikman et al. 2022, §3.2): where no sampled chain reaches the
 * gold answer, the teacher is asked again with the answer given as a hint, and the chain it
 * writes is kept as if it had been asked without it. Departure from STaR: their hint is the
 * answer inserted into few-shot exemplars of a rationale; here it is one sentence after the
 * question ("(Hint: the answer is 8.)"), the only form a zero-shot prompt allows. A chain
 * that mentions the hint would not make sense without it, so such chains are dropped.
 */
import { STEP_BY_STEP_TRIGGER as COT_TRIGGER } from "../data/format.ts";
import { PLAIN_STOP_STRINGS } from "../eval/prompting.ts";
import type { Endpoint } from "./cache.ts";

export const PROMPT_STYLES = ["qa", "chat"] as const;
export type PromptStyle = (typeof PROMPT_STYLES)[number];

/** The sampling every request of a run carries. */
export interface Sampling {
  model: string;
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

/** One request: where it goes and its body exactly as sent (and cached). */
export interface TeacherRequest {
  endpoint: Endpoint;
  body: Record<string, unknown>;
}

export const SYSTEM_PROMPT =
  "Solve the problem step by step, one step per line. End with a line of the form '#### <answer>'.";

/** The hint sentence of a rationalisation prompt. */
export const hintText = (answer: string) => `(Hint: the answer is ${answer}.)`;

interface Style {
  description: string;
  request(question: string, hint: string | null, s: Sampling): TeacherRequest;
}

const common = (s: Sampling) => ({
  model: s.model,
  n: s.n,
  temperature: s.temperature,
  top_p: s.topP,
  max_tokens: s.maxTokens,
  seed: s.seed,
});

export const STYLES: { [K in PromptStyle]: Style } = {
  qa: {
    description: "completions with \"Q: {question}\\nA: Let's think step by step.\" (stepwise's qa template)",
    request: (question, hint, s) => ({
      endpoint: "completions",
      body: {
        ...common(s),
        prompt: `Q: ${question.trim()}${hint === null ? "" : ` ${hintText(hint)}`}\nA: ${COT_TRIGGER}`,
        stop: [...PLAIN_STOP_STRINGS],
      },
    }),
  },
  chat: {
    description: "chat/completions with a system turn asking for steps and a final '#### <answer>' line",
    request: (question, hint, s) => ({
      endpoint: "chat/completions",
      body: {
        ...common(s),
        messages: [
          { role: "system", content: SYSTEM_PROMPT },
          { role: "user", content: hint === null ? question.trim() : `${question.trim()}\n${hintText(hint)}` },
        ],
      },
    }),
  },
};

/** Does a chain refer to the hint it was given (and so cannot stand without it)? */
export function mentionsHint(chain: string): boolean {
  return /\bhint\b/i.test(chain);
}
