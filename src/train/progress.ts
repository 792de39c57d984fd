/**
 * Progress reporting for every trainer: a one-line bar with ETA on a TTY, plain log lines
 * (every `every` steps) otherwise, so logs piped to a file stay readable. The trainer
 * formats its own figures (`loss … lr … |g| … tok/s` for SFT, rewards and KL for RL).
 */

export interface Progress {
  /** Step `step` is done; `fields` is the trainer's one-line summary of it. */
  update(step: number, fields: string): void;
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
    update(step, fields) {
      const elapsed = (performance.now() - t0) / 1000;
      const done = step - opts.start;
      const eta = (elapsed / Math.max(done, 1)) * (opts.total - step);
      const text = `step ${step}/${opts.total} ${fields}`;
      if (tty) {
        const width = 24;
        const filled = Math.round((width * step) / opts.total);
        stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text} eta ${clock(eta)}`);
        shown = true;
      } else if (step % opts.every === 0 || step === opts.total) {
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
