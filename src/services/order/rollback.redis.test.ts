/**
 * Redis going back as a whole (every key restored from a snapshot: a host crash under AOF everysec,
 * a failover to an async replica), not only an order's stream: the global position counter goes back
 * with it, so the event another instance appends in place of a lost one gets the lost one's global
 * position; with `now` clamped to the order's last event (saga-runner.ts: a writer whose clock is
 * behind it), also its `recordedAt`. The instance that cached the lost event must still see that
 * the stream holds another one (break33 F1).
 */
import { expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { Transport } from "../../lib/bus/transport.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import type { SagaInput } from "./saga-model.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections } from "./store.js";
import { replies } from "./saga-fixtures.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: {} as Transport,
  source: { service: "order", instance: "test" },
  signer: null,
});
const settled = (compensation: "payment.refund" | "inventory.release", detail: string): SagaInput => ({
  type: "compensation.settled",
  compensation,
  outcome: "done",
  detail,
});
const refunded = settled("payment.refund", "payment.refunded");
const released = settled("inventory.release", "inventory.released");

describeWithRedis("an order whose whole Redis went back to a snapshot", (getRedis) => {
  /**
   * place, validated, reserved by `a`; cancelled by an instance a minute ahead; snapshot; `a` settles
   * the refund (cached); every key restored; `b` settles the release in its place.
   */
  const setup = async (id: string) => {
    await getRedis().flush();
    const redis = getRedis().client();
    const snapshot = async () => {
      const keys = await redis.keys("*");
      return Promise.all(keys.map(async (k) => [k, await redis.dumpBuffer(k)] as const));
    };
    const restore = async (snap: readonly (readonly [string, Buffer | null])[]) => {
      await redis.flushdb();
      for (const [k, v] of snap) if (v) await redis.restore(k, 0, v);
    };
    const stores = createRedisOrderStores({ redis });
    const runner = (offset = 0) =>
      new SagaRunner({
        repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
        now: () => Date.now() + offset,
      });
    const streamId = `order-${id}`;
    const a = runner();
    const b = runner();
    const ahead = runner(60_000); // an instance whose clock is a minute ahead
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
    // Recorded a minute ahead: a's and b's next events are clamped to its time.
    expect((await ahead.run(id, { type: "cancel" }, publisher)).kind).toBe("applied");
    await a.repository.load(id); // a caches the cancelled order
    const disk = await snapshot();

    // a settles the refund (one compensation left) and caches that; then Redis loses it.
    expect((await a.run(id, refunded, publisher)).kind).toBe("applied");
    const lost = (await stores.events.read(streamId)).at(-1)!;
    await restore(disk);

    // b, with nothing cached, settles the release on the stream that survived.
    expect((await b.run(id, released, publisher)).kind).toBe("applied");
    const replacement = (await stores.events.read(streamId)).at(-1)!;
    // The case at hand: all that marked an event before is the same.
    expect(replacement).toMatchObject({
      version: lost.version,
      globalPosition: lost.globalPosition,
      type: lost.type,
      recordedAt: lost.recordedAt,
    });
    expect(replacement.data).not.toEqual(lost.data);
    return { redis, stores, runner, a, streamId };
  };

  it("applies the redelivered reply on the instance that cached the lost event, though its replacement has the same position, type and time", async () => {
    const id = "rollback-1";
    const { redis, stores, runner, a, streamId } = await setup(id);
    try {
      // The refund's reply, redelivered (its ack was lost too), lands on a: applied, not a duplicate.
      expect((await a.run(id, refunded, publisher)).kind).toBe("applied");
      const stream = await stores.events.read(streamId);
      const compensations = stream
        .filter((e) => e.type === "order.event.compensation.settled")
        .map((e) => e.data);
      expect(compensations).toEqual([
        expect.objectContaining({ compensation: "inventory.release", remaining: 1 }),
        expect.objectContaining({ compensation: "payment.refund", remaining: 0 }),
      ]);
      expect((await runner().repository.load(id))?.state.status).toBe("cancelled");
      expect(await redis.zrange("{order}:order-deadlines-v1:due", 0, -1)).toEqual([]);
    } finally {
      await stores.close?.();
    }
  });

  it("decides an append of the instance that cached the lost event on the stored stream, not on its cache", async () => {
    const id = "rollback-2";
    const { stores, a, streamId } = await setup(id);
    try {
      // The compensations' deadline passes; a's sweep decides the timeout on its cached order first
      // (one round trip): the append names the lost event, the stream holds b's, so it is refused.
      const late = new SagaRunner({ repository: a.repository, now: () => Date.now() + 40 * 86_400_000 });
      expect((await late.run(id, { type: "timeout" }, publisher)).kind).toBe("applied");
      const failed = (await stores.events.read(streamId)).filter(
        (e) =>
          e.type === "order.event.status.changed" && JSON.stringify(e.data).includes("compensation_failed"),
      );
      // The compensation the stream has outstanding is the refund (a's cache: the release).
      expect(failed).toEqual([
        expect.objectContaining({
          data: expect.objectContaining({ reason: "compensation not confirmed in time: payment.refund" }),
        }),
      ]);
    } finally {
      await stores.close?.();
    }
  });
});
