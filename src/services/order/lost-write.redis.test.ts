/**
 * Redis losing its last writes (a host crash under AOF everysec, a failover to an async replica):
 * an order instance whose cache holds the lost append must take the stored stream as the truth, so
 * the redelivered reply is applied, not dropped as a duplicate. The loss is simulated as the
 * break-order review did: LTRIM the stream back to what survived.
 */
import { expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { ConcurrencyError } from "../../lib/eventstore/index.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import type { SagaInput } from "./saga-model.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections } from "./store.js";
import { orderId as fixtureOrderId, replies, transientFailure } from "./saga-fixtures.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});

const userId = "u-1";
const settled = (compensation: "payment.refund" | "inventory.release", detail: string): SagaInput => ({
  type: "compensation.settled",
  compensation,
  outcome: "done",
  detail,
});
const validated = (orderId: string): SagaInput => ({
  type: "user.validated",
  payload: { orderId, userId, valid: true },
});
const reserved = (orderId: string): SagaInput => ({
  type: "inventory.reserved",
  payload: {
    orderId,
    items: [{ productId: "sku-1", quantity: 1, unitPrice: 100 }],
    total: 100,
    currency: "USD",
  },
});

describeWithRedis("an order whose last append Redis lost", (getRedis) => {
  const setup = async (orderId: string) => {
    await getRedis().flush();
    const redis = getRedis().client();
    const stores = createRedisOrderStores({ redis });
    const runner = () =>
      new SagaRunner({
        repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
        now: Date.now,
      });
    const a = runner();
    await a.place(
      {
        orderId,
        userId,
        items: [{ productId: "sku-1", quantity: 1 }],
        paymentToken: SEALED_TOKEN,
        correlationId: orderId,
      },
      publisher,
    );
    await a.run(orderId, validated(orderId), publisher);
    const key = `{order}:es:s:order-${orderId}`;
    const survived = await redis.llen(key);
    expect((await a.run(orderId, reserved(orderId), publisher)).kind).toBe("applied");
    expect(await redis.llen(key)).toBeGreaterThan(survived);
    await redis.ltrim(key, 0, survived - 1); // the crash: that append is gone
    return { stores, redis, key, survived, a, runner };
  };

  it("applies the redelivered reply on the instance that cached the lost append", async () => {
    const orderId = "lost-1";
    const { stores, redis, key, survived, a } = await setup(orderId);
    try {
      const again = await a.run(orderId, reserved(orderId), publisher);
      expect(again.kind).toBe("applied");
      expect(await redis.llen(key)).toBeGreaterThan(survived);
      expect(again.kind === "applied" && again.state.status).not.toBe("failed");
      // Delivered once more, it is now a duplicate of what is stored.
      expect((await a.run(orderId, reserved(orderId), publisher)).kind).toBe("unchanged");
    } finally {
      await stores.close?.();
    }
  });

  it("refuses a reply decided on the lost state and decides it again on the stream", async () => {
    const orderId = "lost-4";
    const { stores, redis, key, survived, a } = await setup(orderId);
    try {
      // Decided on the cache (awaiting payment): the append at the cached version is refused (the
      // stream is shorter), and on the stored state (awaiting inventory) the payment is not awaited.
      const paid: SagaInput = {
        type: "payment.processed",
        payload: { orderId, paymentId: "pay-1", amount: 100, currency: "USD" },
      };
      const early = await a.run(orderId, paid, publisher);
      expect(early.kind).toBe("unchanged");
      expect(await redis.llen(key)).toBe(survived);
      expect((await a.run(orderId, reserved(orderId), publisher)).kind).toBe("applied");
    } finally {
      await stores.close?.();
    }
  });

  it("takes the stream as the truth when another instance appended other events in the lost ones' place", async () => {
    const orderId = "lost-2";
    const { stores, redis, key, survived, a, runner } = await setup(orderId);
    try {
      // Another instance (its own cache) decides on the stream that survived: the reservation failed.
      const failed: SagaInput = {
        type: "inventory.reservation.failed",
        payload: {
          orderId,
          reason: "out_of_stock",
          items: [{ productId: "sku-1", requested: 1, available: 0 }],
        },
      };
      expect((await runner().run(orderId, failed, publisher)).kind).toBe("applied");
      expect(await redis.llen(key)).toBeGreaterThan(survived);
      // The redelivered reservation is no longer awaited: unchanged, on the state as stored.
      const again = await a.run(orderId, reserved(orderId), publisher);
      expect(again.kind).toBe("unchanged");
      expect(again.kind === "unchanged" && again.state.status).toBe("failed");
    } finally {
      await stores.close?.();
    }
  });

  it("a load reads the stream again when the lost append's versions hold other events, same type and time", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const stores = createRedisOrderStores({ redis });
    try {
      const orderId = "lost-3";
      const cached = new OrderRepository(stores.events, { inline: inlineProjections(stores) });
      await new SagaRunner({ repository: cached, now: Date.now }).place(
        {
          orderId,
          userId,
          items: [{ productId: "sku-1", quantity: 1 }],
          paymentToken: SEALED_TOKEN,
          correlationId: orderId,
        },
        publisher,
      );
      const version = await cached.version(orderId);
      const at = Date.now() + 1;
      const to = (status: "cancelled" | "failed") =>
        ({ type: "order.event.status.changed", data: { orderId, from: "pending", to: status } }) as const;
      await cached.save(orderId, version, [to("cancelled")], [], at);
      expect((await cached.load(orderId))?.state.status).toBe("cancelled");
      const key = `{order}:es:s:order-${orderId}`;
      await redis.ltrim(key, 0, version - 1); // lost
      const other = new OrderRepository(stores.events, { inline: inlineProjections(stores) });
      await other.save(orderId, version, [to("failed")], [], at);
      expect(await redis.llen(key)).toBe(version + 1); // as long as the cached order
      const loaded = await cached.load(orderId);
      expect(loaded?.state.status).toBe("failed");
      expect(loaded?.version).toBe(version + 1);
    } finally {
      await stores.close?.();
    }
  });

  it("refuses an append decided on the cached order when the lost append's versions hold other events", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const stores = createRedisOrderStores({ redis });
    try {
      const orderId = "lost-5";
      const cached = new OrderRepository(stores.events, { inline: inlineProjections(stores) });
      await new SagaRunner({ repository: cached, now: Date.now }).place(
        {
          orderId,
          userId,
          items: [{ productId: "sku-1", quantity: 1 }],
          paymentToken: SEALED_TOKEN,
          correlationId: orderId,
        },
        publisher,
      );
      const version = await cached.version(orderId);
      const at = Date.now() + 1;
      const change = (from: "pending" | "reserved" | "paid", to: "reserved" | "paid" | "pending") =>
        ({ type: "order.event.status.changed", data: { orderId, from, to } }) as const;
      await cached.save(orderId, version, [change("pending", "reserved")], [], at);
      const key = `{order}:es:s:order-${orderId}`;
      await redis.ltrim(key, 0, version - 1); // lost
      const other = new OrderRepository(stores.events, { inline: inlineProjections(stores) });
      await other.save(orderId, version, [change("pending", "paid")], [], at + 1);
      // Decided on the cache (reserved), at the version the stream has again: refused, not appended.
      const decidedOnCache = cached.save(orderId, version + 1, [change("reserved", "pending")], [], at + 2);
      await expect(decidedOnCache).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await redis.llen(key)).toBe(version + 1);
      expect((await cached.load(orderId, { trustCache: true }))?.state.status).toBe("paid");
      // Cached again from the stream: its next append at that version is accepted (no endless refusal).
      await cached.save(orderId, version + 1, [change("paid", "pending")], [], at + 3);
      expect(await redis.llen(key)).toBe(version + 2);
    } finally {
      await stores.close?.();
    }
  });

  it("does not fold another history onto the cached order when the stream grew past it after the loss (break31 F1)", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const stores = createRedisOrderStores({ redis });
    const runner = () =>
      new SagaRunner({
        repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
        now: Date.now,
      });
    try {
      const id = fixtureOrderId;
      const a = runner();
      const b = runner();
      await a.place(
        {
          orderId: id,
          userId: "u-1",
          items: [
            { productId: "sku-1", quantity: 2 },
            { productId: "sku-2", quantity: 1 },
          ],
          paymentToken: SEALED_TOKEN,
          correlationId: "c",
        },
        publisher,
      );
      await a.run(id, replies.valid, publisher);
      await a.run(id, replies.reserved, publisher);
      const key = `{order}:es:s:order-${id}`;
      const survived = await redis.llen(key);
      await a.run(id, { type: "cancel" }, publisher); // A caches the cancel and its compensation request
      await redis.ltrim(key, 0, survived - 1); // lost
      // B, on the stream that survived: a payment retry, the cancel, the refund settled: the stream
      // is now longer than A's cached order, its events at A's versions another history.
      await b.run(id, transientFailure(1), publisher);
      await b.run(id, { type: "cancel" }, publisher);
      await b.run(id, settled("payment.refund", "payment.refunded"), publisher);
      // A handles the release with its stale cache: decided on the stream, not on A's history + B's tail.
      await a.run(id, settled("inventory.release", "inventory.released"), publisher);
      const fresh = await runner().repository.load(id);
      const last = (await stores.events.read(`order-${id}`)).at(-1);
      expect(last).toMatchObject({ type: "order.event.compensation.settled" });
      expect((last?.data as { remaining?: number }).remaining).toBe(0);
      expect(fresh?.state.status).toBe("cancelled");
      expect(await redis.zrange("{order}:order-deadlines-v1:due", 0, -1)).toEqual([]);
    } finally {
      await stores.close?.();
    }
  });
});
