/**
 * The LaTeX an answer arrives in: balanced braces, `\boxed{…}` answers and the markup that
 * changes only presentation. Pure string functions; the number parser (parse.ts) and the
 * MATH-answer canonical form (match.ts) build on them.
 */

/** Index just past the "}" that closes the "{" at `open`, or -1 when the braces never balance. */
export function matchBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\") {
      i++; // an escaped character such as \{ or \} does not count
      continue;
    }
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * The content of every top-level `\boxed{…}` / `\fbox{…}` in `text`, in order, trimmed:
 * braces balanced, escaped braces (`\{`, `\}`) counted as text, a box inside a box not listed
 * separately, one that never closes skipped; also the brace-less `\boxed 5` form (up to the
 * next space or "$").
 */
export function findBoxed(text: string): string[] {
  const out: string[] = [];
  const re = /\\(?:boxed|fbox)\s*(\{|\s+[^\s$]+)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[1] === "{") {
      const open = m.index + m[0].length - 1;
      const close = matchBrace(text, open);
      if (close < 0) continue;
      out.push(text.slice(open + 1, close - 1).trim());
      re.lastIndex = close;
    } else {
      out.push(m[1]!.trim());
    }
  }
  return out;
}

/** The content of the last `\boxed{…}` (see `findBoxed`), or undefined when there is none. */
export function lastBoxed(text: string): string | undefined {
  return findBoxed(text).at(-1);
}

/** Replace every `\cmd{X}` (balanced) by X. */
function unwrapCommand(text: string, cmd: string): string {
  let out = text;
  for (;;) {
    const at = out.indexOf(`\\${cmd}{`);
    if (at < 0) return out;
    const open = at + cmd.length + 1;
    const close = matchBrace(out, open);
    if (close < 0) return out;
    out = out.slice(0, at) + out.slice(open + 1, close - 1) + out.slice(close);
  }
}

/**
 * Remove LaTeX that changes only presentation: \text{}-like wrappers, \left \right, spacing
 * commands, degrees, \% and \$, surrounding "$"; \dfrac and \tfrac become \frac and \frac12
 * becomes \frac{1}{2}. Whitespace is kept (callers decide).
 */
export function stripLatexPresentation(text: string): string {
  let s = text;
  for (const cmd of ["text", "textbf", "textit", "mathrm", "mathbf", "mbox", "displaystyle"]) s = unwrapCommand(s, cmd);
  s = s
    .replace(/\\[dt]frac/g, "\\frac")
    .replace(/\\frac(\d)(\d)/g, "\\frac{$1}{$2}")
    .replace(/\\left\b|\\right\b/g, "")
    .replace(/\\[!,;:]|\\ |\\quad|\\qquad|\\displaystyle/g, "")
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°/g, "")
    .replace(/\\%|\\\$/g, "")
    .replace(/^\$+|\$+$/g, "");
  return s.trim();
}
