/**
 * The Redis inventory store's one-call paths: a reservation guessed from prices seen before and a
 * commit of the instance's own reservation are each one script call, checked by the script, and
 * every guess the state refutes falls back to reading it, with the same outcome as without a guess.
 */
import { Redis } from "ioredis";
import { expect, it, onTestFinished, vi } from "vitest";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamKey, FIELD_BODY } from "../../lib/bus/transports/redis-stream-keys.js";
import { provisionAclUsers } from "../../system/redis-acl.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { productKey } from "./keys.js";
import { RedisInventoryStore } from "./redis-store.js";
import { ops, product } from "./store-contract-support.js";

describeWithRedis("RedisInventoryStore one-call paths", (getRedis) => {
  const emitted = async (topic: string): Promise<unknown[]> => {
    const entries = await getRedis().client().xrange(eventStreamKey("inventory", topic), "-", "+");
    return entries.map(([, fields]) => decodeEnvelope(fields[fields.indexOf(FIELD_BODY) + 1] ?? "").payload);
  };

  it("reserves in one Redis call once it knows the prices, and commits its own reservation in one", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const op = ops(new RedisInventoryStore({ redis }));
    await op.add(product("kb", 100, 4999));
    await op.reserve("o-warm", [{ productId: "kb", quantity: 1 }]); // loads the scripts
    await op.commit("o-warm");
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      expect(await op.reserve("o1", [{ productId: "kb", quantity: 2 }])).toMatchObject({
        kind: "reserved",
        total: 9998,
      });
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
      sent.mockClear();
      expect(await op.commit("o1")).toEqual({ kind: "commit", items: [{ productId: "kb", quantity: 2 }] });
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
    } finally {
      sent.mockRestore();
    }
    expect(await redis.hmget(productKey("kb"), "available", "reserved", "committed")).toEqual([
      "97",
      "0",
      "3",
    ]);
    expect((await emitted("inventory.reserved")).at(-1)).toEqual({
      orderId: "o1",
      items: [{ productId: "kb", quantity: 2, unitPrice: 4999 }],
      total: 9998,
      currency: "USD",
    });
    expect((await emitted("inventory.committed")).at(-1)).toEqual({
      orderId: "o1",
      items: [{ productId: "kb", quantity: 2 }],
    });
  });

  it("reads each product hash once inside the reserve script and the reservation once inside the commit script (as the service's ACL user)", async () => {
    await getRedis().flush();
    const admin = getRedis().client();
    // The service's own Redis user: a command its ACL lacks fails the script (NOPERM).
    const { username, password } = (await provisionAclUsers(admin)).get("inventory")!;
    const redis = new Redis(getRedis().url, { username, password, maxRetriesPerRequest: 0 });
    onTestFinished(() => redis.disconnect());
    const op = ops(new RedisInventoryStore({ redis }));
    await op.add(product("kb", 100, 4999));
    await op.add(product("ms", 100, 2499));
    await op.reserve("o-warm", [{ productId: "kb", quantity: 1 }]); // loads the scripts, learns the prices
    await op.commit("o-warm");
    const lines = [
      { productId: "kb", quantity: 2 },
      { productId: "ms", quantity: 1 },
    ];
    const inScripts = async (work: () => Promise<unknown>) => {
      await admin.config("RESETSTAT");
      await work();
      const stats = await admin.info("commandstats");
      const calls = (name: string) =>
        Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return { hget: calls("hget"), hmget: calls("hmget"), hincrby: calls("hincrby") };
    };
    // The reservation's state, then per product one read of its stock, threshold and price.
    expect(
      await inScripts(async () => expect(await op.reserve("o1", lines)).toMatchObject({ kind: "reserved" })),
    ).toEqual({ hget: 1, hmget: 2, hincrby: 4 });
    // The reservation's state and items in one read.
    expect(
      await inScripts(async () => expect(await op.commit("o1")).toMatchObject({ kind: "commit" })),
    ).toEqual({
      hget: 0,
      hmget: 1,
      hincrby: 4,
    });
    expect(await admin.hmget(productKey("kb"), "available", "reserved", "committed")).toEqual([
      "97",
      "0",
      "3",
    ]);
    expect(await admin.hmget(productKey("ms"), "available", "reserved", "committed")).toEqual([
      "99",
      "0",
      "1",
    ]);
  });

  it("falls back to reading when the state refutes the guess: short stock, a threshold crossed, another price", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const op = ops(new RedisInventoryStore({ redis }));
    await op.add(product("p", 12, 100, 10));
    expect(await op.reserve("short", [{ productId: "p", quantity: 13 }])).toMatchObject({
      kind: "failed",
      reason: "out_of_stock",
    });
    expect(await op.reserve("low", [{ productId: "p", quantity: 3 }])).toMatchObject({
      kind: "reserved",
      lowStock: [{ productId: "p", available: 9, threshold: 10 }],
    });
    expect(await emitted("inventory.lowStock")).toEqual([{ productId: "p", available: 9, threshold: 10 }]);
    await redis.hset(productKey("p"), "price", 250); // behind the store's back: never done by the service
    expect(await op.reserve("priced", [{ productId: "p", quantity: 1 }])).toMatchObject({
      kind: "reserved",
      total: 250,
    });
    expect(await op.reserve("priced", [{ productId: "p", quantity: 1 }])).toEqual({
      kind: "duplicate",
      state: "reserved",
    });
    expect(await redis.hmget(productKey("p"), "available", "reserved")).toEqual(["8", "4"]);
  });

  it("commits a reservation another instance settled as a no-op, and emits one commit", async () => {
    await getRedis().flush();
    const mine = ops(new RedisInventoryStore({ redis: getRedis().client() }));
    const other = ops(new RedisInventoryStore({ redis: getRedis().client() }));
    await mine.add(product("p", 10, 100, 0));
    await mine.reserve("o1", [{ productId: "p", quantity: 1 }]);
    await mine.reserve("o2", [{ productId: "p", quantity: 1 }]);
    expect(await other.commit("o1")).toMatchObject({ kind: "commit" });
    expect(await mine.commit("o1")).toEqual({ kind: "noop", state: "committed" });
    expect(await other.release("o2")).toMatchObject({ kind: "release" });
    expect(await mine.commit("o2")).toEqual({ kind: "noop", state: "released" });
    expect(await emitted("inventory.committed")).toHaveLength(1);
    expect(await getRedis().client().hmget(productKey("p"), "available", "reserved", "committed")).toEqual([
      "9",
      "0",
      "1",
    ]);
  });
});
