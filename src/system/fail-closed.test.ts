/**
 * Processes fail closed in production (issue 12 items 2 and 4), real processes: the gateway without
 * an API key, and a service or the gateway without GATEWAY_SHARED_SECRET, exit 1 naming the variable
 * before anything listens; GATEWAY_ALLOW_NO_AUTH=1 is the named opt-out of the first.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

/** Runs an entry point to its exit (bounded); returns the exit code and what it printed. */
function runToExit(
  main: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", main], {
      env: { ...process.env, LOG_LEVEL: "info", REDIS_URL: "redis://127.0.0.1:1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${main} still running: ${output}`));
    }, 50_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const secret = "s".repeat(40);

describe("in production", () => {
  it("the gateway refuses to start without API keys, naming the opt-out", async () => {
    const { code, output } = await runToExit("src/gateway/main.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_SHARED_SECRET: secret,
    });
    expect(code).toBe(1);
    expect(output).toContain("GATEWAY_ALLOW_NO_AUTH=1");
  }, 60_000);

  it("a service refuses to start without GATEWAY_SHARED_SECRET", async () => {
    const { code, output } = await runToExit("src/services/payment/main.ts", {
      NODE_ENV: "production",
      SERVICE_PORT: "0",
    });
    expect(code).toBe(1);
    expect(output).toContain("GATEWAY_SHARED_SECRET");
  }, 60_000);
});
