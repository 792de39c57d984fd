/**
 * The `stepwise` command line. One file per command under src/cli/; this file
 * only wires them together.
 */
import { Command } from "commander";
import { VERSION } from "../runs/version.ts";
import { registerDashboard } from "./dashboard.ts";
import { registerData } from "./data.ts";
import { registerDemo } from "./demo.ts";
import { registerDpo } from "./dpo.ts";
import { registerEval } from "./eval.ts";
import { registerExperiment } from "./experiment.ts";
import { registerGenerate } from "./generate.ts";
import { registerGuard } from "./guard.ts";
import { registerInfo } from "./info.ts";
import { registerInitModel } from "./init-model.ts";
import { registerLab } from "./lab.ts";
import { registerLikelihood } from "./likelihood.ts";
import { registerLogits } from "./logits.ts";
import { registerReward } from "./reward.ts";
import { registerRl } from "./rl.ts";
import { registerRm } from "./rm.ts";
import { registerScore } from "./score.ts";
import { registerServe } from "./serve.ts";
import { registerSft } from "./sft.ts";
import { registerTeach } from "./teach.ts";
import { registerTrainTokenizer } from "./train-tokenizer.ts";

const program = new Command()
  .name("stepwise")
  .description("Teach language models to reason step by step.")
  .version(VERSION)
  .showHelpAfterError();

registerDemo(program);
registerLikelihood(program);
registerInfo(program);
registerInitModel(program);
registerGenerate(program);
registerLogits(program);
registerLab(program);
registerTrainTokenizer(program);
registerEval(program);
registerScore(program);
registerData(program);
registerSft(program);
registerDashboard(program);
registerRm(program);
registerDpo(program);
registerServe(program);
registerTeach(program);
registerRl(program);
registerGuard(program);
registerExperiment(program);
registerReward(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`stepwise: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
