import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Keyring } from "../lib/security/keyring.js";
import {
  DEV_SECRETS_FINGERPRINT_KEY,
  DevSecretsClaimLostError,
  DevSecretsMismatchError,
  devSecretsFor,
  devSecretsPath,
  type FingerprintStore,
} from "./dev-secrets.js";
import { readSettings } from "./dev-secrets-files.js";

/**
 * One Redis's keys, in memory (the real-Redis runs: dev-secrets.first-start.redis.test.ts,
 * dev-secrets.claim.redis.test.ts and the restart-keeps-users tests): no TTLs (a claim is as good
 * as confirmed); EVAL is the fingerprint's compare-and-set (the only script devSecretsFor runs).
 */
function fakeRedis(): FingerprintStore & { keys: Map<string, string> } {
  const keys = new Map<string, string>();
  return {
    keys,
    get: async (key) => keys.get(key) ?? null,
    set: async (key, value) => {
      if (keys.has(key)) return null;
      keys.set(key, value);
      return "OK";
    },
    pexpire: async (key) => (keys.has(key) ? 1 : 0),
    persist: async () => 0,
    pttl: async (key) => (keys.has(key) ? -1 : -2),
    exists: async (...names) => names.filter((name) => keys.has(name)).length,
    eval: async (_script, _numKeys, key, previous, next) => {
      if (keys.get(String(key)) !== previous) return 0;
      keys.set(String(key), String(next));
      return 1;
    },
  };
}

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "dev-secrets-test-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it("keeps one set of secrets per Redis and db, reused by the next launch, in a 0600 file", async () => {
  const env = { DEV_SECRETS_DIR: freshDir() };
  const [db1, db2] = [fakeRedis(), fakeRedis()];
  const first = await devSecretsFor(db1, "redis://127.0.0.1:6390/1", env);
  const again = await devSecretsFor(db1, "redis://127.0.0.1:6390/1", env);
  const otherDb = await devSecretsFor(db2, "redis://127.0.0.1:6390/2", env);
  expect(first.created).toBe(true);
  expect(again.created).toBe(false);
  expect(again.settings).toEqual(first.settings);
  expect(otherDb.settings.USER_DATA_KEYS).not.toBe(first.settings.USER_DATA_KEYS);
  expect(statSync(first.file).mode & 0o777).toBe(0o600);
  // Every service and the gateway has a signing key; every secret a launch needs is there.
  expect(Keyring.parse(first.settings.BUS_SIGNING_KEYS!).services().sort()).toEqual(
    ["gateway", "inventory", "notification", "order", "payment", "shipping", "user"].sort(),
  );
  for (const name of [
    "PAYMENT_TOKEN_KEYS",
    "PAYMENT_TOKEN_PUBLIC_KEY",
    "USER_EMAIL_INDEX_KEY",
    "GATEWAY_SHARED_SECRET",
  ])
    expect(first.settings[name]).toBeTruthy();
});

it("never overrides what the environment configures, and is not used in production", async () => {
  const dir = freshDir();
  const configured = await devSecretsFor(fakeRedis(), "redis://h:1", {
    DEV_SECRETS_DIR: dir,
    USER_DATA_KEYS_FILE: "/k",
    BUS_SIGNING_KEYS: "x",
  });
  expect(configured.settings.USER_DATA_KEYS).toBeUndefined();
  expect(configured.settings.BUS_SIGNING_KEYS).toBeUndefined();
  expect(configured.settings.USER_EMAIL_INDEX_KEY).toBeTruthy();
  expect(
    (await devSecretsFor(fakeRedis(), "redis://h:1", { DEV_SECRETS_DIR: dir, NODE_ENV: "production" }))
      .settings,
  ).toEqual({});
  expect(devSecretsPath("redis://:pw@h:1/3", { DEV_SECRETS_DIR: dir })).toBe(join(dir, "h_1_db3.env"));
});

it("records the signing keys the environment configures, never a made-up keyring (newuser10 F0)", async () => {
  const dir = freshDir();
  const keyFile = join(dir, "my-signing-keys");
  const redis = fakeRedis();
  const url = "redis://h:1/10";
  const given = await devSecretsFor(redis, url, { DEV_SECRETS_DIR: dir, BUS_SIGNING_KEYS_FILE: keyFile });
  // The file the README tells `--add-instances` to load gives the keys the system signs with.
  expect(readSettings(given.file)).toMatchObject({ BUS_SIGNING_KEYS_FILE: keyFile });
  expect(readSettings(given.file).BUS_SIGNING_KEYS).toBeUndefined();
  // A restart that forgets the variable signs with the same keys, not new ones.
  const restart = await devSecretsFor(redis, url, { DEV_SECRETS_DIR: dir });
  expect(restart.settings.BUS_SIGNING_KEYS_FILE).toBe(keyFile);
  expect(restart.settings.BUS_SIGNING_KEYS).toBeUndefined();
  // Keys given inline are recorded as given.
  const inline = await devSecretsFor(redis, url, { DEV_SECRETS_DIR: dir, BUS_SIGNING_KEYS: "user:u1:abc" });
  expect(readSettings(inline.file).BUS_SIGNING_KEYS).toBe("user:u1:abc");
  expect(readSettings(inline.file).BUS_SIGNING_KEYS_FILE).toBeUndefined();
});

it("finds the secrets a Redis's data was written with whatever the URL's spelling (newuser7 F5)", async () => {
  const env = { DEV_SECRETS_DIR: freshDir() };
  const redis = fakeRedis();
  const first = await devSecretsFor(redis, "redis://localhost:6390", env);
  const fingerprint = redis.keys.get(DEV_SECRETS_FINGERPRINT_KEY);
  expect(fingerprint).toMatch(/^v1:[0-9a-f]{32}$/);
  // Nothing secret in Redis: no secret's value appears in the fingerprint.
  for (const value of Object.values(first.settings)) expect(fingerprint).not.toContain(value);
  const other = await devSecretsFor(redis, "redis://127.0.0.1:6390", env);
  expect(other.settings).toEqual(first.settings);
  expect(other.file).toBe(first.file);
  expect(other.otherUrl).toBe(true);
  expect(readdirSync(env.DEV_SECRETS_DIR)).toEqual([basename(first.file)]);
  expect(redis.keys.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(fingerprint);
});

it("refuses a Redis whose data was written with secrets no file holds, making up none", async () => {
  const redis = fakeRedis();
  await devSecretsFor(redis, "redis://localhost:6390", { DEV_SECRETS_DIR: freshDir() });
  // Data besides the fingerprint (a fingerprint alone is replaced: break-late7 F7).
  redis.keys.set("{user}:ev:user.created", "a stream of events sealed with those secrets");
  const empty = freshDir();
  const refused = devSecretsFor(redis, "redis://localhost:6390", { DEV_SECRETS_DIR: empty });
  await expect(refused).rejects.toBeInstanceOf(DevSecretsMismatchError);
  await expect(refused).rejects.toThrow(
    /holds data written with development secrets .* put that \.env file back/,
  );
  expect(readdirSync(empty)).toEqual([]);
  // Configured in full, the file is not used and nothing is checked.
  const all = {
    DEV_SECRETS_DIR: empty,
    BUS_SIGNING_KEYS: "x",
    PAYMENT_TOKEN_KEYS: "x",
    USER_DATA_KEYS: "x",
    USER_EMAIL_INDEX_KEY: "x",
    GATEWAY_SHARED_SECRET: "x",
  };
  expect((await devSecretsFor(redis, "redis://localhost:6390", all)).settings).toEqual({});
});

describe("confirm, once the system is up (break9 F6)", () => {
  /** fakeRedis whose PERSIST fails `failures` times, as a dropped connection or a failover would. */
  function failingPersist(failures: number) {
    const redis = fakeRedis();
    let left = failures;
    let persists = 0;
    redis.persist = async () => {
      persists++;
      if (left-- > 0) throw new Error("Connection is closed.");
      return 1;
    };
    return { redis, persists: () => persists };
  }

  it("retries a Redis error instead of failing the start, and keeps the fingerprint", async () => {
    const { redis, persists } = failingPersist(1);
    const kept = await devSecretsFor(redis, "redis://localhost:6390", { DEV_SECRETS_DIR: freshDir() });
    const retries: string[] = [];
    await kept.confirm((error, delayMs) => retries.push(`${(error as Error).message} ${delayMs}`));
    expect(retries).toEqual(["Connection is closed. 250"]);
    expect(persists()).toBe(2);
    expect(redis.keys.get(DEV_SECRETS_FINGERPRINT_KEY)).toMatch(/^v1:/);
  });

  it("gives up after its budget, with Redis's error", async () => {
    const { redis } = failingPersist(Number.POSITIVE_INFINITY);
    const kept = await devSecretsFor(
      redis,
      "redis://localhost:6390",
      { DEV_SECRETS_DIR: freshDir() },
      { confirmBudgetMs: 1_000 },
    );
    const retries: number[] = [];
    await expect(kept.confirm((_error, delayMs) => retries.push(delayMs))).rejects.toThrow(
      "Connection is closed.",
    );
    expect(retries).toEqual([250, 500]); // the next wait (1 000 ms) would pass the budget
  });

  it("does not retry a claim another start took over", async () => {
    const redis = fakeRedis();
    const kept = await devSecretsFor(redis, "redis://localhost:6390", { DEV_SECRETS_DIR: freshDir() });
    redis.keys.set(DEV_SECRETS_FINGERPRINT_KEY, "v1:another-start");
    const retries: unknown[] = [];
    await expect(kept.confirm((error) => retries.push(error))).rejects.toBeInstanceOf(
      DevSecretsClaimLostError,
    );
    expect(retries).toEqual([]);
  });
});
