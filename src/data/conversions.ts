/**
 * Conversions between record kinds: a typed registry (`CONVERSIONS`, a mapped type, so a
 * kind added to records.ts shows here as a missing entry, never a silent gap) of pure
 * functions `(record, loc) → record`, and `adaptRow`, the whole one-row pipeline from a
 * source format (adapters.ts) to a target kind. A missing entry means the conversion does
 * not make sense (an instruction has no chain of thought to become `cot`).
 */
import { type AdaptOptions, adapterOf, type FormatName, formatName, type KindName, resolveKind } from "./adapters.ts";
import { DataError, type Location } from "./errors.ts";
import type {
  Conversation,
  CoTRecord,
  InstructionRecord,
  PreferenceRecord,
  PromptCompletion,
  RecordKind,
  RecordOf,
} from "./records.ts";
import { renderTarget } from "./tasks/types.ts";

/** The line that ends a chain-of-thought target when a CoT record becomes free text. */
export function cotTarget(r: CoTRecord): string {
  // One answer line for the whole project (the generators' `#### N`), so converted data,
  // formatted training targets and the evaluator's strict extraction agree.
  return renderTarget({ chain_of_thought: r.chain_of_thought.trim(), answer: r.answer });
}

function instructionPrompt(r: InstructionRecord): string {
  return r.input !== undefined && r.input.trim() !== "" ? `${r.instruction}\n\n${r.input}` : r.instruction;
}

const withMeta = <T extends object>(rec: T, meta: Record<string, unknown> | undefined): T =>
  meta === undefined ? rec : { ...rec, meta };

type Conversions = {
  [F in RecordKind]: Partial<{ [T in RecordKind]: (r: RecordOf<F>, loc: Location) => RecordOf<T> }>;
};

/** Which record kinds can become which; a missing entry means "does not make sense". */
export const CONVERSIONS: Conversions = {
  cot: {
    cot: (r) => r,
    instruction: (r): InstructionRecord => withMeta({ instruction: r.question, output: cotTarget(r) }, r.meta),
    "prompt-completion": (r): PromptCompletion => withMeta({ prompt: r.question, completion: cotTarget(r) }, r.meta),
    conversation: (r): Conversation =>
      withMeta(
        {
          messages: [
            { role: "user", content: r.question },
            { role: "assistant", content: cotTarget(r) },
          ],
        },
        r.meta,
      ),
  },
  instruction: {
    instruction: (r) => r,
    "prompt-completion": (r): PromptCompletion =>
      withMeta({ prompt: instructionPrompt(r), completion: r.output }, r.meta),
    conversation: (r): Conversation =>
      withMeta(
        {
          messages: [
            { role: "user", content: instructionPrompt(r) },
            { role: "assistant", content: r.output },
          ],
        },
        r.meta,
      ),
  },
  preference: { preference: (r): PreferenceRecord => r },
  conversation: {
    conversation: (r) => r,
    "prompt-completion": (r, loc): PromptCompletion => {
      const last = r.messages.length - 1;
      if (r.messages[last]!.role !== "assistant" || last === 0) {
        throw new DataError({
          loc,
          reason: "unconvertible",
          field: "messages",
          expected: "a conversation ending in an assistant message after at least one other",
          got: `last role "${r.messages[last]!.role}" of ${r.messages.length}`,
        });
      }
      return withMeta({ prompt: r.messages.slice(0, last), completion: [r.messages[last]!] }, r.meta);
    },
  },
  "prompt-completion": {
    "prompt-completion": (r) => r,
    conversation: (r): Conversation => {
      const asMessages = (x: PromptCompletion["prompt"], role: "user" | "assistant") =>
        typeof x === "string" ? [{ role, content: x }] : x;
      return withMeta(
        { messages: [...asMessages(r.prompt, "user"), ...asMessages(r.completion, "assistant")] },
        r.meta,
      );
    },
  },
};

/** The conversion from `from` to `to` (either named either way), or undefined when it does not make sense. */
export function conversion(from: KindName, to: KindName): ((r: unknown, loc: Location) => unknown) | undefined {
  return CONVERSIONS[resolveKind(from)][resolveKind(to)] as ((r: unknown, loc: Location) => unknown) | undefined;
}

/** Kinds a record of `from` can become (registry keys; show them with `formatName`). */
export function targetsOf(from: KindName): RecordKind[] {
  return Object.keys(CONVERSIONS[resolveKind(from)]) as RecordKind[];
}

/** Adapt one row of `format` and convert it to `to`: the whole pipeline for one row, pure. */
export function adaptRow(format: FormatName, to: KindName, row: unknown, loc: Location, opts: AdaptOptions = {}) {
  const adapter = adapterOf(format);
  const convert = conversion(adapter.kind, to);
  if (convert === undefined)
    throw new Error(`cannot convert ${formatName(format)} (${formatName(adapter.kind)} records) to ${formatName(to)}`);
  return convert(adapter.adapt(row, loc, opts), loc);
}
