/**
 * The one config loader. Every run config — SFT, RL, reward model, DPO, the lab's
 * experiments — is a strict zod schema whose fields are documented where declared; YAML
 * files and `--set a.b=value` overrides go through the same three steps:
 *
 *   loadConfigFile(schema, path, sets, what)  read YAML → apply overrides → validate
 *   parseConfig(schema, raw, where, what)     validate an object
 *   applySet(obj, "a.b=1")                    one override, the value parsed as a YAML scalar
 *   defaultsOf(schema)                        the schema's defaults (the CLI shows these)
 *
 * Unknown keys and wrong types are errors that name the key path
 * (`batch.microBatch: expected number, received string`), all problems in one message, so a
 * typo never silently falls back to a default.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(top level)" : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".");
}

/** A rewrite of one issue's line (return null to keep the default wording). */
export type IssueHint = (issue: z.core.$ZodIssue, raw: unknown) => string | null;

export interface ParseOptions {
  /** Where the object came from (a file path, "--set", "config"). */
  where?: string;
  /** What kind of config, for the message ("SFT config", "RL config"). */
  what?: string;
  /** The source file that documents the schema, named in unknown-key errors. */
  docs?: string;
  /** Clearer wording for issues a user is likely to hit. */
  hints?: readonly IssueHint[];
  /** The error class to throw (a subclass of ConfigError, so callers can catch by kind). */
  errorClass?: new (
    message: string,
  ) => ConfigError;
}

/** Validate a config object; every problem in one error, each naming its key path. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown, opts: ParseOptions = {}): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    for (const h of opts.hints ?? []) {
      const line = h(i, raw);
      if (line !== null) return line;
    }
    if (i.code === "unrecognized_keys") {
      return `${pathOf([...i.path, ...(i.keys.length === 1 ? [i.keys[0]!] : [])])}: unknown key${i.keys.length > 1 ? `s ${i.keys.join(", ")}` : ""} (check the spelling${opts.docs ? `; see ${opts.docs}` : ""})`;
    }
    return `${pathOf(i.path)}: ${i.message}`;
  });
  const Err = opts.errorClass ?? ConfigError;
  throw new Err(`${opts.where ?? "config"}: invalid ${opts.what ?? "config"}:\n  ${lines.join("\n  ")}`);
}

/**
 * Apply one `--set key.path=value` override in place; the value is parsed as a YAML
 * scalar ("3" → 3, "true" → true, "[0.9, 0.95]" → array, "abc" → "abc").
 */
export function applySet(obj: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new ConfigError(`--set: expected key.path=value, got "${assignment}"`);
  const keys = assignment.slice(0, eq).trim().split(".");
  if (keys.some((k) => k === "")) throw new ConfigError(`--set: empty key in "${assignment}"`);
  const value: unknown = parseYaml(assignment.slice(eq + 1));
  let node: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined || next === null) node[k] = {};
    else if (typeof next !== "object" || Array.isArray(next)) {
      throw new ConfigError(`--set ${assignment}: "${k}" is not a section (it holds ${JSON.stringify(next)})`);
    }
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Read a YAML mapping from a file (an error names the file). */
export async function readYamlMapping(
  path: string,
  errorClass: new (message: string) => ConfigError = ConfigError,
): Promise<Record<string, unknown>> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8"));
  } catch (err) {
    throw new errorClass(`${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new errorClass(`${path}: expected a YAML mapping at the top level`);
  }
  return raw as Record<string, unknown>;
}

/**
 * Read a YAML config, apply overrides, validate. With `nameFromFile`, a missing `name` is the
 * file's base name (recipes/grpo-demo.yaml → grpo-demo).
 */
export async function loadConfigFile<S extends z.ZodType>(
  schema: S,
  path: string,
  sets: readonly string[],
  opts: ParseOptions & { nameFromFile?: boolean } = {},
): Promise<z.infer<S>> {
  const obj = await readYamlMapping(path, opts.errorClass);
  for (const s of sets) applySet(obj, s);
  if (opts.nameFromFile && obj.name === undefined) obj.name = basename(path, extname(path));
  return parseConfig(schema, obj, { ...opts, where: path });
}

/** Apply `--set` overrides to an empty object and validate: a config from flags alone. */
export function configFromSets<S extends z.ZodType>(
  schema: S,
  sets: readonly string[],
  opts: ParseOptions = {},
): z.infer<S> {
  const obj: Record<string, unknown> = {};
  for (const s of sets) applySet(obj, s);
  return parseConfig(schema, obj, { where: "--set", ...opts });
}

/** The schema's value for an empty object: every default (throws if a field is required). */
export function defaultsOf<S extends z.ZodType>(schema: S): z.infer<S> {
  return parseConfig(schema, {}, { what: "defaults" });
}
