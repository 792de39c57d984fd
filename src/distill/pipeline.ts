/**
 * `stepwise experiment distill`: chain-of-thought distillation from a stronger model, for
 * questions that come with gold answers only ("use a strong model to generate CoT
 * explanations, then fine-tune your smaller model on these pseudo-labelled examples").
 *
 *   1. data      questions of one task family from the training split (answers only, no
 *                chains; problems the teacher trained on are left out), and held-out test and
 *                validation problems from the test split
 *   2. teach     the teacher served with `stepwise serve` on loopback, asked by `stepwise
 *                teach`'s code (src/teacher/teach.ts) for K chains per question; chains that
 *                reach the gold answer and pass the step checker are kept; STaR rationalisation
 *                for the rest
 *   3. fine-tune the same base three times, same steps, batch, schedule and seed:
 *                  distilled  on the kept teacher chains
 *                  direct     on the questions' direct answers ("#### 8")
 *                  gold       on the generator's gold chains (the ceiling)
 *   4. evaluate  greedy answers to the held-out problems (`stepwise eval`)
 *   5. summary   accuracies, distilled − direct and distilled − 0.9 · gold with paired-bootstrap
 *                intervals, kept rates per round with and without rationalisation
 *
 * Every heavy stage is a `stepwise` command in a child process of its own (serve, sft, eval),
 * so jax-js's Wasm heap starts empty each time (src/demo/stages.ts says why) and each stage
 * leaves an ordinary run folder. Resumable: a finished stage is skipped, a stopped fine-tuning
 * continues from its checkpoint, the teacher's answers are cached (teach.ts). The held-out
 * set is a flag, not a setting: `--validation` evaluates the same trained models on the
 * validation problems, where settings are chosen, without touching the test ones.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import type { CoTRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
import { writeJsonlAtomic } from "../data/writers.ts";
import { pathExists, writeTextAtomic } from "../engine/files.ts";
import { pairedBootstrap } from "../eval/bootstrap.ts";
import type { EvalExample } from "../eval/score.ts";
import { EXAMPLES_FILE, FINAL_DIR, SUMMARY_FILE } from "../runs/layout.ts";
import { openRun, readSummary } from "../runs/run.ts";
import { OpenAIClient } from "../teacher/client.ts";
import { runTeach, STATS_FILE, type TeachStats } from "../teacher/teach.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { sftRecipeBlocks } from "../train/config.ts";
import { qaExample } from "../train/sft-data.ts";
import type { DistillSettings } from "./settings.ts";

export const STUDENTS = ["distilled", "direct", "gold"] as const;
export type Student = (typeof STUDENTS)[number];
export type EvalSet = "test" | "validation";

export class DistillError extends Error {
  override name = "DistillError";
}

export interface DistillOptions {
  out: string;
  settings: DistillSettings;
  evalSet: EvalSet;
  log?: (line: string) => void;
}

const CLI = fileURLToPath(new URL("../../bin/stepwise.js", import.meta.url));
const BOOTSTRAP = { resamples: 2000, seed: 0, level: 0.95 } as const;

const files = (out: string) => ({
  gold: join(out, "data", "gold.jsonl"),
  questions: join(out, "data", "questions.jsonl"),
  test: join(out, "data", "test.jsonl"),
  validation: join(out, "data", "validation.jsonl"),
  teach: join(out, "teach"),
});
const studentDir = (out: string, s: Student) => join(out, s);
const problemKey = (r: CoTRecord) => `${String(r.meta?.task)}\u0000${String(r.meta?.canonical)}`;

async function readRows<T>(path: string): Promise<T[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

/** `stepwise ARGS` in a child process; its stderr goes to `log`; rejects with its last lines on failure. */
function startCli(
  args: string[],
  log: (line: string) => void,
  onLine: (line: string) => void = () => {},
): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    tail.splice(0, Math.max(0, tail.length - 12));
  };
  createInterface({ input: child.stderr! }).on("line", (l) => {
    keep(l);
    log(`  ${l}`);
    onLine(l);
  });
  createInterface({ input: child.stdout! }).on("line", keep);
  const done = once(child, "exit").then(([code, signal]) => {
    if (code === 0 || signal === "SIGTERM") return;
    throw new DistillError(
      `experiment distill: \`stepwise ${args[0]}\` ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; ` +
        `run the same command again to resume.\n${tail.join("\n")}`,
    );
  });
  return { child, done };
}

/** Step 1: questions (answers only), their gold chains, and the held-out problems. */
async function prepareData(out: string, s: DistillSettings, log: (l: string) => void): Promise<void> {
  const f = files(out);
  if (await pathExists(f.validation)) return log(`distill [1/5] data: reusing ${join(out, "data")}`);
  const tokenizer = await Tokenizer.fromDir(s.base);
  // only problems whose worked solution fits in seqLen: every student trains on the same questions
  const fits = (r: CoTRecord) => {
    const { prompt, target } = qaExample(r, false);
    const n =
      tokenizer.encode(prompt, { addSpecialTokens: true }).length +
      tokenizer.encode(target, { addSpecialTokens: false }).length +
      1;
    return n <= s.seqLen + 1;
  };
  const excluded = new Set<string>();
  for (const path of s.exclude) for (const r of await readRows<CoTRecord>(path)) excluded.add(problemKey(r));
  const gen = { tasks: [s.task], options: { [s.task]: s.taskOptions } };
  const take = (records: CoTRecord[], n: number, what: string, skip: Set<string>) => {
    const kept = records.filter((r) => fits(r) && !skip.has(problemKey(r))).slice(0, n);
    if (kept.length < n)
      throw new DistillError(
        `experiment distill: only ${kept.length} of ${records.length} generated ${what} problems fit in seqLen ` +
          `${s.seqLen} and are not excluded; ${n} needed (raise seqLen, or lower questions/heldout)`,
      );
    return kept;
  };
  // seed + 3: not the stream the demo's training problems came from (seed), so few are excluded
  const gold = take(
    generateDataset({ ...gen, n: 4 * s.questions + excluded.size, seed: s.seed + 3, split: "train" }),
    s.questions,
    "training",
    excluded,
  );
  const test = take(
    generateDataset({ ...gen, n: 3 * s.heldout, seed: s.seed + 1, split: "test" }),
    s.heldout,
    "test",
    new Set(),
  );
  const validation = take(
    generateDataset({ ...gen, n: 4 * s.heldout, seed: s.seed + 2, split: "test" }),
    s.heldout,
    "validation",
    new Set(test.map(problemKey)),
  );
  log(
    `distill [1/5] data: ${gold.length} ${s.task} questions (none of the ${excluded.size} problems of ${s.exclude.join(", ") || "no file"}), ` +
      `${test.length} test and ${validation.length} validation problems`,
  );
  await mkdir(join(out, "data"), { recursive: true });
  await writeJsonlAtomic(f.gold, gold);
  await writeJsonlAtomic(
    f.questions,
    gold.map((r) => ({ ...r, chain_of_thought: "" })),
  );
  await writeJsonlAtomic(f.test, test);
  await writeJsonlAtomic(f.validation, validation);
}

/** Step 2: the teacher behind `stepwise serve` on loopback, asked by teach.ts. */
async function teach(out: string, s: DistillSettings, log: (l: string) => void): Promise<TeachStats> {
  const dir = files(out).teach;
  if ((await readSummary(dir))?.status !== "finished") {
    log(`distill [2/5] teach: serving ${s.teacher} on 127.0.0.1, K = ${s.k} chains per question`);
    let announced: (url: string) => void = () => {};
    const listening = new Promise<string>((resolve) => {
      announced = resolve;
    });
    const server = startCli(
      ["serve", "--model", s.teacher, "--name", "teacher", "--port", "0", "--max-batch", String(s.serveBatch)],
      log,
      (l) => {
        const m = /at (http:\/\/\S+\/v1)/.exec(l);
        if (m) announced(m[1]!);
      },
    );
    try {
      const url = await Promise.race([
        listening,
        server.done.then(() => {
          throw new DistillError("experiment distill: the teacher server exited before it listened");
        }),
      ]);
      const client = new OpenAIClient({
        baseUrl: url,
        model: "teacher",
        concurrency: s.concurrency,
        timeoutMs: 900_000,
      });
      const questions = await readRows<CoTRecord>(files(out).questions);
      const summary = await runTeach({
        client,
        teacher: `${s.teacher} (stepwise serve at ${url})`,
        records: questions,
        data: [files(out).questions],
        dir,
        mode: "resume",
        style: "qa",
        k: s.k,
        concurrency: s.concurrency,
        rationalize: s.rationalize,
        temperature: s.temperature,
        topP: s.topP,
        maxTokens: s.maxTokens,
        seed: s.seed,
        clientStats: () => client.stats(),
        log: (l) => log(`  ${l}`),
      });
      if (summary.status !== "finished") throw new DistillError(`experiment distill: teach ${summary.status}`);
    } finally {
      server.child.kill("SIGTERM");
      await server.done.catch(() => {});
    }
  } else log(`distill [2/5] teach: reusing ${dir}`);
  return JSON.parse(await readFile(join(dir, STATS_FILE), "utf8")) as TeachStats;
}

/** Step 3: one student's SFT config (the demo's recipe), written beside its run. */
function sftConfig(out: string, s: DistillSettings, student: Student): Record<string, unknown> {
  const f = files(out);
  const train = student === "distilled" ? join(f.teach, "chains.jsonl") : f.gold;
  return {
    name: student,
    out: studentDir(out, student),
    model: s.base,
    data: {
      train: { files: [{ path: train, format: "cot" }] },
      // held-out loss on validation problems only: the test set is read once, at the end
      eval: { files: [{ path: f.validation, format: "cot" }] },
      template: "qa",
      directFraction: student === "direct" ? 1 : 0,
    },
    ...sftRecipeBlocks(s),
    steps: s.steps,
    eval: { every: s.steps, n: 0 },
    checkpoint: { every: Math.max(1, Math.round(s.steps / 4)), keep: 1 },
    seed: s.seed,
    logEvery: Math.max(1, Math.round(s.steps / 10)),
  };
}

export interface StudentResult {
  accuracy: number;
  correct: number;
  n: number;
  trainRecords: number;
  /** Held-out outputs whose chain the step checker accepts (eval's steps.valid; an answer with no steps counts as valid there). */
  stepValidity: number;
}

export interface DistillSummary {
  task: string;
  evalSet: EvalSet;
  heldout: number;
  results: Record<Student, StudentResult>;
  /** distilled − direct, paired bootstrap over the held-out problems. */
  distilledMinusDirect: { diff: number; lo: number; hi: number };
  /** distilled / gold, and distilled − 0.9 · gold with its paired-bootstrap interval. */
  distilledOverGold: number;
  distilledMinusNinetyPercentGold: { diff: number; lo: number; hi: number };
  keptRate: { withoutRationalisation: number | null; withRationalisation: number; rationalisationRound: number | null };
  teach: { chainsKept: number; questions: number; requests: number; retries: number; tokens: TeachStats["tokens"] };
  bootstrap: typeof BOOTSTRAP;
}

const ci = (r: ReturnType<typeof pairedBootstrap>) => ({ diff: r.diff ?? 0, lo: r.ci?.lo ?? 0, hi: r.ci?.hi ?? 0 });

/** Run (or resume) the experiment; see the file header. */
export async function runDistill(o: DistillOptions): Promise<DistillSummary> {
  const { out, settings: s, evalSet } = o;
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  await mkdir(out, { recursive: true });
  const settingsPath = join(out, "settings.json");
  if (await pathExists(settingsPath)) {
    const before = JSON.parse(await readFile(settingsPath, "utf8")) as Record<string, unknown>;
    const now = s as unknown as Record<string, unknown>;
    const key = Object.keys({ ...before, ...now }).find((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]));
    if (key !== undefined)
      throw new DistillError(
        `experiment distill: ${out} was started with other settings (${key}: ${JSON.stringify(before[key])} there, ` +
          `${JSON.stringify(now[key])} now); use another --out`,
      );
  } else await writeTextAtomic(settingsPath, `${JSON.stringify(s, null, 2)}\n`);
  const run = await openRun({
    dir: out,
    kind: "experiment",
    name: basename(out),
    mode: "resume",
    model: s.base,
    data: [join(out, "data")],
  });
  try {
    await prepareData(out, s, log);
    const stats = await teach(out, s, log);
    if (stats.chainsKept === 0)
      throw new DistillError(
        `experiment distill: the teacher ${s.teacher} reached the gold answer for none of the ${stats.questions} ` +
          "questions; there is nothing to distil (a stronger teacher, a larger k or maxTokens?)",
      );
    const f = files(out);
    for (const student of STUDENTS) {
      const dir = studentDir(out, student);
      if ((await readSummary(dir))?.status === "finished") {
        log(`distill [3/5] fine-tune ${student}: reusing ${dir}`);
        continue;
      }
      log(`distill [3/5] fine-tune ${student}: ${s.steps} steps of ${s.microBatch} from ${s.base}`);
      const configPath = join(out, `${student}.sft.yaml`);
      await writeTextAtomic(configPath, toYaml(sftConfig(out, s, student)));
      await startCli(["sft", "--config", configPath, "--resume"], log).done;
    }
    const heldPath = evalSet === "test" ? f.test : f.validation;
    for (const student of STUDENTS) {
      const evalDir = join(studentDir(out, student), `eval-${evalSet}`);
      if (await pathExists(join(evalDir, SUMMARY_FILE))) {
        log(`distill [4/5] evaluate ${student}: reusing ${evalDir}`);
        continue;
      }
      log(`distill [4/5] evaluate ${student}: ${s.heldout} ${evalSet} problems, greedy`);
      await startCli(
        [
          "eval",
          "--model",
          join(studentDir(out, student), FINAL_DIR),
          "--data",
          heldPath,
          "--format",
          "cot",
          "--mode",
          student === "direct" ? "direct" : "cot",
          "--max-new-tokens",
          String(s.maxNewTokens),
          "--batch",
          String(s.evalBatch),
          "--seed",
          String(s.seed),
          "--out",
          evalDir,
          "--json",
        ],
        log,
      ).done;
    }
    log("distill [5/5] summary");
    const examples = {} as Record<Student, EvalExample[]>;
    for (const st of STUDENTS)
      examples[st] = await readRows<EvalExample>(join(studentDir(out, st), `eval-${evalSet}`, EXAMPLES_FILE));
    const score = (st: Student) => examples[st].map((e) => (e.correct_strict ? 1 : 0));
    const trainRecords = {
      distilled: stats.chainsKept,
      direct: (await readRows(f.gold)).length,
      gold: (await readRows(f.gold)).length,
    };
    const results = Object.fromEntries(
      STUDENTS.map((st) => {
        const xs = score(st);
        const correct = xs.reduce<number>((a, b) => a + b, 0);
        const valid = examples[st].filter((e) => e.steps.valid).length;
        return [
          st,
          {
            accuracy: correct / xs.length,
            correct,
            n: xs.length,
            trainRecords: trainRecords[st],
            stepValidity: valid / xs.length,
          },
        ];
      }),
    ) as Record<Student, StudentResult>;
    const summary: DistillSummary = {
      task: s.task,
      evalSet,
      heldout: examples.gold.length,
      results,
      distilledMinusDirect: ci(pairedBootstrap(score("direct"), score("distilled"), BOOTSTRAP)),
      distilledOverGold: results.gold.accuracy === 0 ? 0 : results.distilled.accuracy / results.gold.accuracy,
      distilledMinusNinetyPercentGold: ci(
        pairedBootstrap(
          score("gold").map((x) => 0.9 * x),
          score("distilled"),
          BOOTSTRAP,
        ),
      ),
      keptRate: {
        withoutRationalisation: stats.rounds.round1.keptRate,
        withRationalisation: stats.keptRate,
        rationalisationRound: stats.rounds.round2.keptRate,
      },
      teach: {
        chainsKept: stats.chainsKept,
        questions: stats.questions,
        requests: stats.requests,
        retries: stats.retries,
        tokens: stats.tokens,
      },
      bootstrap: BOOTSTRAP,
    };
    await writeTextAtomic(join(out, `results-${evalSet}.json`), `${JSON.stringify(summary, null, 2)}\n`);
    await run.finish("finished", {
      figures: {
        [`${evalSet}_distilled_accuracy`]: results.distilled.accuracy,
        [`${evalSet}_direct_accuracy`]: results.direct.accuracy,
        [`${evalSet}_gold_accuracy`]: results.gold.accuracy,
        kept_rate: stats.keptRate,
        kept_rate_round1: stats.rounds.round1.keptRate,
      },
      outputs: Object.fromEntries(STUDENTS.map((st) => [st, join(st, FINAL_DIR)])),
      extra: { [`results_${evalSet}`]: summary },
    });
    return summary;
  } catch (err) {
    await run.finish("failed", { message: (err as Error).message });
    throw err;
  }
}

/** The results as a Markdown table (the README's). */
export function distillTable(r: DistillSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const pts = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}`;
  const label: Record<Student, string> = {
    distilled: "distilled (kept teacher chains)",
    direct: "direct answers",
    gold: "gold chains",
  };
  const rows = STUDENTS.map((st) => {
    const x = r.results[st];
    return `| ${label[st]} | ${x.trainRecords} | ${x.correct} of ${x.n} | **${pct(x.accuracy)}** |`;
  });
  const d = r.distilledMinusDirect;
  const g = r.distilledMinusNinetyPercentGold;
  return [
    `${r.task}, ${r.heldout} ${r.evalSet} problems, greedy`,
    "",
    "| student | training records | correct | accuracy |",
    "| --- | ---: | ---: | ---: |",
    ...rows,
    "",
    `distilled − direct: ${pts(d.diff)} points (95% paired bootstrap ${pts(d.lo)} to ${pts(d.hi)})`,
    `distilled / gold: ${pct(r.distilledOverGold)}; distilled − 0.9 × gold: ${pts(g.diff)} points (${pts(g.lo)} to ${pts(g.hi)})`,
    `kept rate: ${r.keptRate.withoutRationalisation === null ? "n/a" : pct(r.keptRate.withoutRationalisation)} of questions without rationalisation (round 1), ` +
      `${pct(r.keptRate.withRationalisation)} with it (round 2 kept ${r.keptRate.rationalisationRound === null ? "n/a" : pct(r.keptRate.rationalisationRound)} of the questions it was asked)`,
  ].join("\n");
}
