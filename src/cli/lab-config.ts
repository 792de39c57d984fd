/**
 * The lab commands' configuration: `--config FILE` (YAML), one flag per common schema key and
 * `--set key=value`, merged in that order over the schema's defaults and validated by the
 * schema (config/load.ts), so a typo or a bad value is an error naming the flag or the key,
 * and `--help` shows the defaults the schema declares (they cannot drift from the code).
 */
import type { Command } from "commander";
import type { z } from "zod";
import { applySet, ConfigError, type IssueHint, parseConfig, readYamlMapping } from "../config/load.ts";

/** A flag that sets one schema key: `--num-envs 8` is `numEnvs: 8`; `--states 6` may be `env.numStates: 6`. */
export interface ConfigFlag {
  flag: string;
  key: string;
  help: string;
}

/** What commander hands the action for the flags added by `addConfigFlags`. */
export interface ConfigFlagValues {
  config?: string;
  set?: string[];
  [flag: string]: unknown;
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function valueAt(obj: unknown, key: string): unknown {
  return key.split(".").reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], obj);
}

/**
 * Add `--config`, `--set` and one `--flag <value>` per entry of `flags` to `cmd`; each flag's
 * help shows `defaults`' value of its key (pass `defaultsOf(schema)`).
 */
export function addConfigFlags(cmd: Command, flags: readonly ConfigFlag[], defaults: unknown, docs: string): Command {
  for (const f of flags) {
    const d = valueAt(defaults, f.key);
    if (d === undefined) throw new Error(`addConfigFlags: --${f.flag}: the schema has no default for "${f.key}"`);
    cmd.option(`--${f.flag} <value>`, `${f.help} (default: ${JSON.stringify(d)})`);
  }
  return cmd
    .option("--config <file>", `YAML config: any key of the schema in ${docs}`)
    .option(
      "--set <key=value>",
      "override a config key, value parsed as YAML (repeatable); order: defaults < --config < flags < --set",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    );
}

/**
 * The config the flags describe: the `--config` file's mapping (or {}), then each flag that was
 * given, then every `--set`, validated by `schema`; errors name the flag where a flag gave the value.
 */
export async function resolveConfig<S extends z.ZodType>(
  schema: S,
  values: ConfigFlagValues,
  flags: readonly ConfigFlag[],
  opts: { command: string; what: string; docs: string; errorClass: new (message: string) => ConfigError },
): Promise<z.infer<S>> {
  const obj = values.config ? await readYamlMapping(values.config, opts.errorClass) : {};
  const fromFlag = new Map<string, string>(); // key path → flag that set it
  for (const f of flags) {
    const raw = values[camel(f.flag)];
    if (raw === undefined) continue;
    try {
      applySet(obj, `${f.key}=${String(raw)}`);
    } catch (err) {
      throw new opts.errorClass(`${opts.command}: --${f.flag} ${String(raw)}: ${(err as Error).message}`);
    }
    fromFlag.set(f.key, f.flag);
  }
  for (const s of values.set ?? []) {
    try {
      applySet(obj, s);
    } catch (err) {
      const msg = (err as Error).message; // applySet's own errors already name --set
      throw new opts.errorClass(`${opts.command}: ${err instanceof ConfigError ? msg : `--set ${s}: ${msg}`}`);
    }
    fromFlag.delete(s.slice(0, s.indexOf("=")).trim());
  }
  const flagHint: IssueHint = (issue) => {
    const flag = fromFlag.get(issue.path.join("."));
    return flag === undefined ? null : `--${flag} (${issue.path.join(".")}): ${issue.message}`;
  };
  return parseConfig(schema, obj, {
    where: values.config ? `${opts.command} --config ${values.config}` : opts.command,
    what: opts.what,
    docs: opts.docs,
    errorClass: opts.errorClass,
    hints: [flagHint],
  });
}
