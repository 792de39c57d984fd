/**
 * Tokenizers from Hugging Face folders: `tokenizer.json` (+ `tokenizer_config.json`,
 * `special_tokens_map.json`, `chat_template.jinja` when present), run through
 * `@huggingface/tokenizers`, the maintained pure-JS port of the Rust library.
 *
 * Why a wrapper and not the library directly:
 *  - its constructor takes `Object` and its errors say "Tokenizer must contain a
 *    'model' property" without naming a file; checkpoints come from the internet, so
 *    we validate the fields we rely on first and every error names the file and field;
 *  - it has no notion of bos/eos/pad ids, which every trainer needs: they come from
 *    `tokenizer_config.json` / `special_tokens_map.json` (transformers' rules: the
 *    special-tokens map wins over the config; a token given as an AddedToken dict
 *    `{content: ...}` counts as its content) and must exist in the vocabulary;
 *  - a few library defaults differ from transformers' current ones and would break
 *    round-trips: it applies `clean_up_tokenization_spaces` (" ." → ".") unless told
 *    otherwise, where transformers ≥ 4.45 defaults to false; `decode([])` throws.
 *
 * Tokenizer kinds exercised by the tests: byte-level BPE (GPT-2, Llama 3, Qwen2,
 * SmolLM: ByteLevel pre-tokenizer/decoder, optional Split regex and BOS template)
 * and SentencePiece-style BPE (Llama 2: "▁" metaspace via Prepend+Replace
 * normalizers or a Metaspace pre-tokenizer, byte fallback to `<0xNN>` tokens).
 * and Unigram (T5, Flan-T5: a [piece, log-probability] vocabulary segmented by Viterbi,
 * Precompiled + Strip + Replace normalizers, WhitespaceSplit + Metaspace pre-tokenizers, an
 * `</s>` appended by the template, no BOS). The library approximates T5's Precompiled
 * normalizer (a compiled NMT-NFKC map) with NFKC plus control/space rules rather than
 * reading the charsmap, and has no Unigram byte fallback, so a Unigram tokenizer.json with
 * byte_fallback: true is refused. WordPiece models load but are untested.
 *
 * `encode` adds the template's special tokens (Llama's BOS) by default, as
 * transformers does; `decode` keeps special tokens unless asked to skip them.
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
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

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isId(x: unknown): x is number {
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

function specialTokenValue(file: string, field: string, v: unknown): string | null | undefined {
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

async function readJson(path: string, optional: boolean): Promise<unknown> {
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

// ---------------------------------------------------------------------------
// The tokenizer.

export interface EncodeOptions {
  /** Add the special tokens of the post-processor template (e.g. Llama's BOS). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (added tokens marked special, bos/eos/pad/unk, additional_special_tokens). Default false. */
  skipSpecialTokens?: boolean;
}

export interface TokenizerSources {
  /** Name of the tokenizer.json for error messages. */
  tokenizerFile?: string;
  /** Name of the config for error messages. */
  configFile?: string;
  /** special_tokens_map.json contents; its bos/eos/pad/unk override the config's (transformers' rule). */
  specialTokensMap?: unknown;
  /** A chat template read from chat_template.jinja; it overrides the config's `chat_template`. */
  chatTemplateFile?: string;
}

/** Whether a pre-tokenizer (or one inside a Sequence) splits on whitespace and drops it. */
function hasWhitespaceSplit(c: ComponentJson | null): boolean {
  if (c === null) return false;
  if (c.type === "WhitespaceSplit" || c.type === "Whitespace") return true;
  const inner = c["pretokenizers"];
  return Array.isArray(inner) && inner.some((p) => isRecord(p) && hasWhitespaceSplit(p as ComponentJson));
}

export class Tokenizer {
  /** The validated tokenizer.json. */
  readonly json: TokenizerJson;
  /** tokenizer_config.json with special_tokens_map.json and chat_template.jinja folded in. */
  readonly config: TokenizerConfigJson;
  /** Number of ids: highest id in the vocabulary or added tokens, plus one (transformers' `len(tokenizer)`). */
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly unkId: number | null;
  /** Ids that `skipSpecialTokens` drops. */
  readonly specialIds: ReadonlySet<number>;
  /** Named chat templates ("default" for the single-string form); empty when the tokenizer has none. */
  readonly chatTemplates: ReadonlyMap<string, string>;
  /**
   * True when a WhitespaceSplit / Whitespace pre-tokenizer drops whitespace (T5's and other
   * SentencePiece layouts): decode(encode(text)) then equals text only up to whitespace runs.
   */
  readonly dropsWhitespace: boolean;
  private readonly hf: HfTokenizer;
  private readonly idToTokenMap: Map<number, string>;
  private readonly tokenToIdMap: Map<string, number>;
  private readonly cleanUpSpaces: boolean;
  private readonly file: string;

  constructor(tokenizerJson: unknown, config: unknown = {}, sources: TokenizerSources = {}) {
    const file = sources.tokenizerFile ?? TOKENIZER_FILE;
    const configFile = sources.configFile ?? TOKENIZER_CONFIG_FILE;
    this.file = file;
    this.json = parseTokenizerJson(tokenizerJson, file);
    const merged: TokenizerConfigJson = { ...parseTokenizerConfig(config, configFile) };
    const origin = new Map<string, string>(); // field → the file it came from, for error messages
    if (sources.specialTokensMap !== undefined) {
      const mapFile = join(dirname(configFile), SPECIAL_TOKENS_MAP_FILE);
      const map = parseTokenizerConfig(sources.specialTokensMap, mapFile);
      for (const key of ["bos_token", "eos_token", "pad_token", "unk_token", "additional_special_tokens"]) {
        if (map[key] === undefined) continue;
        merged[key] = map[key];
        origin.set(key, mapFile);
      }
    }
    if (sources.chatTemplateFile !== undefined) merged.chat_template = sources.chatTemplateFile;
    this.config = merged;
    this.chatTemplates =
      merged.chat_template === undefined || merged.chat_template === null
        ? new Map()
        : parseChatTemplates(merged.chat_template, configFile);
    this.cleanUpSpaces = merged.clean_up_tokenization_spaces ?? false;

    // The vocabulary: model vocab, then added tokens (which win on conflicts, as in the library).
    this.tokenToIdMap = new Map();
    this.idToTokenMap = new Map();
    const vocab = this.json.model.vocab;
    const entries: [string, unknown][] = isRecord(vocab)
      ? Object.entries(vocab)
      : Array.isArray(vocab)
        ? vocab.map((e, i) => [Array.isArray(e) ? String(e[0]) : String(e), i])
        : [];
    for (const [token, id] of entries) {
      if (!isId(id)) continue;
      this.tokenToIdMap.set(token, id);
      this.idToTokenMap.set(id, token);
    }
    for (const t of this.json.added_tokens) {
      this.tokenToIdMap.set(t.content, t.id);
      this.idToTokenMap.set(t.id, t.content);
    }
    let maxId = -1;
    for (const id of this.idToTokenMap.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const resolve = (field: string, value: unknown): [string | null, number | null] => {
      const from = origin.get(field.replace(/\[\d+\]$/, "")) ?? configFile;
      const token = specialTokenValue(from, field, value) ?? null;
      if (token === null) return [null, null];
      const id = this.tokenToIdMap.get(token);
      if (id === undefined) {
        throw new TokenizerError(
          from,
          `${field} ${describeValue(token)} is not in the vocabulary of ${file} (add it to added_tokens there, or drop the field)`,
        );
      }
      return [token, id];
    };
    [this.bosToken, this.bosId] = resolve("bos_token", merged.bos_token);
    [this.eosToken, this.eosId] = resolve("eos_token", merged.eos_token);
    [this.padToken, this.padId] = resolve("pad_token", merged.pad_token);
    [this.unkToken, this.unkId] = resolve("unk_token", merged.unk_token);

    const special = new Set<number>();
    for (const t of this.json.added_tokens) if (t.special) special.add(t.id);
    for (const id of [this.bosId, this.eosId, this.padId, this.unkId]) if (id !== null) special.add(id);
    (merged.additional_special_tokens ?? []).forEach((v, i) => {
      const [, id] = resolve(`additional_special_tokens[${i}]`, v);
      if (id !== null) special.add(id);
    });
    this.specialIds = special;
    this.dropsWhitespace = hasWhitespaceSplit(this.json.pre_tokenizer);

    try {
      // The library reads bos/eos/pad/unk from the config only for legacy vocab-only models;
      // we pass the resolved clean-up flag so it never falls back to its own default (true).
      this.hf = new HfTokenizer(this.json, {
        ...merged,
        bos_token: this.bosToken,
        eos_token: this.eosToken,
        pad_token: this.padToken,
        unk_token: this.unkToken,
        additional_special_tokens: [],
        clean_up_tokenization_spaces: this.cleanUpSpaces,
      });
    } catch (e) {
      throw new TokenizerError(
        file,
        `the tokenizer library rejected it: ${e instanceof Error ? e.message : String(e)}`,
        {
          cause: e,
        },
      );
    }
  }

  /** Load a Hugging Face tokenizer folder: tokenizer.json (required), tokenizer_config.json, special_tokens_map.json, chat_template.jinja. */
  static async fromDir(dir: string): Promise<Tokenizer> {
    const tokenizerFile = join(dir, TOKENIZER_FILE);
    const configFile = join(dir, TOKENIZER_CONFIG_FILE);
    const [json, config, specialTokensMap] = await Promise.all([
      readJson(tokenizerFile, false),
      readJson(configFile, true),
      readJson(join(dir, SPECIAL_TOKENS_MAP_FILE), true),
    ]);
    let chatTemplateFile: string | undefined;
    try {
      chatTemplateFile = await readFile(join(dir, CHAT_TEMPLATE_FILE), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new TokenizerError(join(dir, CHAT_TEMPLATE_FILE), `cannot read (${String(e)})`, { cause: e });
      }
    }
    return new Tokenizer(json, config ?? {}, {
      tokenizerFile,
      configFile,
      ...(specialTokensMap === undefined ? {} : { specialTokensMap }),
      ...(chatTemplateFile === undefined ? {} : { chatTemplateFile }),
    });
  }

  /** Text → ids. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string")
      throw new TokenizerError("Tokenizer.encode", `expected a string, got ${describeValue(text)}`);
    const { ids } = this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true });
    for (let i = 0; i < ids.length; i++) {
      if (!isId(ids[i])) {
        throw new TokenizerError(
          "Tokenizer.encode",
          `piece ${i} of ${describeValue(text)} has no id: ${this.file} has no unk_token or byte fallback for it`,
        );
      }
    }
    return ids;
  }

  /** Text → token strings (no special tokens added). */
  tokenize(text: string): string[] {
    return this.hf.tokenize(text, { add_special_tokens: false });
  }

  /** Ids (an array or typed array) → text. Unknown ids are an error naming the id and the vocabulary size. */
  decode(tokenIds: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const ids = Array.from(tokenIds);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!isId(id) || !this.idToTokenMap.has(id)) {
        throw new TokenizerError(
          "Tokenizer.decode",
          `ids[${i}] = ${describeValue(id)} is not a token id of ${this.file} (vocabulary size ${this.vocabSize})`,
        );
      }
    }
    const kept = opts.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    if (kept.length === 0) return "";
    return this.hf.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIdMap.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenMap.get(id);
  }

  /** The chat template called `name` (default: "default"), or null when there is none. */
  chatTemplate(name = "default"): string | null {
    return this.chatTemplates.get(name) ?? null;
  }

  /**
   * Write tokenizer.json and tokenizer_config.json (with the special tokens and
   * chat templates folded in) so that `Tokenizer.fromDir(dir)` and transformers'
   * `AutoTokenizer.from_pretrained(dir)` read the same tokenizer back.
   */
  async save(dir: string): Promise<void> {
    const config: TokenizerConfigJson = { ...this.config };
    if (this.chatTemplates.size > 0) {
      config.chat_template =
        this.chatTemplates.size === 1 && this.chatTemplates.has("default")
          ? this.chatTemplates.get("default")!
          : [...this.chatTemplates].map(([name, template]) => ({ name, template }));
    }
    await writeTokenizerFiles(dir, this.json, config);
  }
}
