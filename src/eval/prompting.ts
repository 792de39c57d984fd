/**
 * Prompting baselines: how well does a model reason when only asked? Three kinds,
 * each in plain text or through the model's chat template:
 *
 *   zero      Q: {question}\nA:
 *   zero-cot  Q: {question}\nA: Let's think step by step.               (Kojima et al., 2022)
 *   few-cot   k exemplars "Q: {q}\nA: {chain}\n#### {answer}" separated by a blank line, then
 *             the zero-shot prompt                                           (Wei et al., 2022)
 *
 * Chat format: the exemplars become user/assistant turns (user: the question; assistant:
 * the chain and the answer line), the test question the last user turn; zero-cot appends
 * "\nLet's think step by step." to that user turn (the assistant turn starts after a
 * header, so the trigger cannot go at the start of the answer as Kojima et al. put it).
 * The prompt is rendered with add_generation_prompt.
 *
 * Exemplars: one seeded shuffle of the pool (`Rng(seed)`, Fisher–Yates); every test item
 * takes the first k pool records whose question differs from its own (whitespace and case
 * ignored), so all items share the same exemplars except where one would leak the answer.
 *
 * Stop strings: a plain prompt stops at "\nQ:" so a model does not go on to invent the next
 * exemplar; chat prompts stop on the template's end-of-turn tokens (the caller adds those
 * ids, see chatStopIds).
 */

import { STEP_BY_STEP_TRIGGER } from "../data/format.ts";
import type { CoTRecord } from "../data/records.ts";
import { answerLine } from "../data/tasks/types.ts";
import { Rng } from "../engine/rng.ts";
import { applyChatTemplate, type ChatMessage, type ChatTemplateSpec } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export const PROMPTING_KINDS = ["zero", "zero-cot", "few-cot"] as const;
export type PromptingKind = (typeof PROMPTING_KINDS)[number];

/**
 * The `stepwise eval --mode` names and the prompting kinds they map onto:
 *   cot → zero-cot (zero-shot, "Let's think step by step."), direct → zero (zero-shot direct answer),
 *   fewshot → few-cot (k exemplars with their chains, `--shots k`).
 */
export const EVAL_MODES = { cot: "zero-cot", direct: "zero", fewshot: "few-cot" } as const satisfies Record<
  string,
  PromptingKind
>;
export type EvalMode = keyof typeof EVAL_MODES;

/** Where a plain-format generation stops: the start of another question. */
export const PLAIN_STOP_STRINGS: readonly string[] = ["\nQ:"];

export class PromptingError extends Error {
  override name = "PromptingError";
}

export interface PromptingOptions {
  kind: PromptingKind;
  /** Exemplars for few-cot (default 4). */
  shots?: number;
  /** Seed of the exemplar draw (default 0). */
  seed?: number;
  /** Records the exemplars are drawn from (needed by few-cot). */
  pool?: readonly CoTRecord[];
  /** Render through this chat template (a Tokenizer or a bare template); plain text when absent. */
  chat?: Tokenizer | ChatTemplateSpec;
}

export interface BuiltPrompt {
  /** The text to feed the model. */
  prompt: string;
  /** Stop strings for generation. */
  stop: string[];
  /** Questions of the exemplars used (empty for zero-shot). */
  exemplars: string[];
}

const sameQuestion = (a: string, b: string) =>
  a.replace(/\s+/g, " ").trim().toLowerCase() === b.replace(/\s+/g, " ").trim().toLowerCase();

/** The pool in a seeded order (Fisher–Yates with Rng(seed)); the pool itself is not changed. */
export function shufflePool<T>(pool: readonly T[], seed: number): T[] {
  const out = [...pool];
  const rng = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The first `k` records of `ordered` whose question is not `question`; an error when the pool is too small. */
export function drawExemplars(ordered: readonly CoTRecord[], question: string, k: number): CoTRecord[] {
  const picked: CoTRecord[] = [];
  for (const r of ordered) {
    if (picked.length === k) break;
    if (!sameQuestion(r.question, question)) picked.push(r);
  }
  if (picked.length < k) {
    throw new PromptingError(
      `drawExemplars: few-cot needs ${k} exemplars other than the test question, the pool has ${picked.length}; ` +
        "give a larger pool or fewer --shots",
    );
  }
  return picked;
}

/** An exemplar's answer text: its chain, then the answer line ("#### 42"). */
export function exemplarAnswer(r: Pick<CoTRecord, "chain_of_thought" | "answer">): string {
  return r.chain_of_thought.trim() === ""
    ? answerLine(r.answer)
    : `${r.chain_of_thought.trim()}\n${answerLine(r.answer)}`;
}

/**
 * A prompt builder for a fixed kind, pool and seed: the pool is shuffled once, each
 * call draws the exemplars for one question.
 */
export function promptBuilder(opts: PromptingOptions): (question: string) => BuiltPrompt {
  const kind = opts.kind;
  if (!(PROMPTING_KINDS as readonly string[]).includes(kind)) {
    throw new PromptingError(`promptBuilder: kind must be one of ${PROMPTING_KINDS.join(", ")}, got "${kind}"`);
  }
  const shots = kind === "few-cot" ? (opts.shots ?? 4) : 0;
  if (!Number.isInteger(shots) || shots < 0) {
    throw new PromptingError(`promptBuilder: shots must be a non-negative integer, got ${shots}`);
  }
  if (shots > 0 && (!opts.pool || opts.pool.length === 0)) {
    throw new PromptingError("promptBuilder: few-cot needs a pool of exemplar records (pool)");
  }
  const ordered = shots > 0 ? shufflePool(opts.pool!, opts.seed ?? 0) : [];
  return (question) => {
    const exemplars = shots > 0 ? drawExemplars(ordered, question, shots) : [];
    const q = question.trim();
    if (opts.chat) {
      const messages: ChatMessage[] = [];
      for (const e of exemplars) {
        messages.push({ role: "user", content: e.question.trim() }, { role: "assistant", content: exemplarAnswer(e) });
      }
      messages.push({ role: "user", content: kind === "zero-cot" ? `${q}\n${STEP_BY_STEP_TRIGGER}` : q });
      const prompt = applyChatTemplate(opts.chat, messages, { addGenerationPrompt: true });
      return { prompt, stop: [], exemplars: exemplars.map((e) => e.question) };
    }
    const shotsText = exemplars.map((e) => `Q: ${e.question.trim()}\nA: ${exemplarAnswer(e)}\n\n`).join("");
    const prompt = `${shotsText}Q: ${q}\nA:${kind === "zero-cot" ? ` ${STEP_BY_STEP_TRIGGER}` : ""}`;
    return { prompt, stop: [...PLAIN_STOP_STRINGS], exemplars: exemplars.map((e) => e.question) };
  };
}

/** One prompt (convenience over promptBuilder; reshuffles the pool each call). */
export function buildPrompt(question: string, opts: PromptingOptions): BuiltPrompt {
  return promptBuilder(opts)(question);
}
