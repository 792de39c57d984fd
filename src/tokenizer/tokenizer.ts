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
 * The folder's files, their validation and writing live in files.ts.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import {
  CHAT_TEMPLATE_FILE,
  type ComponentJson,
  describeValue,
  isId,
  isRecord,
  parseChatTemplates,
  parseTokenizerConfig,
  parseTokenizerJson,
  readJson,
  SPECIAL_TOKENS_MAP_FILE,
  specialTokenValue,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  type TokenizerConfigJson,
  TokenizerError,
  type TokenizerJson,
  writeTokenizerFiles,
} from "./files.ts";

export type {
  AddedTokenJson,
  BpeModelJson,
  ComponentJson,
  OtherModelJson,
  SpecialTokenValue,
  TokenizerConfigJson,
  TokenizerJson,
  UnigramModelJson,
} from "./files.ts";
export {
  CHAT_TEMPLATE_FILE,
  describeValue,
  parseChatTemplates,
  parseTokenizerConfig,
  parseTokenizerJson,
  SPECIAL_TOKENS_MAP_FILE,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  TokenizerError,
  writeTokenizerFiles,
} from "./files.ts";

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
