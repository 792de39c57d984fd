/**
 * The library quick start (README "The library"): load a model folder, score a text with
 * forward + tokenNll, and generate a continuation. Run it on any Hugging Face-style folder
 * (config.json, model.safetensors, tokenizer.json), e.g. the demo's fine-tuned model:
 *
 *   npx tsx examples/quickstart.ts runs/demo/cot/final
 *
 * test/examples.test.ts runs this file on a tiny checkpoint it builds, so it cannot rot.
 */
import { forward, generate, initEngine, keepTree, loadModel, np, readScalar, Tokenizer, tokenNll } from "stepwise";

const dir = process.argv[2] ?? "runs/demo/cot/final";
await initEngine(); // Wasm on every core; initEngine({ device: "webgpu" }) for a GPU
const model = await loadModel(dir); // config.json + model.safetensors
const tokenizer = await Tokenizer.fromDir(dir); // tokenizer.json

// Score a chain of thought: the mean negative log-likelihood of the target tokens given the
// prompt, −(1/|y|) Σ_t log p(y_t | prompt, y_<t); the mask leaves the prompt's tokens out.
const prompt = "Q: Solve for x: 2(x + 3) = 14\nA: Let's think step by step.";
const target = " Divide both sides by 2: x + 3 = 7.\nSubtract 3 from both sides: x = 4.\n#### 4";
const promptIds = tokenizer.encode(prompt);
const ids = [...promptIds, ...tokenizer.encode(target, { addSpecialTokens: false })];
const T = ids.length - 1; // position t predicts token t + 1
const inputs = np.array([ids.slice(0, T)], { dtype: np.int32 }); // [1, T]
const targets = np.array([ids.slice(1)], { dtype: np.int32 }); // [1, T]
const mask = np.array([ids.slice(1).map((_, t) => (t + 1 >= promptIds.length ? 1 : 0))], { dtype: np.float32 });
const { logits } = forward(keepTree(model.params), model.config, inputs); // [1, T, V]; forward consumes its params
const nll = await readScalar(tokenNll(logits, targets, mask));
console.log(
  `target NLL ${nll.toFixed(3)} nats/token (perplexity ${Math.exp(nll).toFixed(2)}) over ${T + 1 - promptIds.length} tokens`,
);

// Generate: greedy, up to 48 new tokens, stopping at end-of-sequence.
const [out] = await generate(model, [promptIds], { maxNewTokens: 48, tokenizer });
console.log(`continuation (${out!.finishReason}): ${JSON.stringify(tokenizer.decode(out!.tokenIds))}`);

// Ids outside the vocabulary are refused with the id and the vocabulary size.
try {
  forward(keepTree(model.params), model.config, np.array([[model.config.vocabSize]], { dtype: np.int32 }));
} catch (err) {
  console.log(`refused: ${(err as Error).message}`);
}
