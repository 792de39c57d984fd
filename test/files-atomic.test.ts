/**
 * src/engine/files.ts: writeDirAtomic replaces a folder whole (a stale temporary folder is
 * cleared first) and, when the writer fails, leaves the old folder as it was.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeDirAtomic } from "../src/engine/files.ts";

const root = mkdtempSync(join(tmpdir(), "stepwise-files-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("writeDirAtomic replaces the folder whole and leaves no temporary folder", async () => {
  const dir = join(root, "out");
  mkdirSync(dir);
  writeFileSync(join(dir, "old.txt"), "old");
  mkdirSync(`${dir}.tmp`);
  writeFileSync(join(`${dir}.tmp`, "stale.txt"), "from a stopped writer");
  await writeDirAtomic(dir, async (tmp) => {
    assert.equal(existsSync(tmp), false, "a stale temporary folder is removed before the writer runs");
    mkdirSync(tmp);
    writeFileSync(join(tmp, "new.txt"), "new");
  });
  assert.deepEqual(readdirSync(dir), ["new.txt"]);
  assert.equal(readFileSync(join(dir, "new.txt"), "utf8"), "new");
  assert.equal(existsSync(`${dir}.tmp`), false);
});

test("a failing writer leaves the old folder untouched", async () => {
  const dir = join(root, "kept");
  mkdirSync(dir);
  writeFileSync(join(dir, "a.txt"), "a");
  await assert.rejects(
    writeDirAtomic(dir, async (tmp) => {
      mkdirSync(tmp, { recursive: true });
      writeFileSync(join(tmp, "half.txt"), "half");
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(dir), ["a.txt"]);
  assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "a");
});
