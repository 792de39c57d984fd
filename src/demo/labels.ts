/** Names and one-line descriptions of the demo's three variants. */
import { STEP_BY_STEP_TRIGGER } from "../data/format.ts";
import type { Variant } from "./types.ts";

export const LABELS: Record<Variant, { label: string; description: string }> = {
  direct: { label: "Direct answer", description: 'Trained to answer at once: the target is only "#### answer".' },
  cot: {
    label: "Chain of thought",
    description: `Prompted with "${STEP_BY_STEP_TRIGGER}", trained on the worked steps, then "#### answer".`,
  },
  mixed: {
    label: "Mixed",
    description:
      "Half the problems with direct-answer targets, half with chain-of-thought targets; evaluated with the step-by-step prompt.",
  },
};
