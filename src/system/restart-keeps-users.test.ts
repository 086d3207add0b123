/**
 * Newuser F10, with real processes (`npm run start:services` as a child, over a real Redis): the
 * launcher's made-up development secrets are kept per Redis, so a restart over the same Redis
 * reads the users of the previous run (200, not 500 "unknown key id") and the email index still
 * refuses a duplicate (409). They used to be made up anew on every launch. The restart reaches the
 * same Redis as `localhost` instead of `127.0.0.1`: the secrets are found by the fingerprint Redis
 * holds, not by the URL's text (newuser7 F5: the other spelling made up new secrets silently).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
import { waitFor } from "../test-support/wait.js";
import { DEV_SECRETS_FINGERPRINT_KEY, devSecretsPath } from "./dev-secrets.js";

const secretsDir = mkdtempSync(join(tmpdir(), "ordersaga-dev-secrets-"));
afterAll(() => {
  killRuns();
  rmSync(secretsDir, { recursive: true, force: true });
});

// Seven node processes compiling TypeScript on a shared 2-core machine: minutes, not seconds.
const START_MS = 240_000;

async function startAndWait(env: Record<string, string>): Promise<{ run: ChildRun; gateway: string }> {
  const run = runEntryPoint("src/system/start-services.ts", ["--any-port"], { LOG_LEVEL: "warn", ...env });
  return { run, gateway: await bannerGateway(run, START_MS) };
}

describeWithRedis("npm run start:services restarted over the same Redis", (getRedis) => {
  it(
    "reads the users of the previous run and still refuses their email",
    async () => {
      const env = { REDIS_URL: getRedis().url, DEV_SECRETS_DIR: secretsDir, HEARTBEAT_INTERVAL_MS: "1000" };
      const email = `restart-${randomUUID()}@example.com`;
      const first = await startAndWait(env);
      // Up: the fingerprint's claim (a lease while it started) is permanent.
      expect(await getRedis().client().pttl(DEV_SECRETS_FINGERPRINT_KEY)).toBe(-1);
      const created = await createApiClient(first.gateway).post<{ id: string }>("/users", {
        email,
        name: "Grace",
      });
      expect(created.status).toBe(201);
      first.run.child.kill("SIGTERM");
      expect(await exitWithin(first.run, 120_000)).toBe(0);

      const otherSpelling = getRedis().url.replace("127.0.0.1", "localhost");
      expect(otherSpelling).not.toBe(getRedis().url);
      const second = await startAndWait({ ...env, REDIS_URL: otherSpelling });
      const api = createApiClient(second.gateway);
      const read = await api.get<{ id: string; email: string }>(`/users/${created.body.id}`);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.email).toBe(email);
      const again = await api.post("/users", { email, name: "Grace 2" });
      expect(again.status, JSON.stringify(again.body)).toBe(409);
      // F11: instances added with the kept secrets (README: load the file) join it; their banner
      // names no gateway of its own (it printed "try: curl undefined/inventory").
      const kept = Object.fromEntries(
        readFileSync(devSecretsPath(getRedis().url, { DEV_SECRETS_DIR: secretsDir }), "utf8")
          .split("\n")
          .flatMap((line) =>
            /^[A-Z_]+=/.test(line)
              ? [[line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]]
              : [],
          ),
      ) as Record<string, string>;
      const added = runEntryPoint(
        "src/system/start-services.ts",
        ["--add-instances", "--any-port", "--instances", "order=1"],
        {
          LOG_LEVEL: "warn",
          ...env,
          ...kept,
        },
      );
      await waitFor(() => /Ordersaga is up/.test(added.output()), START_MS, "the added banner", 100).catch(
        (error: Error) => {
          throw new Error(`${error.message}\n${added.output().slice(-3000)}`);
        },
      );
      await waitFor(
        () => /use the running system's gateway/.test(added.output()),
        10_000,
        "the banner's end",
      );
      expect(added.output()).not.toContain("undefined");
      // Each launch says where the secrets are kept.
      expect(first.run.output()).toMatch(/development secrets made up and kept: /);
      expect(second.run.output()).toMatch(/development secrets reused: /);
      expect(second.run.output()).toContain(devSecretsPath(getRedis().url, { DEV_SECRETS_DIR: secretsDir }));
    },
    START_MS * 3 + 180_000,
  );
});
