/**
 * `stepwise data ...`: reading, converting, generating and inspecting training data.
 * One sub-command per file; this file only creates the group and wires them in.
 */
import type { Command } from "commander";
import { registerDataConvert } from "./data-convert.ts";
import { registerDataGenerate } from "./data-generate.ts";
import { registerDataPreferences } from "./data-preferences.ts";
import { registerDataDedup, registerDataStats } from "./data-stats.ts";
import { registerDataValidate } from "./data-validate.ts";

/** Create the `data` command group and register every data sub-command under it. */
export function registerData(program: Command): Command {
  const data = program
    .command("data")
    .description("Chain-of-thought and instruction data: convert, validate, generate, inspect, clean");
  registerDataConvert(data);
  registerDataValidate(data);
  registerDataGenerate(data);
  registerDataPreferences(data);
  registerDataStats(data);
  registerDataDedup(data);
  return data;
}
