/**
 * `npm start` (the whole system in one process, src/system/start-embedded.ts) with REDIS_URL set,
 * restarted over the same Redis: its development secrets are the per-Redis ones of
 * `npm run start:services` (.dev-secrets/, dev-secrets.ts), so the users of the previous start stay
 * readable (200, not 500 USER_DATA_UNREADABLE) and the email index still refuses a duplicate (409).
 * Before, every start made up new keys in memory, as start:services did before newuser F10. The
 * restart reaches the same Redis as `localhost` instead of `127.0.0.1` (newuser7 F5: the secrets
 * are found by the fingerprint Redis holds, not the URL's text), and a start with a directory
 * holding no matching file is refused in one line instead of making up new secrets.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import {
  bannerGateway,
  type ChildRun,
  exitWithin,
  killRuns,
  runEntryPoint,
} from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { DEV_SECRETS_FINGERPRINT_KEY, devSecretsPath } from "./dev-secrets.js";

const secretsDir = mkdtempSync(join(tmpdir(), "ordersaga-embedded-secrets-"));
afterAll(() => {
  killRuns();
  rmSync(secretsDir, { recursive: true, force: true });
});

// One node process compiling TypeScript on a shared 2-core machine.
const START_MS = 120_000;

async function startAndWait(env: Record<string, string>): Promise<{ run: ChildRun; gateway: string }> {
  const run = runEntryPoint("src/system/start-embedded.ts", [], {
    LOG_LEVEL: "warn",
    GATEWAY_PORT: "0",
    ...env,
  });
  return { run, gateway: await bannerGateway(run, START_MS) };
}

describeWithRedis("npm start over Redis, restarted over the same Redis", (getRedis) => {
  it(
    "reads the users of the previous start and still refuses their email",
    async () => {
      const env = { REDIS_URL: getRedis().url, DEV_SECRETS_DIR: secretsDir };
      const email = `embedded-restart-${randomUUID()}@example.com`;
      const first = await startAndWait(env);
      // Up: the fingerprint's claim (a lease while it started) is permanent.
      expect(await getRedis().client().pttl(DEV_SECRETS_FINGERPRINT_KEY)).toBe(-1);
      const created = await createApiClient(first.gateway).post<{ id: string }>("/users", {
        email,
        name: "Ada",
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      first.run.child.kill("SIGTERM");
      expect(await exitWithin(first.run, 60_000)).toBe(0);

      const otherSpelling = getRedis().url.replace("127.0.0.1", "localhost");
      expect(otherSpelling).not.toBe(getRedis().url);
      const second = await startAndWait({ ...env, REDIS_URL: otherSpelling });
      const api = createApiClient(second.gateway);
      const read = await api.get<{ id: string; email: string }>(`/users/${created.body.id}`);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.email).toBe(email);
      const again = await api.post("/users", { email, name: "Ada 2" });
      expect(again.status, JSON.stringify(again.body)).toBe(409);
      expect(existsSync(devSecretsPath(getRedis().url, { DEV_SECRETS_DIR: secretsDir }))).toBe(true);
      expect(second.run.output()).toMatch(/development secrets reused: /);
      expect(second.run.output()).toContain(devSecretsPath(getRedis().url, { DEV_SECRETS_DIR: secretsDir }));
      // Another npm start over the same Redis while this one runs: refused, naming what runs
      // (break-svc7 F4: it joined the running system's consumer groups with a second gateway).
      const joining = runEntryPoint("src/system/start-embedded.ts", [], {
        LOG_LEVEL: "warn",
        GATEWAY_PORT: "0",
        ...env,
      });
      expect(await exitWithin(joining, START_MS)).toBe(1);
      expect(joining.output()).toMatch(/an Ordersaga system is already running over /);
      expect(joining.output()).toContain(second.gateway.replace("localhost", "127.0.0.1"));
      second.run.child.kill("SIGTERM");
      expect(await exitWithin(second.run, 60_000)).toBe(0);

      // A checkout without the file (another DEV_SECRETS_DIR, git clean -xfd): refused, one line.
      const emptyDir = mkdtempSync(join(tmpdir(), "ordersaga-embedded-secrets-empty-"));
      try {
        const third = runEntryPoint("src/system/start-embedded.ts", [], {
          LOG_LEVEL: "warn",
          GATEWAY_PORT: "0",
          ...env,
          DEV_SECRETS_DIR: emptyDir,
        });
        expect(await exitWithin(third, START_MS)).toBe(1);
        expect(third.output()).toMatch(/could not start: .*holds data written with development secrets/);
        expect(third.output()).not.toMatch(/\n\s+at /);
        expect(readdirSync(emptyDir)).toEqual([]);
      } finally {
        rmSync(emptyDir, { recursive: true, force: true });
      }
    },
    START_MS * 2 + 120_000,
  );

  it(
    "lets only one of two npm starts begun at once over an empty Redis come up (break-late7 F2)",
    async () => {
      // Neither is registered yet when the other checks: the launcher slot decides.
      const env = {
        REDIS_URL: `${getRedis().url}/1`,
        DEV_SECRETS_DIR: secretsDir,
        LOG_LEVEL: "warn",
        GATEWAY_PORT: "0",
      };
      const runs = [0, 1].map(() => runEntryPoint("src/system/start-embedded.ts", [], env));
      const up = (run: ChildRun) => /Ordersaga is up/.test(run.output());
      // One exits refused; then the other must be (or come) up.
      const refused = await Promise.race(
        runs.map(async (run) => ((await exitWithin(run, START_MS)) === 1 ? run : undefined)),
      );
      expect(refused, runs.map((r) => r.output()).join("\n---\n")).toBeDefined();
      expect(refused!.output()).toMatch(/holds slot "main"|an Ordersaga system is already running/);
      const other = runs.find((run) => run !== refused)!;
      await bannerGateway(other, START_MS);
      expect(up(refused!)).toBe(false);
      other.child.kill("SIGTERM");
      expect(await exitWithin(other, 60_000)).toBe(0);
    },
    START_MS * 2 + 60_000,
  );
});
