#!/usr/bin/env node
// Applies the project's patches to installed packages: npm's postinstall hook,
// so `npm ci` leaves node_modules patched. Each file in patches/ is a unified
// diff named `<package>+<version>.patch` (scope `@a/b` written `@a+b`, as
// patch-package names them), with paths relative to the package folder.
//
//   node scripts/apply-patches.mjs           apply every patch (idempotent)
//   node scripts/apply-patches.mjs --check   apply nothing; exit 1 unless every
//                                            patch is applied to the installed files
//
// A hunk applies only where its old lines match exactly (no fuzz); a hunk whose
// new lines are already there counts as applied. The installed version must be
// the patch's version: a bumped dependency fails here, loudly, rather than
// running unpatched. Plain Node, no dependency: it runs before anything else.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Parse a unified diff into files of hunks: { path, hunks: [{ header, old: [], new: [] }] }. */
export function parsePatch(text, where) {
  const files = [];
  let file = null;
  let hunk = null;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, i) => {
    if (line.startsWith("--- ")) return;
    if (line.startsWith("+++ ")) {
      file = { path: line.slice(4).split("\t")[0].replace(/^b\//, ""), hunks: [] };
      files.push(file);
      hunk = null;
      return;
    }
    if (line.startsWith("@@")) {
      if (!file) throw new Error(`${where}:${i + 1}: hunk before any "+++ " file line`);
      hunk = { header: line, line: i + 1, old: [], new: [] };
      file.hunks.push(hunk);
      return;
    }
    if (!hunk) return; // preamble: comments, diff --git lines
    const body = line.slice(1);
    if (line.startsWith(" ") || line === "") {
      hunk.old.push(body);
      hunk.new.push(body);
    } else if (line.startsWith("-")) hunk.old.push(body);
    else if (line.startsWith("+")) hunk.new.push(body);
    else if (!line.startsWith("\\"))
      throw new Error(`${where}:${i + 1}: unexpected line in hunk: ${JSON.stringify(line)}`);
  });
  return files;
}

function indexOfLines(haystack, needle, from = 0) {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Apply (or reverse) one file's hunks to its text. Returns { text, applied, already }.
 * Throws, naming the hunk, when a hunk's old lines are not found exactly once.
 */
export function applyHunks(text, hunks, where, { reverse = false } = {}) {
  let lines = text.split("\n");
  let applied = 0;
  let already = 0;
  for (const h of hunks) {
    const [from, to] = reverse ? [h.new, h.old] : [h.old, h.new];
    const at = indexOfLines(lines, from);
    if (at >= 0 && indexOfLines(lines, from, at + 1) >= 0)
      throw new Error(`${where}:${h.line}: hunk ${h.header} matches more than once`);
    if (at < 0) {
      if (indexOfLines(lines, to) >= 0) {
        already++;
        continue;
      }
      throw new Error(
        `${where}:${h.line}: hunk ${h.header} does not apply (its ${reverse ? "new" : "old"} lines are not in the file)`,
      );
    }
    lines = [...lines.slice(0, at), ...to, ...lines.slice(at + from.length)];
    applied++;
  }
  return { text: lines.join("\n"), applied, already };
}

/** Every patch in patches/: { name, pkg, version, dir, files }. */
export function loadPatches(dir = join(root, "patches")) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".patch"))
    .sort()
    .map((name) => {
      const m = /^(.+)\+(\d[^+]*)\.patch$/.exec(name);
      if (!m) throw new Error(`patches/${name}: expected a name <package>+<version>.patch`);
      const pkg = m[1].replace(/^(@[^+]+)\+/, "$1/");
      const where = `patches/${name}`;
      return {
        name,
        pkg,
        version: m[2],
        dir: join(root, "node_modules", pkg),
        files: parsePatch(readFileSync(join(dir, name), "utf8"), where),
        where,
      };
    });
}

function main() {
  const check = process.argv.includes("--check");
  let failed = false;
  for (const p of loadPatches()) {
    let installed;
    try {
      installed = JSON.parse(readFileSync(join(p.dir, "package.json"), "utf8")).version;
    } catch {
      console.error(`apply-patches: ${p.where}: ${p.pkg} is not installed (run npm ci)`);
      failed = true;
      continue;
    }
    if (installed !== p.version) {
      console.error(
        `apply-patches: ${p.where}: written for ${p.pkg} ${p.version}, but ${installed} is installed; update the patch (and bench/README.md's figures) for the new version`,
      );
      failed = true;
      continue;
    }
    for (const f of p.files) {
      const path = join(p.dir, f.path);
      const before = readFileSync(path, "utf8");
      const { text, applied, already } = applyHunks(before, f.hunks, p.where);
      if (check) {
        if (applied > 0) {
          console.error(
            `apply-patches: ${p.where}: ${applied} of ${f.hunks.length} hunks not applied to ${p.pkg}/${f.path}`,
          );
          failed = true;
        }
        continue;
      }
      if (applied > 0) writeFileSync(path, text);
      console.error(`apply-patches: ${p.pkg}/${f.path}: ${applied} hunks applied, ${already} already applied`);
    }
  }
  if (failed) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
