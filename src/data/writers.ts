/**
 * Writing records: JSONL text (`toJsonl`) and the atomic JSONL file write every command
 * that produces a dataset uses (`writeJsonlAtomic`: a temporary file renamed over the
 * target only when every record is written). Reading is readers.ts.
 */
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Records as JSONL text, one JSON object per line, trailing newline. */
export function toJsonl(records: Iterable<unknown>): string {
  let s = "";
  for (const r of records) s += JSON.stringify(r) + "\n";
  return s;
}

/**
 * Write records as JSONL atomically: into a temporary file beside `path`, renamed over it
 * only when every record is written. If `records` throws midway, the temporary file is
 * removed and `path` is left as it was. Returns the number of records written.
 */
export async function writeJsonlAtomic(
  path: string,
  records: Iterable<unknown> | AsyncIterable<unknown>,
): Promise<number> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, "w");
  let n = 0;
  try {
    let buf = "";
    for await (const r of records) {
      buf += JSON.stringify(r) + "\n";
      n++;
      if (buf.length > 1 << 20) {
        await fh.write(buf);
        buf = "";
      }
    }
    await fh.write(buf);
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  return n;
}
