import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  DEFAULT_TD_SETTINGS,
  GRIDWORLD_PRESETS,
  type GridworldOptions,
  type GridworldPresetName,
  makeGridworld,
  parseGridMap,
  renderValues,
  type TdSettings,
} from "../lab/gridworld.ts";
import { type LearnerReport, runGridworldExperiment } from "../lab/gridworld-experiment.ts";

interface Flags {
  map?: string;
  preset?: string;
  gamma?: string;
  slip?: string;
  seed: string;
  episodes?: string;
  out: string;
  json?: boolean;
}

/** Exact checks must agree to this (max abs), as the lab's acceptance asks. */
const EXACT_TOL = 1e-8;

function parseNumber(
  flag: string,
  value: string,
  { min, max, integer }: { min: number; max: number; integer?: boolean },
): number {
  const x = Number(value);
  if (value.trim() === "" || !Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
    const what = integer ? "an integer" : "a number";
    throw new Error(`lab gridworld: ${flag} must be ${what} in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return x;
}

const fmt = (x: number | null) =>
  x === null ? "—" : Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(1) : x.toFixed(3);

function learnerRow(name: string, r: LearnerReport): string {
  return [
    name.padEnd(12),
    (r.matches_pi_star ? "yes" : "no").padEnd(11),
    String(r.wrong_states).padStart(6),
    fmt(r.value_gap).padStart(11),
    String(r.first_optimal_episode ?? "—").padStart(13),
    r.mean_return_last_100.toFixed(2).padStart(12),
    `${r.greedy_path_steps} steps${r.greedy_path_reaches_goal ? "" : " (no goal)"}`.padStart(20),
  ].join(" ");
}

/**
 * `stepwise lab gridworld`: solve a gridworld exactly (value iteration, policy iteration, linear
 * solve), check the methods against each other, learn it by Q-learning and SARSA, and draw it.
 */
export function registerLabGridworld(lab: Command): void {
  const presets = Object.keys(GRIDWORLD_PRESETS).join(", ");
  lab
    .command("gridworld")
    .description("Solve a gridworld exactly (VI, PI, linear solve) and learn it by Q-learning and SARSA")
    .option("--map <file>", "text map: # wall, . free, S start, G goal, H hazard")
    .option("--preset <name>", `built-in map: ${presets} (default maze5x5)`)
    .option("--gamma <g>", "discount γ in [0, 1] (default: the preset's)")
    .option("--slip <p>", "probability of slipping sideways (default: the preset's, 0 for --map)")
    .option("--seed <n>", "random seed", "0")
    .option("--episodes <n>", "episodes of Q-learning and of SARSA (default: the preset's)")
    .option("--out <dir>", "folder for the SVG pictures", "runs/lab/gridworld")
    .option("--json", "print a JSON summary as the last line")
    .action((flags: Flags) => {
      if (flags.map !== undefined && flags.preset !== undefined) {
        throw new Error("lab gridworld: give --map or --preset, not both");
      }
      const presetName = flags.preset ?? "maze5x5";
      if (flags.map === undefined && !(presetName in GRIDWORLD_PRESETS)) {
        throw new Error(`lab gridworld: --preset: unknown preset "${presetName}", expected one of: ${presets}`);
      }
      const preset = flags.map === undefined ? GRIDWORLD_PRESETS[presetName as GridworldPresetName] : null;
      let text: string;
      let name: string;
      if (flags.map !== undefined) {
        try {
          text = readFileSync(flags.map, "utf8");
        } catch (e) {
          throw new Error(`lab gridworld: --map: cannot read ${flags.map}: ${(e as Error).message}`);
        }
        name = flags.map;
      } else {
        text = preset!.map;
        name = presetName;
      }
      const gamma =
        flags.gamma === undefined ? (preset?.gamma ?? 0.95) : parseNumber("--gamma", flags.gamma, { min: 0, max: 1 });
      const seed = parseNumber("--seed", flags.seed, { min: 0, max: 2 ** 32 - 1, integer: true });
      const learning: TdSettings = { ...(preset?.learning ?? DEFAULT_TD_SETTINGS) };
      if (flags.episodes !== undefined) {
        learning.episodes = parseNumber("--episodes", flags.episodes, { min: 1, max: 1e7, integer: true });
      }
      const options: GridworldOptions = { ...(preset?.options ?? {}), name };
      if (flags.slip !== undefined) options.slip = parseNumber("--slip", flags.slip, { min: 0, max: 1 });

      const world = makeGridworld(parseGridMap(text, name), options);
      const { summary: s, svgs, vi } = runGridworldExperiment(world, { gamma, seed, learning });

      mkdirSync(flags.out, { recursive: true });
      const files: string[] = [];
      for (const [file, svg] of Object.entries(svgs)) {
        const path = join(flags.out, file);
        writeFileSync(path, svg);
        files.push(path);
      }

      const exactOk =
        s.pi_vi_equals_pi_pi &&
        s.v_vi_vs_pi_max_abs <= EXACT_TOL &&
        s.eval_iterative_vs_linear_max_abs <= EXACT_TOL &&
        s.q_eval_iterative_vs_linear_max_abs <= EXACT_TOL;
      const check = (x: number) => `${x.toExponential(2)} (${x <= EXACT_TOL ? "match" : "MISMATCH"} at 1e-8)`;
      const [a0, a1] = learning.alpha;
      const [e0, e1] = learning.epsilon;
      const out: string[] = [
        `lab gridworld: ${s.world}, ${s.rows}x${s.cols}, ${s.num_states} states, γ = ${gamma}, slip ${s.slip}, seed ${seed}`,
        "",
        "map and π* (value iteration):",
        ...text
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l, r) => `  ${l.trimEnd().padEnd(s.cols + 4)}${s.pi_star[r] ?? ""}`),
        "",
        "V*:",
        ...renderValues(world, vi.V, 2)
          .split("\n")
          .map((l) => `  ${l}`),
        "",
        "exact solutions",
        `  value iteration                          ${s.vi_iterations} sweeps`,
        `  policy iteration (linear evaluation)     ${s.pi_iterations} improvements`,
        `  max |V*_VI − V*_PI|                      ${check(s.v_vi_vs_pi_max_abs)}`,
        `  π*_VI = π*_PI                            ${s.pi_vi_equals_pi_pi ? "yes" : "NO"} (${s.unique_action_states} states with a unique optimal action, ${s.unique_actions_agree ? "all agree" : "SOME DIFFER"})`,
        `policy evaluation of a random stochastic π (γ = ${s.eval_gamma})`,
        `  V^π iterative (${s.eval_iterations} sweeps) vs linear solve   ${check(s.eval_iterative_vs_linear_max_abs)}`,
        `  Q^π iterative vs r + γ P V^π             ${check(s.q_eval_iterative_vs_linear_max_abs)}`,
        `  max |V^π − Σ_a π Q^π|                    ${s.v_vs_sum_pi_q_max_abs.toExponential(2)}`,
        `  max |Σ_a π(a|s) A^π(s,a)|                ${s.advantage_mean_under_pi_max_abs.toExponential(2)}`,
        "",
        `learning: ${learning.episodes} episodes, α ${a0}→${a1}, ε ${e0}→${e1} (linear), max ${learning.maxSteps} steps`,
        `  ${"".padEnd(12)} ${"matches π*".padEnd(11)} ${"wrong".padStart(6)} ${"value gap".padStart(11)} ${"optimal from".padStart(13)} ${"return@100".padStart(12)} ${"greedy path".padStart(20)}`,
        `  ${learnerRow("Q-learning", s.q_learning)}`,
        `  ${learnerRow("SARSA", s.sarsa)}`,
        `  (π* expected return from the start: ${s.pi_star_return === null ? "—" : s.pi_star_return.toFixed(2)})`,
        "",
        `pictures: ${files.join(", ")}`,
      ];
      console.log(out.join("\n"));
      if (flags.json) console.log(JSON.stringify({ ...s, exact_checks_pass: exactOk, files }));
      if (!exactOk) process.exitCode = 1;
    });
}
