/**
 * The first development start over a Redis, against one real Redis (break-late7 F1, F3, F7): two
 * starts racing on an empty Redis agree on one set of secrets that the file on disk holds; a Redis
 * holding data but no fingerprint (written before the fingerprint existed) reuses the URL's own
 * file or is refused, never given new secrets; a fingerprint alone (a first start that died at
 * once) does not lock other checkouts out.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import {
  DEV_SECRETS_FINGERPRINT_KEY,
  DevSecretsMismatchError,
  devSecretsFingerprint,
  devSecretsFor,
  devSecretsPath,
  type FingerprintStore,
} from "./dev-secrets.js";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "dev-secrets-first-"));
  dirs.push(dir);
  return dir;
};
const clients: Redis[] = [];
afterAll(() => {
  killRuns();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The secrets a file holds (NAME=value lines). */
function fileSettings(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match) out[match[1]!] = match[2]!;
  }
  return out;
}

describeWithRedis("the first development start over a Redis", (getRedis) => {
  const connect = () => {
    const client = new Redis(getRedis().url);
    clients.push(client);
    return client;
  };
  beforeEach(() => getRedis().flush());
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  it("racing on an empty Redis (separate processes), leaves on disk the secrets its fingerprint names, and every start uses them (F1)", async () => {
    const url = getRedis().url;
    const redis = connect();
    // Several rounds: each is a race of three processes released together (the write-before-NX
    // defect lost about two races in three).
    for (const round of [1, 2, 3]) {
      await redis.flushdb();
      const env = { DEV_SECRETS_DIR: freshDir() };
      const barrier = `dev-secrets-race:${round}`;
      const runs = [1, 2, 3].map(() =>
        runEntryPoint("src/system/dev-secrets.race-child.ts", [], {
          ...env,
          REDIS_URL: url,
          RACE_BARRIER_KEY: barrier,
          LOG_LEVEL: "warn",
        }),
      );
      await waitFor(
        async () =>
          ((await redis.client("LIST")) as string).split("\n").filter((l) => l.includes("cmd=blpop"))
            .length === 3,
        60_000,
        "three starts blocked at the barrier",
      );
      await redis.lpush(barrier, "go", "go", "go");
      for (const run of runs) expect(await exitWithin(run, 60_000), run.output()).toBe(0);
      const fingerprint = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
      const file = devSecretsPath(url, env);
      expect(readdirSync(env.DEV_SECRETS_DIR)).toEqual([basename(file)]);
      expect(devSecretsFingerprint(fileSettings(file)), `round ${round}`).toBe(fingerprint);
      const outcomes = runs.map((run) => JSON.parse(run.output().trim().split("\n").pop()!));
      for (const outcome of outcomes)
        expect(outcome, `round ${round}`).toEqual({
          ok: true,
          created: expect.any(Boolean),
          gateway: fileSettings(file).GATEWAY_SHARED_SECRET,
        });
      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    }
  }, 240_000);

  it("with data but no fingerprint, reuses the URL's own file and records its fingerprint, though another file matches no spelling (F3)", async () => {
    const env = { DEV_SECRETS_DIR: freshDir() };
    const url = getRedis().url;
    const redis = connect();
    const first = await devSecretsFor(redis, url, env);
    await redis.xadd("{user}:ev:user.created", "*", "sealed", "with the first secrets");
    await redis.del(DEV_SECRETS_FINGERPRINT_KEY);
    // Another spelling first: no file of its own and data present: refused, nothing made up.
    const other = url.replace("127.0.0.1", "localhost");
    const refused = devSecretsFor(redis, other, env);
    await expect(refused).rejects.toBeInstanceOf(DevSecretsMismatchError);
    await expect(refused).rejects.toThrow(/holds data but no development-secrets fingerprint/);
    await expect(refused).rejects.toThrow(/FLUSHDB/);
    expect(existsSync(devSecretsPath(other, env))).toBe(false);
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBeNull();
    // The URL's own file: reused, its fingerprint recorded, so every spelling then finds it.
    const again = await devSecretsFor(redis, url, env);
    expect(again.created).toBe(false);
    expect(again.settings).toEqual(first.settings);
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(
      devSecretsFingerprint(fileSettings(first.file)),
    );
    expect((await devSecretsFor(redis, other, env)).settings).toEqual(first.settings);
  }, 30_000);

  it("with a fingerprint and launcher slots only (a first start that died at once), lets another checkout start and replaces it (F7)", async () => {
    const url = getRedis().url;
    const redis = connect();
    const stale = devSecretsFingerprint({ USER_DATA_KEYS: "from-a-start-that-died" });
    await redis.set(DEV_SECRETS_FINGERPRINT_KEY, stale);
    await redis.set("ordersaga:launcher:slot:somehost:main", "token", "PX", 15_000);
    const env = { DEV_SECRETS_DIR: freshDir() };
    const kept = await devSecretsFor(redis, url, env);
    expect(kept.created).toBe(true);
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(devSecretsFingerprint(fileSettings(kept.file)));
    // A claimed fingerprint whose file appears meanwhile (a start between its claim and its file):
    // that file is used, the fingerprint kept (replacing it left two starts with two secrets).
    await redis.flushdb();
    const inProgress = { DEV_SECRETS_DIR: freshDir() };
    const theirs = await devSecretsFor(redis, url, inProgress);
    const theirFingerprint = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
    const theirText = readFileSync(theirs.file, "utf8");
    rmSync(theirs.file);
    // The file appears once the start has seen the claim (its PTTL) and no file matching it.
    let sawClaim!: () => void;
    const claimSeen = new Promise<void>((resolve) => (sawClaim = resolve));
    const store = new Proxy(redis, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== "function") return value;
        const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
        if (prop !== "pttl") return method;
        return async (...args: unknown[]) => {
          const ttl = await method(...args);
          sawClaim();
          return ttl;
        };
      },
    }) as unknown as FingerprintStore;
    const waiting = devSecretsFor(store, url, inProgress);
    await claimSeen;
    // Under another spelling's name (as a start over `localhost` writes it), so only the wait finds it.
    writeFileSync(join(inProgress.DEV_SECRETS_DIR, "localhost_1_db0.env"), theirText, { mode: 0o600 });
    expect((await waiting).settings).toEqual(theirs.settings);
    expect(await redis.get(DEV_SECRETS_FINGERPRINT_KEY)).toBe(theirFingerprint);
    // Their system up: the fingerprint permanent.
    await theirs.confirm();
    expect(await redis.pttl(DEV_SECRETS_FINGERPRINT_KEY)).toBe(-1);
    // With data besides it, the same fingerprint still refuses a checkout without its file.
    await redis.xadd("{order}:ev:order.placed", "*", "k", "v");
    await expect(devSecretsFor(redis, url, { DEV_SECRETS_DIR: freshDir() })).rejects.toBeInstanceOf(
      DevSecretsMismatchError,
    );
  }, 30_000);
});

it("keeps the test helpers honest", () => {
  const dir = freshDir();
  writeFileSync(join(dir, "x.env"), "A_B=c\n");
  expect(fileSettings(join(dir, "x.env"))).toEqual({ A_B: "c" });
});
