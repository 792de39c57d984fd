/**
 * Choosing one answer from K sampled chains (`stepwise eval --samples K --select …`), and the
 * report that puts the choices side by side. Pure: the chains, their extracted answers and the
 * verifier's scores come in; picks, accuracies and intervals go out.
 *
 *   majority      self-consistency (Wang et al. 2023): the most frequent answer (metrics.ts majorityVote)
 *   rm:DIR        best-of-K by an outcome reward model (Cobbe et al. 2021): the answer of the chain
 *   prm:DIR       the verifier scores highest, argmax_j s_j (ties: the earliest sample); the PRM's
 *                 per-step scores aggregated by min or prod (prefs/verifier.ts: prm:DIR@prod)
 *   weighted:DIR  verifier-weighted majority (Li et al. 2023, "Making language models better
 *                 reasoners with step-aware verifier"; Uesato et al. 2022): the answer a maximising
 *                 Σ_{j : answer_j = a} w_j, w_j = σ(s_j) for an outcome model (its Bradley–Terry
 *                 logit made a probability), w_j = s_j for a process model (already in [0, 1]).
 *                 `weighted:DIR` takes the model's kind from DIR/config.json; `weighted:rm:DIR`
 *                 and `weighted:prm:DIR@prod` say it.
 *
 * Candidates: a chain with no extracted answer cannot be picked (it has nothing to say), nor one
 * the verifier gave null (a PRM chain with no steps). When no chain is a candidate, the pick is
 * the majority answer (null when every chain abstained). Answers are grouped by canonicalAnswer.
 * Answers are read in strict mode (the "#### A" line), as the `correct` reward and accuracy_strict.
 *
 * The report (Wilson 95% intervals for proportions over problems, metrics.ts):
 *   greedy      accuracy of one greedy chain per problem
 *   maj_at_k    the majority of the K samples
 *   pass_at_1   mean over problems of c_i/K (the unbiased pass@1 from the same K samples); its
 *               interval is the normal one over problems, mean ± 1.96·sd/√n (a problem's K samples
 *               are not independent draws of the population of problems, so not Wilson on n·K)
 *   pass_at_k   at least one of the K is right (the upper bound of any selection)
 *   select      the selection method's pick
 * and the paired bootstrap (bootstrap.ts) of select − greedy and select − maj_at_k per problem.
 */
import { type AnswerTask, answersMatch, canonicalAnswer } from "../data/answer/index.ts";
import { parseVerifier, type VerifierKind, type VerifierSpec, verifierText } from "../prefs/verifier.ts";
import { pairedBootstrap } from "./bootstrap.ts";
import { majorityVote, wilsonInterval } from "./metrics.ts";

export type Selection =
  | { kind: "majority" }
  | { kind: "best"; verifier: VerifierSpec }
  /** `kindGiven` false: the verifier's kind is read from the folder (weighted:DIR). */
  | { kind: "weighted"; verifier: VerifierSpec; kindGiven: boolean };

export class SelectError extends Error {
  override name = "SelectError";
}

const SELECT_HELP = "majority, rm:DIR, prm:DIR[@min|@prod] or weighted:DIR (weighted:rm:DIR, weighted:prm:DIR)";

/** "majority" | "rm:DIR" | "prm:DIR@prod" | "weighted:DIR" → a selection; errors name the flag. */
export function parseSelect(text: string, where = "--select"): Selection {
  const t = text.trim();
  if (t === "majority") return { kind: "majority" };
  const verifier = (kind: VerifierKind, body: string) => {
    try {
      return parseVerifier(kind, body, where);
    } catch (err) {
      throw new SelectError((err as Error).message);
    }
  };
  for (const kind of ["rm", "prm"] as const) {
    if (t.startsWith(`${kind}:`)) return { kind: "best", verifier: verifier(kind, t.slice(kind.length + 1)) };
  }
  if (t.startsWith("weighted:")) {
    const body = t.slice("weighted:".length);
    for (const kind of ["rm", "prm"] as const) {
      if (body.startsWith(`${kind}:`)) {
        return { kind: "weighted", verifier: verifier(kind, body.slice(kind.length + 1)), kindGiven: true };
      }
    }
    return { kind: "weighted", verifier: verifier("rm", body), kindGiven: false };
  }
  throw new SelectError(`${where}: "${text}"; expected ${SELECT_HELP}`);
}

/** The selection as the flag writes it (canonical). */
export function selectionText(s: Selection): string {
  if (s.kind === "majority") return "majority";
  return s.kind === "best" ? verifierText(s.verifier) : `weighted:${verifierText(s.verifier)}`;
}

/** The K chains of one problem: extracted answers (null: none), correctness, verifier scores (null: none). */
export interface Candidates {
  answers: readonly (string | null)[];
  correct: readonly boolean[];
  /** Absent for majority. */
  scores?: readonly (number | null)[];
}

export interface Pick {
  /** The sample whose answer was taken (best-of-K), or the first sample holding the picked answer; null when none. */
  index: number | null;
  answer: string | null;
  /** How the pick was made ("fallback" = no candidate had a score, majority used). */
  how: "majority" | "best" | "weighted" | "fallback";
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The vote weight of a verifier score (see the header). */
export function voteWeight(score: number, kind: VerifierKind): number {
  return kind === "rm" ? sigmoid(score) : score;
}

/** Index of the highest-scored candidate (answer and score both present); ties go to the earliest; null if none. */
export function bestOfK(answers: readonly (string | null)[], scores: readonly (number | null)[]): number | null {
  let best: number | null = null;
  answers.forEach((a, j) => {
    const s = scores[j];
    if (a === null || s === null || s === undefined || Number.isNaN(s)) return;
    if (best === null || s > scores[best]!) best = j;
  });
  return best;
}

/**
 * Verifier-weighted majority: argmax_a Σ_{j: canon(answer_j) = a} weights_j over candidates;
 * ties go to the answer whose first candidate came earliest. Null when no chain is a candidate.
 */
export function weightedVote(
  answers: readonly (string | null)[],
  weights: readonly (number | null)[],
  task: AnswerTask,
): { answer: string; index: number; weight: number } | null {
  const total = new Map<string, { weight: number; index: number }>();
  answers.forEach((a, j) => {
    const w = weights[j];
    if (a === null || w === null || w === undefined || Number.isNaN(w)) return;
    const key = canonicalAnswer(a, task);
    const g = total.get(key);
    if (g) g.weight += w;
    else total.set(key, { weight: w, index: j });
  });
  let win: { weight: number; index: number } | null = null;
  for (const g of total.values()) if (win === null || g.weight > win.weight) win = g; // ">" keeps the earliest
  return win === null ? null : { answer: answers[win.index]!, index: win.index, weight: win.weight };
}

/** One problem's pick under a selection (see the header). */
export function selectAnswer(c: Candidates, selection: Selection, task: AnswerTask): Pick {
  const majority = (how: Pick["how"]): Pick => {
    const m = majorityVote(c.answers, task);
    if (m.key === null) return { index: null, answer: null, how };
    const index = c.answers.findIndex((a) => a !== null && canonicalAnswer(a, task) === m.key);
    return { index, answer: m.answer, how };
  };
  if (selection.kind === "majority") return majority("majority");
  const scores = c.scores;
  if (!scores || scores.length !== c.answers.length) {
    throw new SelectError(
      `selectAnswer: ${scores?.length ?? 0} verifier scores for ${c.answers.length} chains (give one per chain)`,
    );
  }
  if (selection.kind === "best") {
    const j = bestOfK(c.answers, scores);
    return j === null ? majority("fallback") : { index: j, answer: c.answers[j]!, how: "best" };
  }
  const kind = selection.verifier.kind;
  const w = weightedVote(
    c.answers,
    scores.map((s) => (s === null ? null : voteWeight(s, kind))),
    task,
  );
  return w === null ? majority("fallback") : { index: w.index, answer: w.answer, how: "weighted" };
}

/** A rate over problems with its 95% interval. */
export interface RateCI {
  accuracy: number;
  lo: number;
  hi: number;
}

/** A per-problem difference with its paired-bootstrap 95% interval. */
export interface DiffCI {
  diff: number;
  lo: number;
  hi: number;
}

export interface SelectionProblem {
  gold: string;
  task: AnswerTask;
  /** Whether the greedy chain's strict answer is right. */
  greedyCorrect: boolean;
  candidates: Candidates;
}

export interface SelectionReport {
  n: number;
  samples: number;
  select_method: string;
  greedy: RateCI;
  maj_at_k: RateCI;
  pass_at_1: RateCI;
  pass_at_k: RateCI;
  select: RateCI;
  /** Problems whose pick fell back to the majority (no candidate had a verifier score). */
  select_fallbacks: number;
  select_minus_greedy: DiffCI;
  select_minus_majority: DiffCI;
}

function wilson(flags: readonly boolean[]): RateCI {
  const c = flags.filter(Boolean).length;
  const { lo, hi } = wilsonInterval(c, flags.length);
  return { accuracy: flags.length ? c / flags.length : 0, lo, hi };
}

/** mean ± z·sd/√n over per-problem values (sd with ddof 1), clamped to [0, 1]. */
export function meanInterval(xs: readonly number[], z = 1.96): RateCI {
  const n = xs.length;
  if (n === 0) return { accuracy: 0, lo: 0, hi: 1 };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const half = (z * sd) / Math.sqrt(n);
  return { accuracy: mean, lo: Math.max(0, mean - half), hi: Math.min(1, mean + half) };
}

function diffOf(a: readonly boolean[], b: readonly boolean[], seed: number): DiffCI {
  const r = pairedBootstrap(
    a.map((x) => (x ? 1 : 0)),
    b.map((x) => (x ? 1 : 0)),
    { resamples: 2000, seed },
  );
  return { diff: r.diff ?? 0, lo: r.ci?.lo ?? 0, hi: r.ci?.hi ?? 0 };
}

/** Picks and the side-by-side report (see the header). */
export function selectionReport(
  problems: readonly SelectionProblem[],
  selection: Selection,
  opts: { seed?: number } = {},
): { report: SelectionReport; picks: (Pick & { correct: boolean })[] } {
  if (problems.length === 0) throw new SelectError("selectionReport: no problems");
  const k = problems[0]!.candidates.answers.length;
  if (problems.some((p) => p.candidates.answers.length !== k || p.candidates.correct.length !== k)) {
    throw new SelectError("selectionReport: every problem needs the same number of sampled chains");
  }
  const picks = problems.map((p) => {
    const pick = selectAnswer(p.candidates, selection, p.task);
    return { ...pick, correct: answersMatch(pick.answer, p.gold, { task: p.task }) };
  });
  const maj = problems.map((p) =>
    answersMatch(majorityVote(p.candidates.answers, p.task).answer, p.gold, { task: p.task }),
  );
  const greedy = problems.map((p) => p.greedyCorrect);
  const selected = picks.map((p) => p.correct);
  const seed = opts.seed ?? 0;
  return {
    report: {
      n: problems.length,
      samples: k,
      select_method: selectionText(selection),
      greedy: wilson(greedy),
      maj_at_k: wilson(maj),
      pass_at_1: meanInterval(problems.map((p) => p.candidates.correct.filter(Boolean).length / k)),
      pass_at_k: wilson(problems.map((p) => p.candidates.correct.some(Boolean))),
      select: wilson(selected),
      select_fallbacks: picks.filter((p) => p.how === "fallback").length,
      select_minus_greedy: diffOf(greedy, selected, seed),
      select_minus_majority: diffOf(maj, selected, seed),
    },
    picks,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ci = (r: { lo: number; hi: number }) => `${pct(r.lo)} … ${pct(r.hi)}`;
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${(100 * Math.abs(x)).toFixed(1)}`;

/** The report as a Markdown table: one row per way of answering, then the paired differences. */
export function selectionTable(r: SelectionReport): string {
  const k = r.samples;
  const row = (name: string, x: RateCI) => `| ${name} | ${pct(x.accuracy)} | ${ci(x)} |`;
  const drow = (name: string, d: DiffCI) => `| ${name} | ${signed(d.diff)} | ${signed(d.lo)} … ${signed(d.hi)} |`;
  return [
    `| answer (n = ${r.n}, k = ${k}, strict) | accuracy | 95% CI |`,
    "| --- | ---: | ---: |",
    row("greedy", r.greedy),
    row(`maj@${k}`, r.maj_at_k),
    row("pass@1 (sampled)", r.pass_at_1),
    row(`pass@${k}`, r.pass_at_k),
    row(`select: ${r.select_method}`, r.select),
    "",
    "| paired difference (points) | Δ | 95% CI (bootstrap) |",
    "| --- | ---: | ---: |",
    drow("select − greedy", r.select_minus_greedy),
    drow(`select − maj@${k}`, r.select_minus_majority),
  ].join("\n");
}
