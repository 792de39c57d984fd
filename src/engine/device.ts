/**
 * Choosing where arrays live.
 *
 *   wasm   (default) the CPU, through jax-js's WebAssembly backend, on all cores
 *   webgpu a GPU through Node's optional `webgpu` package (Dawn): Vulkan where a
 *          GPU driver exists; otherwise Mesa's OpenGL ES backend in WebGPU
 *          "compatibility" mode (slower than wasm on a CPU, but it runs)
 *
 * jax-js's own `init("webgpu")` reads `navigator.gpu`, which Node does not have;
 * we provide it from the `webgpu` package only when asked, so a CPU user never
 * loads a 130 MB native module.
 */
import { defaultDevice, init, threads } from "./jax.ts";

export type DeviceName = "wasm" | "webgpu";
export const DEVICES: readonly DeviceName[] = ["wasm", "webgpu"];

export class DeviceError extends Error {
  override name = "DeviceError";
}

export interface EngineInfo {
  device: DeviceName;
  threads: number;
  /** For webgpu: which Dawn backend produced the adapter. */
  adapter?: string;
}

let current: EngineInfo | null = null;

/** Parse a user-supplied device name, with an error that lists the choices. */
export function parseDevice(name: string, where = "device"): DeviceName {
  if ((DEVICES as readonly string[]).includes(name)) return name as DeviceName;
  throw new DeviceError(`${where}: unknown device "${name}", expected one of: ${DEVICES.join(", ")}`);
}

/**
 * Initialise jax-js on `device` and make it the default for new arrays.
 * Idempotent for the same device.
 */
export async function initEngine(opts: { device?: DeviceName } = {}): Promise<EngineInfo> {
  const device = opts.device ?? "wasm";
  if (current && current.device === device) return current;
  if (device === "wasm") {
    const got = await init("wasm");
    if (!got.includes("wasm")) throw new DeviceError("initEngine: WebAssembly is not available in this runtime");
    defaultDevice("wasm");
    current = { device, threads };
    return current;
  }
  const adapter = await installNavigatorGpu();
  const got = await init("webgpu");
  if (!got.includes("webgpu")) {
    throw new DeviceError(`initEngine: jax-js could not create a WebGPU device on the ${adapter} adapter`);
  }
  defaultDevice("webgpu");
  current = { device, threads, adapter };
  return current;
}

/** The engine as initialised, or null before `initEngine`. */
export function engineInfo(): EngineInfo | null {
  return current;
}

interface GpuLike {
  requestAdapter(opts?: Record<string, unknown>): Promise<unknown>;
}

/** Load the optional `webgpu` package and expose an adapter as `navigator.gpu`. */
async function installNavigatorGpu(): Promise<string> {
  let mod: { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional package.
    const name = "webgpu";
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    throw new DeviceError(
      `initEngine: device "webgpu" needs the optional npm package "webgpu" (not installed or failed to load: ${
        (err as Error).message
      }). Install it with "npm install webgpu", or use --device wasm.`,
    );
  }
  Object.assign(globalThis, mod.globals);
  const attempts: { label: string; flags: string[]; extra: Record<string, unknown> }[] = [
    { label: "default (Vulkan)", flags: [], extra: {} },
    { label: "opengles (compatibility)", flags: ["backend=opengles"], extra: { featureLevel: "compatibility" } },
  ];
  if (process.env.EGL_PLATFORM === undefined) process.env.EGL_PLATFORM = "surfaceless";
  const tried: string[] = [];
  for (const { label, flags, extra } of attempts) {
    try {
      const gpu = mod.create(flags);
      const adapter = await gpu.requestAdapter(extra);
      if (!adapter) {
        tried.push(`${label}: no adapter`);
        continue;
      }
      const wrapped: GpuLike = {
        requestAdapter: (o?: Record<string, unknown>) => gpu.requestAdapter({ ...o, ...extra }),
      };
      const nav = (globalThis as Record<string, unknown>).navigator as Record<string, unknown>;
      Object.defineProperty(nav, "gpu", { value: wrapped, configurable: true });
      return label;
    } catch (err) {
      tried.push(`${label}: ${(err as Error).message}`);
    }
  }
  throw new DeviceError(`initEngine: no WebGPU adapter found (tried ${tried.join("; ")}). Use --device wasm.`);
}
