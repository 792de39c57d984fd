/**
 * `stepwise teach`: chain-of-thought data from a teacher for questions that come with gold
 * answers only (pseudo-labelling, as in STaR — Zelikman et al. 2022 — and "distilling step
 * by step"). For each question:
 *
 *   1. ask the teacher for K chains (one request, n = K);
 *   2. keep a chain iff its final answer matches the gold answer (the answer module:
 *      extractAnswer + answersMatch, as `stepwise eval` grades) and, where the record is a
 *      generated problem, every step passes its task's step checker;
 *   3. if none is kept (and rationalisation is on), ask again with the gold answer as a hint
 *      (prompts.ts) and keep the chains that pass the same checks and do not mention the
 *      hint; the kept record carries the question WITHOUT the hint (meta.rationalised: true);
 *   4. deduplicate the kept chains (white space collapsed).
 *
 * Never losing work: the run folder (src/runs/) holds
 *   cache.jsonl      every teacher response, content-addressed (cache.ts), appended on arrival;
 *   questions.jsonl  one row per finished question, with its kept chains, appended when the
 *                    question is done — the only record of which questions are done;
 *   chains.jsonl     the kept chains as CoT records (the SFT data), rewritten atomically at the end;
 *   stats.json       kept rates overall, per round and per task; tokens, requests, retries;
 *   summary.json     status and headline figures (runs/run.ts).
 * A resumed run skips the questions in questions.jsonl and answers the rest from the cache
 * where it can, so no question is answered twice and no cached request is sent again.
 * Duplicate questions in the input (same text and answer) are taught once.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { answersMatch } from "../data/answer/index.ts";
import type { CoTRecord } from "../data/records.ts";
import { checkRecordSteps, splitSteps } from "../data/tasks/index.ts";
import { writeTextAtomic } from "../engine/files.ts";
import { deriveSeed } from "../engine/rng.ts";
import { extractAnswer } from "../eval/extract.ts";
import { answerTaskOf, chainOf, idOf, taskOf } from "../eval/score.ts";
import { readJsonl } from "../runs/jsonl.ts";
import { type OpenMode, openRun, type RunSummary } from "../runs/run.ts";
import { CACHE_FILE, ResponseCache } from "./cache.ts";
import type { ClientStats } from "./client.ts";
import { mentionsHint, type PromptStyle, STYLES, type TeacherRequest } from "./prompts.ts";
import type { ChatClient, ChatResponse, CompletionResponse } from "./protocol.ts";

export const QUESTIONS_FILE = "questions.jsonl";
export const CHAINS_FILE = "chains.jsonl";
export const STATS_FILE = "stats.json";

export interface TeachOptions {
  client: ChatClient;
  /** The teacher as the user named it (URL or folder), for the summary. */
  teacher: string;
  records: readonly CoTRecord[];
  /** The input file(s), for the summary. */
  data: string[];
  dir: string;
  mode: OpenMode;
  style: PromptStyle;
  /** Chains asked per question (n). */
  k: number;
  /** Questions in flight at once. */
  concurrency: number;
  rationalize: boolean;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  /** The remote client's counters (retries), where there is one. */
  clientStats?: () => ClientStats;
  log?: (line: string) => void;
  /** Stop early (SIGINT/SIGTERM): in-flight questions finish, the rest wait for --resume. */
  signal?: AbortSignal;
}

/** Why a sampled chain was not kept. */
export type Verdict = "kept" | "wrong-answer" | "bad-steps" | "empty" | "mentions-hint" | "duplicate";

export interface RoundRow {
  round: 1 | 2;
  hint: boolean;
  sampled: number;
  verdicts: Partial<Record<Verdict, number>>;
  kept: number;
}

export interface QuestionRow {
  key: string;
  index: number;
  id: string | null;
  task: string;
  rounds: RoundRow[];
  kept: CoTRecord[];
  usage: { prompt: number; completion: number };
}

/** A question's identity: its text (white space collapsed) and gold answer. */
export function questionKey(r: Pick<CoTRecord, "question" | "answer">): string {
  const q = r.question.replace(/\s+/g, " ").trim();
  return createHash("sha256")
    .update(JSON.stringify([q, r.answer.trim()]))
    .digest("hex")
    .slice(0, 32);
}

const normChain = (c: string) => c.replace(/\s+/g, " ").trim();

/** The verdict on one teacher output for record `r` (`hinted`: it was asked with the answer as a hint). */
export function judge(r: CoTRecord, output: string, hinted: boolean): { verdict: Verdict; chain: string } {
  const chain = chainOf(output).trim();
  const steps = splitSteps(chain);
  const task = answerTaskOf(r);
  if (!answersMatch(extractAnswer(output, { task, mode: "strict" }), r.answer, { task }))
    return { verdict: "wrong-answer", chain };
  if (steps.length === 0) return { verdict: "empty", chain };
  if (hinted && mentionsHint(chain)) return { verdict: "mentions-hint", chain };
  const v = checkRecordSteps(r, steps);
  if (v !== null && !v.valid) return { verdict: "bad-steps", chain };
  return { verdict: "kept", chain: steps.join("\n") };
}

/** The choice texts of a response, in index order. */
export function choiceTexts(endpoint: TeacherRequest["endpoint"], res: ChatResponse | CompletionResponse): string[] {
  const choices = [...res.choices].sort((a, b) => a.index - b.index);
  return endpoint === "completions"
    ? (choices as CompletionResponse["choices"]).map((c) => c.text)
    : (choices as ChatResponse["choices"]).map((c) => c.message.content ?? "");
}

interface Asked {
  texts: string[];
  prompt: number;
  completion: number;
}

/** Teach every question not yet done; returns the run's summary. */
export async function runTeach(o: TeachOptions): Promise<RunSummary> {
  const log = o.log ?? (() => {});
  const run = await openRun({ dir: o.dir, kind: "teach", name: "teach", mode: o.mode, model: o.teacher, data: o.data });
  if (run.alreadyFinished) {
    await run.close();
    log(`teach: ${o.dir} has already finished; nothing to do (pass --overwrite to start again)`);
    return run.alreadyFinished;
  }
  const { teacher: _t, client: _c, records: _r, clientStats: _s, log: _l, signal: _g, ...settings } = o;
  await run.writeConfig({ teacher: o.teacher, ...settings, model: o.client.model });
  const questionsPath = join(o.dir, QUESTIONS_FILE);
  const done = new Map<string, QuestionRow>();
  for (const row of await readJsonl<QuestionRow>(questionsPath)) done.set(row.key, row);
  const cache = await ResponseCache.open(join(o.dir, CACHE_FILE));
  const prior = run.resumed ? ((await readPriorStats(o.dir))?.retries ?? 0) : 0;

  // the questions still to teach, each once
  const seen = new Set<string>(done.keys());
  const todo: { r: CoTRecord; index: number; key: string }[] = [];
  let duplicates = 0;
  o.records.forEach((r, index) => {
    const key = questionKey(r);
    if (seen.has(key)) {
      if (!done.has(key) || done.get(key)!.index !== index) duplicates++;
      return;
    }
    seen.add(key);
    todo.push({ r, index, key });
  });
  if (done.size > 0) log(`teach: resuming: ${done.size} questions done, ${todo.length} to go`);

  const ask = async (req: TeacherRequest): Promise<Asked> => {
    const res = await cache.get<ChatResponse | CompletionResponse>(req.endpoint, req.body, () =>
      req.endpoint === "completions"
        ? o.client.complete(req.body as Parameters<ChatClient["complete"]>[0])
        : o.client.chat(req.body as Parameters<ChatClient["chat"]>[0]),
    );
    return {
      texts: choiceTexts(req.endpoint, res),
      prompt: res.usage?.prompt_tokens ?? 0,
      completion: res.usage?.completion_tokens ?? 0,
    };
  };

  const teachOne = async (r: CoTRecord, index: number, key: string): Promise<QuestionRow> => {
    const rounds: RoundRow[] = [];
    const kept: CoTRecord[] = [];
    const chains = new Set<string>();
    const usage = { prompt: 0, completion: 0 };
    for (const round of [1, 2] as const) {
      if (round === 2 && (kept.length > 0 || !o.rationalize)) break;
      const hint = round === 2 ? r.answer : null;
      const sampling = {
        model: o.client.model,
        n: o.k,
        temperature: o.temperature,
        topP: o.topP,
        maxTokens: o.maxTokens,
        seed: deriveSeed(o.seed, "teach", key, round),
      };
      const got = await ask(STYLES[o.style].request(r.question, hint, sampling));
      usage.prompt += got.prompt;
      usage.completion += got.completion;
      const row: RoundRow = { round, hint: hint !== null, sampled: got.texts.length, verdicts: {}, kept: 0 };
      for (const text of got.texts) {
        let { verdict, chain } = judge(r, text, hint !== null);
        if (verdict === "kept" && chains.has(normChain(chain))) verdict = "duplicate";
        row.verdicts[verdict] = (row.verdicts[verdict] ?? 0) + 1;
        if (verdict !== "kept") continue;
        chains.add(normChain(chain));
        row.kept++;
        kept.push({
          question: r.question,
          chain_of_thought: chain,
          answer: r.answer,
          meta: { ...(r.meta ?? {}), teacher: o.client.model, rationalised: hint !== null },
        });
      }
      rounds.push(row);
    }
    return { key, index, id: idOf(r), task: taskOf(r), rounds, kept, usage };
  };

  // a pool of workers over the questions; the first failure stops new questions
  let next = 0;
  let failure: unknown = null;
  let finished = 0;
  const worker = async () => {
    while (failure === null && !o.signal?.aborted && next < todo.length) {
      const { r, index, key } = todo[next++]!;
      try {
        const row = await teachOne(r, index, key);
        await run.append(QUESTIONS_FILE, row);
        done.set(key, row);
        finished++;
        if (finished % 50 === 0 || finished === todo.length)
          log(`teach: ${done.size}/${done.size + todo.length - finished} questions, ${cache.added} requests`);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));

  const rows = [...done.values()].sort((a, b) => a.index - b.index);
  const stats = teachStats(rows, {
    duplicates,
    requests: cache.size,
    cacheHits: cache.hits,
    retries: prior + (o.clientStats?.().retries ?? 0),
  });
  await writeTextAtomic(join(o.dir, STATS_FILE), `${JSON.stringify(stats, null, 2)}\n`);
  const figures = {
    questions: stats.questions,
    kept_rate: stats.keptRate,
    kept_rate_round1: stats.rounds.round1.keptRate,
    chains_kept: stats.chainsKept,
    requests: stats.requests,
    retries: stats.retries,
  };
  const left = o.records.length - duplicates - rows.length;
  if (failure !== null || left > 0) {
    const why = failure !== null ? (failure as Error).message : "stopped by a signal";
    log(`teach: ${why}; ${rows.length} questions are saved, ${left} remain (run again with --resume)`);
    return run.finish(failure !== null ? "failed" : "stopped", {
      message: `${why}; ${left} questions remain: rerun with --resume`,
      figures,
      outputs: { questions: QUESTIONS_FILE, cache: CACHE_FILE, stats: STATS_FILE },
    });
  }
  const kept = rows.flatMap((r) => r.kept);
  await writeTextAtomic(join(o.dir, CHAINS_FILE), kept.map((r) => `${JSON.stringify(r)}\n`).join(""));
  log(
    `teach: ${stats.chainsKept} chains kept for ${stats.keptQuestions}/${stats.questions} questions ` +
      `(${pct(stats.rounds.round1.keptRate)} without rationalisation, ${pct(stats.keptRate)} with); ` +
      `${stats.requests} requests, ${stats.cacheHits} answered from the cache, ${stats.retries} retries`,
  );
  return run.finish("finished", {
    figures,
    outputs: { chains: CHAINS_FILE, questions: QUESTIONS_FILE, cache: CACHE_FILE, stats: STATS_FILE },
  });
}

const pct = (x: number | null) => (x === null ? "n/a" : `${(100 * x).toFixed(1)}%`);

async function readPriorStats(dir: string): Promise<TeachStats | null> {
  try {
    return JSON.parse(await readFile(join(dir, STATS_FILE), "utf8")) as TeachStats;
  } catch {
    return null;
  }
}

export interface RoundStats {
  /** Questions asked in this round. */
  questions: number;
  /** Of them, with at least one kept chain. */
  keptQuestions: number;
  /** keptQuestions / questions (null when none was asked). */
  keptRate: number | null;
  sampled: number;
  chainsKept: number;
  verdicts: Partial<Record<Verdict, number>>;
}

export interface TeachStats {
  questions: number;
  duplicatesSkipped: number;
  keptQuestions: number;
  /** Questions with a kept chain after both rounds / questions. */
  keptRate: number;
  chainsKept: number;
  /** round1: without rationalisation; round2: the rationalisation round (hinted). */
  rounds: { round1: RoundStats; round2: RoundStats };
  perTask: Record<string, { questions: number; keptQuestions: number; keptRate: number }>;
  tokens: { prompt: number; completion: number };
  /** Responses received from the teacher over the run (= cache entries), and answered from the cache. */
  requests: number;
  cacheHits: number;
  retries: number;
}

/** The run's statistics from its question rows (a pure function of them and the counters). */
export function teachStats(
  rows: readonly QuestionRow[],
  c: { duplicates: number; requests: number; cacheHits: number; retries: number },
): TeachStats {
  const round = (k: 1 | 2): RoundStats => {
    const rs = rows.flatMap((r) => r.rounds.filter((x) => x.round === k));
    const verdicts: Partial<Record<Verdict, number>> = {};
    for (const x of rs)
      for (const [v, n] of Object.entries(x.verdicts)) verdicts[v as Verdict] = (verdicts[v as Verdict] ?? 0) + n;
    const keptQuestions = rs.filter((x) => x.kept > 0).length;
    return {
      questions: rs.length,
      keptQuestions,
      keptRate: rs.length > 0 ? keptQuestions / rs.length : null,
      sampled: rs.reduce((a, x) => a + x.sampled, 0),
      chainsKept: rs.reduce((a, x) => a + x.kept, 0),
      verdicts,
    };
  };
  const perTask: TeachStats["perTask"] = {};
  for (const r of rows) {
    const t = perTask[r.task] ?? { questions: 0, keptQuestions: 0, keptRate: 0 };
    perTask[r.task] = t;
    t.questions++;
    if (r.kept.length > 0) t.keptQuestions++;
  }
  for (const t of Object.values(perTask)) t.keptRate = t.keptQuestions / t.questions;
  const keptQuestions = rows.filter((r) => r.kept.length > 0).length;
  return {
    questions: rows.length,
    duplicatesSkipped: c.duplicates,
    keptQuestions,
    keptRate: rows.length > 0 ? keptQuestions / rows.length : 0,
    chainsKept: rows.reduce((a, r) => a + r.kept.length, 0),
    rounds: { round1: round(1), round2: round(2) },
    perTask,
    tokens: {
      prompt: rows.reduce((a, r) => a + r.usage.prompt, 0),
      completion: rows.reduce((a, r) => a + r.usage.completion, 0),
    },
    requests: c.requests,
    cacheHits: c.cacheHits,
    retries: c.retries,
  };
}
