/**
 * Errors the server answers with, in OpenAI's shape:
 *
 *   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
 *
 * `status` is the HTTP status; `type` follows OpenAI's names (invalid_request_error for 4xx
 * the client can fix, server_error for 5xx).
 */
import type { z } from "zod";
import type { ErrorBody } from "../teacher/protocol.ts";

export class ServeError extends Error {
  override name = "ServeError";
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;

  constructor(status: number, message: string, o: { type?: string; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.status = status;
    this.type = o.type ?? (status >= 500 ? "server_error" : "invalid_request_error");
    this.param = o.param ?? null;
    this.code = o.code ?? null;
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 naming the first invalid field of a request body. */
export function fromZod(error: z.ZodError, what: string): ServeError {
  const issue = error.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.map(String).join(".") : null;
  return new ServeError(400, `${what}: ${param ?? "body"}: ${issue.message}`, { param });
}

/** Any thrown value as a ServeError (unexpected ones become a 500 with their message). */
export function asServeError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  return new ServeError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
