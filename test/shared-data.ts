/**
 * The workspace's public datasets, `../shared/data` beside the repository (see its README).
 * A user's clone has no such folder: every test that reads it passes `{ skip: NO_SHARED_DATA }`
 * to its `describe` or `test`, so it is skipped with one line naming the folder instead of
 * failing with ENOENT, and runs wherever the folder exists (this workspace, CI).
 */
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ABSOLUTE = fileURLToPath(new URL("../../shared/data", import.meta.url));

/** The folder, relative to the working directory when it is below it or beside it ("../shared/data" from the repository root). */
export const SHARED_DATA = relative(process.cwd(), ABSOLUTE) || ".";

/** A file of the folder, e.g. `sharedFile("gsm8k_test.jsonl")`. */
export function sharedFile(name: string): string {
  return join(SHARED_DATA, name);
}

/** false when the folder exists, else the one-line skip reason. */
export const NO_SHARED_DATA: string | false = existsSync(ABSOLUTE)
  ? false
  : `${ABSOLUTE} is absent (the workspace's datasets; a clone has none): skipped`;
