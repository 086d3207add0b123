/**
 * The launcher's slot claim (break10 F1): launchers over one Redis on one host never share a slot,
 * so processes they add never share an instance id or consumer name; a slot is held while renewed
 * and free again once released or once its lease ran out (a launcher killed with -9).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { startTestGateway, startTestUpstream } from "../gateway/test-upstream.js";
import type { EventRegistry } from "../lib/bus/events.js";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { type RunningService, signingKeyMetadata, startService } from "../lib/runtime/service-host.js";
import { Keyring } from "../lib/security/keyring.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { applyDevSecrets, SystemRunningError } from "./dev-secrets-start.js";
import {
  claimLauncherSlot,
  DEFAULT_SLOT,
  findRunningInstances,
  findRunningProcesses,
  launcherSlotKey,
  runningSystemMessage,
  signingKeysMismatch,
  SlotTakenError,
} from "./launch-guard.js";
import { planProcesses } from "./launcher.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "launch-guard-"));
  dirs.push(dir);
  return dir;
};

describeWithRedis("the launcher's slot claim", (getRedis) => {
  it("gives concurrent adders distinct slots, refuses a second default launcher, frees slots on release", async () => {
    const redis = getRedis().client();
    const host = `host-${Date.now()}`;
    const main = await claimLauncherSlot(redis, { add: false, host });
    expect(main).toMatchObject({ slot: DEFAULT_SLOT, prefix: undefined });
    await expect(claimLauncherSlot(redis, { add: false, host })).rejects.toBeInstanceOf(SlotTakenError);

    const added = await Promise.all(
      Array.from({ length: 5 }, () => claimLauncherSlot(redis, { add: true, host })),
    );
    const prefixes = added.map((c) => c.prefix);
    expect(new Set(prefixes).size).toBe(5);
    // Their processes' instance slots: none in common with each other or with the main launcher's.
    const slotsOf = (prefix: string | undefined) =>
      planProcesses({ redisUrl: "redis://r:6379", ...(prefix ? { slotPrefix: prefix } : {}) })
        .filter((s) => s.label !== "gateway")
        .map((s) => `${s.env.SERVICE_NAME}:${s.env.INSTANCE_SLOT}`);
    const all = [undefined, ...prefixes].flatMap(slotsOf);
    expect(new Set(all).size).toBe(all.length);

    await added[0]!.release();
    const again = await claimLauncherSlot(redis, { add: true, host });
    expect(again.prefix).toBe(added[0]!.prefix);
    await main.release();
    const next = await claimLauncherSlot(redis, { add: false, host });
    expect(next.slot).toBe(DEFAULT_SLOT);
    for (const c of [...added.slice(1), again, next]) await c.release();
  });

  it("keeps a slot while renewed and frees it when the lease runs out", async () => {
    const redis = getRedis().client();
    const host = `lease-${Date.now()}`;
    // A lease of 2 s renewed every 667 ms: a loaded CI machine stalled the 600 ms lease of an earlier
    // version of this test past its expiry once (the slot was gone at 1.5 s).
    const held = await claimLauncherSlot(redis, { add: false, host, leaseMs: 2_000 });
    // Still held well past one lease.
    const until = Date.now() + 4_500;
    await waitFor(async () => Date.now() > until, 15_000, "4.5 s", 100);
    expect(await redis.exists(launcherSlotKey(host, DEFAULT_SLOT))).toBe(1);
    // Every claim is a lease: a launcher killed with -9 stops renewing and its slot expires.
    await redis.set(launcherSlotKey(host, "add1"), "a launcher killed with -9", "PX", 300);
    const during = await claimLauncherSlot(redis, { add: true, host });
    expect(during.slot).toBe("add2");
    await waitFor(async () => (await redis.exists(launcherSlotKey(host, "add1"))) === 0, 10_000, "expiry");
    const after = await claimLauncherSlot(redis, { add: true, host });
    expect(after.slot).toBe("add1");
    await held.release();
    expect(await redis.exists(launcherSlotKey(host, DEFAULT_SLOT))).toBe(0);
    for (const c of [during, after]) await c.release();
  });

  // New-user F9: the probe was /health/live, which the gateway does not serve (404): the refusal
  // never listed the gateway nor said "use it (gateway <url>)".
  it("finds a running gateway and names its URL in the refusal", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const gw = await startTestGateway({ registry: new RedisServiceRegistry({ redis }) });
    try {
      const running = await findRunningInstances(redis);
      expect(running.map((i) => i.service)).toContain("gateway");
      expect(runningSystemMessage("redis://r", running)).toContain(`use it (gateway ${gw.url})`);
    } finally {
      await gw.stop();
    }
  });
});

describeWithRedis("the running-system check, with services of one's own", (getRedis) => {
  // newuser17 F2: a service of one's own (README step 4: examples/loyalty "next to a running system"),
  // a real process registered in the Redis, made `npm run start:services` refuse ("an Ordersaga
  // system is already running") and --add-instances refuse its signing key. Its instance ids and
  // consumer groups are its own: it is not a system.
  const orderKey = { service: "order", kid: "order-1", secret: randomBytes(32) };
  const systemKeys = new Keyring([orderKey]);
  /** A service of one's own, `rewards`, signing with its key "rk1" and verifying order's events. */
  async function startOwnService(url: string): Promise<{ service: RunningService; stop(): Promise<void> }> {
    const platform = createRedisPlatform({ url });
    const service = await startService(
      { name: "rewards", version: "1.0.0", create: () => ({}) },
      {
        events: {} as EventRegistry,
        platform,
        port: 0,
        host: "127.0.0.1",
        keyring: new Keyring([{ service: "rewards", kid: "rk1", secret: randomBytes(32) }, orderKey]),
        logger: createLogger({ service: "rewards", level: "silent" }),
      },
    );
    return {
      service,
      stop: async () => {
        await service.stop();
        await platform.close();
      },
    };
  }

  it("finds no running system where only a service of one's own answers, and a launch names it without refusing", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const own = await startOwnService(getRedis().url);
    try {
      await waitFor(
        async () => (await new RedisServiceRegistry({ redis }).list("rewards")).length === 1,
        30_000,
        "rewards registered",
      );
      expect(await findRunningInstances(redis)).toEqual([]);
      const said: string[] = [];
      const applied = await applyDevSecrets(redis, getRedis().url, {
        timeoutMs: 10_000,
        env: { DEV_SECRETS_DIR: freshDir() },
        print: (line) => said.push(line),
      }).catch((error: unknown) => error);
      expect(applied).not.toBeInstanceOf(SystemRunningError);
      expect(applied).not.toBeInstanceOf(Error);
      expect(said.join("\n")).toContain(`rewards      ${own.service.instanceId}`);
    } finally {
      await own.stop();
    }
  });

  it("checks --add-instances' keys against the system's processes: a service of one's own signing with a key of its own passes", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const registry = new RedisServiceRegistry({ redis });
    // A process of the system: order, advertising the key it signs with.
    const order = await startTestUpstream(registry, "order", "order-h-1");
    await registry.register({ ...order.instance, ...signingKeyMetadata(systemKeys, "order") }, 60_000);
    const own = await startOwnService(getRedis().url);
    try {
      await waitFor(async () => (await registry.list("rewards")).length === 1, 30_000, "rewards registered");
      const { system, others } = await findRunningProcesses(redis);
      expect(system.map((i) => i.service)).toEqual(["order"]);
      expect(others.map((i) => i.service)).toEqual(["rewards"]);
      // What start:services compares: every answering process. The system's keys (what its
      // development-secrets file holds) are accepted, though rewards signs with "rk1".
      const running = [...system, ...others];
      expect(signingKeysMismatch(running, systemKeys)).toBeUndefined();
      // Other keys for the system's order are still refused.
      const other = new Keyring([{ service: "order", kid: "order-1", secret: randomBytes(32) }]);
      expect(signingKeysMismatch(running, other)).toMatch(/which they hold with another secret/);
    } finally {
      await own.stop();
      await order.close();
    }
  });
});
