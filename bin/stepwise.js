#!/usr/bin/env node
// The stepwise CLI. The sources are TypeScript, run through tsx's loader, so there is no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
