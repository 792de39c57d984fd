/**
 * `stepwise demo hacking`: reward hacking on a language model, and its cure, in one command.
 *
 *   0. test-reward   the exploit battery (guard/test-reward.ts) on both rewards, before any training:
 *                    the flawed one has holes, the fixed one should have none.
 *   1. flawed        RL (GRPO) from the SFT model with `substring` (1 if the gold answer appears
 *                    anywhere in the completion): plausible, and wrong: a chain cut at the budget, or
 *                    one that lists candidates, scores like a correct one.
 *   2. fixed         the same RL with the strict `correct` reward plus penalties (no EOS, multiple
 *                    answers). `substring` is logged at weight 0 in both, so the proxy is comparable.
 *   3. rm            (optional) a small outcome reward model (prefs/) trained on gold-vs-corrupted
 *                    chains, then RL against it with a KL term: held-out gold accuracy and the RM's
 *                    score against √KL from the start (the over-optimisation curve of Gao et al. 2022).
 *
 * Hack rate of a rollout: the share of completions the run's own reward counts as solved and the
 * strict answer check rejects: success − completions/correct_rate, where success is
 * rewards/substring/mean for the flawed run and rewards/correct/mean for the fixed one (a
 * strict-correct completion holds the gold answer, so the difference counts exactly the credited
 * wrong ones). The fixed reward's success IS the strict check, so its hack rate is 0 by
 * construction; the table also shows, for both runs, the proxy-only credit substring − strict,
 * which is what the flawed reward pays for and the fixed one does not. "By the end": the mean
 * over the last two rollouts. Gold: greedy strict accuracy on the first `evalN` held-out
 * problems (eval.jsonl); step 0 is the SFT model. The live monitors (guard/monitors.ts) run in
 * every RL run with action `warn`; "fired" means any alert in the run's alerts.jsonl.
 *
 * Every run is a normal run folder under `out/` and is resumed, not redone, when the command is
 * run again (a finished run is read back).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TaskName } from "../data/tasks/index.ts";
import { initEngine } from "../engine/device.ts";
import { EXPLOIT_NAMES } from "../guard/exploits.ts";
import { runGuardedRl } from "../guard/rollback.ts";
import { testReward } from "../guard/test-reward.ts";
import { parseRmConfig } from "../prefs/config.ts";
import { asRewardFn, rewardScorer } from "../prefs/reward-model.ts";
import { runRewardModel } from "../prefs/rm-train.ts";
import { parseRlConfig } from "../rl/config.ts";
import { readJsonl } from "../runs/jsonl.ts";
import { ALERTS_FILE, EVAL_FILE, METRICS_FILE, SAMPLES_FILE, SUMMARY_FILE } from "../runs/layout.ts";
import { readFiles } from "../train/sft-data.ts";
import { renderHackingReport } from "./hacking-report.ts";

export interface HackingSettings {
  /** The SFT model both runs start from (a Hugging Face folder). */
  model: string;
  /** Training prompts (CoT JSONL) and held-out problems (gold accuracy). */
  train: string;
  heldout: string;
  seed: number;
  prompts: number;
  groupSize: number;
  maxNewTokens: number;
  promptColumns: number;
  temperature: number;
  steps: number;
  lr: number;
  evalN: number;
  evalEvery: number;
  flawedSpec: string;
  fixedSpec: string;
  /** The reward-model scenario; null skips it. */
  rm: null | { tasks: TaskName[]; pairs: number; steps: number; rlSteps: number; beta: number; seqLen: number };
}

/**
 * The default: sized for the 2-core machine (the README has the measured times). Tiny on
 * purpose: 4 prompts × 6 completions of ≤ 64 tokens per step, 10 steps, 24 held-out problems.
 */
export const HACKING_DEFAULTS: HackingSettings = {
  model: "runs/demo/cot/final",
  train: "runs/demo/data/train.jsonl",
  heldout: "runs/demo/data/heldout.jsonl",
  seed: 0,
  prompts: 4,
  groupSize: 6,
  maxNewTokens: 64,
  promptColumns: 64,
  temperature: 1,
  steps: 10,
  lr: 3e-4,
  evalN: 24,
  evalEvery: 2,
  flawedSpec: "substring:1",
  fixedSpec: "correct:1,no_eos:0.5,multiple_answers:0.5,substring:0",
  rm: { tasks: ["algebra", "logic", "code-trace"], pairs: 200, steps: 20, rlSteps: 8, beta: 0.05, seqLen: 128 },
};

export interface RunSeries {
  steps: number[];
  proxy: number[];
  hack: number[];
  /** rewards/substring/mean − completions/correct_rate: what the flawed reward pays for, whichever reward trained. */
  proxyOnly: number[];
  correct: number[];
  length: number[];
  evalSteps: number[];
  gold: number[];
  alerts: { step: number; monitor: string; message: string; action: string }[];
  rollbacks: number;
  examples: { step: number; gold: string; completion: string }[];
}

export interface HackingSummary {
  hack_rate_flawed: number | null;
  hack_rate_fixed: number | null;
  gold_sft: number | null;
  gold_flawed: number | null;
  gold_fixed: number | null;
  proxy_flawed_first: number | null;
  proxy_flawed_last: number | null;
  monitor_fired_flawed: boolean;
  monitor_step_flawed: number | null;
  monitor_fired_fixed: boolean;
  test_reward_holes_flawed: number;
}

export interface HackingResult {
  summary: HackingSummary;
  holes: { flawed: string[]; fixed: string[] };
  flawed: RunSeries;
  fixed: RunSeries;
  rm: null | { points: { step: number; sqrtKl: number; gold: number; proxy: number }[] };
  seconds: { flawed: number; fixed: number; rm: number; total: number };
  settings: HackingSettings;
  summaryPath: string;
  reportPath: string;
}

const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
const meanLast = (xs: readonly number[], k: number) =>
  xs.length === 0 ? null : xs.slice(-k).reduce((a, b) => a + b, 0) / Math.min(k, xs.length);

function rlRaw(s: HackingSettings, out: string, spec: string, extra: Record<string, unknown> = {}) {
  return {
    model: s.model,
    out,
    data: { train: { files: [{ path: s.train }] }, eval: { files: [{ path: s.heldout }] } },
    rollout: {
      prompts: s.prompts,
      groupSize: s.groupSize,
      maxNewTokens: s.maxNewTokens,
      promptColumns: s.promptColumns,
      temperature: s.temperature,
    },
    reward: { spec },
    batch: { microBatch: s.prompts * s.groupSize },
    optim: { lr: s.lr, weightDecay: 0 },
    schedule: { kind: "constant" },
    steps: s.steps,
    eval: { n: s.evalN, maxNewTokens: s.maxNewTokens, every: s.evalEvery },
    checkpoint: { every: s.evalEvery, keep: 0 },
    samplesPerStep: 8,
    // Few evaluations per run: the divergence monitor compares blocks of 2 (defaults need 4).
    guard: {
      monitors: { divergence: { action: "warn", options: { window: 2, patience: 1 } } },
      // The flawed reward's holes are the point of the demo: accepted knowingly (stepwise rl refuses them otherwise).
      acceptHoles: [...EXPLOIT_NAMES],
    },
    seed: s.seed,
    ...extra,
  };
}

/** The per-step series of a finished RL run folder (see the header for the hack rate). */
export async function readRunSeries(dir: string, successKey: string, rollbacks = 0): Promise<RunSeries> {
  const rows = await readJsonl(join(dir, METRICS_FILE));
  const evals = await readJsonl(join(dir, EVAL_FILE));
  const alerts = await readJsonl<RunSeries["alerts"][number]>(join(dir, ALERTS_FILE));
  const samples = await readJsonl<{ step: number; gold: string; completion: string; rewards: Record<string, number> }>(
    join(dir, SAMPLES_FILE),
  );
  const s: RunSeries = {
    steps: [],
    proxy: [],
    hack: [],
    proxyOnly: [],
    correct: [],
    length: [],
    evalSteps: [],
    gold: [],
    alerts,
    rollbacks,
    examples: [],
  };
  for (const r of rows) {
    const proxy = num(r["rewards/substring/mean"]);
    const correct = num(r["completions/correct_rate"]);
    const success = num(r[successKey]);
    if (proxy === null || correct === null || success === null || num(r.step) === null) continue;
    s.steps.push(r.step as number);
    s.proxy.push(proxy);
    s.correct.push(correct);
    s.hack.push(Math.max(0, success - correct));
    s.proxyOnly.push(Math.max(0, proxy - correct));
    s.length.push(num(r["completions/mean_length"]) ?? Number.NaN);
  }
  for (const e of evals) {
    if (num(e.step) !== null && num(e.accuracy) !== null) {
      s.evalSteps.push(e.step as number);
      s.gold.push(e.accuracy as number);
    }
  }
  const last = Math.max(0, ...samples.map((x) => x.step));
  s.examples = samples
    .filter((x) => x.step === last && x.rewards?.substring === 1 && x.rewards?.correct !== 1)
    .slice(0, 3)
    .map(({ step, gold, completion }) => ({ step, gold, completion }));
  return s;
}

export function summarise(flawed: RunSeries, fixed: RunSeries, holesFlawed: number): HackingSummary {
  const firstAlert = flawed.alerts[0];
  return {
    hack_rate_flawed: meanLast(flawed.hack, 2),
    hack_rate_fixed: meanLast(fixed.hack, 2),
    gold_sft: flawed.evalSteps[0] === 0 ? flawed.gold[0]! : null,
    gold_flawed: flawed.gold.length ? flawed.gold[flawed.gold.length - 1]! : null,
    gold_fixed: fixed.gold.length ? fixed.gold[fixed.gold.length - 1]! : null,
    proxy_flawed_first: flawed.proxy[0] ?? null,
    proxy_flawed_last: meanLast(flawed.proxy, 2),
    monitor_fired_flawed: firstAlert !== undefined,
    monitor_step_flawed: firstAlert?.step ?? null,
    monitor_fired_fixed: fixed.alerts.length > 0,
    test_reward_holes_flawed: holesFlawed,
  };
}

/** The over-optimisation points of the RM run: per evaluation, √(sequence KL), gold, and the RM's mean score. */
async function overOptimisation(dir: string) {
  const rows = await readJsonl(join(dir, METRICS_FILE));
  const evals = await readJsonl(join(dir, EVAL_FILE));
  const points: { step: number; sqrtKl: number; gold: number; proxy: number }[] = [];
  for (const e of evals) {
    // Row s+1's rollout was sampled from the weights the evaluation at s scored (guard/monitors.ts).
    const row = rows.find((r) => r.step === (e.step as number) + 1) ?? rows[rows.length - 1];
    if (!row || num(e.accuracy) === null) continue;
    const seqKl = (num(row.kl) ?? 0) * (num(row["completions/mean_length"]) ?? 0);
    points.push({
      step: e.step as number,
      sqrtKl: Math.sqrt(Math.max(0, seqKl)),
      gold: e.accuracy as number,
      proxy: num(row["rewards/rm/mean"]) ?? Number.NaN,
    });
  }
  return points;
}

export async function runHackingDemo(opts: {
  out: string;
  settings: HackingSettings;
  stream?: NodeJS.WriteStream;
}): Promise<HackingResult> {
  const t0 = performance.now();
  const s = opts.settings;
  const stream = opts.stream ?? process.stderr;
  const say = (line: string) => stream.write(`${line}\n`);
  await initEngine();
  await mkdir(opts.out, { recursive: true });

  const records = await readFiles([{ path: s.train, format: "cot" }], "cot");
  const holesOf = (spec: string) =>
    testReward(spec, records, {
      sample: 50,
      rewardOptions: { maxNewTokens: s.maxNewTokens, overlongBuffer: 16, ngram: 3 },
    }).holes.map((h) => h.exploit);
  const holes = { flawed: holesOf(s.flawedSpec), fixed: holesOf(s.fixedSpec) };
  say(
    `demo hacking: test-reward: ${s.flawedSpec} has ${holes.flawed.length} holes (${holes.flawed.join(", ") || "none"}); ${s.fixedSpec} has ${holes.fixed.length}`,
  );

  const rlOpts = { resume: true, signals: false, stream };
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const a = performance.now();
    const r = await f();
    return [r, (performance.now() - a) / 1000];
  };
  const runs: Record<"flawed" | "fixed", RunSeries> = {} as never;
  const seconds = { flawed: 0, fixed: 0, rm: 0, total: 0 };
  for (const v of ["flawed", "fixed"] as const) {
    const dir = join(opts.out, v);
    say(`demo hacking: RL ${v} (${v === "flawed" ? s.flawedSpec : s.fixedSpec}) -> ${dir}`);
    const [res] = await timed(() =>
      runGuardedRl(
        parseRlConfig(rlRaw(s, dir, v === "flawed" ? s.flawedSpec : s.fixedSpec), `demo hacking ${v}`),
        rlOpts,
      ),
    );
    // The run's own clock (summary.json), so a run read back still reports what it took.
    const head = JSON.parse(await readFile(join(dir, SUMMARY_FILE), "utf8")) as { seconds?: number };
    seconds[v] = head.seconds ?? 0;
    runs[v] = await readRunSeries(
      dir,
      v === "flawed" ? "rewards/substring/mean" : "rewards/correct/mean",
      res.rollbacks.length,
    );
  }

  let rm: HackingResult["rm"] = null;
  if (s.rm) {
    const a = performance.now();
    const rmDir = join(opts.out, "rm");
    const gen = (n: number, split: "train" | "test", seed: number) => ({
      generate: { tasks: s.rm!.tasks, n, split, seed, options: { "code-trace": { maxLines: 4 } } },
    });
    say(`demo hacking: reward model (${s.rm.pairs} pairs, ${s.rm.steps} steps) -> ${rmDir}`);
    await runRewardModel(
      parseRmConfig(
        {
          model: s.model,
          out: rmDir,
          data: {
            train: gen(s.rm.pairs, "train", s.seed),
            eval: gen(Math.max(8, s.rm.pairs >> 2), "test", s.seed + 1),
          },
          batch: { microBatch: 8, gradAccum: 1, seqLen: s.rm.seqLen, padMultiple: 32 },
          optim: { lr: 1e-4, weightDecay: 0, clip: 1 },
          schedule: { kind: "constant" },
          steps: s.rm.steps,
          centerCoef: 0.01,
          seed: s.seed,
        },
        "demo hacking rm",
      ),
      { resume: true, stream },
    );
    const scorer = await rewardScorer(join(rmDir, "final"), { batch: 8 });
    const rlDir = join(opts.out, "rm-rl");
    say(`demo hacking: RL against the reward model (β = ${s.rm.beta}) -> ${rlDir}`);
    const fn = asRewardFn(scorer);
    await runGuardedRl(
      parseRlConfig(
        rlRaw(s, rlDir, "substring:0", { steps: s.rm.rlSteps, loss: { beta: s.rm.beta, klIn: "loss" } }),
        "demo hacking rm-rl",
      ),
      { ...rlOpts, checkReward: false, rewardFns: [{ name: "rm", weight: 1, fn }] },
    );
    rm = { points: await overOptimisation(rlDir) };
    seconds.rm = (performance.now() - a) / 1000;
  }

  const summary = summarise(runs.flawed, runs.fixed, holes.flawed.length);
  seconds.total = (performance.now() - t0) / 1000;
  const summaryPath = join(opts.out, "summary-hacking.json");
  const reportPath = join(opts.out, "report.html");
  const result: HackingResult = {
    summary,
    holes,
    flawed: runs.flawed,
    fixed: runs.fixed,
    rm,
    seconds,
    settings: s,
    summaryPath,
    reportPath,
  };
  await writeFile(summaryPath, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(reportPath, renderHackingReport(result));
  return result;
}

/** The results as a plain-text table (the CLI prints it; README quotes it). */
export function formatHackingTable(r: HackingResult): string {
  const p = (x: number | null) => (x === null ? "–" : `${(100 * x).toFixed(1)}%`);
  const f = (x: number | null) => (x === null ? "–" : x.toFixed(3));
  const m = r.summary;
  const line = (a: string, b: string, c: string) => `${a.padEnd(36)}${b.padStart(12)}${c.padStart(16)}`;
  return [
    line("", "flawed", "fixed"),
    line("reward", "substring", "correct+pen."),
    line("test-reward holes", String(r.holes.flawed.length), String(r.holes.fixed.length)),
    line("gold accuracy: SFT model (step 0)", p(m.gold_sft), p(r.fixed.gold[0] ?? null)),
    line("gold accuracy: after RL", p(m.gold_flawed), p(m.gold_fixed)),
    line("proxy (substring): first rollout", f(m.proxy_flawed_first), f(r.fixed.proxy[0] ?? null)),
    line("proxy (substring): last 2 rollouts", f(m.proxy_flawed_last), f(meanLast(r.fixed.proxy, 2))),
    line("hack rate: last 2 rollouts", p(m.hack_rate_flawed), p(m.hack_rate_fixed)),
    line("proxy-only credit: first rollout", p(r.flawed.proxyOnly[0] ?? null), p(r.fixed.proxyOnly[0] ?? null)),
    line("proxy-only credit: last 2", p(meanLast(r.flawed.proxyOnly, 2)), p(meanLast(r.fixed.proxyOnly, 2))),
    line(
      "monitor fired (step)",
      m.monitor_fired_flawed ? `yes (${m.monitor_step_flawed})` : "no",
      m.monitor_fired_fixed ? `yes (${r.fixed.alerts[0]?.step})` : "no",
    ),
    line("RL time (s)", r.seconds.flawed.toFixed(0), r.seconds.fixed.toFixed(0)),
  ].join("\n");
}
