/**
 * The one door to jax-js. Every stepwise module imports arrays, transforms and
 * random numbers from here, never from "@jax-js/jax" directly, so that the
 * process set-up in `setup.ts` (Node 20 polyfills, the worker pool on all cores)
 * always runs before jax-js builds its backends.
 */
import "./setup.ts";

export type { Device, JsTree, OwnedFunction } from "@jax-js/jax";
export {
  Array,
  blockUntilReady,
  DType,
  defaultDevice,
  devicePut,
  grad,
  init,
  jit,
  lax,
  nn,
  numpy,
  numpy as np,
  random,
  tree,
  valueAndGrad,
  vjp,
  vmap,
} from "@jax-js/jax";
export { threads } from "./setup.ts";
