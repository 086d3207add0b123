/**
 * `npm run start:services` with keys it cannot use (newuser8 M4): production without keys, or a
 * garbage BUS_SIGNING_KEYS, is one line naming the variable and exit 2, before anything is claimed:
 * no launcher slot and no development secrets left in Redis or on disk, so a retry gets the same
 * reason (not "another launcher holds slot main"). And a key file kept from an earlier launch,
 * since gone (newuser15 F4): the line names the file that kept it. Real launcher process over a
 * real redis-server.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { Keyring } from "../lib/security/keyring.js";
import { describeWithRedis } from "../test-support/redis.js";
import { completed, devSecretsPath, keep } from "./dev-secrets-files.js";

const secretsDir = mkdtempSync(join(tmpdir(), "nu8-dev-secrets-"));
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

function startServices(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/system/start-services.ts", "--any-port"], {
    env: { ...process.env, LOG_LEVEL: "info", DEV_SECRETS_DIR: secretsDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, output })));
}

describeWithRedis("start:services with keys it cannot use", (getRedis) => {
  it("production without keys: one line naming BUS_SIGNING_KEYS, exit 2, nothing claimed, the retry says the same", async () => {
    const env = {
      NODE_ENV: "production",
      REDIS_URL: `${getRedis().url}/5`,
      BUS_SIGNING_KEYS: "",
      BUS_SIGNING_KEYS_FILE: "",
    };
    for (const attempt of [1, 2]) {
      const { code, output } = await startServices(env);
      expect({ attempt, code }).toEqual({ attempt, code: 2 });
      expect(output.trim()).toBe(
        "start:services: NODE_ENV=production needs signing keys: set BUS_SIGNING_KEYS or BUS_SIGNING_KEYS_FILE (docs/security.md)",
      );
    }
    const redis = getRedis().client();
    await redis.select(5);
    expect(await redis.keys("*")).toEqual([]);
    expect(readdirSync(secretsDir)).toEqual([]);
  }, 120_000);

  it("a valid BUS_SIGNING_KEYS without some process's key: one line naming them, exit 2, nothing claimed (newuser19 F5)", async () => {
    const { code, output } = await startServices({
      REDIS_URL: `${getRedis().url}/7`,
      BUS_SIGNING_KEYS: Keyring.generate(["order", "payment"]).serialize(),
    });
    expect(code).toBe(2);
    expect(output.trim()).toMatch(
      /^start:services: BUS_SIGNING_KEYS: no key for user, inventory, shipping, notification, gateway: every service and the gateway sign with their own/,
    );
    const redis = getRedis().client();
    await redis.select(7);
    expect(await redis.keys("*")).toEqual([]);
    expect(readdirSync(secretsDir)).toEqual([]);
  }, 120_000);

  it("a garbage BUS_SIGNING_KEYS: one line naming the variable, exit 2, no slot and no development secrets", async () => {
    const { code, output } = await startServices({
      REDIS_URL: `${getRedis().url}/6`,
      BUS_SIGNING_KEYS: "garbage",
    });
    expect(code).toBe(2);
    expect(output.trim()).toBe(
      'start:services: BUS_SIGNING_KEYS: key entry 1, 1 field separated by ":" (not shown: it may hold a secret): expected <service>:<kid>:<base64 secret>',
    );
    const redis = getRedis().client();
    await redis.select(6);
    expect(await redis.keys("*")).toEqual([]);
    expect(readdirSync(secretsDir)).toEqual([]);
  }, 120_000);

  // newuser15 F4: the path an earlier launch was given, kept in the development-secrets file; the
  // keys file since moved. The line named the path only, to a user who never set it this launch.
  it("a kept BUS_SIGNING_KEYS_FILE that is gone: one line naming the file that kept it and the ways out, the retry says the same", async () => {
    const url = `${getRedis().url}/7`;
    // A directory of its own: the tests above find theirs empty.
    const dir = join(secretsDir, "kept-keys-file");
    const devFile = devSecretsPath(url, { DEV_SECRETS_DIR: dir });
    const keysFile = join(dir, "moved-signing-keys");
    keep(devFile, {}, completed({}, { BUS_SIGNING_KEYS_FILE: keysFile }));
    for (const attempt of [1, 2]) {
      const { code, output } = await startServices({
        REDIS_URL: url,
        BUS_SIGNING_KEYS: "",
        BUS_SIGNING_KEYS_FILE: "",
        DEV_SECRETS_DIR: dir,
      });
      expect({ attempt, code }).toEqual({ attempt, code: 1 });
      expect(output).toContain(`BUS_SIGNING_KEYS_FILE: cannot read ${keysFile} (ENOENT`);
      expect(output).toContain(`that path was kept in ${devFile} by an earlier launch`);
      expect(output).toContain("put the keys file back at that path");
      expect(output).toContain("set BUS_SIGNING_KEYS or BUS_SIGNING_KEYS_FILE for this launch");
      expect(output).toContain(`delete the BUS_SIGNING_KEYS_FILE line from ${devFile}`);
    }
  }, 120_000);
});
