import { dirname } from "node:path";
import type { Command } from "commander";
import { dashboardHint } from "../dashboard/hint.ts";
import { formatHackingTable, HACKING_DEFAULTS, type HackingSettings, runHackingDemo } from "../demo/hacking.ts";
import { runDemo } from "../demo/pipeline.ts";
import { DEFAULT_SETTINGS, type DemoSettings, QUICK_SETTINGS } from "../demo/settings.ts";
import { formatResultsTable } from "../demo/table.ts";
import { parseIntFlag, parseNumberFlag } from "./args.ts";

/**
 * A default shown as commander shows its own, "(default: …)", but only in the text: a commander
 * default would override --quick's smaller sizes.
 */
const shown = (value: string | number) =>
  ` (default: ${JSON.stringify(typeof value === "number" ? String(value) : value)})`;

/**
 * `stepwise demo` (`npm start`): the main job. Fine-tunes one base model three times on the
 * same generated problems (direct answers, chains of thought, a mix), evaluates each on the
 * held-out problems and writes runs/demo/summary.json and runs/demo/report.html.
 * Stopping it (Ctrl-C) and running it again resumes where it stopped.
 */
export function registerDemo(program: Command): void {
  const demo = program
    .command("demo")
    .description("Main job: does training on chains of thought beat direct answers? (resumable)")
    .option("--out <dir>", "run folder", "runs/demo")
    .option("--fresh", "start over: delete the run folder first")
    .option("--quick", "a tiny, seconds-long run of every stage (nothing is learnt; for checking the pipeline)")
    .option("--seed <n>", `seed of data, initialisation and training order${shown(DEFAULT_SETTINGS.seed)}`)
    .option("--steps <n>", `optimizer steps of each fine-tuning${shown(DEFAULT_SETTINGS.steps)}`)
    .option("--heldout <n>", `held-out problems to evaluate${shown(DEFAULT_SETTINGS.heldout)}`)
    .option("--validation", "evaluate on validation problems (held-out, none of the test ones) to choose settings")
    .option("--lr <x>", `peak learning rate of each fine-tuning${shown(DEFAULT_SETTINGS.lr)}`)
    .option(
      "--wordings <which>",
      `training questions' wordings: default (one per problem kind) or train (the wording pool's training part)${shown(DEFAULT_SETTINGS.wordings)}`,
    )
    .action(
      async (opts: {
        out: string;
        fresh?: boolean;
        quick?: boolean;
        seed?: string;
        steps?: string;
        heldout?: string;
        validation?: boolean;
        lr?: string;
        wordings?: string;
      }) => {
        const settings: DemoSettings = { ...(opts.quick ? QUICK_SETTINGS : DEFAULT_SETTINGS) };
        if (opts.seed !== undefined) settings.seed = parseIntFlag("demo: --seed", opts.seed, 0);
        if (opts.steps !== undefined) settings.steps = parseIntFlag("demo: --steps", opts.steps, 1);
        if (opts.heldout !== undefined) settings.heldout = parseIntFlag("demo: --heldout", opts.heldout, 1);
        if (opts.validation) settings.evalSet = "validation";
        if (opts.wordings !== undefined) {
          if (opts.wordings !== "default" && opts.wordings !== "train")
            throw new Error(`demo: --wordings must be default or train, got ${JSON.stringify(opts.wordings)}`);
          settings.wordings = opts.wordings;
        }
        if (opts.lr !== undefined) {
          settings.lr = parseNumberFlag("demo: --lr", opts.lr, Number.MIN_VALUE);
          settings.minLr = Math.min(settings.minLr, settings.lr);
        }
        settings.warmupSteps = Math.min(settings.warmupSteps, settings.steps);
        settings.heldOutLossProblems = Math.min(settings.heldOutLossProblems, settings.heldout);
        const { summary, summaryPath, reportPath } = await runDemo({
          out: opts.out,
          settings,
          // Each fine-tuning and evaluation in a fresh process: jax-js's Wasm heap never shrinks.
          isolate: true,
          ...(opts.fresh ? { fresh: true } : {}),
        });
        console.log(formatResultsTable(summary));
        console.log(`\n${summaryPath}\n${reportPath}\n${dashboardHint(dirname(summaryPath))}`);
      },
    );
  demo
    .command("hacking")
    .description(
      "Reward hacking on a language model: RL with a flawed reward and a fixed one, monitors, a reward-model proxy",
    )
    .option("--model <dir>", "the SFT model both runs start from", HACKING_DEFAULTS.model)
    .option("--data <file>", "training prompts (CoT JSONL)", HACKING_DEFAULTS.train)
    .option("--heldout <file>", "held-out problems for gold accuracy", HACKING_DEFAULTS.heldout)
    .option("--out <dir>", "run folder (resumed when run again)", "runs/hacking")
    .option("--steps <n>", "RL steps of each run", String(HACKING_DEFAULTS.steps))
    .option("--eval-n <n>", "held-out problems per evaluation", String(HACKING_DEFAULTS.evalN))
    .option("--no-rm", "skip the reward-model scenario")
    .option("--json", "print the summary as JSON on the last line")
    .action(
      async (opts: {
        model: string;
        data: string;
        heldout: string;
        out: string;
        steps: string;
        evalN: string;
        rm: boolean;
        json?: boolean;
      }) => {
        const settings: HackingSettings = {
          ...HACKING_DEFAULTS,
          model: opts.model,
          train: opts.data,
          heldout: opts.heldout,
          steps: parseIntFlag("demo hacking: --steps", opts.steps, 1),
          evalN: parseIntFlag("demo hacking: --eval-n", opts.evalN, 1),
          rm: opts.rm ? HACKING_DEFAULTS.rm : null,
        };
        const result = await runHackingDemo({ out: opts.out, settings });
        console.log(formatHackingTable(result));
        console.log(`\n${result.summaryPath}\n${result.reportPath}\n${dashboardHint(dirname(result.summaryPath))}`);
        if (opts.json) console.log(JSON.stringify(result.summary));
      },
    );
}
