import { describe, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import {
  type CarrierLedger,
  CarrierError,
  MemoryCarrierLedger,
  SimulatedCarrier,
  trackingNumberFor,
} from "./carrier.js";
import { RedisCarrierLedger } from "./carrier-redis-ledger.js";

const line = (productId: string) => ({ productId, quantity: 1 });
const booking = (orderId: string, productId = "p-1") => ({
  idempotencyKey: `shipment:${orderId}`,
  orderId,
  items: [line(productId)],
});

describe("simulated carrier", () => {
  it("accepts ordinary lines with a tracking number derived from the order id", async () => {
    const carrier = new SimulatedCarrier();
    const first = await carrier.prepare(booking("o-1"));
    expect(first).toMatchObject({
      accepted: true,
      carrier: "SimShip",
      trackingNumber: trackingNumberFor("o-1"),
    });
    expect(trackingNumberFor("o-1")).toMatch(/^SIM\d{10}$/);
    expect(trackingNumberFor("o-2")).not.toBe(trackingNumberFor("o-1"));
  });

  it("rejects an order with a noship- line", async () => {
    const outcome = await new SimulatedCarrier().prepare({
      ...booking("o-1"),
      items: [line("p-1"), line("noship-x")],
    });
    expect(outcome).toEqual({ accepted: false, reason: "carrier cannot ship product noship-x" });
  });

  it("answers slowship- lines only after the slow delay, or stops (booking nothing) when aborted", async () => {
    const carrier = new SimulatedCarrier({ slowDelayMs: 40 });
    const started = Date.now();
    await expect(carrier.prepare(booking("o-1", "slowship-x"))).resolves.toMatchObject({ accepted: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    const slow = new SimulatedCarrier();
    const controller = new AbortController();
    const call = slow.prepare(booking("o-2", "slowship-x"), controller.signal);
    await waitFor(() => slow.ledger.inFlight("shipment:o-2"));
    await expect(slow.retrieve("shipment:o-2")).rejects.toMatchObject({ code: "request_in_progress" });
    controller.abort(new Error("deadline"));
    await expect(call).rejects.toThrow("deadline");
    expect(await slow.retrieve("shipment:o-2")).toBeUndefined();
  });
});

function carrierContract(name: string, makeLedger: () => Promise<CarrierLedger>) {
  describe(`simulated carrier, idempotency by key (${name} ledger)`, () => {
    it("answers in progress to a booking while a call with its key is in flight, then books", async () => {
      const ledger = await makeLedger();
      const carrier = new SimulatedCarrier({ ledger });
      expect(await ledger.beginCall("shipment:o-busy", 60_000)).toBe(true);
      await expect(carrier.prepare(booking("o-busy"))).rejects.toMatchObject({ code: "request_in_progress" });
      await expect(carrier.prepare(booking("o-busy", "noship-x"))).rejects.toMatchObject({
        code: "request_in_progress",
      });
      expect(await ledger.get("shipment:o-busy")).toBeUndefined();
      await ledger.endCall("shipment:o-busy");
      await expect(carrier.prepare(booking("o-busy"))).resolves.toMatchObject({ accepted: true });
    });

    it("books once per key: a retry after a lost answer replays the first booking, no second shipment", async () => {
      const ledger = await makeLedger();
      const carrier = new SimulatedCarrier({ ledger, lateAnswerMs: 60_000 });
      const controller = new AbortController();
      // The booking commits, its answer is on its way when the caller gives up (a lost answer).
      const lost = carrier.prepare(booking("o-1", "lateship-x"), controller.signal);
      const seen = await waitForBooking(carrier, "shipment:o-1");
      controller.abort(new Error("client timeout"));
      await expect(lost).rejects.toThrow("client timeout");
      const retry = await new SimulatedCarrier({ ledger }).prepare(booking("o-1"));
      expect(retry).toMatchObject({ accepted: true, shipmentId: seen.shipmentId });
      const all = (await ledger.list()).filter((b) => b.orderId === "o-1");
      expect(all).toHaveLength(1);
      expect(all[0]).toMatchObject({ status: "booked", shipmentId: seen.shipmentId });
    });

    it("lateship- books at once and answers after lateAnswerMs; retrieve by key finds the booking meanwhile", async () => {
      const ledger = await makeLedger();
      const carrier = new SimulatedCarrier({ ledger, lateAnswerMs: 300 });
      const started = Date.now();
      const call = carrier.prepare(booking("o-2", "lateship-x"));
      const found = await waitForBooking(carrier, "shipment:o-2");
      expect(found).toMatchObject({ status: "booked", orderId: "o-2" });
      const answer = await call;
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(answer).toMatchObject({ accepted: true, shipmentId: found.shipmentId });
    });

    it("cancels by key idempotently, and a cancel before any booking refuses a later booking", async () => {
      const ledger = await makeLedger();
      const carrier = new SimulatedCarrier({ ledger });
      const booked = await carrier.prepare(booking("o-3"));
      const first = await carrier.cancel("shipment:o-3", "o-3");
      const again = await carrier.cancel("shipment:o-3", "o-3");
      expect(first).toMatchObject({ status: "cancelled" });
      expect(again).toMatchObject({ status: "cancelled" });
      expect(booked.accepted && first.shipmentId === booked.shipmentId).toBe(true);
      expect(await carrier.retrieve("shipment:o-3")).toMatchObject({ status: "cancelled" });

      expect(await carrier.cancel("shipment:o-4", "o-4")).toMatchObject({ status: "voided" });
      expect(await carrier.prepare(booking("o-4"))).toMatchObject({ accepted: false });
      expect(await carrier.retrieve("shipment:o-4")).toMatchObject({ status: "voided" });
      expect((await ledger.list()).filter((b) => b.status === "booked")).toEqual([]);
    });

    it("answers in progress to a cancel while the booking is processed (never a premature tombstone)", async () => {
      const ledger = await makeLedger();
      const carrier = new SimulatedCarrier({ ledger, slowDelayMs: 200 });
      const call = carrier.prepare(booking("o-5", "slowship-x"));
      await waitFor(() => ledger.inFlight("shipment:o-5"));
      await expect(carrier.cancel("shipment:o-5", "o-5")).rejects.toBeInstanceOf(CarrierError);
      await call;
      expect(await carrier.cancel("shipment:o-5", "o-5")).toMatchObject({ status: "cancelled" });
    });
  });
}

/** Polls retrieve-by-key until the carrier holds a booking for the key (5 s). */
async function waitForBooking(carrier: SimulatedCarrier, key: string) {
  const until = Date.now() + 5_000;
  for (;;) {
    const found = await carrier.retrieve(key).catch(() => undefined);
    if (found) return found;
    if (Date.now() > until) throw new Error(`no booking for ${key}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

carrierContract("memory", async () => new MemoryCarrierLedger());

describeWithRedis("simulated carrier on Redis", (getRedis) => {
  it("books an ordinary shipment in one Redis call, a replay too", async () => {
    const redis = getRedis().client();
    const carrier = new SimulatedCarrier({ ledger: new RedisCarrierLedger(redis) });
    await carrier.prepare(booking("o-warm")); // loads the script (EVAL once)
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      const first = await carrier.prepare(booking("o-one-call"));
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
      sent.mockClear();
      expect(await carrier.prepare(booking("o-one-call"))).toEqual(first);
      expect(sent.mock.calls.map(([c]) => c.name)).toEqual(["evalsha"]);
    } finally {
      sent.mockRestore();
    }
  });

  carrierContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return new RedisCarrierLedger(redis);
  });
});
