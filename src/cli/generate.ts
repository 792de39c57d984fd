import type { Command } from "commander";
import { initEngine } from "../engine/device.ts";
import { disposeTree } from "../engine/memory.ts";
import { loadModel } from "../model/checkpoint.ts";
import { type GenerateOptions, generate } from "../model/generate.ts";
import { applyChatTemplate, chatStopIds } from "../tokenizer/chat.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { parseIdList, parseIntFlag, parseNumberFlag } from "./args.ts";

interface GenerateFlags {
  model: string;
  prompt?: string;
  ids?: string;
  chat?: boolean;
  system?: string;
  maxNewTokens: string;
  temperature: string;
  topK: string;
  topP: string;
  seed: string;
  stop: string[];
  json?: boolean;
}

/**
 * `stepwise generate --model DIR --prompt TEXT [--chat] [--max-new-tokens N] [--temperature T] [--seed S]`:
 * print the model's continuation of a prompt (KV-cached, greedy unless a temperature is given).
 */
export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("Continue a prompt with a model folder (greedy by default; sampling with --temperature)")
    .requiredOption("--model <dir>", "model folder (config.json, weights, tokenizer.json)")
    .option("--prompt <text>", "prompt text (encoded with the folder's tokenizer)")
    .option("--ids <ids>", "prompt as comma-separated token ids instead of text (no tokenizer needed)")
    .option("--chat", "wrap the prompt as a user message with the tokenizer's chat template")
    .option("--system <text>", "system message for --chat")
    .option("--max-new-tokens <n>", "tokens to generate at most", "64")
    .option("--temperature <t>", "softmax temperature; 0 is greedy", "0")
    .option("--top-k <k>", "keep the k most likely tokens (0: off)", "0")
    .option("--top-p <p>", "nucleus sampling mass (1: off)", "1")
    .option("--seed <n>", "sampling seed", "0")
    .option("--stop <text...>", "stop when the continuation contains this text", [])
    .option("--json", "print {text, tokenIds, logProbs, finishReason} as JSON")
    .action(async (flags: GenerateFlags) => {
      if ((flags.prompt === undefined) === (flags.ids === undefined)) {
        throw new Error("generate: give exactly one of --prompt TEXT or --ids 1,2,3");
      }
      if (flags.chat && flags.prompt === undefined) throw new Error("generate: --chat needs --prompt");
      await initEngine();
      const model = await loadModel(flags.model);
      const tokenizer = flags.prompt !== undefined ? await Tokenizer.fromDir(flags.model) : null;
      let promptIds: number[];
      const eos = new Set(model.config.eosTokenIds);
      if (tokenizer && flags.prompt !== undefined) {
        if (tokenizer.eosId !== null) eos.add(tokenizer.eosId);
        if (flags.chat) {
          const messages = [
            ...(flags.system !== undefined ? [{ role: "system" as const, content: flags.system }] : []),
            { role: "user" as const, content: flags.prompt },
          ];
          promptIds = applyChatTemplate(tokenizer, messages, { addGenerationPrompt: true, tokenize: true });
          for (const id of chatStopIds(tokenizer)) eos.add(id);
        } else {
          promptIds = tokenizer.encode(flags.prompt);
        }
        if (promptIds.length === 0) {
          if (tokenizer.bosId === null)
            throw new Error("generate: the prompt encodes to no tokens and the tokenizer has no BOS");
          promptIds = [tokenizer.bosId];
        }
        const tooBig = promptIds.find((id) => id >= model.config.vocabSize);
        if (tooBig !== undefined) {
          throw new Error(
            `generate: the tokenizer gives id ${tooBig}, outside the model's vocabulary (${model.config.vocabSize})`,
          );
        }
      } else {
        promptIds = parseIdList("--ids", flags.ids!, model.config.vocabSize);
      }
      const opts: GenerateOptions = {
        maxNewTokens: parseIntFlag("--max-new-tokens", flags.maxNewTokens, 1),
        temperature: parseNumberFlag("--temperature", flags.temperature, 0),
        topK: parseIntFlag("--top-k", flags.topK, 0),
        topP: parseNumberFlag("--top-p", flags.topP, Number.MIN_VALUE, 1),
        seed: parseIntFlag("--seed", flags.seed, 0),
        eosTokenIds: [...eos],
        ...(flags.stop.length > 0 ? { stop: flags.stop } : {}),
        ...(tokenizer ? { tokenizer } : {}),
      };
      if (opts.stop && !tokenizer) throw new Error("generate: --stop needs --prompt (a tokenizer)");
      const [out] = await generate(model, [promptIds], opts);
      disposeTree(model.params);
      const r = out!;
      if (flags.json) {
        console.log(
          JSON.stringify({
            text: r.text ?? null,
            tokenIds: r.tokenIds,
            logProbs: r.logProbs,
            finishReason: r.finishReason,
          }),
        );
      } else if (r.text !== undefined) {
        console.log(r.text);
      } else {
        console.log(r.tokenIds.join(","));
      }
    });
}
