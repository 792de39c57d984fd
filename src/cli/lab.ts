/**
 * `stepwise lab ...`: the classic-RL lab, one sub-command per experiment
 * (value functions on gridworlds, the policy-gradient variance experiment,
 * reward-hacking scenarios). Each sub-command lives in its own file.
 */
import type { Command } from "commander";
import { registerLabGridworld } from "./lab-gridworld.ts";
import { registerLabHacking } from "./lab-hacking.ts";
import { registerLabPg } from "./lab-pg.ts";
import { registerLabVariance } from "./lab-variance.ts";

/** Create the `lab` command group and register every lab experiment under it. */
export function registerLab(program: Command): Command {
  const lab = program
    .command("lab")
    .description("Classic RL experiments: value functions, advantage, policy-gradient variance, reward hacking");
  registerLabGridworld(lab);
  registerLabVariance(lab);
  registerLabPg(lab);
  registerLabHacking(lab);
  return lab;
}
