/**
 * Progress reporting: a one-line bar with ETA and tokens/s on a TTY, plain log
 * lines (every `every` steps) otherwise, so logs piped to a file stay readable.
 */
import type { StepMetrics } from "./loop.ts";

export interface Progress {
  update(m: StepMetrics): void;
  /** Print a message on its own line (clears the bar first). */
  log(line: string): void;
  done(): void;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

export function makeProgress(opts: {
  total: number;
  start: number;
  every: number;
  stream?: NodeJS.WriteStream;
}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const t0 = performance.now();
  let shown = false;
  const clear = () => {
    if (tty && shown) stream.write("\r\x1b[2K");
    shown = false;
  };
  return {
    update(m) {
      const elapsed = (performance.now() - t0) / 1000;
      const done = m.step - opts.start;
      const eta = (elapsed / Math.max(done, 1)) * (opts.total - m.step);
      const text = `step ${m.step}/${opts.total} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} |g| ${m.grad_norm.toFixed(3)} ${Math.round(m.tokens_per_s)} tok/s`;
      if (tty) {
        const width = 24;
        const filled = Math.round((width * m.step) / opts.total);
        stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text} eta ${clock(eta)}`);
        shown = true;
      } else if (m.step % opts.every === 0 || m.step === opts.total) {
        stream.write(`${text} elapsed ${clock(elapsed)} eta ${clock(eta)}\n`);
      }
    },
    log(line) {
      clear();
      stream.write(`${line}\n`);
    },
    done() {
      clear();
    },
  };
}
