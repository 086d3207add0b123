/**
 * One behaviour suite for the order stores, run against the memory and the Redis adapters:
 * atomic state + outbox, one order per stream (idempotent creation), optimistic concurrency,
 * and the deadline index and order view built by projections.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectRebuildMarkerPort } from "../../lib/eventstore/projection-contract.js";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { ConcurrencyError, MemoryReadModelStore, ProjectionRunner } from "../../lib/eventstore/index.js";
import { deadlineProjection, type OrderView, orderViewProjection } from "./projections.js";
import { OrderRepository } from "./repository.js";
import type { PlaceInput } from "./saga.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections, type OrderStores } from "./store.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";

export interface OrderStoreFixture {
  stores: OrderStores;
  /** Bus messages the stores emitted on a topic (decoded envelope payloads), oldest first. */
  emitted(topic: string): Promise<unknown[]>;
}

export function runOrderStoreContract(
  name: string,
  factory: (now: () => number) => Promise<OrderStoreFixture>,
): void {
  describe(`order stores: ${name}`, () => {
    let clock = Date.parse("2025-01-02T03:04:05.000Z");
    let fixture: OrderStoreFixture;
    let transport: MemoryTransport;
    let publisher: Publisher<typeof AllEvents>;
    let runner: SagaRunner;
    const input = (orderId: string): PlaceInput => ({
      orderId,
      userId: "u-1",
      items: [{ productId: "sku-1", quantity: 1 }],
      paymentToken: SEALED_TOKEN,
      correlationId: `corr-${orderId}`,
    });

    beforeEach(async () => {
      fixture = await factory(() => clock);
      transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
      publisher = new Publisher({
        events: AllEvents,
        transport,
        source: { service: "order", instance: "test" },
      });
      runner = new SagaRunner({
        repository: new OrderRepository(fixture.stores.events),
        now: () => clock,
        saga: { stepTimeoutMs: 1000 },
      });
    });
    afterEach(() => transport.close());

    it("writes an order's events and its outgoing messages together", async () => {
      await runner.place(input("o-1"), publisher);
      const history = await fixture.stores.events.read("order-o-1");
      expect(history.map((e) => e.type)).toEqual(["order.event.created", "order.event.step.requested"]);
      expect(await fixture.emitted("order.placed")).toEqual([expect.objectContaining({ orderId: "o-1" })]);
      expect(await fixture.emitted("user.validation.requested")).toEqual([{ orderId: "o-1", userId: "u-1" }]);
    });

    it("creates an order once: a second creation of the same stream emits nothing", async () => {
      await runner.place(input("o-2"), publisher);
      await expect(runner.place(input("o-2"), publisher)).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await fixture.stores.events.version("order-o-2")).toBe(2);
      expect(await fixture.emitted("order.placed")).toHaveLength(1);
    });

    it("a reply applied twice changes the order once and sends its command once", async () => {
      await runner.place(input("o-3"), publisher);
      const reply = {
        type: "user.validated",
        payload: { orderId: "o-3", userId: "u-1", valid: true },
      } as const;
      expect((await runner.run("o-3", reply, publisher)).kind).toBe("applied");
      expect((await runner.run("o-3", reply, publisher)).kind).toBe("unchanged");
      expect(await fixture.emitted("inventory.reservation.requested")).toHaveLength(1);
    });

    it("refuses an append at a stale version and writes and emits nothing", async () => {
      await runner.place(input("o-4"), publisher);
      const repository = new OrderRepository(fixture.stores.events);
      const message = publisher.prepare("inventory.commit.requested", { orderId: "o-4" }).message;
      const event = {
        type: "order.event.step.completed" as const,
        data: { orderId: "o-4", step: "validation" as const },
      };
      await expect(repository.save("o-4", 1, [event], [message])).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await fixture.stores.events.version("order-o-4")).toBe(2);
      expect(await fixture.emitted("inventory.commit.requested")).toEqual([]);
    });

    it("indexes running sagas' deadlines and drops finished ones", async () => {
      const deadlines = new ProjectionRunner({
        events: fixture.stores.events,
        projection: deadlineProjection,
        readModel: fixture.stores.deadlines,
      });
      await runner.place(input("late"), publisher);
      clock += 500;
      await runner.place(input("later"), publisher);
      await runner.place(input("cancelled"), publisher);
      await runner.run("cancelled", { type: "cancel" }, publisher);
      await deadlines.catchUp();
      expect(await fixture.stores.deadlines.due(clock, 10)).toEqual([]);
      clock += 1000;
      expect(await fixture.stores.deadlines.due(clock, 10)).toEqual(["late", "later"]);
      expect(await fixture.stores.deadlines.due(clock, 1)).toEqual(["late"]);
      expect(await fixture.stores.deadlines.due(clock, 1, 1)).toEqual(["later"]);
      expect(await fixture.stores.deadlines.due(clock, 10, 2)).toEqual([]);
      expect([...(await fixture.stores.deadlines.all()).keys()].sort()).toEqual(["late", "later"]);
    });

    it("commits the deadline index only from the checkpoint it read", async () => {
      const views = new Map([["o-9", { position: "0000000000000001", value: { deadline: 5 } }]]);
      const index = fixture.stores.deadlines;
      expect(
        await index.commit({ expectedCheckpoint: undefined, checkpoint: "0000000000000001", views }),
      ).toBe(true);
      expect(
        await index.commit({ expectedCheckpoint: undefined, checkpoint: "0000000000000002", views }),
      ).toBe(false);
      expect(await index.checkpoint()).toBe("0000000000000001");
      expect(await index.load(["o-9", "nope"])).toEqual(views);
      await index.clear();
      expect(await index.checkpoint()).toBeUndefined();
      expect(await index.due(10, 10)).toEqual([]);
    });

    it("keeps the deadline index's rebuild marker through clear; removes it with its id and checkpoint", async () => {
      const views = new Map([["o-9", { position: "0000000000000001", value: { deadline: 5 } }]]);
      const index = fixture.stores.deadlines;
      await expectRebuildMarkerPort(index, {
        expectedCheckpoint: undefined,
        checkpoint: "0000000000000001",
        views,
      });
      expect(await index.due(10, 10)).toEqual(["o-9"]);
    });

    it("has the view, deadline and list entry of an order as soon as its append returns (inline)", async () => {
      const { stores } = fixture;
      const inline = new SagaRunner({
        repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
        now: () => clock,
        saga: { stepTimeoutMs: 1000 },
      });
      await inline.place(input("o-6"), publisher);
      expect(await stores.views.get("o-6")).toMatchObject({ id: "o-6", status: "pending", version: 2 });
      expect(await stores.deadlines.get("o-6")).toEqual({ deadline: clock + 1000 });
      expect((await stores.list.page({ userId: "u-1", limit: 10 })).ids).toEqual(["o-6"]);
      const reply = {
        type: "user.validated",
        payload: { orderId: "o-6", userId: "u-1", valid: true },
      } as const;
      expect((await inline.run("o-6", reply, publisher)).kind).toBe("applied");
      const validated = await stores.events.version("order-o-6");
      expect(validated).toBeGreaterThan(2);
      expect(await stores.views.get("o-6")).toMatchObject({ status: "pending", version: validated });
      await inline.run("o-6", { type: "cancel" }, publisher);
      const version = await stores.events.version("order-o-6");
      expect(await stores.views.get("o-6")).toMatchObject({ status: "cancelled", version });
      expect(await stores.deadlines.get("o-6")).toEqual({ deadline: expect.any(Number) });
      // The rebuild path (a runner over the global log) gives the views the appends wrote.
      const readModel = new MemoryReadModelStore<OrderView>();
      await new ProjectionRunner({
        events: stores.events,
        projection: orderViewProjection,
        readModel,
      }).rebuild();
      expect(await readModel.get("o-6")).toEqual(await stores.views.get("o-6"));
    });

    it("projects orders into views with prices unknown until inventory priced them", async () => {
      await runner.place(input("o-5"), publisher);
      const views = new ProjectionRunner({
        events: fixture.stores.events,
        projection: orderViewProjection,
        readModel: fixture.stores.views,
      });
      await views.catchUp();
      expect(await fixture.stores.views.get("o-5")).toMatchObject({
        id: "o-5",
        userId: "u-1",
        status: "pending",
        total: null,
        items: [{ productId: "sku-1", quantity: 1, unitPrice: null }],
        version: 2,
      });
    });
  });
}
