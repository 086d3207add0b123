/**
 * Processes fail closed in production (issue 12 items 2 and 4), real processes: the gateway without
 * an API key, and a service or the gateway without GATEWAY_SHARED_SECRET, exit 1 naming the variable
 * before anything listens; GATEWAY_ALLOW_NO_AUTH=1 is the named opt-out of the first.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** Runs an entry point to its exit (bounded); returns the exit code and what it printed. */
function runToExit(
  main: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const args = env.ARGV_OUT === undefined ? [] : [env.ARGV_OUT];
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], {
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

  // Break-12 F4: the committed .env.example's values are known to everyone who read the repository.
  it("the gateway refuses the .env.example placeholders as secrets, naming each variable", async () => {
    const { code, output } = await runToExit("src/gateway/main.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_API_KEYS: "replace-with-a-client-key",
      GATEWAY_ADMIN_API_KEYS: "replace-with-an-admin-key",
      GATEWAY_SHARED_SECRET: "replace-with-openssl-rand-hex-32-output",
      REDIS_PASSWORD: "replace-me",
    });
    expect(code).toBe(1);
    for (const variable of [
      "GATEWAY_API_KEYS",
      "GATEWAY_ADMIN_API_KEYS",
      "GATEWAY_SHARED_SECRET",
      "REDIS_PASSWORD",
    ])
      expect(output).toContain(variable);
    expect(output).toContain("placeholder");
    expect(output).not.toContain("gateway started");
  }, 60_000);

  it("a service refuses the .env.example placeholders as secrets", async () => {
    const { code, output } = await runToExit("src/services/payment/main.ts", {
      NODE_ENV: "production",
      SERVICE_PORT: "0",
      GATEWAY_SHARED_SECRET: "replace-with-openssl-rand-hex-32-output",
      REDIS_PASSWORD: "replace-me",
    });
    expect(code).toBe(1);
    expect(output).toMatch(
      /placeholder.*(GATEWAY_SHARED_SECRET|REDIS_PASSWORD)|(GATEWAY_SHARED_SECRET|REDIS_PASSWORD).*placeholder/,
    );
  }, 60_000);

  it("the ACL file writer refuses a placeholder password and writes nothing", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "acl-")), "users.acl");
    const { code, output } = await runToExit(`src/system/redis-acl-file.ts`, {
      REDIS_PASSWORD_ORDER: "replace-me",
      REDIS_PASSWORD_GATEWAY: "a-real-password-0123456789",
      ARGV_OUT: out,
    });
    expect(code).toBe(1);
    expect(output).toContain("REDIS_PASSWORD_ORDER");
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
