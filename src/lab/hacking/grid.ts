/**
 * Text maps for the grid scenarios (shaping, glitch): `#` is a wall, every other
 * character is a free cell whose meaning the scenario gives it. Moves are the lab's
 * up/right/down/left (gridworld.ts); moving into a wall or off the map stays in place.
 */
import { ACTION_DELTAS } from "../gridworld.ts";

export interface TextGrid {
  rows: number;
  cols: number;
  /** chars[r * cols + c] */
  chars: string[];
  /** Cell index of each free cell, in row-major order: the cell's "place" number. */
  placeCell: Int32Array;
  /** Place number of each cell, −1 for walls. */
  cellPlace: Int32Array;
}

/** Parse rows of equal length; `allowed` lists the characters a free cell may be. */
export function parseTextGrid(rows: readonly string[], allowed: string, source: string): TextGrid {
  const cols = rows[0]?.length ?? 0;
  if (cols === 0) throw new RangeError(`${source}: the map is empty`);
  const chars: string[] = [];
  rows.forEach((row, r) => {
    if (row.length !== cols) {
      throw new RangeError(
        `${source}: row ${r + 1} has ${row.length} cells but row 1 has ${cols}; maps are rectangular`,
      );
    }
    for (const [c, ch] of [...row].entries()) {
      if (ch !== "#" && !allowed.includes(ch)) {
        throw new RangeError(
          `${source}: row ${r + 1}, column ${c + 1}: unknown cell "${ch}", expected # or one of ${allowed}`,
        );
      }
      chars.push(ch);
    }
  });
  const cellPlace = new Int32Array(chars.length).fill(-1);
  const places: number[] = [];
  chars.forEach((ch, i) => {
    if (ch !== "#") {
      cellPlace[i] = places.length;
      places.push(i);
    }
  });
  return { rows: rows.length, cols, chars, placeCell: Int32Array.from(places), cellPlace };
}

/** Places whose character is `ch`. */
export function placesOf(grid: TextGrid, ch: string): number[] {
  const out: number[] = [];
  grid.placeCell.forEach((cell, p) => {
    if (grid.chars[cell] === ch) out.push(p);
  });
  return out;
}

/** [row, column] of a place. */
export function rowCol(grid: TextGrid, place: number): [number, number] {
  const cell = grid.placeCell[place]!;
  return [Math.floor(cell / grid.cols), cell % grid.cols];
}

/** The character of a place. */
export function charAt(grid: TextGrid, place: number): string {
  return grid.chars[grid.placeCell[place]!]!;
}

/** Where moving in direction `action` (0..3: up, right, down, left) from `place` lands. */
export function move(grid: TextGrid, place: number, action: number): number {
  const [r0, c0] = rowCol(grid, place);
  const [dr, dc] = ACTION_DELTAS[action]!;
  const r = r0 + dr;
  const c = c0 + dc;
  if (r < 0 || r >= grid.rows || c < 0 || c >= grid.cols) return place;
  const p = grid.cellPlace[r * grid.cols + c]!;
  return p < 0 ? place : p;
}

/** Manhattan distance between two places. */
export function manhattan(grid: TextGrid, a: number, b: number): number {
  const [ra, ca] = rowCol(grid, a);
  const [rb, cb] = rowCol(grid, b);
  return Math.abs(ra - rb) + Math.abs(ca - cb);
}

/** Render one short string per place on the map; walls print `#`. */
export function renderPlaces(grid: TextGrid, text: (place: number) => string): string {
  const lines: string[] = [];
  for (let r = 0; r < grid.rows; r++) {
    let line = "";
    for (let c = 0; c < grid.cols; c++) {
      const p = grid.cellPlace[r * grid.cols + c]!;
      line += p < 0 ? "#" : text(p);
    }
    lines.push(line);
  }
  return lines.join("\n");
}
