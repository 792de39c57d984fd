/**
 * The record types every data path in stepwise speaks, validated at the boundary
 * with zod. Readers turn files into these; formatting turns these into tokens.
 *
 *   CoTRecord          {question, chain_of_thought, answer, meta?}     chain-of-thought example
 *   InstructionRecord  {instruction, input?, output}                   instruction tuning (Alpaca-style)
 *   PreferenceRecord   {prompt, chosen, rejected}                      reward models, DPO
 *   Conversation       {messages: [{role, content}]}                   chat data (TRL "conversational")
 *   PromptCompletion   {prompt, completion}                            TRL "prompt-completion"
 *
 * Field names follow the files people already have (snake_case `chain_of_thought`,
 * TRL's layouts as-is) so records round-trip through JSONL unchanged.
 */
import { z } from "zod";

/** Free-form provenance: source dataset, task name, difficulty, original id, … */
export const MetaSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));

export const CoTRecordSchema = z.object({
  /** The problem as posed. */
  question: z.string().min(1),
  /** The reasoning, step by step, without the final answer line. */
  chain_of_thought: z.string(),
  /** The final answer, normalised (e.g. "72", "C", "\\frac{1}{2}"). */
  answer: z.string().min(1),
  meta: MetaSchema.optional(),
});
export type CoTRecord = z.infer<typeof CoTRecordSchema>;

export const InstructionRecordSchema = z.object({
  instruction: z.string().min(1),
  /** Extra context for the instruction; often empty. */
  input: z.string().optional(),
  output: z.string(),
  meta: MetaSchema.optional(),
});
export type InstructionRecord = z.infer<typeof InstructionRecordSchema>;

export const PreferenceRecordSchema = z.object({
  prompt: z.string().min(1),
  chosen: z.string(),
  rejected: z.string(),
  meta: MetaSchema.optional(),
});
export type PreferenceRecord = z.infer<typeof PreferenceRecordSchema>;

/** TRL's stepwise-supervision layout (PRMTrainer): the steps of one completion and a label per step. */
export const StepwiseRecordSchema = z.object({
  prompt: z.string().min(1),
  completions: z.array(z.string()).min(1),
  labels: z.array(z.boolean()).min(1),
  meta: MetaSchema.optional(),
});
export type StepwiseRecord = z.infer<typeof StepwiseRecordSchema>;

export const ROLES = ["system", "user", "assistant"] as const;
export type Role = (typeof ROLES)[number];

export const MessageSchema = z.object({ role: z.enum(ROLES), content: z.string() });
export type Message = z.infer<typeof MessageSchema>;

export const ConversationSchema = z.object({
  messages: z.array(MessageSchema).min(1),
  meta: MetaSchema.optional(),
});
export type Conversation = z.infer<typeof ConversationSchema>;

/** TRL's standard prompt-completion layout (strings) or its conversational form (message lists). */
export const PromptCompletionSchema = z.object({
  prompt: z.union([z.string(), z.array(MessageSchema)]),
  completion: z.union([z.string(), z.array(MessageSchema)]),
  meta: MetaSchema.optional(),
});
export type PromptCompletion = z.infer<typeof PromptCompletionSchema>;

export const RECORD_SCHEMAS = {
  cot: CoTRecordSchema,
  instruction: InstructionRecordSchema,
  preference: PreferenceRecordSchema,
  conversation: ConversationSchema,
  "prompt-completion": PromptCompletionSchema,
} as const;
export type RecordKind = keyof typeof RECORD_SCHEMAS;
export type RecordOf<K extends RecordKind> = z.infer<(typeof RECORD_SCHEMAS)[K]>;
