/**
 * Is anything else using the cores while we measure?
 *
 * A timing on all cores is only meaningful if the cores were ours: on a small
 * machine, one busy neighbour (a test run, a compiler) halves a 2-thread figure
 * and makes the thread speedup meaningless. We compare the CPU time the whole
 * machine spent (Linux /proc/stat, including hypervisor steal) with the CPU time
 * of this process and its finished children (/proc/self/stat: utime, stime,
 * cutime, cstime); the difference is other processes' work, in cores over the
 * wall time. Where /proc is absent the check reports nothing.
 */
import { readFileSync } from "node:fs";

/** Linux USER_HZ: /proc times are in 1/100 s on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

interface CpuSample {
  /** Seconds since start of the clock. */
  wall: number;
  /** Busy CPU-seconds of the whole machine, including steal. */
  machine: number;
  /** CPU-seconds of this process and its reaped children. */
  ours: number;
}

function sample(): CpuSample | null {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
    const self = readFileSync("/proc/self/stat", "utf8");
    // fields after "(comm)": state is field 3, so utime (14) is index 11
    const f = self
      .slice(self.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    const ours = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
    return {
      wall: performance.now() / 1e3,
      machine: (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND,
      ours: ours / TICKS_PER_SECOND,
    };
  } catch {
    return null;
  }
}

export interface Contention {
  /** Average number of cores other processes (and the hypervisor) kept busy. */
  otherCores: number;
  /** Wall seconds observed. */
  seconds: number;
}

/** Start watching; `stop()` returns what others used since, or null where /proc is unavailable. */
export function watchContention(): { stop(): Contention | null } {
  const start = sample();
  return {
    stop() {
      const end = sample();
      if (!start || !end || end.wall <= start.wall) return null;
      const seconds = end.wall - start.wall;
      const other = end.machine - start.machine - (end.ours - start.ours);
      return { otherCores: Math.max(0, other) / seconds, seconds };
    },
  };
}

const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1e3));

/**
 * Wait (up to `timeoutSeconds`) for a half-second window in which other
 * processes use at most `maxOtherCores`. Returns the last window's reading.
 */
export async function waitForQuiet(maxOtherCores: number, timeoutSeconds: number): Promise<Contention | null> {
  const deadline = performance.now() / 1e3 + timeoutSeconds;
  for (;;) {
    const watch = watchContention();
    await sleep(0.5);
    const c = watch.stop();
    if (!c || c.otherCores <= maxOtherCores || performance.now() / 1e3 >= deadline) return c;
  }
}
