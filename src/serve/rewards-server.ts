/**
 * `stepwise serve-rewards`: stepwise's verifiable rewards (src/rl/rewards.ts) behind
 * OpenRLHF's remote reward API, so a distributed RL engine (OpenRLHF, verl, TRL) can score
 * its rollouts with them.
 *
 *   POST /get_reward   {"query": [prompt + response, …], "prompts": [prompt, …], "labels": [gold, …]}
 *                   →  {"rewards": [Σ_k w_k r_k, …], "scores": [s, …], "extra_logs": {"rewards/<fn>/mean": m, …}}
 *   GET  /health       200 when up
 *
 * OpenRLHF (openrlhf/utils/agent.py) posts one rollout at a time: `query` is the decoded
 * prompt + response WITH special tokens, `prompts` the prompt text, `labels` the dataset's
 * label column. Reading a request:
 *   - the response is the query after its prompt (the query's start, else the prompt's last
 *     occurrence in it; without prompts, the whole query); trailing end tokens
 *     (`<|im_end|>`, `</s>`, `<|endoftext|>`, `<|eot_id|>`, …) are cut off, and their
 *     presence is the finish reason ("eos"; without one "stop", or "length" with
 *     `requireEndToken`, for OpenRLHF, whose finished responses always carry one);
 *   - a label is the gold answer as a string, or a stepwise record
 *     `{"answer", "question"?, "meta": {"task"}?}` (as an object, or a string holding one as
 *     JSON): the task picks the answer matcher and the step checker (`steps` needs the
 *     question as the generator wrote it); `--task` names the task of plain string labels.
 * `rewards` are the spec's weighted totals (scoreRewards); `scores` are the correctness
 * values where the spec has `correct` or `correct_flexible` (in [0, 1], what OpenRLHF's
 * dynamic filtering expects), else the totals; `extra_logs` holds each function's mean over
 * the items it applied to (TRL's `rewards/<fn>/mean`), left out where it applied to none.
 *
 * Safety: binds 127.0.0.1 unless told otherwise; bodies over `maxBodyBytes` get 413 and
 * batches over `maxItems` 400; nothing in a request reaches the file system (the spec and the
 * tokenizer are read once at start); bad input is a 400 in OpenAI's error shape naming the field.
 */
import { createServer } from "node:http";
import { z } from "zod";
import type { CoTRecord } from "../data/records.ts";
import { isTaskName, type TaskName } from "../data/tasks/index.ts";
import {
  DEFAULT_REWARD_OPTIONS,
  type RewardInput,
  type RewardOptions,
  type RewardTerm,
  rewardStats,
  scoreRewards,
} from "../rl/rewards.ts";
import { asServeError, fromZod, ServeError } from "./errors.ts";
import { listen, pathOf, type RunningServer, readJsonBody, sendError, sendJson } from "./http.ts";

export interface RewardServerOptions {
  terms: readonly RewardTerm[];
  rewardOptions?: RewardOptions;
  /** Task of string labels (default: none, generic answer matching). */
  task?: TaskName;
  /** Response length in tokens (overlong needs it); default: whitespace-separated words. */
  countTokens?: (text: string) => number;
  host?: string;
  /** Default 5000 (OpenRLHF's example); 0 picks a free port. */
  port?: number;
  /** Default 8 MiB. */
  maxBodyBytes?: number;
  /** Items per request at most (default 4096). */
  maxItems?: number;
  /**
   * A response without a trailing end token was cut at the budget (finish reason "length"):
   * true for OpenRLHF, which decodes with special tokens; false (default) for callers that
   * strip them (verl's solution_str, TRL's completions), whose responses are taken as finished.
   */
  requireEndToken?: boolean;
}

const Label = z.union([
  z.string(),
  z.number().transform(String),
  z.looseObject({
    answer: z.union([z.string(), z.number().transform(String)]),
    question: z.string().optional(),
    meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  }),
]);

const Request = z.looseObject({
  query: z.array(z.string()).min(1, "expected at least one query"),
  prompts: z.array(z.string()).optional(),
  labels: z.array(Label).optional(),
});

export interface RewardReply {
  rewards: number[];
  scores: number[];
  extra_logs: Record<string, number>;
}

/** End-of-text markers a decode with special tokens leaves at the end of a response. */
const END_TOKENS = /(?:\s*(?:<\|(?:im_end|endoftext|eot_id|end|end_of_text|eom_id)\|>|<\/s>|<eos>|<end_of_turn>))+\s*$/;

/** The response of `query` (see the header), and whether it ended with an end token. */
export function responseOf(query: string, prompt: string | undefined): { completion: string; ended: boolean } {
  let rest = query;
  if (prompt !== undefined && prompt !== "") {
    if (query.startsWith(prompt)) rest = query.slice(prompt.length);
    else {
      const at = query.lastIndexOf(prompt);
      if (at >= 0) rest = query.slice(at + prompt.length);
    }
  }
  const m = END_TOKENS.exec(rest);
  return m ? { completion: rest.slice(0, m.index), ended: true } : { completion: rest, ended: false };
}

/** A label as a record (see the header); `task` is the default task of plain answers. */
export function recordOf(label: z.infer<typeof Label>, prompt: string, task: TaskName | undefined): CoTRecord {
  let value: unknown = label;
  if (typeof label === "string" && label.trimStart().startsWith("{")) {
    try {
      const parsed: unknown = JSON.parse(label);
      if (typeof parsed === "object" && parsed !== null && "answer" in parsed) value = parsed;
    } catch {
      // not JSON: a plain answer that starts with "{"
    }
  }
  const meta = task ? { task } : undefined;
  if (typeof value === "string")
    return { question: prompt, chain_of_thought: "", answer: value, ...(meta ? { meta } : {}) };
  const o = value as { answer: string | number; question?: string; meta?: CoTRecord["meta"] };
  const m = o.meta ?? meta;
  if (m?.task !== undefined && (typeof m.task !== "string" || !isTaskName(m.task)))
    throw new ServeError(400, `label meta.task "${String(m.task)}" is not a stepwise task`, { param: "labels" });
  return { question: o.question ?? prompt, chain_of_thought: "", answer: String(o.answer), ...(m ? { meta: m } : {}) };
}

const NEEDS_LABELS = new Set(["correct", "correct_flexible", "answer", "steps"]);

/** Score one /get_reward body (a function of it and the options; async, as reward-model terms run on the device). */
export async function scoreRequest(body: unknown, o: RewardServerOptions): Promise<RewardReply> {
  const parsed = Request.safeParse(body);
  if (!parsed.success) throw fromZod(parsed.error, "get_reward");
  const { query, prompts, labels } = parsed.data;
  const maxItems = o.maxItems ?? 4096;
  if (query.length > maxItems)
    throw new ServeError(400, `get_reward: ${query.length} queries exceed the limit of ${maxItems} per request`, {
      param: "query",
    });
  for (const [name, xs] of [
    ["prompts", prompts],
    ["labels", labels],
  ] as const) {
    if (xs !== undefined && xs.length !== query.length)
      throw new ServeError(400, `get_reward: ${xs.length} ${name} for ${query.length} queries; give one per query`, {
        param: name,
      });
  }
  const needs = o.terms.find((t) => NEEDS_LABELS.has(t.name));
  if (labels === undefined && needs)
    throw new ServeError(400, `get_reward: reward "${needs.name}" needs the gold answers: send "labels"`, {
      param: "labels",
    });
  const count = o.countTokens ?? ((t: string) => t.split(/\s+/).filter((w) => w !== "").length);
  const batch: RewardInput[] = query.map((q, i) => {
    const prompt = prompts?.[i];
    const { completion, ended } = responseOf(q, prompt);
    const label = labels?.[i] ?? "";
    return {
      record: recordOf(label, prompt ?? "", o.task),
      prompt: prompt ?? "",
      completion,
      finishReason: ended ? "eos" : o.requireEndToken ? "length" : "stop",
      completionTokens: count(completion),
    };
  });
  const { totals, byName } = await scoreRewards(o.terms, batch, o.rewardOptions ?? DEFAULT_REWARD_OPTIONS);
  const correctness = byName.correct ?? byName.correct_flexible;
  const extra: Record<string, number> = {};
  for (const [name, values] of Object.entries(byName)) {
    const st = rewardStats(values);
    if (st !== null) extra[`rewards/${name}/mean`] = st.mean;
  }
  return {
    rewards: totals,
    scores: correctness ? correctness.map((v) => v ?? 0) : totals,
    extra_logs: extra,
  };
}

export async function startRewardServer(o: RewardServerOptions): Promise<RunningServer> {
  const maxBodyBytes = o.maxBodyBytes ?? 8 * 1024 * 1024;
  const server = createServer((req, res) => {
    res.on("error", () => {});
    const path = pathOf(req);
    const route = async () => {
      if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok" });
      if (path === "/get_reward") {
        if (req.method !== "POST") throw new ServeError(405, `${req.method} ${path}: use POST`);
        return sendJson(res, 200, await scoreRequest(await readJsonBody(req, maxBodyBytes), o));
      }
      throw new ServeError(404, `no route ${req.method} ${path}; this server has POST /get_reward and GET /health`);
    };
    route().catch((err) => sendError(res, asServeError(err)));
  });
  return listen(server, o.host ?? "127.0.0.1", o.port ?? 5000);
}
