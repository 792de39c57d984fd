/**
 * T5 end to end, in child processes as a user runs it: init-model --arch t5 with a Unigram
 * tokenizer (T5's layout) → `stepwise sft` with LoRA on q, k, v, o, wi, wo (the prompt is the
 * encoder input, the loss is on the decoder targets) → `stepwise eval` of the merged folder.
 * The held-out loss falls, final/adapter is a PEFT adapter with T5's module names and
 * task_type SEQ_2_SEQ_LM, and final/ reloads with base + adapter's decoder logits.
 * In process: the seq2seq micro-batch (encoder = prompt, decoder = start + labels shifted).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { generateDataset } from "../src/data/tasks/index.ts";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { materializeLora } from "../src/model/adapters/lora.ts";
import { loadAdapter } from "../src/model/adapters/peft.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { isSeq2seq } from "../src/model/config.ts";
import { forwardSeq2seq } from "../src/model/model.ts";
import { Tokenizer, writeTokenizerFiles } from "../src/tokenizer/tokenizer.ts";
import { maskRowsFrom, seq2seqLengths, toSeq2seqMicroBatch } from "../src/train/nll.ts";
import { qaExample } from "../src/train/sft.ts";
import { assertClose } from "./helpers.ts";
import { ids2d } from "./model-fixtures.ts";
import { piecesFor, t5TokenizerFiles } from "./t5-tokenizer.ts";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 300_000 });

describe("seq2seq micro-batches", () => {
  test("encoder = the prompt (masked padding), decoder = start + labels shifted right, loss on the labels", () => {
    // prompt [5, 6, 1] (1 = </s>), target [7, 8] + EOS 1
    const a = {
      input_ids: [5, 6, 1, 7, 8, 1],
      loss_mask: [0, 0, 0, 1, 1, 1],
      truncated: false,
      promptTokensRemoved: 0,
    };
    const b = { input_ids: [9, 1, 4, 1], loss_mask: [0, 0, 1, 1], truncated: false, promptTokensRemoved: 0 };
    assert.deepEqual(seq2seqLengths([a, b], 8, 2), { encLen: 4, decLen: 4 });
    assert.deepEqual(seq2seqLengths([a, b], 8, 0), { encLen: 8, decLen: 8 });
    const m = toSeq2seqMicroBatch([a, b], { encLen: 4, decLen: 4 }, 0, 0);
    assert.deepEqual([...m.encoder!.ids], [5, 6, 1, 0, 9, 1, 0, 0]);
    assert.deepEqual([...m.encoder!.mask], [1, 1, 1, 0, 1, 1, 0, 0]);
    assert.deepEqual([...m.ids], [0, 7, 8, 0, 0, 4, 0, 0]);
    assert.deepEqual([...m.targets], [7, 8, 1, 0, 4, 1, 0, 0]);
    assert.deepEqual([...m.mask], [1, 1, 1, 0, 1, 1, 0, 0]);
    assert.equal(m.targetTokens, 5);
    const filled = maskRowsFrom(m, 1);
    assert.deepEqual([...filled.mask], [1, 1, 1, 0, 0, 0, 0, 0]);
    assert.equal(filled.targetTokens, 3);
    assert.throws(() => toSeq2seqMicroBatch([a], { encLen: 2, decLen: 4 }, 0, 0), /prompt 3 \/ target 3 tokens exceed/);
    const noPrompt = { ...b, loss_mask: [1, 1, 1, 1] };
    assert.throws(() => toSeq2seqMicroBatch([noPrompt], { encLen: 4, decLen: 4 }, 0, 0), /empty prompt/);
  });
});

describe("t5: sft with LoRA, then eval", () => {
  let tmp = "";
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-sft-t5-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("the loss falls, the adapter names T5's modules, final/ reloads as base + adapter, eval runs", async (t) => {
    // A Unigram tokenizer over the texts SFT will see (qa template: the prompt, the chain, the answer line).
    const train = generateDataset({ tasks: ["arithmetic"], n: 120, seed: 0, split: "train" });
    const texts = train.flatMap((r) => {
      const e = qaExample(r, false);
      return [e.prompt, e.target];
    });
    const tokDir = join(tmp, "tok");
    const { json, config } = t5TokenizerFiles(piecesFor(texts));
    await writeTokenizerFiles(tokDir, json, config);
    const base = join(tmp, "base");
    await cli(
      ...["init-model", "--arch", "t5", "--hidden", "32", "--layers", "1", "--heads", "2", "--seed", "1"],
      ...["--out", base, "--tokenizer", tokDir],
    );

    const runDir = join(tmp, "run");
    const cfgFile = join(tmp, "t5-lora.yaml");
    const targetModules = ["q", "k", "v", "o", "wi_0", "wi_1", "wo"];
    await writeFile(
      cfgFile,
      JSON.stringify({
        name: "t5-lora",
        model: base,
        lora: { r: 4, alpha: 8, targetModules },
        data: {
          train: { generate: { tasks: ["arithmetic"], n: 120, seed: 0 } },
          eval: { generate: { tasks: ["arithmetic"], n: 8, seed: 1 } },
        },
        batch: { microBatch: 8, seqLen: 96, padMultiple: 16 },
        optim: { lr: 3e-2, clip: 1 },
        schedule: { kind: "constant", warmupSteps: 0 },
        steps: 20,
        eval: { every: 0, n: 2, maxNewTokens: 8, samples: 1 },
        checkpoint: { every: 0, keep: 1 },
        out: runDir,
      }),
    );
    const sft = await cli("sft", "--config", cfgFile);
    t.diagnostic(
      sft.stderr
        .split("\n")
        .filter((l) => /eval step|done/.test(l))
        .join(" | "),
    );
    assert.match(sft.stderr, /sft: t5 .* trainable params \(LoRA r=4 alpha=8 on \d+ modules/);

    const evals = (await readFile(join(runDir, "eval.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    const [first, last] = [evals[0]!, evals.at(-1)!];
    t.diagnostic(`t5 LoRA held-out loss ${first.loss.toFixed(3)} → ${last.loss.toFixed(3)} (${last.step} steps)`);
    assert.equal(last.step, 20);
    assert.ok(first.loss - last.loss > 0.5, `held-out loss ${first.loss} → ${last.loss}`);

    // The PEFT adapter: T5's module names, seq2seq task type.
    const adapterDir = join(runDir, "final", "adapter");
    const ac = JSON.parse(await readFile(join(adapterDir, "adapter_config.json"), "utf8"));
    assert.equal(ac.task_type, "SEQ_2_SEQ_LM");
    assert.deepEqual([...ac.target_modules].sort(), [...targetModules].sort());
    const names = [...(await readSafetensors(join(adapterDir, "adapter_model.safetensors"))).tensors.keys()];
    for (const n of [
      "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight",
      "base_model.model.decoder.block.0.layer.1.EncDecAttention.o.lora_B.weight",
      "base_model.model.decoder.block.0.layer.2.DenseReluDense.wi_1.lora_A.weight",
    ]) {
      assert.ok(names.includes(n), `${n} in ${names.slice(0, 4).join(", ")}, …`);
    }

    // final/ reloads, and its decoder logits are base + adapter's.
    const merged = await loadModel(join(runDir, "final"));
    const baseModel = await loadModel(base);
    const { adapter } = await loadAdapter(adapterDir);
    assert.ok(isSeq2seq(merged.config), "final/ is a t5 folder");
    const tok = await Tokenizer.fromDir(join(runDir, "final"));
    const prompt = tok.encode(qaExample(train[0]!, false).prompt, { addSpecialTokens: true });
    const dec = [merged.config.decoderStartTokenId, ...tok.encode(" 1 + 2", { addSpecialTokens: false })];
    const logitsOf = async (params: typeof merged.params) =>
      readFloat32(forwardSeq2seq(params, merged.config, ids2d([prompt]), ids2d([dec])).logits);
    const want = await logitsOf(materializeLora(adapter, baseModel.params));
    assertClose(await logitsOf(keepTree(merged.params)), want, 1e-4, "merged vs base + adapter");

    // eval on the merged folder: generation through the encoder once and the decoder cache.
    const evalOut = join(tmp, "eval");
    const ev = await cli(
      ...["eval", "--model", join(runDir, "final"), "--task", "arithmetic", "--n", "4", "--seed", "1"],
      ...["--max-new-tokens", "24", "--batch", "4", "--out", evalOut, "--json"],
    );
    const report = JSON.parse(ev.stdout) as { n: number; new_tokens: number };
    assert.equal(report.n, 4);
    assert.ok(report.new_tokens > 0);
    const rows = (await readFile(join(evalOut, "examples.jsonl"), "utf8")).trim().split("\n");
    assert.equal(rows.length, 4);
    assert.ok(rows.every((r) => typeof JSON.parse(r).output === "string"));
  });
});
