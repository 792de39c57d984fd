/**
 * Adapters from the public dataset layouts to stepwise's record kinds (conversions between
 * record kinds are conversions.ts). Each adapter is a pure function `(row, loc) → record` that throws a
 * DataError naming the field when the row is malformed; the registry is a mapped type, so
 * a new source format cannot compile until it has an adapter.
 *
 *   gsm8k   {question, answer: "…<<a*b=c>>…\n#### N"}          → cot  (annotations stripped, N without commas)
 *   aqua    {question, options: ["A)…",…], rationale, correct}   → cot  (options appended, answer = letter)
 *   math    {problem, solution: "…\boxed{…}…"}                  → cot  (answer = last balanced \boxed / \fbox)
 *   alpaca  {instruction, input, output}                         → instruction
 *   dolly   {instruction, context, response, category}           → instruction
 *   flan    {inputs, targets} or Super-Natural-Instructions       → instruction (definition + examples rendered)
 *   sni     same adapter as flan
 *   cot, instruction, preference, messages, prompt-completion → themselves, validated, passed through as-is
 *
 * Names: the conversational layout `{messages: [{role, content}]}` is called `messages` wherever a
 * user names a format or target kind (TRL's field name); `conversation`, the record kind's name
 * inside stepwise, is accepted as a synonym. `sourceFormatOf` / `recordKindOf` resolve either
 * spelling and `formatName` gives the canonical one, so commands never special-case it.
 */
import { z } from "zod";
import { lastBoxed } from "./answer/index.ts";
import { DataError, describeValue, fromZodError, type Location } from "./errors.ts";
import {
  ConversationSchema,
  type CoTRecord,
  CoTRecordSchema,
  type InstructionRecord,
  InstructionRecordSchema,
  PreferenceRecordSchema,
  PromptCompletionSchema,
  RECORD_SCHEMAS,
  type RecordKind,
  type RecordOf,
} from "./records.ts";

export const SOURCE_FORMATS = [
  "gsm8k",
  "aqua",
  "math",
  "alpaca",
  "dolly",
  "flan",
  "sni",
  "cot",
  "instruction",
  "preference",
  "conversation",
  "prompt-completion",
] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

export interface AdaptOptions {
  /** GSM8K: keep the `<<a*b=c>>` calculator annotations in the chain (default: strip them). */
  keepCalculator?: boolean;
}

export interface Adapter<K extends RecordKind = RecordKind> {
  /** The record kind this format becomes. */
  kind: K;
  description: string;
  adapt(row: unknown, loc: Location, opts: AdaptOptions): RecordOf<K>;
}

// ---------------------------------------------------------------- names

/** Names a user may type for a source format / record kind beyond the registry keys. */
const SYNONYMS: ReadonlyMap<string, SourceFormat & RecordKind> = new Map([["messages", "conversation"]]);
/** The name to show for a registry key, where it differs from the key. */
const CANONICAL: ReadonlyMap<string, string> = new Map([["conversation", "messages"]]);

/** A source format as a user may name it: a registry key or a synonym (`messages`). */
export type FormatName = SourceFormat | "messages";
/** A record kind as a user may name it: a record kind or a synonym (`messages`). */
export type KindName = RecordKind | "messages";

/** The canonical user-facing name of a format or kind: `conversation` → `messages`, others unchanged. */
export function formatName(name: string): string {
  return CANONICAL.get(name) ?? name;
}

/** The source format `name` denotes (`messages` and `conversation` → `conversation`), or undefined. */
export function sourceFormatOf(name: string): SourceFormat | undefined {
  const f = SYNONYMS.get(name) ?? name;
  return (SOURCE_FORMATS as readonly string[]).includes(f) ? (f as SourceFormat) : undefined;
}

/** The record kind `name` denotes (`messages` and `conversation` → `conversation`), or undefined. */
export function recordKindOf(name: string): RecordKind | undefined {
  const k = SYNONYMS.get(name) ?? name;
  return Object.hasOwn(RECORD_SCHEMAS, k) ? (k as RecordKind) : undefined;
}

/** Every source format by its canonical name, in registry order (for help text and choices). */
export const FORMAT_NAMES: readonly string[] = SOURCE_FORMATS.map(formatName);
/** Every record kind by its canonical name. */
export const KIND_NAMES: readonly string[] = Object.keys(RECORD_SCHEMAS).map(formatName);
/** Accepted synonyms, `synonym → canonical name`, for help text. */
export const NAME_SYNONYMS: readonly (readonly [string, string])[] = [...CANONICAL];

function resolveFormat(name: FormatName): SourceFormat {
  const f = sourceFormatOf(name);
  if (f === undefined)
    throw new Error(`unknown data format ${JSON.stringify(name)}; known: ${FORMAT_NAMES.join(", ")}`);
  return f;
}

/** The record kind `name` denotes; an error listing the known ones when it is none. */
export function resolveKind(name: KindName): RecordKind {
  const k = recordKindOf(name);
  if (k === undefined) throw new Error(`unknown record kind ${JSON.stringify(name)}; known: ${KIND_NAMES.join(", ")}`);
  return k;
}

/** The adapter for a format named either way (`messages` or `conversation`). */
export function adapterOf(name: FormatName): Adapter {
  return ADAPTERS[resolveFormat(name)];
}

// ---------------------------------------------------------------- helpers

/** Validate `row` against a zod schema, turning the first issue into a DataError at `loc`. */
function check<S extends z.ZodType>(schema: S, row: unknown, loc: Location): z.infer<S> {
  asObject(row, loc);
  const r = schema.safeParse(row, { reportInput: true });
  if (!r.success) throw fromZodError(r.error, loc);
  return r.data;
}

function asObject(row: unknown, loc: Location): Record<string, unknown> {
  if (row === null || typeof row !== "object" || Array.isArray(row)) {
    throw new DataError({ loc, reason: "not-an-object", expected: "a JSON object", got: describeValue(row) });
  }
  return row as Record<string, unknown>;
}

function invalid(loc: Location, field: string, expected: string, got: unknown): DataError {
  return new DataError({ loc, reason: "invalid-value", field, expected, got: describeValue(got) });
}

// ---------------------------------------------------------------- GSM8K

const Gsm8kRow = z.object({ question: z.string().min(1), answer: z.string() });

/** Remove GSM8K's calculator annotations: "3*4 = <<3*4=12>>12" → "3*4 = 12". */
export function stripCalculator(s: string): string {
  return s.replace(/<<[^<>]*>>/g, "");
}

/** Split a GSM8K solution at its last "####": the chain before, the answer after without thousands separators. */
export function splitGsm8kAnswer(solution: string): { chain: string; answer: string } | undefined {
  const at = solution.lastIndexOf("####");
  if (at < 0) return undefined;
  const answer = solution
    .slice(at + 4)
    .replace(/(\d),(?=\d)/g, "$1")
    .trim();
  if (answer === "") return undefined;
  return { chain: solution.slice(0, at).trim(), answer };
}

function adaptGsm8k(row: unknown, loc: Location, opts: AdaptOptions): CoTRecord {
  const r = check(Gsm8kRow, row, loc);
  const split = splitGsm8kAnswer(r.answer);
  if (split === undefined) throw invalid(loc, "answer", 'a worked solution ending in "#### N"', r.answer);
  const chain = opts.keepCalculator ? split.chain : stripCalculator(split.chain);
  return { question: r.question, chain_of_thought: chain, answer: split.answer, meta: { source: "gsm8k" } };
}

// ---------------------------------------------------------------- AQuA-RAT

const AquaRow = z.object({
  question: z.string().min(1),
  options: z.array(z.string()).min(2),
  rationale: z.string(),
  correct: z.string(),
});

function adaptAqua(row: unknown, loc: Location): CoTRecord {
  const r = check(AquaRow, row, loc);
  const letters: string[] = [];
  const lines = r.options.map((opt, k) => {
    const m = /^\s*([A-Z])\s*\)\s*([\s\S]*)$/.exec(opt);
    if (m === null) throw invalid(loc, `options.${k}`, 'an option like "A)42"', opt);
    letters.push(m[1]!);
    return `${m[1]}) ${m[2]!.trim()}`;
  });
  const correct = r.correct.trim().toUpperCase();
  if (!letters.includes(correct))
    throw invalid(loc, "correct", `one of the option letters ${letters.join(", ")}`, r.correct);
  return {
    question: `${r.question.trim()}\nOptions:\n${lines.join("\n")}`,
    chain_of_thought: r.rationale.trim(),
    answer: correct,
    meta: { source: "aqua" },
  };
}

// ---------------------------------------------------------------- MATH

const MathRow = z.object({ problem: z.string().min(1), solution: z.string() });

function adaptMath(row: unknown, loc: Location): CoTRecord {
  const r = check(MathRow, row, loc);
  const answer = lastBoxed(r.solution)?.trim();
  if (answer === undefined || answer === "")
    throw invalid(loc, "solution", "a solution with \\boxed{answer}", r.solution);
  const meta: Record<string, string | number> = { source: "math" };
  const o = row as Record<string, unknown>;
  for (const key of ["subject", "level", "unique_id", "type"]) {
    const v = o[key];
    if (typeof v === "string" || typeof v === "number") meta[key] = v;
  }
  return { question: r.problem, chain_of_thought: r.solution, answer, meta };
}

// ---------------------------------------------------------------- instruction formats

const AlpacaRow = z.object({ instruction: z.string().min(1), input: z.string().optional(), output: z.string() });

function adaptAlpaca(row: unknown, loc: Location): InstructionRecord {
  const r = check(AlpacaRow, row, loc);
  return r.input === undefined
    ? { instruction: r.instruction, output: r.output }
    : { instruction: r.instruction, input: r.input, output: r.output };
}

const DollyRow = z.object({
  instruction: z.string().min(1),
  context: z.string().optional(),
  response: z.string(),
  category: z.string().optional(),
});

function adaptDolly(row: unknown, loc: Location): InstructionRecord {
  const r = check(DollyRow, row, loc);
  const rec: InstructionRecord = { instruction: r.instruction, output: r.response, meta: { source: "dolly" } };
  if (r.context !== undefined && r.context !== "") rec.input = r.context;
  if (r.category !== undefined) rec.meta!["category"] = r.category;
  return rec;
}

const FlanRow = z.object({ inputs: z.string().min(1), targets: z.string() });
const SniExample = z.object({ input: z.string(), output: z.string(), explanation: z.string().optional() });
const SniRow = z.object({
  definition: z.union([z.string().min(1), z.array(z.string()).min(1)]),
  positive_examples: z.array(SniExample).optional(),
  instance: z.object({ input: z.string(), output: z.union([z.string(), z.array(z.string()).min(1)]) }),
});

/** "Positive Examples" / "positive examples" / "positive_examples" → "positive_examples". */
function normalizeKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [
      k
        .trim()
        .toLowerCase()
        .replace(/[\s-]+/g, "_"),
      v,
    ]),
  );
}

/** Render a Super-Natural-Instructions task definition and its positive examples as one instruction. */
export function renderSniInstruction(definition: string, examples: z.infer<typeof SniExample>[]): string {
  const parts = [definition.trim()];
  examples.forEach((ex, k) => {
    let s = `Example ${k + 1}\nInput: ${ex.input.trim()}\nOutput: ${ex.output.trim()}`;
    if (ex.explanation !== undefined && ex.explanation.trim() !== "") s += `\nExplanation: ${ex.explanation.trim()}`;
    parts.push(s);
  });
  if (examples.length > 0) parts.push("Now complete the following example.");
  return parts.join("\n\n");
}

function adaptFlan(row: unknown, loc: Location): InstructionRecord {
  const o = asObject(row, loc);
  if ("inputs" in o || "targets" in o) {
    const r = check(FlanRow, o, loc);
    return { instruction: r.inputs, output: r.targets, meta: { source: "flan" } };
  }
  const r = check(SniRow, normalizeKeys(o), loc);
  const definition = Array.isArray(r.definition) ? r.definition.join("\n") : r.definition;
  const output = Array.isArray(r.instance.output) ? r.instance.output[0]! : r.instance.output;
  return {
    instruction: renderSniInstruction(definition, r.positive_examples ?? []),
    input: r.instance.input,
    output,
    meta: { source: "sni" },
  };
}

/** Validate against the record schema but return the row itself, so TRL layouts round-trip as-is. */
function passThrough<K extends RecordKind>(schema: z.ZodType<RecordOf<K>>) {
  return (row: unknown, loc: Location): RecordOf<K> => {
    check(schema, row, loc);
    return row as RecordOf<K>;
  };
}

// ---------------------------------------------------------------- the registry

type AdapterRegistry = {
  [F in SourceFormat]: Adapter;
};

export const ADAPTERS: AdapterRegistry = {
  gsm8k: { kind: "cot", description: "GSM8K {question, answer: '… #### N'}", adapt: adaptGsm8k },
  aqua: { kind: "cot", description: "AQuA-RAT {question, options, rationale, correct}", adapt: adaptAqua },
  math: { kind: "cot", description: "MATH {problem, solution with \\boxed{}}", adapt: adaptMath },
  alpaca: { kind: "instruction", description: "Alpaca {instruction, input, output}", adapt: adaptAlpaca },
  dolly: { kind: "instruction", description: "Dolly {instruction, context, response, category}", adapt: adaptDolly },
  flan: { kind: "instruction", description: "FLAN {inputs, targets} or Super-Natural-Instructions", adapt: adaptFlan },
  sni: {
    kind: "instruction",
    description: "Super-Natural-Instructions {definition, positive examples, instance}",
    adapt: adaptFlan,
  },
  cot: { kind: "cot", description: "stepwise CoT records", adapt: passThrough<"cot">(CoTRecordSchema) },
  instruction: {
    kind: "instruction",
    description: "stepwise instruction records",
    adapt: passThrough<"instruction">(InstructionRecordSchema),
  },
  preference: {
    kind: "preference",
    description: "TRL preference {prompt, chosen, rejected}",
    adapt: passThrough<"preference">(PreferenceRecordSchema),
  },
  conversation: {
    kind: "conversation",
    description: "TRL conversational {messages}",
    adapt: passThrough<"conversation">(ConversationSchema),
  },
  "prompt-completion": {
    kind: "prompt-completion",
    description: "TRL prompt-completion {prompt, completion}",
    adapt: passThrough<"prompt-completion">(PromptCompletionSchema),
  },
};
