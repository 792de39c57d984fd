/**
 * Answers: the one exact-rational type (rational.ts), the one number parser (parse.ts),
 * LaTeX braces and boxes (latex.ts) and the one `answersMatch` (match.ts), shared by
 * evaluation, the task generators' checkers and rewards.
 */
export * from "./latex.ts";
export * from "./match.ts";
export * from "./parse.ts";
export * from "./rational.ts";
