/**
 * A stepwise model folder as a ChatClient, in process: the same LocalEngine `stepwise serve`
 * puts behind HTTP (so the same checks, chat template, batching and response shapes), minus
 * the network. `stepwise teach --teacher DIR` uses it; everything above the ChatClient (the
 * prompts, the cache, the filtering) is the code path a remote teacher takes.
 *
 * Errors: the engine's ServeErrors become TeacherErrors of kind "http" with the status the
 * server would have sent, so callers handle one error type.
 */
import { type EngineOptions, LocalEngine } from "../serve/engine.ts";
import { ServeError } from "../serve/errors.ts";
import { TeacherError } from "./errors.ts";
import type { ChatClient, ChatRequest, ChatResponse, CompletionRequest, CompletionResponse } from "./protocol.ts";

export class LocalChatClient implements ChatClient {
  readonly engine: LocalEngine;
  readonly model: string;
  readonly #where: string;

  constructor(engine: LocalEngine, where: string) {
    this.engine = engine;
    this.model = engine.name;
    this.#where = where;
  }

  static async load(dir: string, opts: EngineOptions = {}): Promise<LocalChatClient> {
    return new LocalChatClient(await LocalEngine.load(dir, opts), `local model ${dir}`);
  }

  chat(req: ChatRequest): Promise<ChatResponse> {
    return this.#wrap("chat/completions", () => this.engine.chat(req));
  }

  complete(req: CompletionRequest): Promise<CompletionResponse> {
    return this.#wrap("completions", () => this.engine.complete(req));
  }

  close(): Promise<void> {
    return this.engine.close();
  }

  async #wrap<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      throw new TeacherError(`HTTP ${err.status}: ${err.message}`, {
        kind: "http",
        retryable: false,
        status: err.status,
        endpoint: `${this.#where} ${what}`,
      });
    }
  }
}
