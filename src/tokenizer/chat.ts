/**
 * Chat templates: the Jinja `chat_template` of a model's tokenizer_config.json,
 * rendered with `@huggingface/jinja` (a reimplementation of Jinja made for these
 * templates; it applies trim_blocks + lstrip_blocks as transformers does).
 *
 * `applyChatTemplate` follows transformers' `apply_chat_template`:
 *  - the template sees `messages`, `add_generation_prompt`, the special tokens
 *    (`bos_token`, `eos_token`, `pad_token`, `unk_token`, `additional_special_tokens`;
 *    unset ones are left undefined) and any extra `variables` (e.g. Llama 3.1's
 *    `date_string`, Qwen3's `enable_thinking`);
 *  - `tokenize: true` encodes the rendered text WITHOUT adding special tokens,
 *    because the template already wrote the ones it wants (Llama 3's BOS);
 *  - a tokenizer without a template gets the built-in ChatML one (the format our
 *    trainer's tokenizers and Qwen/SmolLM use).
 *
 * Departure: messages are checked before rendering — roles must be system, user or
 * assistant and contents strings — so a typo fails with the message index instead
 * of rendering silently wrong text. Tool calls and multimodal content are not
 * supported yet.
 */
import { Template } from "@huggingface/jinja";
import { describeValue, type Tokenizer } from "./tokenizer.ts";

export type ChatRole = "system" | "user" | "assistant";
export const CHAT_ROLES: readonly ChatRole[] = ["system", "user", "assistant"];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** ChatML, as in transformers' documentation; `<|im_start|>role\ncontent<|im_end|>\n` per message. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** Tokens that end an assistant turn in common templates; generation stops on these as well as EOS. */
export const END_OF_TURN_TOKENS: readonly string[] = [
  "<|im_end|>",
  "<|eot_id|>",
  "<|end|>",
  "<end_of_turn>",
  "<|eom_id|>",
];

export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
}

/** A template with its special tokens, for rendering without a Tokenizer. */
export interface ChatTemplateSpec {
  template: string;
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  unkToken?: string | null;
  additionalSpecialTokens?: readonly string[];
}

export interface ApplyChatTemplateOptions {
  /** Append the header that opens an assistant turn (`<|im_start|>assistant\n`). Default false. */
  addGenerationPrompt?: boolean;
  /** Return token ids instead of text (needs a Tokenizer). Default false. */
  tokenize?: boolean;
  /** Which named template (the list form of chat_template); default "default". */
  templateName?: string;
  /** Extra template variables, e.g. { date_string: "26 Jul 2024" } or { enable_thinking: false }. */
  variables?: Record<string, unknown>;
}

/** Check a conversation; returns it typed or throws naming the message and field. */
export function validateMessages(messages: unknown, where = "applyChatTemplate"): ChatMessage[] {
  if (!Array.isArray(messages))
    throw new ChatTemplateError(`${where}: messages must be an array, got ${describeValue(messages)}`);
  if (messages.length === 0)
    throw new ChatTemplateError(`${where}: messages is empty; a conversation needs at least one message`);
  return messages.map((m: unknown, i): ChatMessage => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new ChatTemplateError(
        `${where}: messages[${i}] must be an object {role, content}, got ${describeValue(m)}`,
      );
    }
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== "string" || !(CHAT_ROLES as readonly string[]).includes(role)) {
      throw new ChatTemplateError(
        `${where}: messages[${i}].role must be one of ${CHAT_ROLES.map((r) => `"${r}"`).join(", ")}, got ${describeValue(role)}`,
      );
    }
    if (typeof content !== "string") {
      throw new ChatTemplateError(`${where}: messages[${i}].content must be a string, got ${describeValue(content)}`);
    }
    return { role: role as ChatRole, content };
  });
}

// Parsing a template is the slow part; SFT renders the same few templates thousands of times.
const compiled = new Map<string, Template>();
function compile(source: string, label: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(
        `${label}: cannot parse the template (${e instanceof Error ? e.message : String(e)})`,
        {
          cause: e,
        },
      );
    }
    if (compiled.size >= 32) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, t);
  }
  return t;
}

function isTokenizer(x: Tokenizer | ChatTemplateSpec): x is Tokenizer {
  return typeof (x as Tokenizer).encode === "function";
}

/** The template a tokenizer uses: the named one, else ChatML when it has none. */
export function resolveChatTemplate(tokenizer: Tokenizer, name = "default"): string {
  if (tokenizer.chatTemplates.size === 0) return CHATML_TEMPLATE;
  const t = tokenizer.chatTemplate(name);
  if (t === null) {
    throw new ChatTemplateError(
      `applyChatTemplate: no chat template named ${describeValue(name)}; this tokenizer has ${[
        ...tokenizer.chatTemplates.keys(),
      ]
        .map((n) => `"${n}"`)
        .join(", ")}`,
    );
  }
  return t;
}

export function applyChatTemplate(
  source: Tokenizer,
  messages: readonly ChatMessage[],
  opts: ApplyChatTemplateOptions & { tokenize: true },
): number[];
export function applyChatTemplate(
  source: Tokenizer | ChatTemplateSpec,
  messages: readonly ChatMessage[],
  opts?: ApplyChatTemplateOptions & { tokenize?: false },
): string;
export function applyChatTemplate(
  source: Tokenizer | ChatTemplateSpec,
  messages: readonly ChatMessage[],
  opts?: ApplyChatTemplateOptions,
): string | number[];
/** Render a conversation with a chat template (see the file header for the rules). */
export function applyChatTemplate(
  source: Tokenizer | ChatTemplateSpec,
  messages: readonly ChatMessage[],
  opts: ApplyChatTemplateOptions = {},
): string | number[] {
  const checked = validateMessages(messages);
  const tokenizer = isTokenizer(source) ? source : null;
  const label = tokenizer
    ? `chat template ${describeValue(opts.templateName ?? "default")}${tokenizer.chatTemplates.size === 0 ? " (built-in ChatML)" : ""}`
    : "chat template";
  const template = tokenizer
    ? resolveChatTemplate(tokenizer, opts.templateName)
    : (source as ChatTemplateSpec).template;
  if (typeof template !== "string")
    throw new ChatTemplateError(`applyChatTemplate: template must be a string, got ${describeValue(template)}`);
  const special: Record<string, unknown> = {};
  const put = (k: string, v: string | null | undefined) => {
    if (typeof v === "string") special[k] = v;
  };
  if (tokenizer) {
    put("bos_token", tokenizer.bosToken);
    put("eos_token", tokenizer.eosToken);
    put("pad_token", tokenizer.padToken);
    put("unk_token", tokenizer.unkToken);
    const extra = tokenizer.config.additional_special_tokens;
    if (Array.isArray(extra)) {
      special["additional_special_tokens"] = extra.map((t) => (typeof t === "string" ? t : (t?.content ?? null)));
    }
  } else {
    const spec = source as ChatTemplateSpec;
    put("bos_token", spec.bosToken);
    put("eos_token", spec.eosToken);
    put("pad_token", spec.padToken);
    put("unk_token", spec.unkToken);
    if (spec.additionalSpecialTokens) special["additional_special_tokens"] = [...spec.additionalSpecialTokens];
  }
  let text: string;
  try {
    text = compile(template, label).render({
      ...special,
      ...opts.variables,
      messages: checked.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    });
  } catch (e) {
    if (e instanceof ChatTemplateError) throw e;
    throw new ChatTemplateError(`${label}: rendering failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  if (!opts.tokenize) return text;
  if (!tokenizer)
    throw new ChatTemplateError("applyChatTemplate: tokenize: true needs a Tokenizer, not a bare template");
  return tokenizer.encode(text, { addSpecialTokens: false });
}

/** Ids that should stop chat generation: EOS plus any end-of-turn token the vocabulary has, deduplicated. */
export function chatStopIds(tokenizer: Tokenizer): number[] {
  const ids: number[] = [];
  if (tokenizer.eosId !== null) ids.push(tokenizer.eosId);
  for (const t of END_OF_TURN_TOKENS) {
    const id = tokenizer.tokenToId(t);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
