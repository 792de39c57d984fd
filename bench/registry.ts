/**
 * Every benchmark `npm run bench` knows, by name. To add one: write
 * `bench/NAME.ts` exporting a `Bench` (an async generator of figures) and add it
 * here.
 */
import { dashboardBench } from "./dashboard.ts";
import { evalBench } from "./eval.ts";
import { familyStep } from "./family-step.ts";
import { generateBench } from "./generate.ts";
import { matmul } from "./matmul.ts";
import { rlStep } from "./rl-step.ts";
import { serveBench } from "./serve.ts";
import { sftMemory } from "./sft-memory.ts";
import { sftStep } from "./sft-step.ts";
import { trainStep } from "./train-step.ts";
import type { Bench } from "./types.ts";

export const BENCHES: { readonly [name: string]: Bench } = {
  matmul,
  train_step: trainStep,
  generate: generateBench,
  eval: evalBench,
  sft_memory: sftMemory,
  sft_step: sftStep,
  dashboard: dashboardBench,
  family_step: familyStep,
  serve: serveBench,
  rl_step: rlStep,
};
