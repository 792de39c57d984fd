/**
 * The model commands on the new families, in a child process as a user runs them:
 * init-model --arch t5 | gptj | gpt_neox → logits (T5 with --decoder-ids) equal to the
 * in-process forward pass, logits on the committed tiny-flan-t5 against the numpy reference,
 * generate on a T5 folder with a Unigram tokenizer, and init-model's refusal of a non-empty
 * output folder.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { initEngine } from "../src/engine/device.ts";
import { keepTree, readFloat32 } from "../src/engine/memory.ts";
import { readSafetensors, toFloat32 } from "../src/engine/safetensors.ts";
import { loadModel } from "../src/model/checkpoint.ts";
import { generate } from "../src/model/generate.ts";
import { forward, forwardSeq2seq } from "../src/model/model.ts";
import { Tokenizer, writeTokenizerFiles } from "../src/tokenizer/tokenizer.ts";
import { assertClose } from "./helpers.ts";
import { ids2d, readExpected } from "./model-fixtures.ts";
import { piecesFor, t5TokenizerFiles } from "./t5-tokenizer.ts";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["bin/stepwise.js", ...args], { timeout: 120_000 });
const SIZES = ["--hidden", "32", "--layers", "2", "--heads", "4", "--seed", "3"];

let tmp: string;

async function logitsOf(file: string): Promise<Float32Array> {
  return toFloat32((await readSafetensors(file)).tensors.get("logits")!);
}

describe("model commands on gptj, gpt_neox and t5", () => {
  before(async () => {
    await initEngine();
    tmp = await mkdtemp(join(tmpdir(), "stepwise-cli-families-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("init-model t5 --tokenizer (Unigram) → logits --decoder-ids and generate --prompt", async () => {
    const tokDir = join(tmp, "t5-tok");
    const { json, config } = t5TokenizerFiles(piecesFor(["add two and three to get five", "step one step two"]));
    await writeTokenizerFiles(tokDir, json, config);
    const dir = join(tmp, "t5");
    const init = await cli(
      ...["init-model", "--arch", "t5", ...SIZES, "--decoder-layers", "3", "--head-dim", "6"],
      ...["--out", dir, "--tokenizer", tokDir],
    );
    assert.match(init.stdout, /init-model: t5, 2 layers, hidden 32, vocab \d+/);
    const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    assert.deepEqual(
      [cfg.architectures[0], cfg.feed_forward_proj, cfg.num_decoder_layers, cfg.d_kv, cfg.decoder_start_token_id],
      ["T5ForConditionalGeneration", "gated-gelu", 3, 6, 0],
    );
    assert.deepEqual([cfg.eos_token_id, cfg.pad_token_id, cfg.tie_word_embeddings], [1, 0, false]);
    const out = join(tmp, "t5-logits.safetensors");
    const res = await cli("logits", "--model", dir, "--ids", "5,6,7,1", "--decoder-ids", "0,8,9", "--out", out);
    assert.match(res.stdout, new RegExp(`logits: \\[3, ${cfg.vocab_size}\\] float32`));
    const model = await loadModel(dir);
    const want = forwardSeq2seq(keepTree(model.params), model.config, ids2d([[5, 6, 7, 1]]), ids2d([[0, 8, 9]]));
    assertClose(await logitsOf(out), await readFloat32(want.logits), 1e-6, "CLI logits vs forwardSeq2seq");
    await assert.rejects(
      cli("logits", "--model", dir, "--ids", "5,6", "--out", out),
      /t5 is an encoder–decoder; give --decoder-ids \(the decoder input, starting with decoder_start_token_id 0\)/,
    );
    // generate: the prompt is the encoder input (the tokenizer appends </s>)
    const tokenizer = await Tokenizer.fromDir(dir);
    const gen = JSON.parse(
      (await cli("generate", "--model", dir, "--prompt", "add two", "--max-new-tokens", "5", "--json")).stdout,
    );
    const [direct] = await generate(model, [tokenizer.encode("add two")], {
      maxNewTokens: 5,
      tokenizer,
      eosTokenIds: [1],
    });
    assert.deepEqual(gen.tokenIds, direct!.tokenIds);
  });

  test("logits on the committed tiny-flan-t5 matches the numpy reference to 1e-4", async () => {
    const { sequences, decoder_sequences, logits } = readExpected("tiny-flan-t5");
    const out = join(tmp, "flan-logits.safetensors");
    await cli(
      ...["logits", "--model", "test/fixtures/tiny-flan-t5", "--ids", sequences[0]!.join(",")],
      ...["--decoder-ids", decoder_sequences![0]!.join(","), "--out", out],
    );
    assertClose(await logitsOf(out), logits[0]!.flat(), 1e-4, "CLI logits vs reference");
  });

  for (const [arch, extra, check] of [
    ["gptj", ["--rotary-dim", "4"], (c: Record<string, unknown>) => assert.equal(c.rotary_dim, 4)],
    [
      "gpt_neox",
      ["--rotary-pct", "0.5", "--sequential-residual", "--tie-embeddings"],
      (c: Record<string, unknown>) =>
        assert.deepEqual([c.rotary_pct, c.use_parallel_residual, c.tie_word_embeddings], [0.5, false, true]),
    ],
  ] as const) {
    test(`init-model ${arch} → logits equal the in-process forward`, async () => {
      const dir = join(tmp, arch);
      await cli("init-model", "--arch", arch, "--vocab", "50", ...SIZES, "--std", "0.2", ...extra, "--out", dir);
      check(JSON.parse(await readFile(join(dir, "config.json"), "utf8")));
      const out = join(tmp, `${arch}-logits.safetensors`);
      await cli("logits", "--model", dir, "--ids", "1,2,3,49", "--out", out);
      const model = await loadModel(dir);
      const want = await readFloat32(forward(keepTree(model.params), model.config, ids2d([[1, 2, 3, 49]])).logits);
      assertClose(await logitsOf(out), want, 1e-6, `${arch} CLI logits`);
      await assert.rejects(
        cli("logits", "--model", dir, "--ids", "1,2", "--decoder-ids", "0", "--out", out),
        /--decoder-ids is for encoder–decoder models; gpt/,
      );
    });
  }

  test("init-model refuses a non-empty output folder, naming it, and leaves its files alone", async () => {
    const dir = join(tmp, "stale");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "tokenizer.json"), "{}");
    await assert.rejects(
      cli("init-model", "--arch", "llama", "--vocab", "16", ...SIZES, "--out", dir),
      new RegExp(`--out ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not empty \\(it holds tokenizer.json\\)`),
    );
    assert.deepEqual(await readdir(dir), ["tokenizer.json"]);
    assert.equal(await readFile(join(dir, "tokenizer.json"), "utf8"), "{}");
    // an empty folder is fine
    const empty = join(tmp, "empty");
    await mkdir(empty);
    await cli("init-model", "--arch", "llama", "--vocab", "16", ...SIZES, "--out", empty);
    assert.ok((await readdir(empty)).includes("model.safetensors"));
  });
});
