/** One behaviour suite for every ShippingStore adapter (memory and Redis). */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import {
  cancelledRecord,
  deliveredRecord,
  preparedRecord,
  scheduledRecord,
  type ShipmentRecord,
} from "./domain.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { ShippingStore } from "./store.js";

export interface ShippingStoreHarness {
  /** A store with no shipments and nothing scheduled. */
  store: ShippingStore;
  /** Bodies emitted on one of the shipping service's topics, oldest first. */
  emitted(topic: string): Promise<string[]>;
}

const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "shipping", instance: "contract" },
});

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const DELAY = 5_000;
const prepared = (orderId: string): ShipmentRecord =>
  scheduledRecord(
    preparedRecord(
      { orderId, userId: "u-1", items: [{ productId: "p-1", quantity: 2 }] },
      { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
      "corr-1",
      T0,
    ),
    T0,
    DELAY,
  );
const preparedMessage = (orderId: string) =>
  publisher.prepare("shipping.shipment.prepared", {
    orderId,
    shipmentId: `s-${orderId}`,
    trackingNumber: "SIM0000000001",
    carrier: "SimShip",
  }).message;
/** The shipment `prepared` gives, as stored before `scheduleDelivery` (no deliverAt yet). */
const unscheduled = (orderId: string): ShipmentRecord =>
  preparedRecord(
    { orderId, userId: "u-1", items: [{ productId: "p-1", quantity: 2 }] },
    { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
    "corr-1",
    T0,
  );
/** Writes the shipment (with `messages`), then schedules it as the saga's completion does: `prepared`. */
async function prepareScheduled(store: ShippingStore, orderId: string, messages = [] as OutgoingMessage[]) {
  expect(await store.commit(unscheduled(orderId), null, messages)).toBe(true);
  expect(await store.scheduleDelivery(orderId, T0, DELAY)).toEqual({ scheduled: true });
}
const deliveredMessage = (orderId: string) =>
  publisher.prepare("shipping.shipment.delivered", {
    orderId,
    shipmentId: `s-${orderId}`,
    deliveredAt: new Date(T0 + DELAY).toISOString(),
  }).message;
const ordersIn = (bodies: string[], orderId: string) =>
  bodies.map((b) => decodeEnvelope(b).payload as { orderId: string }).filter((p) => p.orderId === orderId);
const delivered = (orderId: string) => deliveredRecord(prepared(orderId), new Date(T0 + DELAY).toISOString());

export function runShippingStoreContract(name: string, factory: () => Promise<ShippingStoreHarness>): void {
  describe(`ShippingStore contract (${name})`, () => {
    it("writes a shipment with its event; its delivery, once scheduled, is due at its time", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      expect(await store.commit(unscheduled(orderId), null, [preparedMessage(orderId)])).toBe(true);
      expect(await store.due(T0 + DELAY, 10)).toEqual([]);
      expect(await store.scheduleDelivery(orderId, T0, DELAY)).toEqual({ scheduled: true });
      expect(await store.get(orderId)).toEqual(prepared(orderId));
      expect(ordersIn(await emitted("shipping.shipment.prepared"), orderId)).toHaveLength(1);
      expect(await store.due(T0 + DELAY - 1, 10)).toEqual([]);
      expect(await store.due(T0 + DELAY, 10)).toEqual([orderId]);
    });

    it("writes and emits nothing when the status moved on", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await store.commit(unscheduled(orderId), null, [preparedMessage(orderId)]);
      const cancelled = cancelledRecord(unscheduled(orderId), "saga failed", new Date(T0).toISOString());
      expect(await store.commit(cancelled, null, [preparedMessage(orderId)])).toBe(false);
      expect(await store.get(orderId)).toEqual(unscheduled(orderId));
      expect(ordersIn(await emitted("shipping.shipment.prepared"), orderId)).toHaveLength(1);
    });

    it("takes a cancelled shipment off the schedule", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      await prepareScheduled(store, orderId);
      expect(await store.due(T0 + DELAY, 10)).toEqual([orderId]);
      const cancelled = cancelledRecord(prepared(orderId), "saga failed", new Date(T0).toISOString());
      expect(await store.commit(cancelled, "prepared", [], true)).toBe(true);
      expect(await store.due(T0 + DELAY, 10)).toEqual([]);
      expect((await store.get(orderId))?.status).toBe("cancelled");
    });

    it("schedules a prepared shipment's delivery once, as decideSchedule and scheduledRecord say", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      const unscheduled = preparedRecord(
        { orderId, userId: "u-1", items: [{ productId: "p-1", quantity: 2 }] },
        { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
        "corr-1",
        T0 - 1_000,
      );
      await store.commit(unscheduled, null, []);
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      expect(await store.scheduleDelivery(orderId, T0, DELAY, traceparent)).toEqual({ scheduled: true });
      const expected = scheduledRecord(unscheduled, T0, DELAY, traceparent);
      expect(await store.get(orderId)).toEqual(expected);
      expect(await store.due(T0 + DELAY, 10)).toEqual([orderId]);
      // Scheduled already: nothing changes (not even updatedAt or the due time).
      expect(await store.scheduleDelivery(orderId, T0 + 1, DELAY)).toEqual({
        scheduled: false,
        why: "delivery already scheduled",
      });
      expect(await store.get(orderId)).toEqual(expected);
      expect(await store.due(T0 + DELAY, 10)).toEqual([orderId]);
    });

    it("returns a scheduled shipment as given whatever its text holds (quotes, backslashes, newlines, lone surrogates)", async () => {
      const { store } = await factory();
      // Each value could break a record's JSON if written into it unescaped (break-svc F1).
      const hostile = [
        'x"y',
        "x\\",
        "line\nbreak",
        "\ud800",
        '"},"status":"delivered',
        "tab\t\u0000\u001f",
        "😀 é",
      ];
      for (const text of hostile) {
        const orderId = `o-${randomUUID()}`;
        const unscheduled = preparedRecord(
          { orderId, userId: text, items: [{ productId: text, quantity: 1 }] },
          { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
          text,
          T0 - 1_000,
        );
        await store.commit(unscheduled, null, []);
        expect(await store.scheduleDelivery(orderId, T0, DELAY, text)).toEqual({ scheduled: true });
        expect(await store.get(orderId)).toEqual(scheduledRecord(unscheduled, T0, DELAY, text));
        expect(await store.due(T0 + DELAY, 100)).toContain(orderId);
      }
    });

    it("schedules no delivery of a shipment that is not prepared, or unknown", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      const unscheduled = preparedRecord(
        { orderId, userId: "u-1", items: [{ productId: "p-1", quantity: 1 }] },
        { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000001", carrier: "SimShip" },
        "corr-1",
        T0,
      );
      await store.commit(unscheduled, null, []);
      const cancelled = cancelledRecord(unscheduled, "saga failed", new Date(T0).toISOString());
      await store.commit(cancelled, "prepared", []);
      expect(await store.scheduleDelivery(orderId, T0, DELAY)).toEqual({
        scheduled: false,
        why: "shipment cancelled",
      });
      expect(await store.scheduleDelivery(`o-${randomUUID()}`, T0, DELAY)).toEqual({
        scheduled: false,
        why: "shipment unknown",
      });
      expect(await store.get(orderId)).toEqual(cancelled);
      expect(await store.due(T0 + DELAY, 10)).toEqual([]);
    });

    it("lets exactly one of two concurrent claims deliver a due shipment", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await prepareScheduled(store, orderId);
      const claims = await Promise.all([
        store.claimDelivery(delivered(orderId), [deliveredMessage(orderId)]),
        store.claimDelivery(delivered(orderId), [deliveredMessage(orderId)]),
      ]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(ordersIn(await emitted("shipping.shipment.delivered"), orderId)).toHaveLength(1);
      expect((await store.get(orderId))?.status).toBe("delivered");
      expect(await store.due(T0 + DELAY, 10)).toEqual([]);
    });

    it("never delivers a shipment that is no longer prepared, even if still scheduled", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await prepareScheduled(store, orderId);
      const cancelled = cancelledRecord(prepared(orderId), "saga failed", new Date(T0).toISOString());
      await store.commit(cancelled, "prepared", []);
      expect(await store.claimDelivery(delivered(orderId), [deliveredMessage(orderId)])).toBe(false);
      expect((await store.get(orderId))?.status).toBe("cancelled");
      expect(ordersIn(await emitted("shipping.shipment.delivered"), orderId)).toEqual([]);
      expect(await store.due(T0 + DELAY, 10)).toEqual([]);
    });

    it("moves a due shipment that failed back by a doubling backoff up to its cap, once per failure whatever the pollers", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await prepareScheduled(store, orderId);
      const due = T0 + DELAY;
      const backoff = { baseMs: 1_000, maxMs: 3_000 };
      // Not due yet at that time: nothing to move, nothing counted.
      expect(await store.deferDue(orderId, due - 1, backoff)).toBeUndefined();
      expect(await store.deferDue(orderId, due, backoff)).toEqual({ failures: 1, retryAt: due + 1_000 });
      // A second poller that failed it in the same pass finds it moved already: one failure counted.
      expect(await store.deferDue(orderId, due, backoff)).toBeUndefined();
      // No longer at the head of the schedule: what is due behind it is taken first.
      expect(await store.due(due + 999, 10)).toEqual([]);
      expect(await store.due(due + 1_000, 10)).toEqual([orderId]);
      expect(await store.deferDue(orderId, due + 1_000, backoff)).toEqual({
        failures: 2,
        retryAt: due + 3_000,
      });
      // 4 s capped at 3 s.
      expect(await store.deferDue(orderId, due + 3_000, backoff)).toEqual({
        failures: 3,
        retryAt: due + 6_000,
      });
      // Still delivered once it can be; then nothing is left to move.
      expect(await store.claimDelivery(delivered(orderId), [deliveredMessage(orderId)])).toBe(true);
      expect(await store.deferDue(orderId, due + 10_000, backoff)).toBeUndefined();
      expect(await store.due(due + 10_000, 10)).toEqual([]);
      expect(ordersIn(await emitted("shipping.shipment.delivered"), orderId)).toHaveLength(1);
      // An order never scheduled is not put on the schedule.
      const unknown = `o-${randomUUID()}`;
      expect(await store.deferDue(unknown, due, backoff)).toBeUndefined();
      expect(await store.due(due + 10_000, 10)).toEqual([]);
    });

    it("counts a shipment's failures afresh once it left the schedule (cancelled, dropped)", async () => {
      const { store } = await factory();
      const backoff = { baseMs: 1_000, maxMs: 60_000 };
      const due = T0 + DELAY;
      const cancelled = `o-${randomUUID()}`;
      await prepareScheduled(store, cancelled);
      expect(await store.deferDue(cancelled, due, backoff)).toMatchObject({ failures: 1 });
      const record = cancelledRecord(prepared(cancelled), "saga failed", new Date(T0).toISOString());
      expect(await store.commit(record, "prepared", [], true)).toBe(true);
      expect(await store.deferDue(cancelled, due + 60_000, backoff)).toBeUndefined();
      const dropped = `o-${randomUUID()}`;
      await prepareScheduled(store, dropped);
      expect(await store.deferDue(dropped, due, backoff)).toMatchObject({ failures: 1 });
      await store.dropDue(dropped);
      expect(await store.due(due + 60_000, 10)).toEqual([]);
    });

    it("parks a due shipment at its Nth consecutive unreadable try, once, with its reason; a Redis error restarts the streak; re-queued it is due again afresh", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await prepareScheduled(store, orderId);
      const backoff = { baseMs: 1_000, maxMs: 1_000 };
      const park = { after: 3, reason: "record unreadable: Unexpected token" };
      let at = T0 + DELAY;
      const fail = async (unreadable: boolean) => {
        const outcome = await store.deferDue(orderId, at, backoff, unreadable ? park : undefined);
        at += 1_000;
        return outcome;
      };
      expect(await fail(true)).toEqual({ failures: 1, retryAt: at });
      expect(await fail(true)).toEqual({ failures: 2, retryAt: at });
      // Not the record's fault: the streak restarts (the backoff's count goes on).
      expect(await fail(false)).toEqual({ failures: 3, retryAt: at });
      expect(await fail(true)).toEqual({ failures: 4, retryAt: at });
      expect(await fail(true)).toEqual({ failures: 5, retryAt: at });
      const parkedAt = at;
      expect(await store.deferDue(orderId, parkedAt, backoff, park)).toEqual({ failures: 6, parked: true });
      // A second poller that failed it in the same pass: parked once, nothing put back.
      expect(await store.deferDue(orderId, parkedAt, backoff, park)).toBeUndefined();
      expect(await store.due(parkedAt + 60_000, 10)).toEqual([]);
      expect(await store.parked()).toEqual([{ orderId, reason: park.reason, parkedAt, tries: 6 }]);
      expect(await store.parkedCount()).toBe(1);
      // The operator repaired the record: re-queued once, due at the given time with fresh counts.
      const requeueAt = parkedAt + 120_000;
      expect(await store.requeueParked(orderId, requeueAt)).toBe(true);
      expect(await store.requeueParked(orderId, requeueAt)).toBe(false);
      expect(await store.parkedCount()).toBe(0);
      expect(await store.due(requeueAt - 1, 10)).toEqual([]);
      expect(await store.due(requeueAt, 10)).toEqual([orderId]);
      expect(await store.deferDue(orderId, requeueAt, backoff, park)).toEqual({
        failures: 1,
        retryAt: requeueAt + 1_000,
      });
      expect(await store.claimDelivery(delivered(orderId), [deliveredMessage(orderId)])).toBe(true);
      expect(ordersIn(await emitted("shipping.shipment.delivered"), orderId)).toHaveLength(1);
      // An order never parked is not re-queued.
      expect(await store.requeueParked(`o-${randomUUID()}`, requeueAt)).toBe(false);
      expect(await store.due(requeueAt + 60_000, 10)).toEqual([]);
    });

    it("pages the parked shipments from cursor 0 until next is 0, each with its reason, time and tries", async () => {
      const { store } = await factory();
      const ids = Array.from({ length: 5 }, () => `o-${randomUUID()}`);
      const at = T0 + DELAY;
      for (const [i, orderId] of ids.entries()) {
        await prepareScheduled(store, orderId);
        const park = { after: 1, reason: `unreadable ${i}` };
        expect(await store.deferDue(orderId, at, { baseMs: 1, maxMs: 1 }, park)).toEqual({
          failures: 1,
          parked: true,
        });
      }
      const seen = new Map<string, unknown>();
      let cursor = "0";
      for (let pages = 0; pages < 20; pages++) {
        const page = await store.pageParked(cursor, 2);
        for (const p of page.parked) seen.set(p.orderId, p);
        cursor = page.next;
        if (cursor === "0") break;
      }
      expect(cursor).toBe("0");
      expect(ids.map((orderId) => seen.get(orderId))).toEqual(
        ids.map((orderId, i) => ({ orderId, reason: `unreadable ${i}`, parkedAt: at, tries: 1 })),
      );
    });

    it("refuses to emit another service's events", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      const foreign = publisher.prepare("order.compensation.shipment.cancel", {
        orderId,
        reason: "x",
      }).message;
      await expect(store.commit(prepared(orderId), null, [foreign])).rejects.toMatchObject({
        code: "FOREIGN_EVENT",
        message: expect.stringMatching(/owned by "order"/),
      });
      expect(await store.get(orderId)).toBeUndefined();
    });
  });
}
