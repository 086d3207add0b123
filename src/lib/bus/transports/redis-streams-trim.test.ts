import { afterEach, expect, it, vi } from "vitest";
import { AllEvents } from "../../../contracts/catalog.js";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { eventStreamKey, redeliverStreamKey } from "./redis-stream-keys.js";
import { ownedStreamKeys, type StaleGroup, StreamTrimmer } from "./redis-streams-trim.js";
import { uniqueName } from "./transport-contract.js";

const HOUR_MS = 3_600_000;

describeWithRedis("StreamTrimmer", (getRedis) => {
  /** Appends entries with explicit ids `<ms>-<n>`, as a store's outbox script would (no group). */
  const append = async (key: string, ms: number, count: number) => {
    const redis = getRedis().client();
    for (let n = 1; n <= count; n++) await redis.xadd(key, `${ms}-${n}`, "b", `${ms}:${n}`);
  };

  it("covers every stream of the events a service owns, also those only its outbox writes", () => {
    const keys = ownedStreamKeys(AllEvents, "order");
    expect(keys).toContain(eventStreamKey("order", "order.placed"));
    expect(keys).toContain(eventStreamKey("order", "order.shipment.prepared"));
    expect(keys).toContain(redeliverStreamKey("order"));
    expect(keys.every((k) => k.startsWith("{order}:"))).toBe(true);
    expect(ownedStreamKeys(AllEvents, "notification")).toContain(
      eventStreamKey("notification", "notification.sent"),
    );
  });

  it("lists the redeliver streams of the groups named, for a library program whose group is not named as the owner", () => {
    // break29 F1: the README's program (owner "shop", group "shop-readers") trims both.
    expect(ownedStreamKeys(AllEvents, "order", ["order-readers"])).toEqual([
      ...ownedStreamKeys(AllEvents, "order").filter((k) => k !== redeliverStreamKey("order")),
      redeliverStreamKey("order-readers"),
    ]);
  });

  /** Epoch ms on Redis's clock, the clock entry ids are made of. */
  const redisNow = async () => {
    const [seconds, micros] = await getRedis().client().time();
    return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
  };

  afterEach(() => {
    vi.restoreAllMocks();
  });

  // Run with this host's clock two hours ahead: the window is Redis's, so nothing recent goes.
  it("drops what is older than the window from a stream no group reads, and keeps the rest, on Redis's clock", async () => {
    const key = eventStreamKey(uniqueName("owner"), "thing.happened");
    const now = await redisNow();
    await append(key, now - 3 * HOUR_MS, 300);
    await append(key, now - 60_000, 5);
    const trimmer = new StreamTrimmer({
      redis: getRedis().client(),
      keys: [key],
      retentionMs: HOUR_MS,
      maxLenWithoutGroups: 0,
      intervalMs: 0,
    });
    const hostNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => hostNow() + 2 * HOUR_MS);
    const removed = await trimmer.trimOnce();
    const left = await getRedis().client().xrange(key, "-", "+");
    // Approximate trimming removes whole nodes: every recent entry stays, most old ones go.
    expect(left.map(([id]) => id).slice(-5)).toEqual([1, 2, 3, 4, 5].map((n) => `${now - 60_000}-${n}`));
    expect(removed).toBeGreaterThanOrEqual(200);
    expect(removed + left.length).toBe(305);
    await trimmer.stop();
  });

  it("never removes an entry a group has pending or not yet read, whatever its age", async () => {
    const key = eventStreamKey(uniqueName("owner"), "thing.happened");
    const redis = getRedis().client();
    await append(key, 1_000, 6);
    await redis.xgroup("CREATE", key, "g", "0");
    await redis.xreadgroup("GROUP", "g", "c", "COUNT", 3, "STREAMS", key, ">");
    await redis.xack(key, "g", "1000-1");
    const trimmer = new StreamTrimmer({
      redis,
      keys: [key],
      retentionMs: 1,
      maxLenWithoutGroups: 1,
      intervalMs: 0,
    });
    expect(await trimmer.trimOnce()).toBe(1);
    expect((await redis.xrange(key, "-", "+")).map(([id]) => id)).toEqual(
      [2, 3, 4, 5, 6].map((n) => `1000-${n}`),
    );
    await redis.xack(key, "g", "1000-2", "1000-3");
    expect(await trimmer.trimOnce()).toBe(2);
    expect(await redis.xlen(key)).toBe(3);
    await trimmer.stop();
  });

  // newuser10 F1: a tried-out example's group, left behind, kept every later entry, silently.
  it("reports a group that reads nothing while entries wait for it, once, and not a group that keeps up", async () => {
    const key = eventStreamKey(uniqueName("owner"), "thing.happened");
    const redis = getRedis().client();
    await append(key, 1_000, 2);
    await redis.xgroup("CREATE", key, "abandoned", "0");
    await redis.xgroup("CREATE", key, "reading", "$");
    await redis.xadd(key, "*", "b", "new");
    await redis.xreadgroup("GROUP", "reading", "c", "STREAMS", key, ">");
    // A group that read everything long ago, and nothing came since: nothing waits for it.
    const quiet = eventStreamKey(uniqueName("owner"), "thing.happened");
    await append(quiet, 1_000, 2);
    await redis.xgroup("CREATE", quiet, "caught-up", "$");
    const stale: StaleGroup[] = [];
    const trimmer = new StreamTrimmer({
      redis,
      keys: [key, quiet],
      retentionMs: HOUR_MS,
      maxLenWithoutGroups: 0,
      intervalMs: 0,
      staleGroupMs: 60_000,
      onStaleGroup: (group) => stale.push(group),
    });
    // Reported once seen behind at the same entry on two passes, then not again within the hour.
    for (let pass = 0; pass < 3; pass++) await trimmer.trimOnce();
    await trimmer.stop();
    expect(stale).toEqual([{ stream: key, group: "abandoned", lag: 3, idleMs: expect.any(Number) }]);
    expect(stale[0]!.idleMs).toBeGreaterThan(60_000);
    // Its entries are all still there: the report is the only sign of the growth.
    expect(await redis.xlen(key)).toBe(3);
  });

  it("trims on its interval without being asked", async () => {
    const key = eventStreamKey(uniqueName("owner"), "thing.happened");
    await append(key, 1_000, 150);
    const trimmer = new StreamTrimmer({
      redis: getRedis().client(),
      keys: [key],
      retentionMs: HOUR_MS,
      maxLenWithoutGroups: 0,
      intervalMs: 50,
    });
    await waitFor(async () => (await getRedis().client().xlen(key)) === 0, 10_000, "the old entries gone");
    await trimmer.stop();
  });
});
