/**
 * The launcher's slot claim (break10 F1): launchers over one Redis on one host never share a slot,
 * so processes they add never share an instance id or consumer name; a slot is held while renewed
 * and free again once released or once its lease ran out (a launcher killed with -9).
 */
import { expect, it } from "vitest";
import { startTestGateway } from "../gateway/test-upstream.js";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import {
  claimLauncherSlot,
  DEFAULT_SLOT,
  findRunningInstances,
  launcherSlotKey,
  runningSystemMessage,
  SlotTakenError,
} from "./launch-guard.js";
import { planProcesses } from "./launcher.js";

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
