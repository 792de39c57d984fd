/**
 * The one error a request to an OpenAI-compatible server ends in, with the kind of
 * failure, whether it was worth retrying, and how many attempts were made. The message
 * names the endpoint (never the API key: client.ts redacts it from anything a server
 * echoes back) and says what to do.
 *
 *   http            the server answered with an error status (`status` set)
 *   timeout         no complete answer within the per-request timeout, or a stream went silent
 *   connection      refused, reset, or closed mid-body
 *   truncated       the body ends inside a JSON value (a stream ends without [DONE])
 *   malformed       a complete body that is not the expected JSON (HTML, another API's shape)
 *   empty-choices   `choices: []`
 *   missing-choices fewer choices than `n` asked for (the server ignores `n`)
 *   aborted         the caller's signal
 */

export const FAILURE_KINDS = [
  "http",
  "timeout",
  "connection",
  "truncated",
  "malformed",
  "empty-choices",
  "missing-choices",
  "aborted",
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/** Whether each kind of failure is retried (http depends on its status: retry.ts). */
export const RETRYABLE: { [K in FailureKind]: boolean | "by-status" } = {
  http: "by-status",
  timeout: true,
  connection: true,
  truncated: true,
  malformed: false,
  "empty-choices": true,
  "missing-choices": false,
  aborted: false,
};

export interface TeacherErrorFields {
  kind: FailureKind;
  retryable: boolean;
  /** The request's method and URL, e.g. "POST http://127.0.0.1:8000/v1/chat/completions". */
  endpoint: string;
  /** HTTP status when the server answered. */
  status?: number;
  /** Attempts made, retries included. */
  attempts?: number;
  /** The wait the server asked for (Retry-After), in ms. */
  retryAfterMs?: number;
}

export class TeacherError extends Error {
  override name = "TeacherError";
  readonly kind: FailureKind;
  readonly retryable: boolean;
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly attempts: number;
  readonly retryAfterMs: number | undefined;
  /** The message without the endpoint and attempt count. */
  readonly detail: string;

  constructor(detail: string, fields: TeacherErrorFields, options?: ErrorOptions) {
    const attempts = fields.attempts ?? 1;
    const tail = attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
    super(`${fields.endpoint}: ${detail}${tail}`, options);
    this.detail = detail;
    this.kind = fields.kind;
    this.retryable = fields.retryable;
    this.endpoint = fields.endpoint;
    this.status = fields.status;
    this.attempts = attempts;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** The same failure after `attempts` attempts. */
  withAttempts(attempts: number): TeacherError {
    const fields: TeacherErrorFields = {
      kind: this.kind,
      retryable: this.retryable,
      endpoint: this.endpoint,
      attempts,
    };
    if (this.status !== undefined) fields.status = this.status;
    return new TeacherError(this.detail, fields, { cause: this.cause });
  }
}
