/**
 * Gridworlds from text maps: a finite MDP whose dynamics are known exactly.
 *
 *   #  wall      (not a state; moving into it, or off the map, leaves the agent in place)
 *   .  free cell
 *   S  start     (exactly one)
 *   G  goal      (one or more; entering one ends the episode with `goalReward`)
 *   H  hazard    (entering one gives `hazardReward` and either ends the episode,
 *                 `hazard: "terminal"`, or sends the agent back to S, `hazard: "restart"`,
 *                 which is Sutton & Barto's cliff)
 *
 * Actions 0..3 are up, right, down, left. With probability 1 − slip the agent moves as
 * asked; with probability slip/2 each it moves in one of the two perpendicular directions.
 * Every other move costs `stepReward`. All non-wall cells are states, numbered row-major;
 * goal and hazard cells are terminal states (V = 0), so a map reads like its value table.
 */
import type { Rng } from "../engine/rng.ts";
import type { TabularEnv, Transition } from "./env.ts";
import { heatMapSvg } from "./svg.ts";

export type CellKind = "wall" | "free" | "start" | "goal" | "hazard";

const CELL_CHARS: { [c: string]: CellKind } = { "#": "wall", ".": "free", S: "start", G: "goal", H: "hazard" };

/** Actions in clockwise order; their (row, column) steps; their arrows. */
export const ACTION_NAMES = ["up", "right", "down", "left"] as const;
export const ACTION_DELTAS: readonly (readonly [number, number])[] = [
  [-1, 0],
  [0, 1],
  [1, 0],
  [0, -1],
];
export const ACTION_ARROWS = ["↑", "→", "↓", "←"] as const;

/** A map that does not parse; `line` and `column` are 1-based positions in the map text. */
export class GridMapError extends Error {
  override name = "GridMapError";
  constructor(
    readonly source: string,
    readonly line: number,
    readonly column: number,
    reason: string,
  ) {
    super(`${source}:${line}:${column}: ${reason}`);
  }
}

export interface GridMap {
  rows: number;
  cols: number;
  /** cells[r * cols + c] */
  cells: CellKind[];
}

/**
 * Parse a text map. Leading and trailing blank lines and trailing whitespace are ignored;
 * line numbers in errors count from the first line of `text`, blank ones included.
 */
export function parseGridMap(text: string, source = "map"): GridMap {
  const lines = text.split("\n").map((l) => l.replace(/\s+$/, ""));
  let first = 0;
  while (first < lines.length && lines[first] === "") first++;
  let last = lines.length - 1;
  while (last >= first && lines[last] === "") last--;
  if (first > last) throw new GridMapError(source, 1, 1, "the map is empty; expected rows of # . S G H");

  const cols = lines[first]!.length;
  const cells: CellKind[] = [];
  let start: [number, number] | null = null;
  let goals = 0;
  for (let i = first; i <= last; i++) {
    const line = lines[i]!;
    if (line.length === 0)
      throw new GridMapError(source, i + 1, 1, "empty line inside the map; rows must be contiguous");
    if (line.length !== cols) {
      throw new GridMapError(
        source,
        i + 1,
        Math.min(line.length, cols) + 1,
        `row has ${line.length} cells but the first row (line ${first + 1}) has ${cols}; maps must be rectangular`,
      );
    }
    for (let j = 0; j < line.length; j++) {
      const ch = line[j]!;
      const kind = CELL_CHARS[ch];
      if (kind === undefined) {
        throw new GridMapError(source, i + 1, j + 1, `unknown cell ${JSON.stringify(ch)}; expected one of # . S G H`);
      }
      if (kind === "start") {
        if (start) {
          throw new GridMapError(
            source,
            i + 1,
            j + 1,
            `second start 'S' (the first is at line ${start[0]}, column ${start[1]}); a map has exactly one`,
          );
        }
        start = [i + 1, j + 1];
      }
      if (kind === "goal") goals++;
      cells.push(kind);
    }
  }
  if (!start) throw new GridMapError(source, first + 1, 1, "no start 'S' in the map; add exactly one");
  if (goals === 0) throw new GridMapError(source, first + 1, 1, "no goal 'G' in the map; add at least one");
  return { rows: last - first + 1, cols, cells };
}

export interface GridworldOptions {
  /** Probability of slipping to a perpendicular direction (split evenly); default 0. */
  slip?: number;
  /** Reward of every move that does not enter a goal or hazard; default −1. */
  stepReward?: number;
  /** Reward for entering a goal cell; default +10. */
  goalReward?: number;
  /** Reward for entering a hazard cell; default −10. */
  hazardReward?: number;
  /** What a hazard does: end the episode (default) or send the agent back to the start. */
  hazard?: "terminal" | "restart";
  name?: string;
}

export interface Gridworld extends TabularEnv {
  readonly map: GridMap;
  readonly options: Required<GridworldOptions>;
  /** Cell index (r * cols + c) of each state. */
  readonly stateCell: Int32Array;
  /** State of each cell, −1 for walls. */
  readonly cellState: Int32Array;
  readonly startState: number;
  /** [row, column] of a state, 0-based. */
  position(state: number): [number, number];
}

function resolveOptions(o: GridworldOptions): Required<GridworldOptions> {
  const r: Required<GridworldOptions> = {
    slip: o.slip ?? 0,
    stepReward: o.stepReward ?? -1,
    goalReward: o.goalReward ?? 10,
    hazardReward: o.hazardReward ?? -10,
    hazard: o.hazard ?? "terminal",
    name: o.name ?? "gridworld",
  };
  if (!(r.slip >= 0 && r.slip <= 1))
    throw new RangeError(`makeGridworld: option slip must be in [0, 1], got ${r.slip}`);
  for (const k of ["stepReward", "goalReward", "hazardReward"] as const) {
    if (!Number.isFinite(r[k])) throw new RangeError(`makeGridworld: option ${k} must be a finite number, got ${r[k]}`);
  }
  if (r.hazard !== "terminal" && r.hazard !== "restart") {
    throw new RangeError(`makeGridworld: option hazard must be "terminal" or "restart", got ${String(r.hazard)}`);
  }
  return r;
}

/** Build the MDP of a map (text or parsed). Transitions are precomputed once. */
export function makeGridworld(mapOrText: GridMap | string, options: GridworldOptions = {}): Gridworld {
  const map = typeof mapOrText === "string" ? parseGridMap(mapOrText, options.name ?? "map") : mapOrText;
  const opts = resolveOptions(options);
  const { rows, cols, cells } = map;
  const cellState = new Int32Array(cells.length).fill(-1);
  const stateCellList: number[] = [];
  for (let i = 0; i < cells.length; i++) {
    if (cells[i] !== "wall") {
      cellState[i] = stateCellList.length;
      stateCellList.push(i);
    }
  }
  const stateCell = Int32Array.from(stateCellList);
  const numStates = stateCell.length;
  const numActions = 4;
  const startState = cellState[cells.indexOf("start")]!;
  const terminal = (s: number) => {
    const k = cells[stateCell[s]!];
    return k === "goal" || k === "hazard";
  };

  /** Where moving in direction d from state s lands, and what it pays. */
  const move = (s: number, d: number): Omit<Transition, "prob"> => {
    const cell = stateCell[s]!;
    const r = Math.floor(cell / cols) + ACTION_DELTAS[d]![0];
    const c = (cell % cols) + ACTION_DELTAS[d]![1];
    const blocked = r < 0 || r >= rows || c < 0 || c >= cols || cells[r * cols + c] === "wall";
    const next = blocked ? s : cellState[r * cols + c]!;
    const kind = cells[stateCell[next]!];
    if (kind === "goal") return { next, reward: opts.goalReward, terminal: true };
    if (kind === "hazard") {
      return opts.hazard === "terminal"
        ? { next, reward: opts.hazardReward, terminal: true }
        : { next: startState, reward: opts.hazardReward, terminal: false };
    }
    return { next, reward: opts.stepReward, terminal: false };
  };

  // table[s * 4 + a]: outcomes of (s, a), equal outcomes merged.
  const table: Transition[][] = [];
  for (let s = 0; s < numStates; s++) {
    for (let a = 0; a < numActions; a++) {
      if (terminal(s)) {
        table.push([{ prob: 1, next: s, reward: 0, terminal: true }]);
        continue;
      }
      const outcomes: Transition[] = [];
      const add = (d: number, prob: number) => {
        if (prob === 0) return;
        const o = move(s, d);
        const same = outcomes.find((x) => x.next === o.next && x.reward === o.reward && x.terminal === o.terminal);
        if (same) same.prob += prob;
        else outcomes.push({ prob, ...o });
      };
      add(a, 1 - opts.slip);
      add((a + 1) % 4, opts.slip / 2);
      add((a + 3) % 4, opts.slip / 2);
      table.push(outcomes);
    }
  }

  let current = -1;
  return {
    name: opts.name,
    numStates,
    numActions,
    map,
    options: opts,
    stateCell,
    cellState,
    startState,
    position: (s) => [Math.floor(stateCell[s]! / cols), stateCell[s]! % cols],
    transitions: (s, a) => table[s * numActions + a]!,
    startDistribution: () => {
      const d = new Float64Array(numStates);
      d[startState] = 1;
      return d;
    },
    isTerminal: terminal,
    reset: () => {
      current = startState;
      return current;
    },
    step(action, rng: Rng) {
      if (current < 0 || terminal(current)) {
        throw new Error(`${opts.name}.step: the episode has ended (or never started); call reset() first`);
      }
      if (!Number.isInteger(action) || action < 0 || action >= numActions) {
        throw new RangeError(`${opts.name}.step: action must be an integer in 0..3, got ${action}`);
      }
      const outcomes = table[current * numActions + action]!;
      let o = outcomes[0]!;
      if (outcomes.length > 1) {
        let u = rng.float();
        for (const x of outcomes) {
          o = x;
          u -= x.prob;
          if (u < 0) break;
        }
      }
      current = o.next;
      return { state: o.next, reward: o.reward, terminated: o.terminal, truncated: false };
    },
  };
}

/**
 * The path from the start following `actions` (one per state) along each action's most
 * likely outcome, until a terminal state, a repeated state, or `maxLength` steps.
 */
export function greedyPath(world: Gridworld, actions: ArrayLike<number>, maxLength = 1000): number[] {
  const path = [world.startState];
  const seen = new Set(path);
  let s = world.startState;
  for (let t = 0; t < maxLength && !world.isTerminal(s); t++) {
    const outcomes = world.transitions(s, actions[s]!);
    const likely = outcomes.reduce((best, o) => (o.prob > best.prob ? o : best));
    s = likely.next;
    path.push(s);
    if (seen.has(s)) break;
    seen.add(s);
  }
  return path;
}

/** Render one character (or short string) per cell as text rows; walls print '#'. */
export function renderGrid(world: Gridworld, cell: (state: number, kind: CellKind) => string, width = 1): string {
  const { rows, cols, cells } = world.map;
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = "";
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const text = cells[i] === "wall" ? "#" : cell(world.cellState[i]!, cells[i]!);
      line += text.padStart(width) + (c < cols - 1 && width > 1 ? " " : "");
    }
    out.push(line);
  }
  return out.join("\n");
}

/** The policy as arrows on the map (G, H for goal and hazard cells). */
export function renderPolicy(world: Gridworld, actions: ArrayLike<number>): string {
  return renderGrid(world, (s, kind) =>
    kind === "goal" ? "G" : kind === "hazard" ? "H" : ACTION_ARROWS[actions[s]!]!,
  );
}

/** A value table on the map, fixed-point with `digits` decimals. */
export function renderValues(world: Gridworld, V: ArrayLike<number>, digits = 2): string {
  const texts = Array.from({ length: world.numStates }, (_, s) => V[s]!.toFixed(digits));
  const width = Math.max(...texts.map((t) => t.length));
  return renderGrid(world, (s) => texts[s]!, width);
}

/** SVG heat map of V over the map, with greedy-policy arrows on non-terminal cells. */
export function gridworldHeatMap(
  world: Gridworld,
  V: ArrayLike<number>,
  actions: ArrayLike<number> | null,
  title: string,
): string {
  const { rows, cols, cells } = world.map;
  const values: (number | null)[] = [];
  const arrows: (number | null)[] = [];
  const labels: (string | null)[] = [];
  const fills: (string | null)[] = [];
  for (let i = 0; i < cells.length; i++) {
    const s = world.cellState[i]!;
    const kind = cells[i]!;
    values.push(s < 0 ? null : V[s]!);
    arrows.push(s < 0 || world.isTerminal(s) || !actions ? null : actions[s]!);
    labels.push(kind === "goal" ? "G" : kind === "hazard" ? "H" : kind === "start" ? "S" : null);
    // Terminal cells have V = 0 by definition: draw them apart so they do not stretch the scale.
    fills.push(kind === "goal" ? "#b8e6b8" : kind === "hazard" ? "#f2b8b8" : null);
  }
  return heatMapSvg({ title, rows, cols, values, arrows, labels, fills });
}

export interface GridworldPreset {
  description: string;
  map: string;
  options: GridworldOptions;
  /** The discount this world is meant to be solved with. */
  gamma: number;
  /** TD-learning settings that work here: α and ε decay linearly [from, to] over the episodes. */
  learning: TdSettings;
}

export interface TdSettings {
  episodes: number;
  alpha: [number, number];
  epsilon: [number, number];
  maxSteps: number;
}

/** Default TD settings for maps without their own: explore broadly first, then exploit. */
export const DEFAULT_TD_SETTINGS: TdSettings = { episodes: 1000, alpha: [0.5, 0.05], epsilon: [1, 0.1], maxSteps: 200 };

/** Named maps for the CLI and tests. */
export const GRIDWORLD_PRESETS = {
  /** 5x5 with walls and two hazards; deterministic moves (the Q-learning acceptance world). */
  maze5x5: {
    description: "5x5 maze, walls and two hazards, deterministic",
    map: ["S.#..", "..#.H", ".....", ".#H#.", "...#G"].join("\n"),
    options: { name: "maze5x5" },
    gamma: 0.95,
    learning: DEFAULT_TD_SETTINGS,
  },
  /** An open 5x5 room: many optimal actions tie (every shortest path is optimal). */
  open5x5: {
    description: "open 5x5 room, goal in the far corner (many tied optimal actions)",
    map: ["S....", ".....", ".....", ".....", "....G"].join("\n"),
    options: { name: "open5x5" },
    gamma: 0.9,
    learning: DEFAULT_TD_SETTINGS,
  },
  /** A slippery 6x6 world where the short path runs between hazards. */
  slippery: {
    description: "6x6, slip 0.2, a short path between hazards and a long safe detour",
    map: ["S.....", ".#HH#.", "......", ".#HH#.", "......", "H....G"].join("\n"),
    options: { name: "slippery", slip: 0.2 },
    gamma: 0.95,
    learning: { ...DEFAULT_TD_SETTINGS, episodes: 3000 },
  },
  /** Sutton & Barto's cliff walking (Example 6.6): −1 per step, −100 and back to start for the cliff. */
  cliff: {
    description: "Sutton & Barto cliff walking, 4x12, undiscounted",
    map: ["............", "............", "............", "SHHHHHHHHHHG"].join("\n"),
    options: { name: "cliff", stepReward: -1, goalReward: -1, hazardReward: -100, hazard: "restart" },
    gamma: 1,
    // The book's constant ε = 0.1: the safe-vs-edge contrast exists only while exploring.
    learning: { episodes: 500, alpha: [0.5, 0.05], epsilon: [0.1, 0.1], maxSteps: 1000 },
  },
} satisfies Record<string, GridworldPreset>;

export type GridworldPresetName = keyof typeof GRIDWORLD_PRESETS;
