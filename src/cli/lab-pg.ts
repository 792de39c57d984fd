/**
 * `stepwise lab ppo` and `stepwise lab actor-critic`: the neural policy-gradient learners
 * (src/lab/ppo.ts, src/lab/a2c.ts) on cart-pole. Their settings are the trainers' own zod
 * schemas plus `evalEpisodes`, from `--config FILE`, flags and `--set key=value` (lab-config.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { posInt } from "../config/blocks.ts";
import { defaultsOf } from "../config/load.ts";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import type { Params } from "../engine/params.ts";
import { ActorCriticConfigError, ActorCriticConfigSchema, type PgLogRow, trainMlpActorCritic } from "../lab/a2c.ts";
import { CartPole } from "../lab/cartpole.ts";
import { evaluateMlpPolicy, initMlpActorCritic } from "../lab/mlp-policy.ts";
import { PpoConfigError, PpoConfigSchema, type PpoLogRow, ppo } from "../lab/ppo.ts";
import { lineChartSvg } from "../lab/svg.ts";
import { addConfigFlags, type ConfigFlag, type ConfigFlagValues, resolveConfig } from "./lab-config.ts";

/** Besides the trainer's keys, the command's config holds how many episodes judge the policy. */
const evalKeys = {
  /** Episodes of the before/after evaluation (sampled actions, seed + 1000003). */
  evalEpisodes: posInt.default(20),
};
const PpoRunSchema = PpoConfigSchema.extend(evalKeys);
const ActorCriticRunSchema = ActorCriticConfigSchema.extend(evalKeys);

const COMMON_FLAGS: readonly ConfigFlag[] = [
  { flag: "seed", key: "seed", help: "random seed" },
  { flag: "iterations", key: "iterations", help: "collect-then-update iterations" },
  { flag: "lr", key: "lr", help: "Adam step size" },
  { flag: "num-envs", key: "numEnvs", help: "environments stepped in lock step" },
  { flag: "num-steps", key: "numSteps", help: "steps per env per rollout" },
  { flag: "eval-episodes", key: "evalEpisodes", help: "episodes for the before/after evaluation" },
];
const PPO_FLAGS: readonly ConfigFlag[] = [
  ...COMMON_FLAGS,
  { flag: "clip-eps", key: "clipEps", help: "clip range ε" },
  { flag: "epochs", key: "updateEpochs", help: "update epochs per rollout" },
  { flag: "minibatches", key: "numMinibatches", help: "minibatches per epoch" },
];
const ACTOR_CRITIC_FLAGS: readonly ConfigFlag[] = [
  ...COMMON_FLAGS,
  { flag: "advantage", key: "advantage", help: "td (one-step), gae, or baselined (Monte-Carlo minus V)" },
  { flag: "lam", key: "lam", help: "GAE's λ" },
];

interface OutputFlags {
  out?: string;
  json?: boolean;
}

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "—");

/** Shared shell: evaluate the initial policy, train, evaluate again, print, write files. */
async function runCartPole<R extends PgLogRow>(
  cmd: string,
  cfg: { seed: number; hidden: number; evalEpisodes: number },
  flags: OutputFlags,
  train: (onLog: (row: R) => void) => Promise<{ params: Params; log: R[] }>,
  extraColumns: (row: R) => string,
  extraHeader: string,
): Promise<void> {
  const { seed } = cfg;
  const out = flags.out ?? join("runs", "lab", cmd);
  await initEngine();
  const makeEnv = () => new CartPole();
  const evalOpts = { episodes: cfg.evalEpisodes, seed: seed + 1_000_003 };
  const init = initMlpActorCritic({ obsSize: 4, numActions: 2, hidden: cfg.hidden }, seed);
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
  if (flags.json) {
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

function withOutputFlags(c: Command): Command {
  return c
    .option("--out <dir>", "folder for metrics.jsonl and curve.svg (default: runs/lab/<command>)")
    .option("--json", "print a JSON summary as the last line");
}

/** `stepwise lab ppo` and `stepwise lab actor-critic`: the neural policy-gradient learners on cart-pole. */
export function registerLabPg(lab: Command): void {
  const ppoCmd = lab
    .command("ppo")
    .description(
      "PPO (clipped surrogate, GAE) with an MLP actor-critic on cart-pole; logs approx_kl, clipfrac, entropy",
    );
  withOutputFlags(addConfigFlags(ppoCmd, PPO_FLAGS, defaultsOf(PpoRunSchema), "src/lab/ppo.ts")).action(
    async (flags: ConfigFlagValues & OutputFlags) => {
      const { evalEpisodes, ...config } = await resolveConfig(PpoRunSchema, flags, PPO_FLAGS, {
        command: "lab ppo",
        what: "PPO config",
        docs: "src/lab/ppo.ts",
        errorClass: PpoConfigError,
      });
      await runCartPole<PpoLogRow>(
        "ppo",
        { ...config, evalEpisodes },
        flags,
        (onLog) => ppo(() => new CartPole(), config, onLog),
        (r) => ` ${fmt(r.approxKl, 4).padStart(9)} ${fmt(r.clipFrac).padStart(8)}`,
        ` ${"approx_kl".padStart(9)} ${"clipfrac".padStart(8)}`,
      );
    },
  );

  const acCmd = lab
    .command("actor-critic")
    .description("Advantage actor-critic (A2C) with an MLP on cart-pole; --advantage td|gae|baselined");
  withOutputFlags(addConfigFlags(acCmd, ACTOR_CRITIC_FLAGS, defaultsOf(ActorCriticRunSchema), "src/lab/a2c.ts")).action(
    async (flags: ConfigFlagValues & OutputFlags) => {
      const { evalEpisodes, ...config } = await resolveConfig(ActorCriticRunSchema, flags, ACTOR_CRITIC_FLAGS, {
        command: "lab actor-critic",
        what: "actor-critic config",
        docs: "src/lab/a2c.ts",
        errorClass: ActorCriticConfigError,
      });
      await runCartPole<PgLogRow>(
        "actor-critic",
        { ...config, evalEpisodes },
        flags,
        (onLog) => trainMlpActorCritic(() => new CartPole(), config, onLog),
        (r) => ` ${fmt(r.valueLoss, 2).padStart(9)}`,
        ` ${"v_loss".padStart(9)}`,
      );
    },
  );
}
