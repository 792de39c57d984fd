/**
 * Formatting: records → (prompt, target) text pairs, the last step before tokens.
 *
 *   CoTRecord         → prompt = [system] + instruction phrasing + question [+ trigger]
 *                       target = chain_of_thought + "\n" + answer line        (kind "cot";
 *                                the tasks' renderTarget, with trailing white space of the chain trimmed)
 *                              | answer line                                  (kind "direct")
 *   InstructionRecord → prompt = instruction [+ "\n\n" + input]
 *                       target = output                                       (kind "instruction")
 *
 * A `Template` turns one turn {system?, user, assistant} into the prompt text and
 * the target text. Two kinds:
 *  - `plainTemplate()`: "{system}\n\n{user}\n\nAnswer:\n" then the target;
 *  - `chatTemplateOf(tokenizer | spec)`: the model's own chat template through
 *    `applyChatTemplate`. The prompt is [system, user] rendered with
 *    add_generation_prompt; the target is what the full conversation
 *    [system, user, assistant] renders beyond that prefix (for ChatML the assistant
 *    content plus "<|im_end|>\n", so the model learns to close its turn). A template
 *    whose full rendering does not start with its prompt rendering (some templates
 *    rewrite earlier turns) is an error, not a silently wrong mask.
 *
 * Mixture of formats (a fraction of targets are direct answers, as in "distilling
 * step by step"-style mixtures): `formatDataset` chooses exactly
 * round(directFraction · N) records for direct answers with the seeded Rng, and each
 * prompt says which format is wanted — a step-by-step phrasing (and the trigger, when
 * on) for chains, a "final answer only" phrasing for direct answers — so the model is
 * never trained to answer the same prompt in two ways.
 *
 * Departure from Kojima et al. 2022 ("Large Language Models are Zero-Shot
 * Reasoners"): they put "Let's think step by step." after "A:", at the start of the
 * answer. We end the user text with it, so the target (the part that carries loss)
 * is only the model's own reasoning, and the same text works inside chat templates
 * where the assistant turn starts after a header.
 */
import type { Rng } from "../engine/rng.ts";
import { type ApplyChatTemplateOptions, applyChatTemplate, type ChatTemplateSpec } from "../tokenizer/chat.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { CoTRecord, InstructionRecord } from "./records.ts";
import { answerLine as taskAnswerLine } from "./tasks/types.ts";

/** Zero-shot CoT trigger of Kojima et al. 2022. */
export const STEP_BY_STEP_TRIGGER = "Let's think step by step.";

/** The default answer line: the task generators' `ANSWER_LINE`, GSM8K's "#### N". */
export const defaultAnswerLine = (answer: string): string => taskAnswerLine(answer);

/** Instruction phrasings for chain-of-thought targets, sampled per example. */
export const COT_PHRASINGS: readonly string[] = [
  "Solve step by step.",
  "Explain your reasoning and solve.",
  "Work it out one step at a time.",
  "Show your work, then give the final answer.",
  "Reason through the problem carefully before answering.",
  "Break the problem into steps and solve it.",
  "Think it through step by step, then state the answer.",
  "Solve the following problem, showing each step.",
  "Walk through the solution step by step.",
  "Explain each step of your solution.",
];

/** Instruction phrasings for direct-answer targets: they ask for the answer only. */
export const DIRECT_PHRASINGS: readonly string[] = [
  "Give only the final answer.",
  "Answer directly, without explanation.",
  "Reply with the final answer only.",
  "State the answer without showing your work.",
  "What is the answer? No explanation needed.",
  "Respond with just the final answer.",
];

export type FormatKind = "cot" | "direct" | "instruction";

/** One conversation turn to render: the user's text and the assistant's reply. */
export interface Turn {
  system?: string;
  user: string;
  assistant: string;
}

/** How a turn becomes prompt text (no loss) and target text (loss). */
export interface Template {
  readonly name: string;
  render(turn: Turn): { prompt: string; target: string };
}

export interface PlainTemplateOptions {
  /** Text between the user text and the target. Default "\n\nAnswer:\n". */
  assistantPrefix?: string;
}

/** A template for base models: "{system}\n\n{user}{assistantPrefix}{assistant}". */
export function plainTemplate(opts: PlainTemplateOptions = {}): Template {
  const prefix = opts.assistantPrefix ?? "\n\nAnswer:\n";
  return {
    name: "plain",
    render: (turn) => ({
      prompt: `${turn.system ? `${turn.system}\n\n` : ""}${turn.user}${prefix}`,
      target: turn.assistant,
    }),
  };
}

export class FormatError extends Error {
  override name = "FormatError";
}

/** A template that renders through the model's chat template (ChatML when the tokenizer has none). */
export function chatTemplateOf(
  source: Tokenizer | ChatTemplateSpec,
  opts: Pick<ApplyChatTemplateOptions, "templateName" | "variables"> = {},
): Template {
  return {
    name: "chat",
    render(turn) {
      const head = [
        ...(turn.system ? [{ role: "system" as const, content: turn.system }] : []),
        { role: "user" as const, content: turn.user },
      ];
      const prompt = applyChatTemplate(source, head, { ...opts, addGenerationPrompt: true, tokenize: false });
      const full = applyChatTemplate(source, [...head, { role: "assistant", content: turn.assistant }], {
        ...opts,
        addGenerationPrompt: false,
        tokenize: false,
      });
      if (!full.startsWith(prompt)) {
        throw new FormatError(
          "chatTemplateOf: the rendered conversation does not start with the rendered prompt " +
            `(prompt ends ${JSON.stringify(prompt.slice(-40))}, conversation has ${JSON.stringify(full.slice(prompt.length - 40, prompt.length))} there); ` +
            "this template rewrites earlier turns, so the target cannot be cut out of it — use plainTemplate or another template",
        );
      }
      return { prompt, target: full.slice(prompt.length) };
    },
  };
}

export interface FormatOptions {
  /** Default plainTemplate(). */
  template?: Template;
  /** System prompt for every example; default none. */
  system?: string;
  /** End chain-of-thought prompts with "Let's think step by step.". Default true. */
  trigger?: boolean;
  /** Pool sampled per chain-of-thought example; [] = no instruction line. Default COT_PHRASINGS. */
  phrasings?: readonly string[];
  /** Pool sampled per direct-answer example; [] = no instruction line. Default DIRECT_PHRASINGS. */
  directPhrasings?: readonly string[];
  /** Fraction of CoT records whose target is the answer line only, in [0, 1]. Default 0. */
  directFraction?: number;
  /** The final answer line; default the generators' ANSWER_LINE, "#### " + answer. */
  answerLine?: (answer: string) => string;
}

export interface FormattedExample {
  prompt: string;
  target: string;
  kind: FormatKind;
}

export function isCoTRecord(r: CoTRecord | InstructionRecord): r is CoTRecord {
  return typeof (r as CoTRecord).question === "string";
}

function checkOptions(opts: FormatOptions): void {
  const f = opts.directFraction ?? 0;
  if (!(f >= 0 && f <= 1)) throw new FormatError(`formatExample: directFraction must be in [0, 1], got ${f}`);
  for (const [key, pool] of [
    ["phrasings", opts.phrasings],
    ["directPhrasings", opts.directPhrasings],
  ] as const) {
    if (pool?.some((p) => typeof p !== "string" || p.trim() === "")) {
      throw new FormatError(`formatExample: ${key} must be non-empty strings; pass [] for no instruction line`);
    }
  }
}

/**
 * Format one record. `kind` forces "cot" or "direct" for a CoT record (formatDataset
 * uses it for the exact mixture); without it the kind is drawn with probability
 * directFraction. Random draws, in order: the kind (only when not forced and
 * 0 < directFraction < 1), then the phrasing (only when its pool is non-empty).
 */
export function formatExample(
  record: CoTRecord | InstructionRecord,
  opts: FormatOptions,
  rng: Rng,
  kind?: "cot" | "direct",
): FormattedExample {
  checkOptions(opts);
  const template = opts.template ?? plainTemplate();
  const system = opts.system === undefined ? {} : { system: opts.system };
  if (!isCoTRecord(record)) {
    const user = record.input ? `${record.instruction}\n\n${record.input}` : record.instruction;
    return { ...template.render({ ...system, user, assistant: record.output }), kind: "instruction" };
  }
  const f = opts.directFraction ?? 0;
  const k = kind ?? (f <= 0 ? "cot" : f >= 1 ? "direct" : rng.float() < f ? "direct" : "cot");
  const answerLine = (opts.answerLine ?? defaultAnswerLine)(record.answer);
  const pool = k === "cot" ? (opts.phrasings ?? COT_PHRASINGS) : (opts.directPhrasings ?? DIRECT_PHRASINGS);
  const parts: string[] = [];
  if (pool.length > 0) parts.push(rng.pick(pool));
  parts.push(record.question);
  if (k === "cot" && (opts.trigger ?? true)) parts.push(STEP_BY_STEP_TRIGGER);
  const chain = record.chain_of_thought.trimEnd();
  const assistant = k === "direct" || chain === "" ? answerLine : `${chain}\n${answerLine}`;
  return { ...template.render({ ...system, user: parts.join("\n\n"), assistant }), kind: k };
}

/** Exactly round(fraction · n) `true`s at seeded positions. */
export function planDirect(n: number, fraction: number, rng: Rng): boolean[] {
  if (!(fraction >= 0 && fraction <= 1))
    throw new FormatError(`planDirect: fraction must be in [0, 1], got ${fraction}`);
  const k = Math.round(fraction * n);
  const plan = Array.from({ length: n }, (_, i) => i < k);
  return rng.shuffle(plan);
}

export interface FormatDatasetResult {
  examples: FormattedExample[];
  /** Examples per kind. */
  counts: Record<FormatKind, number>;
}

/**
 * Format a dataset with an exact mixture: of the CoT records, exactly
 * round(directFraction · #CoT) get direct targets (positions drawn with `rng`),
 * the rest full chains. Instruction records are formatted as instructions.
 */
export function formatDataset(
  records: readonly (CoTRecord | InstructionRecord)[],
  opts: FormatOptions,
  rng: Rng,
): FormatDatasetResult {
  checkOptions(opts);
  const cotIdx = records.flatMap((r, i) => (isCoTRecord(r) ? [i] : []));
  const plan = planDirect(cotIdx.length, opts.directFraction ?? 0, rng);
  const direct = new Set(cotIdx.filter((_, j) => plan[j]));
  const counts: Record<FormatKind, number> = { cot: 0, direct: 0, instruction: 0 };
  const examples = records.map((r, i) => {
    const ex = formatExample(r, opts, rng, isCoTRecord(r) ? (direct.has(i) ? "direct" : "cot") : undefined);
    counts[ex.kind]++;
    return ex;
  });
  return { examples, counts };
}
