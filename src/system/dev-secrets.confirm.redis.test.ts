/**
 * Break9 F6 over a real Redis: the launcher's confirming connection (a ResendGuardRedis, as
 * start-services uses) is killed while its PERSIST is in flight, so the reply is lost. `confirm`
 * used to throw, and the launcher stopped a system that had come up; it now retries, and the
 * fingerprint ends permanent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { ResendGuardRedis } from "../lib/redis/resend-guard.js";
import { describeWithRedis } from "../test-support/redis.js";
import { DEV_SECRETS_FINGERPRINT_KEY, devSecretsFor } from "./dev-secrets.js";

const dir = mkdtempSync(join(tmpdir(), "ordersaga-dev-secrets-confirm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithRedis("dev-secrets confirm over a connection killed mid-PERSIST", (getRedis) => {
  it("retries and makes the fingerprint permanent", async () => {
    const url = getRedis().url;
    const redis = new ResendGuardRedis(url, { maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    const admin = new Redis(url);
    try {
      await admin.del(DEV_SECRETS_FINGERPRINT_KEY);
      const kept = await devSecretsFor(redis, url, { DEV_SECRETS_DIR: dir });
      const id = String(await redis.client("ID"));
      const persist = redis.persist.bind(redis);
      let killed = false;
      // The first PERSIST is held by a write pause, and its connection killed meanwhile.
      redis.persist = ((key: string) => {
        if (killed) return persist(key);
        killed = true;
        return admin.client("PAUSE", 500, "WRITE").then(() => {
          const sent = persist(key);
          void admin.client("KILL", "ID", id);
          return sent;
        });
      }) as typeof redis.persist;
      const retries: string[] = [];
      await kept.confirm((error) => retries.push((error as Error).message));
      expect(retries).toHaveLength(1);
      expect(retries[0]).toMatch(/PERSIST/);
      expect(await admin.pttl(DEV_SECRETS_FINGERPRINT_KEY)).toBe(-1);
    } finally {
      redis.disconnect();
      admin.disconnect();
    }
  }, 60_000);
});
