/**
 * Processes fail closed in production (issue 12 items 2 and 4), real processes: the gateway without
 * an API key, and a service or the gateway without GATEWAY_SHARED_SECRET, exit 1 naming the variable
 * before anything listens; GATEWAY_ALLOW_NO_AUTH=1 is the named opt-out of the first.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Keyring } from "../lib/security/keyring.js";
import { generateTokenKeys } from "../lib/security/payment-token.js";
import { generateUserDataKeys } from "../lib/security/user-data.js";
import { SERVICES } from "./catalog.js";

/** Runs an entry point to its exit (bounded); returns the exit code and what it printed. */
function runToExit(
  main: string,
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const args = env.ARGV_OUT === undefined ? [] : [env.ARGV_OUT];
    // A variable given as undefined is removed from the child's environment.
    const merged = { ...process.env, LOG_LEVEL: "info", REDIS_URL: "redis://127.0.0.1:1", ...env };
    const child = spawn(process.execPath, ["--import", "tsx", main, ...args], {
      env: Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)),
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
/** Every process's signing keys, so what an `npm start` refuses over is the check under test. */
const signingKeys = Keyring.generate([...SERVICES.map((s) => s.name), "gateway"]).serialize();

describe("in production", () => {
  // newuser17 F4: a refusal before Redis is reached named the service "service", not the
  // definition's name runServiceMain was given (README step 4's example).
  it("a service refused before Redis is reached is named by its definition (the README's example)", async () => {
    const { code, output } = await runToExit("examples/loyalty/main.ts", {
      NODE_ENV: "production",
      SERVICE_NAME: undefined,
      SERVICE_PORT: "0",
      GATEWAY_SERVICE_SECRET: undefined,
      GATEWAY_SHARED_SECRET: undefined,
      BUS_SIGNING_KEYS: Keyring.generate(["loyalty", "order"]).serialize(),
    });
    expect(code).toBe(1);
    expect(output).toMatch(
      /^loyalty could not start: refusing to start in production without GATEWAY_SERVICE_SECRET/m,
    );
  }, 60_000);

  it("the gateway refuses to start without API keys, naming the opt-out", async () => {
    const { code, output } = await runToExit("src/gateway/main.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_SHARED_SECRET: secret,
    });
    expect(code).toBe(1);
    expect(output).toContain("GATEWAY_ALLOW_NO_AUTH=1");
  }, 60_000);

  // break13 F2: GATEWAY_API_KEYS=a started ("gateway started", auth: true).
  it("the gateway refuses a one-character API key with one line naming the variable and the minimum", async () => {
    const { code, output } = await runToExit("src/gateway/main.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_SHARED_SECRET: secret,
      GATEWAY_API_KEYS: "a",
      GATEWAY_ADMIN_API_KEYS: "b".repeat(40),
    });
    expect(code).toBe(1);
    expect(output).toMatch(/GATEWAY_API_KEYS holds 1 key\(s\) shorter than 32 characters/);
    expect(output).not.toContain("gateway started");
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

  // newuser12 F1: compose fills GATEWAY_SERVICE_SECRET from GATEWAY_SECRET_<NAME>, whose .env.example
  // value is a placeholder; the list of secrets checked did not hold it, and a user service started
  // (anyone who read the repository could sign the gateway's header and read or delete users).
  it("a service refuses compose's placeholder as its own gateway secret (GATEWAY_SERVICE_SECRET)", async () => {
    const { code, output } = await runToExit("src/services/user/main.ts", {
      NODE_ENV: "production",
      SERVICE_PORT: "0",
      GATEWAY_SHARED_SECRET: undefined,
      GATEWAY_SERVICE_SECRET: "replace-with-generate-keys-output",
    });
    expect(code).toBe(1);
    expect(output).toMatch(/GATEWAY_SERVICE_SECRET.*placeholder/);
  }, 60_000);

  it("the gateway refuses a placeholder in any variable, not only the ones it lists as secrets", async () => {
    const { code, output } = await runToExit("src/gateway/main.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
      GATEWAY_SHARED_SECRET: "s".repeat(64),
      PROMETHEUS_GATEWAY_API_KEY: "replace-with-one-of-the-keys-above",
    });
    expect(code).toBe(1);
    expect(output).toMatch(/PROMETHEUS_GATEWAY_API_KEY.*placeholder/);
    expect(output).not.toContain("gateway started");
  }, 60_000);

  // New-user finding: `npm start` runs the gateway and every service, so it applies their checks.
  it("npm start refuses to start with no key at all, naming the API keys and the opt-out", async () => {
    const { code, output } = await runToExit("src/system/start-embedded.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      REDIS_URL: undefined,
      GATEWAY_API_KEYS: undefined,
      GATEWAY_ADMIN_API_KEYS: undefined,
      BUS_SIGNING_KEYS: undefined,
    });
    expect(code).toBe(1);
    expect(output).toMatch(/Ordersaga could not start: refusing to start in production without API keys/);
    expect(output).toContain("GATEWAY_ALLOW_NO_AUTH=1");
    expect(output).not.toContain("Ordersaga is up");
  }, 60_000);

  it("npm start refuses a placeholder as a service's secret", async () => {
    const { code, output } = await runToExit("src/system/start-embedded.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
      BUS_SIGNING_KEYS: signingKeys,
      PAYMENT_TOKEN_PUBLIC_KEY: "replace-with-the-public-key",
    });
    expect(code).toBe(1);
    expect(output).toMatch(/Ordersaga could not start: .*PAYMENT_TOKEN_PUBLIC_KEY.*placeholder/);
  }, 60_000);

  it("npm start refuses the in-memory mode (no REDIS_URL): every order would be lost at exit", async () => {
    const { code, output } = await runToExit("src/system/start-embedded.ts", {
      NODE_ENV: "production",
      GATEWAY_PORT: "0",
      REDIS_URL: undefined,
      GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
      // Every key, so the memory mode is the one thing refused (on main this system started).
      BUS_SIGNING_KEYS: signingKeys,
      ...generateTokenKeys(),
      ...generateUserDataKeys(),
    });
    expect(code).toBe(1);
    expect(output).toMatch(
      /Ordersaga could not start: refusing to start in production in memory mode.*REDIS_URL/,
    );
    expect(output).not.toContain("Ordersaga is up");
  }, 60_000);

  it.each([
    ["a placeholder password", "replace-me", "REDIS_PASSWORD_ORDER"],
    [
      "a Redis password shorter than 32 characters (break44 F7)",
      "short-but-not-a-placeholder",
      "REDIS_PASSWORD_ORDER: a Redis password must be at least 32 characters",
    ],
  ])(
    "the ACL file writer refuses %s, naming its variable only, and writes nothing",
    async (_what, password, said) => {
      const out = join(mkdtempSync(join(tmpdir(), "acl-")), "users.acl");
      const { code, output } = await runToExit(`src/system/redis-acl-file.ts`, {
        REDIS_PASSWORD_ORDER: password,
        REDIS_PASSWORD_GATEWAY: "a-real-password-0123456789abcdef0123",
        ARGV_OUT: out,
      });
      expect(code).toBe(1);
      expect(output).toContain(said);
      expect(output).not.toContain("REDIS_PASSWORD_GATEWAY");
      expect(output).not.toContain(password);
      expect(existsSync(out)).toBe(false);
    },
    60_000,
  );

  it("the ACL file writer runs under NODE_ENV=production with compose's .env: per-service signing keys, no BUS_SIGNING_KEYS (newuser13 F1)", async () => {
    // Compose's one-shot `redis-acl`: the image's NODE_ENV=production, every variable of .env as
    // scripts/generate-keys.ts prints them (BUS_SIGNING_KEY_<NAME>, one per service) and passwords.
    const generated = await runToExit("scripts/generate-keys.ts", {});
    expect(generated.code).toBe(0);
    const dotenv = Object.fromEntries(
      generated.output
        .split("\n")
        .map((line) => /^([A-Z0-9_]+)=(.+)$/.exec(line.trim()))
        .filter((match) => match !== null)
        .map((match) => [match[1]!, match[2]!]),
    );
    expect(Object.keys(dotenv).some((name) => name.startsWith("BUS_SIGNING_KEY_"))).toBe(true);
    const passwords = Object.fromEntries(
      ["user", "order", "gateway"].map((name) => [
        `REDIS_PASSWORD_${name.toUpperCase()}`,
        `pw-${name}-0123456789abcdef0123456789abcdef`,
      ]),
    );
    const out = join(mkdtempSync(join(tmpdir(), "acl-")), "users.acl");
    const { code, output } = await runToExit(`src/system/redis-acl-file.ts`, {
      ...dotenv,
      ...passwords,
      NODE_ENV: "production",
      BUS_SIGNING_KEYS: undefined,
      BUS_SIGNING_KEYS_FILE: undefined,
      ARGV_OUT: out,
    });
    expect({ code, output }).toMatchObject({ code: 0 });
    expect(readFileSync(out, "utf8")).toMatch(/^user order on #[0-9a-f]{64} /m);
  }, 60_000);
});
