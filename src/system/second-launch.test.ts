/**
 * Break10 F1 and F3, with real processes (`npm run start:services` as a child, over a real Redis):
 * - a second launch over the same Redis is refused before it starts anything, saying what runs; the
 *   first system is unaffected (registry unchanged, orders still complete). It used to take the
 *   running processes' instance ids and consumer names with other secrets (403s, dead letters).
 * - `--add-instances` without the running system's secrets, or with other signing keys, is refused
 *   (it could not join it).
 * - a child killed with SIGKILL after start is restarted by the launcher with the same environment:
 *   registered again under its instance id, reading the users written before, orders complete.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import {
  bannerGateway,
  type ChildRun,
  exitWithin,
  killRuns,
  runEntryPoint,
} from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { Keyring } from "../lib/security/keyring.js";
import { devSecretsPath, readSettings } from "./dev-secrets-files.js";
import { SIGNING_KEY_OWNERS } from "./signing-key-distribution.js";
import { waitFor } from "../test-support/wait.js";

const startServices = (args: string[], env: Record<string, string>): ChildRun =>
  runEntryPoint("src/system/start-services.ts", args, { LOG_LEVEL: "warn", ...env });

/** The launcher's child running `service` (its environment says which). */
function childPidOf(launcherPid: number, service: string): number | undefined {
  const children = readFileSync(`/proc/${launcherPid}/task/${launcherPid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  return children.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`SERVICE_NAME=${service}`);
    } catch {
      return false;
    }
  });
}

afterAll(killRuns);

// Seven node processes compiling TypeScript on a shared 2-core machine: minutes, not seconds.
const START_MS = 240_000;

describeWithRedis("npm run start:services over a Redis where a system runs", (getRedis) => {
  let first: ChildRun;
  let gatewayUrl = "";
  const registry = () => new RedisServiceRegistry({ redis: getRedis().client() });
  const snapshot = async () =>
    (await registry().list())
      .filter((i) => i.service !== "gateway")
      .map((i) => `${i.service} ${i.instanceId} ${i.address}:${i.port}`)
      .sort();

  async function placeAndComplete(userId: string, productId: string): Promise<string> {
    const api = createApiClient(gatewayUrl);
    const placed = await api.post<{ orderId: string }>("/orders", {
      userId,
      items: [{ productId, quantity: 1 }],
      payment: { token: "tok_ok" },
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    return waitFor(
      async () => {
        const res = await api.get<{ status: string }>(`/orders/${placed.body.orderId}`);
        return ["shipped", "delivered", "failed", "cancelled"].includes(res.body.status)
          ? res.body.status
          : undefined;
      },
      90_000,
      `order ${placed.body.orderId} terminal`,
    );
  }

  it(
    "refuses a second launch, leaves the first system as it was, and restarts a killed child",
    async () => {
      const env = { REDIS_URL: getRedis().url, HEARTBEAT_INTERVAL_MS: "1000" };
      first = startServices(["--any-port"], env);
      gatewayUrl = await bannerGateway(first, START_MS, "the first system's banner");
      const api = createApiClient(gatewayUrl);
      const user = await api.post<{ id: string }>("/users", {
        email: `second-${randomUUID()}@example.com`,
        name: "Second Launch",
      });
      expect(user.status).toBe(201);
      const productId = `prod-${randomUUID().slice(0, 8)}`;
      expect(
        (await api.post("/inventory", { productId, name: "guard", price: 100, quantity: 100 })).status,
      ).toBe(201);
      const before = await snapshot();
      expect(before.length).toBeGreaterThanOrEqual(6);

      // The second launch, as the old port-in-use advice said: refused, nothing started.
      const second = startServices(["--any-port"], env);
      expect(await exitWithin(second, 60_000)).toBe(1);
      expect(second.output()).toContain(`an Ordersaga system is already running over ${getRedis().url}`);
      expect(second.output()).toMatch(/user\s+user-\S+\s+http:\/\/127\.0\.0\.1:\d+/);
      expect(second.output()).toContain("--add-instances");
      expect(second.output()).not.toMatch(/^\[(user|order|gateway)/m); // no process of its own
      // Adding instances with secrets of its own could not join the system: refused too.
      const adding = startServices(["--any-port", "--add-instances", "--instances", "order=1"], env);
      expect(await exitWithin(adding, 60_000)).toBe(1);
      expect(adding.output()).toMatch(/--add-instances: set GATEWAY_SHARED_SECRET, BUS_SIGNING_KEYS/);
      // The running system's secrets but other signing keys (newuser10 F0: the added processes
      // signed with key ids the system did not know and orders failed): refused in one line.
      const secrets = readSettings(
        devSecretsPath(getRedis().url, {
          DEV_SECRETS_DIR: join(tmpdir(), "ordersaga-test-dev-secrets"),
          ...process.env,
        }),
      );
      const otherKeys = Keyring.generate(SIGNING_KEY_OWNERS).serialize();
      const wrongKeys = startServices(["--any-port", "--add-instances", "--instances", "order=1"], {
        ...env,
        ...secrets,
        BUS_SIGNING_KEYS: otherKeys,
      });
      expect(await exitWithin(wrongKeys, 60_000)).toBe(1);
      expect(wrongKeys.output()).toMatch(
        /--add-instances: these signing keys are not the running system's: \w+ \(\S+\) signs with key id "[\w-]+"/,
      );
      expect(wrongKeys.output()).not.toMatch(/^\[order/m); // nothing started
      // A rotation's step 2 before its step 1 (newuser14 F2): a new order key first, the running one
      // kept after it, but no running process holds the new one: orders signed with it would fail.
      const newFirst = startServices(["--any-port", "--add-instances", "--instances", "order=1"], {
        ...env,
        ...secrets,
        BUS_SIGNING_KEYS: `order:order-new:${randomBytes(32).toString("base64")},${secrets.BUS_SIGNING_KEYS}`,
      });
      expect(await exitWithin(newFirst, 60_000)).toBe(1);
      expect(newFirst.output()).toMatch(
        /--add-instances: order would sign with key id "order-new", which the running \w+ \(\S+\) does not hold/,
      );
      expect(newFirst.output()).not.toMatch(/^\[order/m);

      expect(await snapshot()).toEqual(before);
      expect(await placeAndComplete(user.body.id, productId)).toMatch(/shipped|delivered/);

      // F3: kill -9 the user process; the launcher starts it again with the same keys.
      const victim = childPidOf(first.child.pid!, "user");
      expect(victim).toBeDefined();
      const userInstance = before.find((line) => line.startsWith("user "))!.split(" ")[1];
      process.kill(victim!, "SIGKILL");
      await waitFor(
        () => /\[user\s*\] restarted: up at/.test(first.output()),
        START_MS,
        "the user process restarted",
        100,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${first.output().slice(-3000)}`);
      });
      expect(first.output()).toMatch(/\[user\s*\] restarting in \d+ ms/);
      const replacement = childPidOf(first.child.pid!, "user");
      expect(replacement).toBeDefined();
      expect(replacement).not.toBe(victim);
      // Registered again under the same instance id, at its new address.
      await waitFor(
        async () => {
          const users = (await snapshot()).filter((line) => line.startsWith("user "));
          return users.length === 1 && users[0]!.split(" ")[1] === userInstance;
        },
        30_000,
        "the user instance registered again",
      );
      // It reads the users written before its death (the same data keys) and validates new orders.
      await waitFor(
        async () => (await api.get(`/users/${user.body.id}`)).status === 200,
        30_000,
        "the user read through the restarted process",
      );
      expect(await placeAndComplete(user.body.id, productId)).toMatch(/shipped|delivered/);
    },
    START_MS * 2 + 300_000,
  );
});
