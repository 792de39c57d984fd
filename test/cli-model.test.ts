/**
 * The model commands end to end, in a child process as a user runs them:
 * init-model → logits (equal to the in-process forward and, on a committed
 * fixture, to the numpy reference), init-model --tokenizer → generate.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { readSafetensors, toFloat32 } from "../src/engine/safetensors.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { generate } from "../src/model/generate.ts";
import { forward } from "../src/model/model.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../src/tokenizer/train-bpe.ts";
import { assertClose } from "./helpers.ts";
import { ids2d, readExpected } from "./model-fixtures.ts";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 120_000 });

let tmp: string;

describe("model commands", () => {
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-cli-model-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("init-model llama then logits: a [T, vocab] float32 tensor equal to the forward pass", async () => {
    const dir = join(tmp, "llama");
    const init = await cli(
      "init-model",
      "--arch",
      "llama",
      "--vocab",
      "96",
      "--hidden",
      "32",
      "--layers",
      "2",
      "--heads",
      "4",
      "--kv-heads",
      "2",
      "--seed",
      "7",
      "--std",
      "0.2",
      "--out",
      dir,
    ); // prettier-ignore
    assert.match(init.stdout, /init-model: llama, 2 layers, hidden 32, vocab 96, [\d,]+ parameters/);
    const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    assert.deepEqual(
      [cfg.model_type, cfg.num_key_value_heads, cfg.intermediate_size, cfg.architectures[0]],
      ["llama", 2, 96, "LlamaForCausalLM"],
    );
    const out = join(tmp, "llama-logits.safetensors");
    const res = await cli("logits", "--model", dir, "--ids", "1,2,3,50,95", "--out", out);
    assert.match(res.stdout, /logits: \[5, 96\] float32/);
    const { tensors } = await readSafetensors(out);
    const t = tensors.get("logits")!;
    assert.deepEqual([t.dtype, t.shape], ["F32", [5, 96]]);
    const model = await loadModel(dir);
    const want = await readFloat32(forward(keepTree(model.params), model.config, ids2d([[1, 2, 3, 50, 95]])).logits);
    assertClose(toFloat32(t), want, 1e-6, "CLI logits vs in-process forward");
  });

  test("logits on the committed tiny-gpt2 matches the numpy reference to 1e-4", async () => {
    const { sequences, logits } = readExpected("tiny-gpt2");
    const out = join(tmp, "gpt2-logits.safetensors");
    await cli("logits", "--model", "test/fixtures/tiny-gpt2", "--ids", sequences[0]!.join(","), "--out", out);
    const { tensors } = await readSafetensors(out);
    assertClose(toFloat32(tensors.get("logits")!), logits[0]!.flat(), 1e-4, "CLI logits vs reference");
  });

  test("init-model gpt2 --tokenizer then generate --prompt prints the greedy continuation", async () => {
    const tokDir = join(tmp, "tok");
    const corpus = Array.from({ length: 100 }, (_, i) => `step ${i}: add ${i} and ${2 * i} to get ${3 * i}.`);
    await saveTokenizer(tokDir, trainBpe(corpus, { vocabSize: 300 }));
    const dir = join(tmp, "gpt2");
    await cli(
      "init-model",
      "--arch",
      "gpt2",
      "--hidden",
      "32",
      "--layers",
      "2",
      "--heads",
      "4",
      "--max-positions",
      "64",
      "--std",
      "0.3",
      "--out",
      dir,
      "--tokenizer",
      tokDir,
    ); // prettier-ignore
    const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    const tokenizer = await Tokenizer.fromDir(dir);
    assert.equal(cfg.vocab_size, tokenizer.vocabSize);
    assert.equal(cfg.eos_token_id, tokenizer.eosId);

    const args = ["generate", "--model", dir, "--prompt", "step 4: add", "--max-new-tokens", "6"];
    const json = JSON.parse((await cli(...args, "--json")).stdout);
    const model = await loadModel(dir);
    const [want] = await generate(model, [tokenizer.encode("step 4: add")], {
      maxNewTokens: 6,
      tokenizer,
      eosTokenIds: [tokenizer.eosId!],
    });
    assert.deepEqual(json.tokenIds, want!.tokenIds);
    assertClose(json.logProbs, want!.logProbs, 1e-5, "CLI log-probs");
    const plain = await cli(...args);
    assert.equal(plain.stdout, `${want!.text}\n`);
  });

  test("bad flags are clear errors with a non-zero exit", async () => {
    await assert.rejects(
      cli(
        "init-model",
        "--arch",
        "bert",
        "--vocab",
        "8",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--heads",
        "2",
        "--out",
        tmp,
      ),
      /--arch must be one of llama, qwen2, qwen3, mistral, gpt2, gptj, gpt_neox, t5, got "bert"/,
    );
    await assert.rejects(
      cli("logits", "--model", "test/fixtures/tiny-llama", "--ids", "1,64", "--out", join(tmp, "x.safetensors")),
      /--ids \(id "64"\) must be an integer in \[0, 63\], got "64"/,
    );
    await assert.rejects(
      cli("generate", "--model", "test/fixtures/tiny-llama"),
      /give exactly one of --prompt TEXT or --ids 1,2,3/,
    );
  });
});
