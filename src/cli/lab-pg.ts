import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { type PgLogRow, trainMlpActorCritic } from "../lab/a2c.ts";
import { CartPole } from "../lab/cartpole.ts";
import { evaluateMlpPolicy, initMlpActorCritic } from "../lab/mlp-policy.ts";
import { type PpoLogRow, ppo } from "../lab/ppo.ts";
import { lineChartSvg } from "../lab/svg.ts";
import { parseIntFlag } from "./args.ts";

interface CommonOptions {
  seed: string;
  iterations: string;
  lr: string;
  numEnvs: string;
  numSteps: string;
  evalEpisodes: string;
  out?: string;
  json?: boolean;
}

const int = (cmd: string, name: string, raw: string, min: number) => parseIntFlag(`lab ${cmd}: --${name}`, raw, min);

function positive(cmd: string, name: string, raw: string): number {
  const x = Number(raw);
  if (!(x > 0 && Number.isFinite(x))) throw new Error(`lab ${cmd}: --${name} must be a positive number, got "${raw}"`);
  return x;
}

function withCommonOptions(
  c: Command,
  defaults: { iterations: string; lr: string; numEnvs: string; numSteps: string },
) {
  return c
    .option("--seed <n>", "random seed", "0")
    .option("--iterations <n>", "collect-then-update iterations", defaults.iterations)
    .option("--lr <x>", "Adam step size", defaults.lr)
    .option("--num-envs <n>", "environments stepped in lock step", defaults.numEnvs)
    .option("--num-steps <n>", "steps per env per rollout", defaults.numSteps)
    .option("--eval-episodes <n>", "episodes for the before/after evaluation", "20")
    .option("--out <dir>", "folder for metrics.jsonl and curve.svg")
    .option("--json", "print a JSON summary as the last line");
}

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "—");

/** Shared shell: evaluate the initial policy, train, evaluate again, print, write files. */
async function runCartPole<R extends PgLogRow>(
  cmd: string,
  opts: CommonOptions,
  train: (onLog: (row: R) => void) => Promise<{ params: Params; log: R[] }>,
  hidden: number,
  extraColumns: (row: R) => string,
  extraHeader: string,
): Promise<void> {
  const seed = int(cmd, "seed", opts.seed, 0);
  const evalEpisodes = int(cmd, "eval-episodes", opts.evalEpisodes, 1);
  const out = opts.out ?? join("runs", "lab", cmd);
  await initEngine();
  const makeEnv = () => new CartPole();
  const evalOpts = { episodes: evalEpisodes, seed: seed + 1_000_003 };
  const init = initMlpActorCritic({ obsSize: 4, numActions: 2, hidden }, seed);
  const before = await evaluateMlpPolicy(init, makeEnv, evalOpts);
  disposeTree(init);
  console.log(
    `${cmd} on cart-pole (CartPole-v1 dynamics), seed ${seed}; initial policy: mean episode length ${fmt(before.meanLength, 1)}`,
  );
  console.log(
    `${"iter".padStart(5)} ${"steps".padStart(8)} ${"ep_len".padStart(7)} ${"entropy".padStart(8)} ${"expl_var".padStart(8)}${extraHeader}`,
  );
  const t0 = performance.now();
  const { params, log } = await train((r) =>
    console.log(
      `${String(r.iteration).padStart(5)} ${String(r.globalStep).padStart(8)} ${fmt(r.episodeLength, 1).padStart(7)} ${fmt(r.entropy).padStart(8)} ${fmt(r.explainedVariance).padStart(8)}${extraColumns(r)}`,
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await evaluateMlpPolicy(params, makeEnv, evalOpts);
  disposeTree(params);
  console.log(
    `trained in ${seconds.toFixed(1)} s; mean episode length ${fmt(before.meanLength, 1)} → ${fmt(after.meanLength, 1)} (max 500)`,
  );
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "metrics.jsonl"), log.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const done = log.filter((r) => Number.isFinite(r.episodeLength));
  writeFileSync(
    join(out, "curve.svg"),
    lineChartSvg({
      title: `${cmd} on cart-pole: mean length of the episodes finished in each rollout`,
      xLabel: "environment steps",
      yLabel: "episode length",
      series: [{ name: cmd, xs: done.map((r) => r.globalStep), ys: done.map((r) => r.episodeLength) }],
    }),
  );
  console.log(`wrote ${join(out, "metrics.jsonl")}, curve.svg`);
  if (opts.json) {
    const last = log[log.length - 1];
    console.log(
      JSON.stringify({
        algorithm: cmd,
        seed,
        iterations: log.length,
        env_steps: last?.globalStep ?? 0,
        initial_mean_length: before.meanLength,
        final_mean_length: after.meanLength,
        final_entropy: last?.entropy ?? null,
        seconds,
      }),
    );
  }
}

/** `stepwise lab ppo` and `stepwise lab actor-critic`: the neural policy-gradient learners on cart-pole. */
export function registerLabPg(lab: Command): void {
  withCommonOptions(
    lab
      .command("ppo")
      .description(
        "PPO (clipped surrogate, GAE) with an MLP actor-critic on cart-pole; logs approx_kl, clipfrac, entropy",
      ),
    { iterations: "50", lr: "2.5e-3", numEnvs: "4", numSteps: "128" },
  )
    .option("--clip-eps <x>", "clip range ε", "0.2")
    .option("--epochs <n>", "update epochs per rollout", "4")
    .option("--minibatches <n>", "minibatches per epoch", "4")
    .action(async (opts: CommonOptions & { clipEps: string; epochs: string; minibatches: string }) => {
      const cmd = "ppo";
      const config = {
        seed: int(cmd, "seed", opts.seed, 0),
        iterations: int(cmd, "iterations", opts.iterations, 1),
        lr: positive(cmd, "lr", opts.lr),
        numEnvs: int(cmd, "num-envs", opts.numEnvs, 1),
        numSteps: int(cmd, "num-steps", opts.numSteps, 1),
        clipEps: positive(cmd, "clip-eps", opts.clipEps),
        updateEpochs: int(cmd, "epochs", opts.epochs, 1),
        numMinibatches: int(cmd, "minibatches", opts.minibatches, 1),
      };
      await runCartPole<PpoLogRow>(
        cmd,
        opts,
        (onLog) => ppo(() => new CartPole(), config, onLog),
        64,
        (r) => ` ${fmt(r.approxKl, 4).padStart(9)} ${fmt(r.clipFrac).padStart(8)}`,
        ` ${"approx_kl".padStart(9)} ${"clipfrac".padStart(8)}`,
      );
    });

  withCommonOptions(
    lab
      .command("actor-critic")
      .description("Advantage actor-critic (A2C) with an MLP on cart-pole; --advantage td|gae"),
    { iterations: "100", lr: "3e-3", numEnvs: "8", numSteps: "32" },
  )
    .option("--advantage <kind>", "td (one-step), gae, or baselined (Monte-Carlo minus V)", "gae")
    .option("--lam <x>", "GAE's λ", "0.95")
    .action(async (opts: CommonOptions & { advantage: string; lam: string }) => {
      const cmd = "actor-critic";
      const kinds = ["td", "gae", "baselined"] as const;
      const advantage = kinds.find((k) => k === opts.advantage);
      if (!advantage)
        throw new Error(`lab ${cmd}: --advantage must be one of ${kinds.join(", ")}, got "${opts.advantage}"`);
      const lam = Number(opts.lam);
      if (!(lam >= 0 && lam <= 1)) throw new Error(`lab ${cmd}: --lam must be in [0, 1], got "${opts.lam}"`);
      const config = {
        advantage,
        lam,
        seed: int(cmd, "seed", opts.seed, 0),
        iterations: int(cmd, "iterations", opts.iterations, 1),
        lr: positive(cmd, "lr", opts.lr),
        numEnvs: int(cmd, "num-envs", opts.numEnvs, 1),
        numSteps: int(cmd, "num-steps", opts.numSteps, 1),
      };
      await runCartPole<PgLogRow>(
        cmd,
        opts,
        (onLog) => trainMlpActorCritic(() => new CartPole(), config, onLog),
        64,
        (r) => ` ${fmt(r.valueLoss, 2).padStart(9)}`,
        ` ${"v_loss".padStart(9)}`,
      );
    });
}
