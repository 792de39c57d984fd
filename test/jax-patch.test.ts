/**
 * The patches in patches/ and scripts/apply-patches.mjs (npm's postinstall hook):
 * every patch names the installed version of its package, the installed files
 * carry it, it still applies to the pristine pinned release (recovered by
 * reversing it), re-applying is a no-op, and a hunk that does not match fails
 * loudly, naming the patch and the hunk.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const script = join(root, "scripts", "apply-patches.mjs");

interface Hunk {
  header: string;
  line: number;
  old: string[];
  new: string[];
}
interface PatchedFile {
  path: string;
  hunks: Hunk[];
}
interface Patch {
  name: string;
  pkg: string;
  version: string;
  dir: string;
  files: PatchedFile[];
  where: string;
}
interface ApplyPatches {
  parsePatch(text: string, where: string): PatchedFile[];
  applyHunks(
    text: string,
    hunks: Hunk[],
    where: string,
    opts?: { reverse?: boolean },
  ): { text: string; applied: number; already: number };
  loadPatches(dir?: string): Patch[];
}

// A plain-JS module without type declarations: import it by URL and type it here.
const { parsePatch, applyHunks, loadPatches } = (await import(new URL(`file://${script}`).href)) as ApplyPatches;

const patches = loadPatches();

describe("patches/: the patch files", () => {
  test("there is at least one patch, and every one parses into files with hunks", () => {
    assert.ok(patches.length > 0, "patches/ holds no *.patch file");
    for (const p of patches) {
      assert.ok(p.files.length > 0, `${p.where}: names no file ("+++ " line)`);
      for (const f of p.files) {
        assert.ok(f.hunks.length > 0, `${p.where}: ${f.path} has no hunk`);
        for (const h of f.hunks) {
          assert.match(h.header, /^@@ -\d+(,\d+)? \+\d+(,\d+)? @@/, `${p.where}:${h.line}: malformed hunk header`);
          assert.notDeepEqual(h.old, h.new, `${p.where}:${h.line}: hunk ${h.header} changes nothing`);
        }
      }
    }
  });

  test("every patch names an installed package at exactly the patch's version", () => {
    for (const p of patches) {
      let installed: string;
      try {
        installed = (JSON.parse(readFileSync(join(p.dir, "package.json"), "utf8")) as { version: string }).version;
      } catch {
        assert.fail(`${p.where}: package ${p.pkg} is not installed at ${p.dir}`);
      }
      assert.equal(
        installed,
        p.version,
        `${p.where}: written for ${p.pkg} ${p.version}, but ${p.pkg} ${installed} is installed (update the patch or pin the dependency)`,
      );
    }
  });

  test("package.json pins each patched package to the patch's version and runs the script on install", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
      scripts?: Record<string, string>;
    };
    assert.match(
      pkg.scripts?.postinstall ?? "",
      /scripts\/apply-patches\.mjs/,
      "package.json has no postinstall running it",
    );
    for (const p of patches) {
      const range = pkg.dependencies?.[p.pkg] ?? pkg.devDependencies?.[p.pkg];
      // A range (^, ~) would let npm install a release the patch was not written for.
      assert.equal(range, p.version, `${p.where}: package.json asks for ${p.pkg}@${range}, not exactly ${p.version}`);
    }
  });
});

describe("patches/: the installed files", () => {
  test("node scripts/apply-patches.mjs --check exits 0 (every hunk is applied)", async () => {
    try {
      await run(process.execPath, [script, "--check"], { cwd: root, timeout: 30_000 });
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      assert.fail(`apply-patches --check exited ${e.code}:\n${e.stderr}`);
    }
  });

  test("the patch applies to the pristine release: reverse it off the installed file, apply it again, get the same bytes", () => {
    for (const p of patches) {
      for (const f of p.files) {
        const path = join(p.dir, f.path);
        const bytes = readFileSync(path);
        const installed = bytes.toString("utf8");
        const back = applyHunks(installed, f.hunks, p.where, { reverse: true });
        assert.equal(
          back.applied,
          f.hunks.length,
          `${p.where}: ${f.path}: only ${back.applied} of ${f.hunks.length} hunks reverse`,
        );
        assert.equal(back.already, 0);
        assert.notEqual(back.text, installed, `${p.where}: ${f.path}: reversing changed nothing`);
        const forward = applyHunks(back.text, f.hunks, p.where);
        assert.equal(
          forward.applied,
          f.hunks.length,
          `${p.where}: ${f.path}: only ${forward.applied} of ${f.hunks.length} hunks apply to the pristine file`,
        );
        assert.equal(forward.already, 0, `${p.where}: ${f.path}: a hunk reads as already applied to the pristine file`);
        assert.ok(
          Buffer.from(forward.text, "utf8").equals(bytes),
          `${p.where}: ${f.path}: patching the pristine file does not give the installed bytes`,
        );
      }
    }
  });

  test("applying a patch to the patched files again changes nothing: every hunk is already applied", () => {
    for (const p of patches) {
      for (const f of p.files) {
        const installed = readFileSync(join(p.dir, f.path), "utf8");
        const again = applyHunks(installed, f.hunks, p.where);
        assert.deepEqual(
          { applied: again.applied, already: again.already },
          { applied: 0, already: f.hunks.length },
          `${p.where}: ${f.path}`,
        );
        assert.equal(again.text, installed);
      }
    }
  });
});

describe("apply-patches.mjs on synthetic input", () => {
  const where = "patches/demo+1.0.0.patch";
  const patchText = [
    "a header line, ignored",
    "--- a/lib/x.js",
    "+++ b/lib/x.js",
    "@@ -1,3 +1,4 @@",
    " one",
    "-two",
    "+TWO",
    "+two and a half",
    " three",
    "",
  ].join("\n");
  const original = "zero\none\ntwo\nthree\nfour\n";

  test("parsePatch reads files, hunk headers and the old/new lines", () => {
    const files = parsePatch(patchText, where);
    assert.equal(files.length, 1);
    assert.equal(files[0]!.path, "lib/x.js");
    const h = files[0]!.hunks[0]!;
    assert.equal(h.header, "@@ -1,3 +1,4 @@");
    assert.equal(h.line, 4);
    assert.deepEqual(h.old, ["one", "two", "three"]);
    assert.deepEqual(h.new, ["one", "TWO", "two and a half", "three"]);
  });

  test("applyHunks applies, re-applies as a no-op, and reverses", () => {
    const { hunks } = parsePatch(patchText, where)[0]!;
    const once = applyHunks(original, hunks, where);
    assert.equal(once.text, "zero\none\nTWO\ntwo and a half\nthree\nfour\n");
    assert.deepEqual([once.applied, once.already], [1, 0]);
    const twice = applyHunks(once.text, hunks, where);
    assert.deepEqual([twice.text, twice.applied, twice.already], [once.text, 0, 1]);
    const back = applyHunks(once.text, hunks, where, { reverse: true });
    assert.deepEqual([back.text, back.applied], [original, 1]);
  });

  test("a hunk whose old lines are missing throws, naming the patch file, the line and the hunk", () => {
    const { hunks } = parsePatch(patchText, where)[0]!;
    assert.throws(
      () => applyHunks("zero\none\n2\nthree\n", hunks, where),
      (err: Error) => {
        assert.match(err.message, /^patches\/demo\+1\.0\.0\.patch:4: hunk @@ -1,3 \+1,4 @@ does not apply/);
        return true;
      },
    );
  });

  test("a hunk whose old lines occur twice throws instead of guessing", () => {
    const { hunks } = parsePatch(patchText, where)[0]!;
    assert.throws(
      () => applyHunks(`${original}one\ntwo\nthree\n`, hunks, where),
      /demo\+1\.0\.0\.patch:4: hunk .* matches more than once/,
    );
  });

  test("a line that is not context, removal or addition inside a hunk is a parse error naming the line", () => {
    assert.throws(
      () => parsePatch("+++ b/x\n@@ -1 +1 @@\n-a\n+b\n?c\n", where),
      /demo\+1\.0\.0\.patch:5: unexpected line/,
    );
  });

  test("loadPatches: <package>+<version>.patch names the package (@scope+name → @scope/name) and version", () => {
    const dir = mkdtempSync(join(tmpdir(), "stepwise-patches-"));
    try {
      writeFileSync(join(dir, "@a+b+1.2.3.patch"), patchText);
      writeFileSync(join(dir, "left-pad+0.4.0-rc.1.patch"), patchText);
      writeFileSync(join(dir, "README.txt"), "not a patch");
      const got = loadPatches(dir).map((p) => ({
        name: p.name,
        pkg: p.pkg,
        version: p.version,
        files: p.files.length,
      }));
      assert.deepEqual(got, [
        { name: "@a+b+1.2.3.patch", pkg: "@a/b", version: "1.2.3", files: 1 },
        { name: "left-pad+0.4.0-rc.1.patch", pkg: "left-pad", version: "0.4.0-rc.1", files: 1 },
      ]);
      writeFileSync(join(dir, "no-version.patch"), patchText);
      assert.throws(() => loadPatches(dir), /no-version\.patch: expected a name <package>\+<version>\.patch/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
