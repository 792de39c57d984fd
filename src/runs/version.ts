/** The versions and the machine a run was made with, recorded in every summary.json. */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** The package version, from package.json. */
export const VERSION: string = pkg.version;

/** The installed version of a dependency, or "unknown". */
export function packageVersion(name: string): string {
  try {
    const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** stepwise, Node and the numeric dependencies. */
export function versions(): Record<string, string> {
  return {
    stepwise: VERSION,
    node: process.versions.node,
    "@jax-js/jax": packageVersion("@jax-js/jax"),
    "@huggingface/tokenizers": packageVersion("@huggingface/tokenizers"),
  };
}

/** The machine: cores, platform, CPU model (and the engine's threads, when the caller knows them). */
export interface Machine {
  cores: number;
  threads?: number;
  platform: string;
  arch: string;
  cpu: string;
}

export function machine(threads?: number): Machine {
  return {
    cores: cpus().length,
    ...(threads === undefined ? {} : { threads }),
    platform: process.platform,
    arch: process.arch,
    cpu: cpus()[0]?.model ?? "unknown",
  };
}
