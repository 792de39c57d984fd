/**
 * Cliff walking (Sutton & Barto, 2nd ed., Example 6.6): a 4x12 grid, start bottom-left, goal
 * bottom-right, the bottom row between them a cliff. Every step costs −1; stepping into the
 * cliff costs −100 and sends the agent back to the start; γ = 1.
 *
 *   ............
 *   ............
 *   ............
 *   SHHHHHHHHHHG
 *
 * The optimal path runs along the cliff edge (13 steps, return −13). Under ε-greedy
 * exploration an occasional random step there falls off, so SARSA, which learns the value
 * of the exploring policy, prefers a path further from the edge, while Q-learning learns the
 * edge path (and does worse online for it). `describeCliffPath` measures which one a greedy
 * policy takes.
 */
import { GRIDWORLD_PRESETS, type Gridworld, type GridworldOptions, greedyPath, makeGridworld } from "./gridworld.ts";

/** Length of the optimal (cliff-edge) path: up, 11 × right, down. */
export const CLIFF_OPTIMAL_STEPS = 13;

/** The cliff-walking MDP; options may override the book's rewards or add slip. */
export function cliffWalking(options: GridworldOptions = {}): Gridworld {
  const preset = GRIDWORLD_PRESETS.cliff;
  return makeGridworld(preset.map, { ...preset.options, ...options });
}

export interface CliffPath {
  /** States visited, start first. */
  states: number[];
  steps: number;
  reachesGoal: boolean;
  /** Path states on the edge: the row right above the cliff, over the cliff's columns. */
  edgeCells: number;
  /** The optimal edge path: reaches the goal in 13 steps (all 10 edge cells). */
  edge: boolean;
  /** A safe path: reaches the goal touching the edge row at most once (to step down to the goal). */
  safe: boolean;
}

/** Follow a greedy policy from the start and describe the path it takes. */
export function describeCliffPath(world: Gridworld, actions: ArrayLike<number>): CliffPath {
  const states = greedyPath(world, actions, 200);
  const last = states[states.length - 1]!;
  const reachesGoal = world.map.cells[world.stateCell[last]!] === "goal";
  const cliffRow = world.map.rows - 1;
  let edgeCells = 0;
  for (const s of states) {
    const [r, c] = world.position(s);
    if (r === cliffRow - 1 && c >= 1 && c <= world.map.cols - 2) edgeCells++;
  }
  const steps = states.length - 1;
  return {
    states,
    steps,
    reachesGoal,
    edgeCells,
    edge: reachesGoal && steps === CLIFF_OPTIMAL_STEPS,
    safe: reachesGoal && edgeCells <= 1,
  };
}
