/**
 * The files of a Hugging Face tokenizer folder: their names, the fields of `tokenizer.json`
 * and `tokenizer_config.json` stepwise relies on (validated, every error naming the file and
 * field), chat templates in their string and named-list forms, and writing them back.
 * tokenizer.ts builds the Tokenizer on top and re-exports these.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeTextAtomic as writeTextFileAtomic } from "../engine/files.ts";

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
export const SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json";
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

export class TokenizerError extends Error {
  override name = "TokenizerError";
  /** The file (or function) the problem is about. */
  readonly file: string;
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.file = file;
  }
}

// ---------------------------------------------------------------------------
// The JSON formats, typed as far as we rely on them.

/** One entry of `tokenizer.json`'s `added_tokens`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A normalizer / pre-tokenizer / post-processor / decoder: `type` plus its own fields. */
export interface ComponentJson {
  type: string;
  [field: string]: unknown;
}

/** `model` of a BPE tokenizer. Merges are "left right" strings (old format) or [left, right] pairs (new). */
export interface BpeModelJson {
  type: "BPE";
  dropout: number | null;
  unk_token: string | null;
  continuing_subword_prefix: string | null;
  end_of_word_suffix: string | null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges?: boolean;
  vocab: Record<string, number>;
  merges: string[] | [string, string][];
}

/** `model` of a Unigram tokenizer: pieces with their log-probabilities; unk_id the unknown piece's index. */
export interface UnigramModelJson {
  type: "Unigram";
  unk_id: number | null;
  vocab: [string, number][];
  byte_fallback?: boolean;
}

/** `model` of the other kinds the library reads (WordPiece): kept opaque. */
export interface OtherModelJson {
  type: string;
  vocab: unknown;
  [field: string]: unknown;
}

export interface TokenizerJson {
  version: string;
  truncation: unknown;
  padding: unknown;
  added_tokens: AddedTokenJson[];
  normalizer: ComponentJson | null;
  pre_tokenizer: ComponentJson | null;
  post_processor: ComponentJson | null;
  decoder: ComponentJson | null;
  model: BpeModelJson | UnigramModelJson | OtherModelJson;
}

/** A special token as written in tokenizer_config.json: a string, or transformers' AddedToken dict. */
export type SpecialTokenValue = string | { content: string; [field: string]: unknown } | null;

/** The fields of `tokenizer_config.json` we read; everything else is kept and written back as-is. */
export interface TokenizerConfigJson {
  bos_token?: SpecialTokenValue;
  eos_token?: SpecialTokenValue;
  pad_token?: SpecialTokenValue;
  unk_token?: SpecialTokenValue;
  additional_special_tokens?: SpecialTokenValue[];
  chat_template?: string | { name: string; template: string }[];
  clean_up_tokenization_spaces?: boolean;
  model_max_length?: number;
  tokenizer_class?: string;
  [field: string]: unknown;
}

// ---------------------------------------------------------------------------
// Validation helpers.

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export function isId(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Short, quoted rendering of a value for an error message. */
export function describeValue(x: unknown): string {
  if (x === undefined) return "nothing (field missing)";
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = typeof x;
  }
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function component(file: string, json: Record<string, unknown>, field: string): ComponentJson | null {
  const v = json[field];
  if (v === undefined || v === null) return null;
  if (!isRecord(v) || typeof v["type"] !== "string") {
    throw new TokenizerError(
      file,
      `${field}: expected null or an object with a string "type", got ${describeValue(v)}`,
    );
  }
  return v as ComponentJson;
}

/**
 * Check the parts of a tokenizer.json we and the library rely on, and return it typed.
 * Missing optional components become null; anything malformed is a TokenizerError naming `file` and the field.
 */
export function parseTokenizerJson(raw: unknown, file = TOKENIZER_FILE): TokenizerJson {
  if (!isRecord(raw)) throw new TokenizerError(file, `expected a JSON object, got ${describeValue(raw)}`);
  const model = raw["model"];
  if (!isRecord(model)) throw new TokenizerError(file, `model: expected an object, got ${describeValue(model)}`);
  if (typeof model["type"] !== "string") {
    throw new TokenizerError(file, `model.type: expected a string such as "BPE", got ${describeValue(model["type"])}`);
  }
  if (model["type"] === "BPE") {
    const vocab = model["vocab"];
    if (!isRecord(vocab)) {
      throw new TokenizerError(file, `model.vocab: expected an object mapping token → id, got ${describeValue(vocab)}`);
    }
    for (const [token, id] of Object.entries(vocab)) {
      if (!isId(id))
        throw new TokenizerError(
          file,
          `model.vocab[${describeValue(token)}]: expected an id, got ${describeValue(id)}`,
        );
    }
    const merges = model["merges"];
    if (!Array.isArray(merges)) {
      throw new TokenizerError(
        file,
        `model.merges: expected an array of "a b" strings or [a, b] pairs, got ${describeValue(merges)}`,
      );
    }
    merges.forEach((m, i) => {
      const ok =
        (typeof m === "string" && m.includes(" ")) ||
        (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string");
      if (!ok) {
        throw new TokenizerError(file, `model.merges[${i}]: expected "a b" or ["a", "b"], got ${describeValue(m)}`);
      }
    });
    for (const f of ["unk_token", "continuing_subword_prefix", "end_of_word_suffix"]) {
      const v = model[f];
      if (v !== undefined && v !== null && typeof v !== "string") {
        throw new TokenizerError(file, `model.${f}: expected a string or null, got ${describeValue(v)}`);
      }
    }
    if (typeof model["unk_token"] === "string" && !Object.hasOwn(vocab, model["unk_token"])) {
      throw new TokenizerError(file, `model.unk_token ${describeValue(model["unk_token"])} is not in model.vocab`);
    }
  } else if (model["type"] === "Unigram") {
    const vocab = model["vocab"];
    if (!Array.isArray(vocab) || vocab.length === 0) {
      throw new TokenizerError(
        file,
        `model.vocab: expected a non-empty array of [piece, score] pairs, got ${describeValue(vocab)}`,
      );
    }
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || typeof e[1] !== "number") {
        throw new TokenizerError(file, `model.vocab[${i}]: expected [piece, score], got ${describeValue(e)}`);
      }
    });
    const unk = model["unk_id"];
    if (unk !== undefined && unk !== null && !(isId(unk) && unk < vocab.length)) {
      throw new TokenizerError(
        file,
        `model.unk_id: expected null or an index into model.vocab (< ${vocab.length}), got ${describeValue(unk)}`,
      );
    }
    if (model["byte_fallback"] === true) {
      throw new TokenizerError(
        file,
        "model.byte_fallback: true is not supported for Unigram (the tokenizer library would map unknown characters to <unk> instead of byte pieces)",
      );
    }
  } else if (model["vocab"] === undefined) {
    throw new TokenizerError(file, `model.vocab: missing (model.type ${describeValue(model["type"])})`);
  }
  const added = raw["added_tokens"] ?? [];
  if (!Array.isArray(added)) {
    throw new TokenizerError(file, `added_tokens: expected an array, got ${describeValue(added)}`);
  }
  const addedTokens: AddedTokenJson[] = added.map((t, i) => {
    if (!isRecord(t) || !isId(t["id"]) || typeof t["content"] !== "string") {
      throw new TokenizerError(
        file,
        `added_tokens[${i}]: expected {id: integer ≥ 0, content: string, ...}, got ${describeValue(t)}`,
      );
    }
    const flag = (k: string, dflt: boolean): boolean => {
      const v = t[k];
      if (v === undefined) return dflt;
      if (typeof v !== "boolean")
        throw new TokenizerError(file, `added_tokens[${i}].${k}: expected a boolean, got ${describeValue(v)}`);
      return v;
    };
    return {
      id: t["id"],
      content: t["content"],
      single_word: flag("single_word", false),
      lstrip: flag("lstrip", false),
      rstrip: flag("rstrip", false),
      normalized: flag("normalized", false),
      special: flag("special", false),
    };
  });
  return {
    ...raw,
    version: typeof raw["version"] === "string" ? raw["version"] : "1.0",
    truncation: raw["truncation"] ?? null,
    padding: raw["padding"] ?? null,
    added_tokens: addedTokens,
    normalizer: component(file, raw, "normalizer"),
    pre_tokenizer: component(file, raw, "pre_tokenizer"),
    post_processor: component(file, raw, "post_processor"),
    decoder: component(file, raw, "decoder"),
    model: model as BpeModelJson | UnigramModelJson | OtherModelJson,
  };
}

export function specialTokenValue(file: string, field: string, v: unknown): string | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === "string") return v;
  if (isRecord(v) && typeof v["content"] === "string") return v["content"];
  throw new TokenizerError(
    file,
    `${field}: expected a token string, {"content": string} or null, got ${describeValue(v)}`,
  );
}

/** Check a tokenizer_config.json (or special_tokens_map.json) object. */
export function parseTokenizerConfig(raw: unknown, file = TOKENIZER_CONFIG_FILE): TokenizerConfigJson {
  if (!isRecord(raw)) throw new TokenizerError(file, `expected a JSON object, got ${describeValue(raw)}`);
  for (const f of ["bos_token", "eos_token", "pad_token", "unk_token"]) specialTokenValue(file, f, raw[f]);
  const extra = raw["additional_special_tokens"];
  if (extra !== undefined && extra !== null) {
    if (!Array.isArray(extra)) {
      throw new TokenizerError(file, `additional_special_tokens: expected an array, got ${describeValue(extra)}`);
    }
    extra.forEach((v, i) => {
      specialTokenValue(file, `additional_special_tokens[${i}]`, v);
    });
  }
  const clean = raw["clean_up_tokenization_spaces"];
  if (clean !== undefined && typeof clean !== "boolean") {
    throw new TokenizerError(file, `clean_up_tokenization_spaces: expected a boolean, got ${describeValue(clean)}`);
  }
  if (raw["chat_template"] !== undefined && raw["chat_template"] !== null)
    parseChatTemplates(raw["chat_template"], file);
  return raw as TokenizerConfigJson;
}

/**
 * A `chat_template` value: one template string, or the list-of-named-templates form
 * `[{name: "default", template: ...}, {name: "tool_use", template: ...}]`. Returns name → template.
 */
export function parseChatTemplates(value: unknown, file = TOKENIZER_CONFIG_FILE): Map<string, string> {
  if (typeof value === "string") return new Map([["default", value]]);
  if (Array.isArray(value)) {
    const out = new Map<string, string>();
    value.forEach((entry, i) => {
      if (!isRecord(entry) || typeof entry["name"] !== "string" || typeof entry["template"] !== "string") {
        throw new TokenizerError(
          file,
          `chat_template[${i}]: expected {"name": string, "template": string}, got ${describeValue(entry)}`,
        );
      }
      if (out.has(entry["name"]))
        throw new TokenizerError(file, `chat_template[${i}]: duplicate name ${describeValue(entry["name"])}`);
      out.set(entry["name"], entry["template"]);
    });
    return out;
  }
  throw new TokenizerError(
    file,
    `chat_template: expected a string or a list of {name, template}, got ${describeValue(value)}`,
  );
}

export async function readJson(path: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : String(e);
    throw new TokenizerError(path, `cannot read (${why})`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(path, `invalid JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}

/** Write a text file atomically (engine/files.ts), reporting a failure as a TokenizerError. */
async function writeTextAtomic(path: string, text: string): Promise<void> {
  try {
    await writeTextFileAtomic(path, text);
  } catch (e) {
    throw new TokenizerError(path, `write failed (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
}

/** Write tokenizer.json and tokenizer_config.json into `dir` (created if needed). */
export async function writeTokenizerFiles(
  dir: string,
  json: TokenizerJson,
  config: TokenizerConfigJson,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeTextAtomic(join(dir, TOKENIZER_FILE), `${JSON.stringify(json, null, 2)}\n`);
  await writeTextAtomic(join(dir, TOKENIZER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}
