/**
 * SFT's data: records from files or the generators, formatted into prompt + target text in the
 * config's template, and the deterministic order in which optimizer steps read them.
 *
 * Determinism: the data order is a pure function of (seed, position). The training examples
 * form an endless stream; stream index i is example perm_e[i mod N] of epoch e = ⌊i / N⌋, with
 * perm_e a Fisher–Yates shuffle seeded by deriveSeed(seed, "data", e). Optimizer step s takes
 * stream indices [s·E, (s+1)·E), E = microBatch · gradAccum, so a resumed run reads exactly the
 * batches the uninterrupted run would have read.
 */
import { join } from "node:path";
import type { DataFileConfig, DataSourceConfig } from "../config/blocks.ts";
import { adaptRow } from "../data/conversions.ts";
import {
  COT_PHRASINGS,
  chatTemplateOf,
  DIRECT_PHRASINGS,
  formatDataset,
  plainTemplate,
  planDirect,
  STEP_BY_STEP_TRIGGER,
  type Template,
} from "../data/format.ts";
import { readRecords } from "../data/readers.ts";
import type { CoTRecord, InstructionRecord } from "../data/records.ts";
import { generateDataset } from "../data/tasks/index.ts";
import { answerLine } from "../data/tasks/types.ts";
import { writeDirAtomic } from "../engine/files.ts";
import { deriveSeed, Rng } from "../engine/rng.ts";
import { TOKENIZER_DIR } from "../runs/layout.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { saveTokenizer, trainBpe } from "../tokenizer/train-bpe.ts";
import type { SftConfig } from "./config.ts";

export type Example = { prompt: string; target: string };

/** Every row of the files, converted to `to` records (adapters.ts, conversions.ts); the first bad row is an error naming its file and line. */
export async function readFiles<K extends "cot" | "instruction">(
  files: readonly DataFileConfig[],
  to: K,
): Promise<(K extends "cot" ? CoTRecord : InstructionRecord)[]> {
  const out: unknown[] = [];
  for (const f of files) {
    for await (const r of readRecords(f.path)) {
      if (!r.ok) throw r.error;
      out.push(adaptRow(f.format as never, to, r.value, r.loc));
    }
  }
  return out as (K extends "cot" ? CoTRecord : InstructionRecord)[];
}

/** The records of a data source: its files, or generated problems of the given split. */
export async function loadRecords(src: DataSourceConfig, split: "train" | "test"): Promise<CoTRecord[]> {
  if (src.generate) return generateDataset({ ...src.generate, split });
  return readFiles(src.files ?? [], "cot");
}

/**
 * One record in the qa template: direct ("Q: …\nA:" → " #### N") or step by step (the trigger,
 * then the chain). The prompts are `evaluate`'s zero and zero-cot prompts (eval/prompting.ts),
 * so accuracy measures what was trained.
 */
export function qaExample(r: CoTRecord, direct: boolean): Example {
  const answer = answerLine(r.answer);
  const chain = r.chain_of_thought.trimEnd();
  return direct || chain === ""
    ? { prompt: `Q: ${r.question.trim()}\nA:`, target: ` ${answer}` }
    : { prompt: `Q: ${r.question.trim()}\nA: ${STEP_BY_STEP_TRIGGER}`, target: ` ${chain}\n${answer}` };
}

/**
 * qa examples with the exact direct / step-by-step mixture; with `phrasingFraction` > 0, that
 * share of them (seeded positions, drawn after the mixture) has its question wrapped in a
 * phrasing that asks for the same kind of answer as its target; with `bareFraction` > 0, that
 * share (drawn last) is written bare instead, in the form of the raw pretraining text
 * ("{question}\n" → "{chain}\n#### {answer}"), the loss still on the target only.
 */
function qaExamples(
  records: readonly CoTRecord[],
  directFraction: number,
  rng: Rng,
  phrasingFraction = 0,
  bareFraction = 0,
): Example[] {
  const direct = planDirect(records.length, directFraction, rng);
  const wrap = phrasingFraction > 0 ? planDirect(records.length, phrasingFraction, rng) : [];
  const bare = bareFraction > 0 ? planDirect(records.length, bareFraction, rng) : [];
  return records.map((r, i) => {
    if (bare[i]) {
      const chain = r.chain_of_thought.trim();
      const body = direct[i] || chain === "" ? "" : `${chain}\n`;
      return { prompt: `${r.question.trim()}\n`, target: `${body}${answerLine(r.answer)}` };
    }
    if (!wrap[i]) return qaExample(r, direct[i]!);
    const phrasing = rng.pick(direct[i] ? DIRECT_PHRASINGS : COT_PHRASINGS);
    return qaExample({ ...r, question: `${phrasing} ${r.question.trim()}` }, direct[i]!);
  });
}

/**
 * The instruction records a run mixes in: all of them, or with `instructionFraction` f exactly
 * round(f / (1 − f) · nProblems), so that instruction examples make up f of the training set.
 */
export function mixInstructions(
  instructions: readonly InstructionRecord[],
  nProblems: number,
  fraction: number | undefined,
  seed: number,
): InstructionRecord[] {
  if (fraction === undefined) return [...instructions];
  if (fraction > 0 && instructions.length === 0)
    throw new Error("data.instructionFraction: the instruction files hold no records");
  const k = Math.round((fraction / (1 - fraction)) * nProblems);
  const out: InstructionRecord[] = [];
  for (let epoch = 0; out.length < k; epoch++) {
    const perm = new Rng(deriveSeed(seed, "instructions", epoch)).shuffle([...instructions]);
    out.push(...perm.slice(0, k - out.length));
  }
  return out;
}

/** The text examples (prompt + target) of a run's records in the config's template (see config.ts `template`). */
export function formatAll(
  config: SftConfig,
  records: readonly CoTRecord[],
  instructionFiles: readonly InstructionRecord[],
  tokenizer: Tokenizer | null,
  seed: number,
): Example[] {
  const d = config.data;
  const rng = new Rng(deriveSeed(seed, "format"));
  let instructions = instructionFiles;
  if (instructions.length > 0 && d.instructionFraction !== undefined)
    instructions = mixInstructions(instructions, records.length, d.instructionFraction, seed);
  if (d.template === "raw") {
    const direct = planDirect(records.length, d.directFraction, rng);
    const docs = records.map((r, i) => {
      const chain = r.chain_of_thought.trim();
      const body = direct[i] || chain === "" ? "" : `${chain}\n`;
      return { prompt: "", target: `${r.question.trim()}\n${body}${answerLine(r.answer)}` };
    });
    const inst = instructions.map((r) => ({
      prompt: "",
      target: `${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}\n${r.output}`,
    }));
    return [...docs, ...inst];
  }
  if (d.template === "qa") {
    const inst = instructions.map((r) => ({
      prompt: `Q: ${r.input ? `${r.instruction}\n\n${r.input}` : r.instruction}\nA:`,
      target: ` ${r.output}`,
    }));
    return [
      ...qaExamples(records, d.directFraction, rng, d.phrasings ? d.phrasingFraction : 0, d.bareFraction),
      ...inst,
    ];
  }
  let template: Template = plainTemplate();
  if (d.template === "chat") {
    if (!tokenizer) throw new Error("data.template: chat needs a tokenizer with a chat template");
    template = chatTemplateOf(tokenizer);
  }
  const opts = {
    template,
    trigger: d.trigger,
    directFraction: d.directFraction,
    ...(d.phrasings ? {} : { phrasings: [], directPhrasings: [] }),
  };
  return formatDataset([...records, ...instructions], opts, rng).examples.map(({ prompt, target }) => ({
    prompt,
    target,
  }));
}

/** Example indices of optimizer step `step` (see the header): a pure function of (seed, step). */
export function stepIndices(seed: number, step: number, perStep: number, n: number): number[] {
  const perms = new Map<number, number[]>();
  const out: number[] = [];
  for (let i = step * perStep; i < (step + 1) * perStep; i++) {
    const epoch = Math.floor(i / n);
    let perm = perms.get(epoch);
    if (!perm) {
      perm = new Rng(deriveSeed(seed, "data", epoch)).shuffle(Array.from({ length: n }, (_, j) => j));
      perms.set(epoch, perm);
    }
    out.push(perm[i % n]!);
  }
  return out;
}

/** The run's tokenizer: the model folder's, a named folder, or one trained on the training texts (kept in the run). */
export async function buildTokenizer(
  config: SftConfig,
  runDir: string,
  trainTexts: () => string[],
): Promise<Tokenizer> {
  if (config.model) return Tokenizer.fromDir(config.model);
  const spec = config.init!.tokenizer;
  if (typeof spec === "string") return Tokenizer.fromDir(spec);
  const dir = join(runDir, TOKENIZER_DIR);
  try {
    return await Tokenizer.fromDir(dir);
  } catch {
    await writeDirAtomic(dir, (tmp) =>
      saveTokenizer(tmp, trainBpe(trainTexts(), { vocabSize: spec.vocabSize, splitDigits: spec.splitDigits })),
    );
    return Tokenizer.fromDir(dir);
  }
}
