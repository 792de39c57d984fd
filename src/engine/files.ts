/** Small file-system helpers shared by the writers of models, tokenizers, safetensors and runs. */
import { randomBytes } from "node:crypto";
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Whether anything exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Write a folder whole or not at all: `write` creates and fills `${dir}.tmp` (a stale one is
 * removed first), then any old `dir` is removed and the temporary folder renamed to it, so a
 * stopped writer never leaves a half-written `dir` that a reader would take as finished.
 */
export async function writeDirAtomic(dir: string, write: (tmp: string) => Promise<unknown>): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await write(tmp);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/**
 * Write a text file atomically: a uniquely named temporary file beside it, then a rename, so
 * `path` holds either its old contents or the whole new text. On failure the temporary file
 * is removed and the error is rethrown.
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, text, { encoding: "utf8", flag: "wx" });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}
