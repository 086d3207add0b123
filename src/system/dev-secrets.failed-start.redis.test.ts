/**
 * aof9 item 2, real processes over a real Redis: a first development start that made up its
 * secrets (the file written, the fingerprint claimed as a lease) and then failed (a port in use)
 * left the file, and its processes' event streams in Redis, but only a lease as fingerprint, which
 * lapsed. A later start over the same Redis reached by another spelling of its URL (`localhost`
 * for `127.0.0.1`) then found no fingerprint: with the failed start's streams there it was
 * refused ("holds data but no development-secrets fingerprint"), without them it made up a second
 * set of secrets for the same Redis. The failed start now makes its fingerprint permanent, so any
 * spelling finds the file it kept.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { DEV_SECRETS_FINGERPRINT_KEY, devSecretsFor, devSecretsPath } from "./dev-secrets.js";

const dirs: string[] = [];
const servers: Server[] = [];
const clients: Redis[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  killRuns();
  for (const client of clients.splice(0)) client.disconnect();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A port something else listens on: the gateway's start fails there. */
async function occupiedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

describeWithRedis("a first development start that fails after making up its secrets", (getRedis) => {
  it.each([
    ["npm run start:services", "src/system/start-services.ts", ["--any-port"]],
    ["npm start", "src/system/start-embedded.ts", []],
  ] as const)(
    "%s: a later start by another spelling of the URL uses the secrets it kept",
    async (_name, main, args) => {
      await getRedis().flush();
      const dir = mkdtempSync(join(tmpdir(), "dev-secrets-failed-start-"));
      dirs.push(dir);
      const url = getRedis().url;
      expect(url).toContain("127.0.0.1");
      const run = runEntryPoint(main, args, {
        REDIS_URL: url,
        DEV_SECRETS_DIR: dir,
        GATEWAY_PORT: String(await occupiedPort()),
        LOG_LEVEL: "warn",
      });
      expect(await exitWithin(run, 90_000)).toBe(1);
      expect(run.output()).toMatch(/could not start/);
      const file = devSecretsPath(url, { DEV_SECRETS_DIR: dir });
      expect(existsSync(file)).toBe(true);
      const redis = new Redis(url);
      clients.push(redis);
      // A lease left behind lapses within 30 s of the failed start's exit: made to lapse now.
      if ((await redis.pttl(DEV_SECRETS_FINGERPRINT_KEY)) > 0) {
        await redis.pexpire(DEV_SECRETS_FINGERPRINT_KEY, 1);
        await waitFor(
          async () => (await redis.pttl(DEV_SECRETS_FINGERPRINT_KEY)) === -2,
          10_000,
          "the lease lapsed",
        );
      }
      const other = url.replace("127.0.0.1", "localhost");
      const kept = await devSecretsFor(redis, other, { DEV_SECRETS_DIR: dir }, { waitMs: 1_000 });
      expect(kept.file).toBe(file);
      expect(kept.created).toBe(false);
      await kept.abandon();
    },
    120_000,
  );
});
