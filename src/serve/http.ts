/**
 * The HTTP pieces every stepwise server shares (`serve`, `serve-rewards`): JSON replies,
 * errors in OpenAI's shape, request bodies read with a size bound, and listening on a host
 * (127.0.0.1 unless told otherwise) with a close that ends open connections.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ServeError } from "./errors.ts";

export interface RunningServer {
  /** e.g. http://127.0.0.1:8000/v1 (serve) or http://127.0.0.1:5000 (serve-rewards) */
  url: string;
  host: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ServeError, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, err.status, err.body(), headers);
}

/** The request body as JSON, or a 413/400 ServeError. */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > maxBytes) {
      reject(new ServeError(413, `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
      req.resume();
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new ServeError(413, `request body exceeds the limit of ${maxBytes} bytes`));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      parts.push(c);
    });
    req.on("end", () => {
      if (size > maxBytes) return;
      const text = Buffer.concat(parts).toString("utf8");
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new ServeError(400, `the request body is not valid JSON: ${(e as Error).message}`));
      }
    });
    req.on("error", (e) => reject(new ServeError(400, `reading the request failed: ${e.message}`)));
  });
}

/** The path of a request without its query string and trailing slashes. */
export function pathOf(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "");
}

/** Listen on host:port (0: any free port); `suffix` is appended to the URL reported (serve's "/v1"). */
export async function listen(server: Server, host: string, port: number, suffix = ""): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}${suffix}`,
    host,
    port: bound,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Is this address loopback only? */
export function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1";
}
