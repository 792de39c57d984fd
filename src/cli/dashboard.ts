import type { Command } from "commander";
import { startDashboard } from "../dashboard/server.ts";

interface DashboardFlags {
  runs: string;
  host: string;
  port: string;
}

/** `stepwise dashboard [--runs DIR] [--host 127.0.0.1] [--port 7860]`: the read-only web app over run folders (src/dashboard/). */
export function registerDashboard(program: Command): void {
  program
    .command("dashboard")
    .description("Local read-only web app over a folder of runs: curves, samples, eval, alerts, compare")
    .option("--runs <dir>", "folder of run folders", "runs")
    .option("--host <host>", "address to bind (127.0.0.1 keeps it on this machine)", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one)", "7860")
    .action(async (flags: DashboardFlags) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`dashboard: --port expects an integer 0..65535, got ${JSON.stringify(flags.port)}`);
      }
      const d = await startDashboard({ runs: flags.runs, host: flags.host, port });
      console.log(`dashboard: serving ${flags.runs} (read-only) at ${d.url}  (Ctrl-C to stop)`);
      await new Promise<void>((done) => {
        const stop = () => void d.close().then(done);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
