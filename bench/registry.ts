/**
 * Every benchmark `npm run bench` knows, by name. To add one: write
 * `bench/NAME.ts` exporting a `Bench` (an async generator of figures) and add it
 * here.
 */
import { matmul } from "./matmul.ts";
import type { Bench } from "./types.ts";

export const BENCHES: { readonly [name: string]: Bench } = {
  matmul,
};
