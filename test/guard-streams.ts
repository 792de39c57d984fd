/**
 * Synthetic metric streams for the monitor tests: a healthy GRPO run (proxy and gold rising
 * together, stable length, slowly growing KL, slowly falling entropy, rare repetition and
 * multiple answers) and one pathology per monitor, each with per-step noise at the level seen in
 * small runs (rates over 32–64 completions, accuracy over ~60 problems). Pure functions of a seed.
 */
import { Rng } from "../src/engine/rng.ts";
import type { GuardEvent, MonitorName } from "../src/guard/monitors.ts";

export const STEPS = 40;
export const EVAL_EVERY = 2;
export const MAX_NEW_TOKENS = 128;

const ramp = (x: number, centre = 0.5, width = 0.1) => 1 / (1 + Math.exp(-(x - centre) / width));
const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

export type Pathology = Exclude<MonitorName, never> | "healthy";

/** One run's events: metrics rows for steps 1..STEPS and evaluations at 0, EVAL_EVERY, …, STEPS. */
export function syntheticRun(kind: Pathology, seed: number): GuardEvent[] {
  const rng = new Rng(seed);
  const n = () => rng.normal();
  const events: GuardEvent[] = [];
  const onset = 0.45; // the pathology starts around 45% of the run
  const bad = (x: number) => ramp(x, onset + 0.1, 0.06); // 0 before onset, 1 by the end
  const gold = (x: number) =>
    kind === "divergence" ? 0.45 - 0.3 * bad(x) : kind === "format_gaming" ? 0.3 : 0.3 + 0.25 * ramp(x);
  for (let step = 0; step <= STEPS; step++) {
    const x = step / STEPS;
    if (step > 0) {
      const proxy = kind === "divergence" ? 0.3 + 0.6 * bad(x) : 0.3 + 0.35 * ramp(x);
      const len = kind === "length_cap" ? 60 + 66 * bad(x) : 60 + 5 * ramp(x);
      const clipped = kind === "length_cap" ? 0.05 + 0.8 * bad(x) : 0.05;
      const kl = kind === "kl_blowup" ? 0.0005 * step + 0.2 * bad(x) ** 2 : 0.0005 * step;
      const entropy = kind === "entropy_collapse" ? 1.2 * (1 - 0.85 * bad(x)) : 1.2 * (1 - 0.15 * x);
      const rep = kind === "repetition" ? 0.02 + 0.6 * bad(x) : 0.02;
      const multi = kind === "multi_answer" ? 0.02 + 0.6 * bad(x) : 0.02;
      const format = kind === "format_gaming" ? 0.3 + 0.6 * bad(x) : 0.8 + 0.1 * ramp(x);
      const correct = kind === "format_gaming" ? 0.3 : gold(x) * 0.9;
      events.push({
        kind: "step",
        step,
        row: {
          step,
          reward: proxy + 0.08 * n(),
          "completions/mean_length": len + 4 * n(),
          "completions/clipped_ratio": clamp01(clipped + 0.04 * n()),
          kl: Math.max(0, kl * (1 + 0.2 * n())),
          entropy: entropy + 0.05 * n(),
          "completions/repetition_rate": clamp01(rep + 0.03 * n()),
          "completions/multi_answer_rate": clamp01(multi + 0.03 * n()),
          "completions/format_rate": clamp01(format + 0.06 * n()),
          "completions/correct_rate": clamp01(correct + 0.07 * n()),
        },
      });
    }
    if (step % EVAL_EVERY === 0) events.push({ kind: "eval", step, accuracy: clamp01(gold(x) + 0.06 * n()) });
  }
  return events;
}
