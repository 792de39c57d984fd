/**
 * Server-sent events (the WHATWG "event stream" format) as OpenAI-compatible servers
 * stream: `data: {json}` lines, a blank line after each event, `data: [DONE]` at the end.
 *
 *   parseSseLines(lines)   the data payloads of complete events in a list of lines
 *   SseDecoder             bytes in, data payloads out, across arbitrary chunk boundaries
 *   sseEvent(payload)      one event as it goes on the wire
 *
 * Comment lines (":" first) and fields other than `data` (event, id, retry) are ignored;
 * several `data:` lines in one event are joined with "\n" as the format says.
 */

/** One event on the wire: `data: <payload>\n\n` (payload must be one line, as JSON.stringify gives). */
export function sseEvent(payload: string): string {
  return `data: ${payload}\n\n`;
}

/** Decodes an event stream incrementally. */
export class SseDecoder {
  #text = new TextDecoder("utf-8");
  #buffer = "";
  #data: string[] = [];

  /** Feed bytes (or text); returns the data of every event completed by them. */
  push(chunk: Uint8Array | string): string[] {
    this.#buffer += typeof chunk === "string" ? chunk : this.#text.decode(chunk, { stream: true });
    const out: string[] = [];
    for (let nl = this.#buffer.search(/\r\n|\r|\n/); nl >= 0; nl = this.#buffer.search(/\r\n|\r|\n/)) {
      const line = this.#buffer.slice(0, nl);
      const width = this.#buffer.startsWith("\r\n", nl) ? 2 : 1;
      // a lone \r at the very end may be the first half of \r\n: wait for more
      if (width === 1 && this.#buffer[nl] === "\r" && nl === this.#buffer.length - 1) break;
      this.#buffer = this.#buffer.slice(nl + width);
      this.#line(line, out);
    }
    return out;
  }

  /** Whether bytes of an unfinished event are buffered (a stream that stops here was cut). */
  get pending(): boolean {
    return this.#buffer.trim() !== "" || this.#data.length > 0;
  }

  #line(line: string, out: string[]): void {
    if (line === "") {
      if (this.#data.length > 0) out.push(this.#data.join("\n"));
      this.#data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
  }
}

/** The data payloads of the complete events in `text`. */
export function parseSse(text: string): string[] {
  return new SseDecoder().push(text);
}
