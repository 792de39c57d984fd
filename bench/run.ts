/**
 * npm run bench [-- --only NAME,...] [-- --rounds N] [-- --clock wall|cpu]
 *
 * Runs the selected benchmarks (all by default) one after another and prints
 * one JSON line per figure on stdout; progress and notes go to stderr, and at
 * the end the figures side by side with PyTorch's (table.ts).
 * Exit status: 0 all ran, 1 a bench failed (the others still run), 2 usage error.
 */
import { parseArgs } from "node:util";
import type { Clock } from "./measure.ts";
import { BENCHES } from "./registry.ts";
import { sideBySide } from "./table.ts";
import { type BenchContext, type Figure, formatFigure } from "./types.ts";

const DEFAULT_ROUNDS = 5;

const USAGE = `usage: npm run bench [-- [--only NAME[,NAME...]] [--rounds N] [--clock wall|cpu]]

Runs benchmarks and prints one JSON line per figure on stdout:
  {"bench": NAME, "impl": "stepwise"|"pytorch"|"stepwise/pytorch", "params": {...}, "value": NUMBER, "unit": STRING}
Progress and notes go to stderr.

options:
  --only NAMES   comma-separated benchmarks to run (default: all)
  --clock C      wall (default) or cpu: time each run by its process's CPU
                 time (STEPWISE_BENCH_CLOCK, bench/measure.ts), for a machine
                 whose other work cannot be waited out; then only 1-thread
                 figures are throughputs
  --rounds N     at most N rounds of each measurement (default: ${DEFAULT_ROUNDS});
                 rounds repeat until each figure's best is confirmed by a
                 second round within 10%, and each figure is its best round
  --help         show this help

benchmarks: ${Object.keys(BENCHES).join(", ")}
`;

class UsageError extends Error {
  override name = "UsageError";
}

const OPTIONS = {
  only: { type: "string", multiple: true },
  rounds: { type: "string" },
  clock: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

interface Selection {
  names: string[];
  rounds: number;
  clock: Clock;
}

/** The benchmarks to run, in order, and how, or null for --help. Throws UsageError. */
function parseCommandLine(argv: string[]): Selection | null {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.values.help) return null;
  const rounds = Number(parsed.values.rounds ?? DEFAULT_ROUNDS);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new UsageError(`--rounds must be an integer >= 1, got "${parsed.values.rounds}"`);
  }
  const clock = parsed.values.clock ?? "wall";
  if (clock !== "wall" && clock !== "cpu") throw new UsageError(`--clock must be wall or cpu, got "${clock}"`);
  const known = Object.keys(BENCHES);
  const only = parsed.values.only;
  if (only === undefined) return { names: known, rounds, clock };
  const names = only.flatMap((s) => s.split(",")).map((s) => s.trim());
  const unknown = names.filter((n) => !Object.hasOwn(BENCHES, n));
  if (unknown.length > 0 || names.length === 0 || names.includes("")) {
    const what = unknown.filter((n) => n !== "");
    throw new UsageError(
      `${what.length ? `unknown benchmark ${what.map((n) => `"${n}"`).join(", ")}` : "--only needs a name"}; ` +
        `known benchmarks: ${known.join(", ")}`,
    );
  }
  return { names: [...new Set(names)], rounds, clock };
}

async function main(): Promise<number> {
  let selection: Selection | null;
  try {
    selection = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (selection === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { names, rounds, clock } = selection;
  process.env.STEPWISE_BENCH_CLOCK = clock; // every child and peer inherits it
  const ctx: BenchContext = { log: (message) => process.stderr.write(`${message}\n`), rounds };
  if (clock === "cpu") ctx.log("bench: timing by CPU time (--clock cpu): only 1-thread figures are throughputs");
  let failed = 0;
  const figures: Figure[] = [];
  for (const name of names) {
    const bench = BENCHES[name]!;
    const t0 = performance.now();
    ctx.log(`bench ${name}: start`);
    try {
      for await (const figure of bench(ctx)) {
        figures.push(figure);
        process.stdout.write(`${formatFigure(figure)}\n`);
      }
      ctx.log(`bench ${name}: done in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    } catch (err) {
      failed++;
      ctx.log(`bench ${name}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  const table = sideBySide(figures);
  if (table) ctx.log(`\nside by side (this run, ${clock} clock):\n${table}`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
