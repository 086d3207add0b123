/**
 * The first-start claim of the development-secrets fingerprint, against one real Redis (start8):
 * a start slow between its claim and its file is waited for, never replaced (two checkouts ended
 * with two sets of secrets after a fixed 5 s wait); a start that crashed half-way is recovered
 * once its lease lapses; and a restricted ACL user without SCAN or EVAL can start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import {
  DEV_SECRETS_FINGERPRINT_KEY,
  DevSecretsMismatchError,
  devSecretsFingerprint,
  devSecretsFor,
  type FingerprintStore,
} from "./dev-secrets.js";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "dev-secrets-claim-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * `redis` whose SET answers `stall()` later when it took the key: a start that claimed the
 * fingerprint and is then slow (a loaded machine) before it writes its file.
 */
function slowAfterClaim(redis: Redis, stall: () => Promise<void>): FingerprintStore {
  return new Proxy(redis, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (prop !== "set") return method.bind(target);
      return async (...args: unknown[]) => {
        const answer = await method.apply(target, args);
        if (answer === "OK") await stall();
        return answer;
      };
    },
  }) as unknown as FingerprintStore;
}

describeWithRedis("the development-secrets fingerprint claim", (getRedis) => {
  const clients: Redis[] = [];
  const connect = (options: { username?: string; password?: string } = {}) => {
    const client = new Redis(getRedis().url, options);
    clients.push(client);
    return client;
  };
  beforeEach(() => getRedis().flush());
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  it("waits for a live start slow between its claim and its file, and never replaces its secrets", async () => {
    const url = getRedis().url;
    const redis = connect();
    let claimed!: () => void;
    const claimedOnce = new Promise<void>((resolve) => (claimed = resolve));
    let quickSettled!: () => void;
    const quickDone = new Promise<void>((resolve) => (quickSettled = resolve));
    // Slow past the old fixed 5 s wait: until the other start has decided, at most 8 s.
    const slowStore = slowAfterClaim(redis, async () => {
      claimed();
      await Promise.race([quickDone, delay(8_000)]);
    });
    const slow = devSecretsFor(slowStore, url, { DEV_SECRETS_DIR: freshDir() });
    await claimedOnce;
    // Another checkout (its own directory) over the same Redis, while the first is still writing.
    const quick = devSecretsFor(connect(), url, { DEV_SECRETS_DIR: freshDir() });
    const quickOutcome = quick.then(
      (kept) => ({ kept }),
      (error: unknown) => ({ error }),
    );
    void quickOutcome.finally(quickSettled);
    const slowKept = await slow;
    // The slow start's system comes up: its data is written, its fingerprint made permanent.
    await redis.xadd("{user}:ev:user.created", "*", "k", "v");
    await slowKept.confirm?.();
    const outcome = await quickOutcome;
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(devSecretsFingerprint(slowKept.settings));
    // The other checkout holds no file of those secrets: refused, never started with its own.
    expect("error" in outcome ? outcome.error : outcome.kept.settings).toBeInstanceOf(
      DevSecretsMismatchError,
    );
  }, 60_000);

  it("recovers from a start that crashed after its claim once its lease lapses, without manual steps", async () => {
    const url = getRedis().url;
    const redis = connect();
    // The crashed start: claimed with a short lease, never wrote its file, never renewed.
    const crashed = devSecretsFingerprint({ USER_DATA_KEYS: "from-a-start-that-crashed" });
    await redis.set(DEV_SECRETS_FINGERPRINT_KEY, crashed, "PX", 1_500, "NX");
    const kept = await devSecretsFor(redis, url, { DEV_SECRETS_DIR: freshDir() });
    expect(kept.created).toBe(true);
    await kept.confirm?.();
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(devSecretsFingerprint(kept.settings));
    expect(await redis.pttl(DEV_SECRETS_FINGERPRINT_KEY)).toBe(-1);
  }, 60_000);

  it("starts as a restricted ACL user without SCAN, KEYS or EVAL (first start, restart, another spelling)", async () => {
    const url = getRedis().url;
    const admin = connect();
    await admin.call("ACL", "SETUSER", "devstart", "reset", "on", ">pw", "~*", "&*", "+@all");
    await admin.call("ACL", "SETUSER", "devstart", "-scan", "-keys", "-eval", "-evalsha");
    const redis = connect({ username: "devstart", password: "pw" });
    const env = { DEV_SECRETS_DIR: freshDir() };
    const first = await devSecretsFor(redis, url, env);
    await first.confirm?.();
    await redis.xadd("{user}:ev:user.created", "*", "k", "v");
    const again = await devSecretsFor(redis, url.replace("127.0.0.1", "localhost"), env);
    expect(again.settings).toEqual(first.settings);
    expect(await admin.call("ACL", "LOG")).toEqual([]);
  }, 60_000);
});
