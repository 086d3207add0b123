/**
 * Newuser7 F5, the refusal through `npm run start:services` (real process, real Redis): a Redis
 * whose data was written with development secrets no file in the directory holds (another checkout,
 * `git clean -xfd`, another DEV_SECRETS_DIR) is refused in one line before the launcher claims its
 * slot or starts a process, and no new secrets are made up. (The reuse under another spelling:
 * restart-keeps-users.test.ts and embedded-restart-keeps-users.test.ts.)
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { DEV_SECRETS_FINGERPRINT_KEY, devSecretsFingerprint } from "./dev-secrets.js";

const emptyDir = mkdtempSync(join(tmpdir(), "ordersaga-dev-secrets-none-"));
afterAll(() => {
  killRuns();
  rmSync(emptyDir, { recursive: true, force: true });
});

describeWithRedis(
  "npm run start:services over a Redis written with other development secrets",
  (getRedis) => {
    it("is refused in one line, claiming nothing and making up nothing", async () => {
      const redis = new Redis(getRedis().url);
      try {
        const fingerprint = devSecretsFingerprint({ USER_DATA_KEYS: "from-another-checkout" });
        await redis.set(DEV_SECRETS_FINGERPRINT_KEY, fingerprint);
        // Data besides the fingerprint (a fingerprint alone is replaced: break-late7 F7).
        await redis.xadd("{user}:ev:user.created", "*", "sealed", "with those secrets");
        const r = runEntryPoint("src/system/start-services.ts", ["--any-port"], {
          LOG_LEVEL: "warn",
          REDIS_URL: getRedis().url.replace("127.0.0.1", "localhost"),
          DEV_SECRETS_DIR: emptyDir,
        });
        expect(await exitWithin(r, 60_000), r.output()).toBe(1);
        expect(r.output()).toContain(
          `holds data written with development secrets (fingerprint ${fingerprint})`,
        );
        expect(r.output()).toContain(`no file in ${emptyDir} holds`);
        expect(r.output()).not.toMatch(/\n\s+at /);
        expect(readdirSync(emptyDir)).toEqual([]);
        expect(await redis.keys("ordersaga:launcher:slot:*")).toEqual([]);
        expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(fingerprint);
      } finally {
        redis.disconnect();
      }
    }, 90_000);
  },
);
