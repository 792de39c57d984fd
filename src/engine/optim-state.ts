/**
 * Optimizer state on disk, as safetensors, so that a resumed run continues
 * exactly where it stopped (float32 bytes in, the same bytes out).
 *
 * Layout: tensor `count`, and one tensor per slot and parameter named
 * `<slot>/<parameter name>` (e.g. `exp_avg/model.layers.0.mlp.up_proj.weight`);
 * metadata `format = stepwise.optimizer`, `kind`, and `slots` (comma-separated).
 */
import type { Array } from "./jax.ts";
import { disposeTree } from "./memory.ts";
import type { Optimizer, OptimizerState } from "./optim.ts";
import type { Params } from "./params.ts";
import { type HostTensor, readSafetensors, SafetensorsError, writeSafetensors } from "./safetensors.ts";
import { arrayToHost, hostToArray } from "./tensors.ts";

const FORMAT = "stepwise.optimizer";

/** Write `state` to `path` (atomically). Does not consume the state. */
export async function saveOptimizerState(path: string, opt: Optimizer, state: OptimizerState): Promise<void> {
  const tensors: Record<string, HostTensor> = { count: await arrayToHost(state.count.ref) };
  for (const slot of opt.slotNames) {
    const arrays = state.slots[slot];
    if (!arrays) throw new Error(`saveOptimizerState: state has no slot "${slot}" for ${opt.kind}`);
    for (const [name, x] of Object.entries(arrays)) tensors[`${slot}/${name}`] = await arrayToHost(x.ref);
  }
  await writeSafetensors(path, tensors, { format: FORMAT, kind: opt.kind, slots: opt.slotNames.join(",") });
}

/**
 * Read optimizer state saved by `saveOptimizerState`, checking that it was written
 * by the same kind of optimizer and that its slots cover exactly `params`' names
 * and shapes (params are not consumed).
 */
export async function loadOptimizerState(path: string, opt: Optimizer, params: Params): Promise<OptimizerState> {
  const { tensors, metadata } = await readSafetensors(path);
  const fail = (detail: string) => new SafetensorsError(path, `optimizer state: ${detail}`);
  if (metadata.format !== FORMAT)
    throw fail(`metadata "format" is ${JSON.stringify(metadata.format)}, expected "${FORMAT}"`);
  if (metadata.kind !== opt.kind) throw fail(`saved by a "${metadata.kind}" optimizer, loading into "${opt.kind}"`);
  const count = tensors.get("count");
  if (count?.dtype !== "F32" || count.shape.length !== 0) throw fail(`"count" must be an F32 scalar`);
  const expected = new Set(["count"]);
  const created: Array[] = [];
  try {
    const slots: Record<string, Params> = {};
    for (const slot of opt.slotNames) {
      slots[slot] = {};
      for (const [name, p] of Object.entries(params)) {
        const key = `${slot}/${name}`;
        expected.add(key);
        const t = tensors.get(key);
        if (!t) throw fail(`missing tensor "${key}"`);
        if (t.dtype !== "F32") throw fail(`"${key}" has dtype ${t.dtype}, expected F32`);
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          throw fail(`"${key}" has shape ${JSON.stringify(t.shape)}, parameter has ${JSON.stringify(p.shape)}`);
        }
        const x = hostToArray(t, `${path}: "${key}"`);
        created.push(x);
        slots[slot][name] = x;
      }
    }
    const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
    if (unexpected.length)
      throw fail(`unexpected tensors ${unexpected.slice(0, 5).join(", ")} (not parameters of this model)`);
    return { count: hostToArray(count, `${path}: "count"`), slots };
  } catch (err) {
    disposeTree(created);
    throw err;
  }
}
