/**
 * A service started alone in production without its keys refuses to start (issue 12): no signing
 * key, the payment service without the token private key, or the notification service without the
 * users' contact data keys. Real processes over a real Redis
 * (with AOF and noeviction, so the durability guard passes and the keys are what stop it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, expect, it } from "vitest";
import { Keyring } from "../lib/security/keyring.js";
import { generateTokenKeys } from "../lib/security/payment-token.js";
import { generateUserDataKeys } from "../lib/security/user-data.js";
import { describeWithRedis, externalRedis } from "../test-support/redis.js";
import { SERVICES } from "./catalog.js";

const running: ChildProcess[] = [];

function run(main: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    env: {
      ...process.env,
      LOG_LEVEL: "info",
      SERVICE_PORT: "0",
      NODE_ENV: "production",
      // Present, so the keys are what the process refuses over (issue 12's other start checks).
      GATEWAY_SHARED_SECRET: "s".repeat(32),
      BUS_SIGNING_KEYS: "",
      BUS_SIGNING_KEYS_FILE: "",
      PAYMENT_TOKEN_KEYS: "",
      PAYMENT_TOKEN_PUBLIC_KEY: "",
      USER_DATA_KEYS: "",
      USER_DATA_KEYS_FILE: "",
      USER_EMAIL_INDEX_KEY: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let text = "";
  child.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { exited, output: () => text };
}

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL");
});

describeWithRedis("production start without keys", (getRedis) => {
  it("a service with no signing keys names the variable and exits 1", async () => {
    const r = run("src/services/user/main.ts", { REDIS_URL: getRedis().url });
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(
      /user could not start: .*NODE_ENV=production needs signing keys: set BUS_SIGNING_KEYS/,
    );
  }, 60_000);

  it("the payment service with signing keys but no token key names PAYMENT_TOKEN_KEYS and exits 1", async () => {
    const keys = Keyring.generate(["payment", "order"]).serialize();
    const r = run("src/services/payment/main.ts", { REDIS_URL: getRedis().url, BUS_SIGNING_KEYS: keys });
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(/payment could not start: .*NODE_ENV=production needs PAYMENT_TOKEN_KEYS/);
    // The secrets are never echoed.
    expect(r.output()).not.toContain(keys.split(":")[2]!.slice(0, 12));
  }, 60_000);

  it("the notification service with signing keys but no user data keys names USER_DATA_KEYS and exits 1", async () => {
    const keys = Keyring.generate(["notification", "user", "order"]).serialize();
    const r = run("src/services/notification/main.ts", { REDIS_URL: getRedis().url, BUS_SIGNING_KEYS: keys });
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(/notification could not start: .*NODE_ENV=production needs USER_DATA_KEYS/);
  }, 60_000);

  // `npm start` runs the gateway and every service in one process: the same production checks.
  it("npm start with API keys but no signing keys names BUS_SIGNING_KEYS and exits 1", async () => {
    const r = run("src/system/start-embedded.ts", {
      REDIS_URL: getRedis().url,
      GATEWAY_PORT: "0",
      GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
    });
    expect(await r.exited).toBe(1);
    expect(r.output()).toMatch(
      /could not start: .*NODE_ENV=production needs signing keys: set BUS_SIGNING_KEYS/,
    );
    expect(r.output()).not.toContain("Ordersaga is up");
  }, 60_000);

  // Changes the server's config: only on the suite's own redis-server.
  it.skipIf(externalRedis)(
    "npm start with every key on a Redis without AOF says why and exits 1",
    async () => {
      const admin = getRedis().client();
      await admin.config("SET", "appendonly", "no");
      try {
        const r = run("src/system/start-embedded.ts", {
          REDIS_URL: getRedis().url,
          GATEWAY_PORT: "0",
          GATEWAY_API_KEYS: "a-real-client-key-0123456789abcdef",
          BUS_SIGNING_KEYS: Keyring.generate([...SERVICES.map((s) => s.name), "gateway"]).serialize(),
          ...generateTokenKeys(),
          ...generateUserDataKeys(),
        });
        expect(await r.exited).toBe(1);
        expect(r.output()).toMatch(
          /Ordersaga could not start: refusing to start in production on a Redis that cannot keep the delivery promises: appendonly is off/,
        );
        expect(r.output()).not.toContain("Ordersaga is up");
      } finally {
        await admin.config("SET", "appendonly", "yes");
      }
    },
    60_000,
  );
});
