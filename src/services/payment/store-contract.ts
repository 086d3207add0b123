/** One behaviour suite for every PaymentStore adapter (memory and Redis). */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import type { PaymentRecord } from "./domain.js";
import type { PaymentStore } from "./store.js";

export interface PaymentStoreHarness {
  store: PaymentStore;
  /** Bodies emitted on one of the payment service's topics, oldest first. */
  emitted(topic: string): Promise<string[]>;
}

const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "payment", instance: "contract" },
});

const at = "2030-01-01T00:00:00.000Z";
const captured = (orderId: string): PaymentRecord => ({
  orderId,
  status: "captured",
  paymentId: "pay-1",
  amount: 500,
  currency: "USD",
  tokenFingerprint: "fp_abc",
  providerChargeId: "ch_1",
  createdAt: at,
  updatedAt: at,
});
const processed = (orderId: string) =>
  publisher.prepare("payment.processed", { orderId, paymentId: "pay-1", amount: 500, currency: "USD" })
    .message;
const failed = (orderId: string, attempt: number) =>
  publisher.prepare("payment.failed", {
    orderId,
    reason: "provider error",
    code: "provider_error",
    transient: true,
    attempt,
  }).message;

const ordersIn = (bodies: string[], orderId: string) =>
  bodies.map((b) => decodeEnvelope(b).payload as { orderId: string }).filter((p) => p.orderId === orderId);

export function runPaymentStoreContract(name: string, factory: () => Promise<PaymentStoreHarness>): void {
  describe(`PaymentStore contract (${name})`, () => {
    it("writes the record and its event together", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      expect(await store.commit(captured(orderId), null, [processed(orderId)])).toBe(true);
      expect(await store.get(orderId)).toEqual(captured(orderId));
      expect(ordersIn(await emitted("payment.processed"), orderId)).toHaveLength(1);
    });

    it("writes nothing and emits nothing when the status moved on", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      await store.commit(captured(orderId), null, [processed(orderId)]);
      const stale = { ...captured(orderId), status: "declined" as const };
      expect(await store.commit(stale, null, [processed(orderId)])).toBe(false);
      expect(await store.commit(stale, "refunding", [])).toBe(false);
      expect((await store.get(orderId))?.status).toBe("captured");
      expect(ordersIn(await emitted("payment.processed"), orderId)).toHaveLength(1);
    });

    it("moves from an expected status to the next", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      await store.commit(captured(orderId), null, []);
      const refunding: PaymentRecord = { ...captured(orderId), status: "refunding", reason: "saga gave up" };
      expect(await store.commit(refunding, "captured", [])).toBe(true);
      expect(await store.get(orderId)).toEqual(refunding);
    });

    it("reports a transient failure once per attempt", async () => {
      const { store, emitted } = await factory();
      const orderId = `o-${randomUUID()}`;
      expect(await store.attemptReported(orderId, 1)).toBe(false);
      expect(await store.reportAttemptFailure(orderId, 1, [failed(orderId, 1)])).toBe(true);
      expect(await store.reportAttemptFailure(orderId, 1, [failed(orderId, 1)])).toBe(false);
      expect(await store.attemptReported(orderId, 1)).toBe(true);
      expect(await store.reportAttemptFailure(orderId, 2, [failed(orderId, 2)])).toBe(true);
      expect(ordersIn(await emitted("payment.failed"), orderId)).toHaveLength(2);
      expect(await store.get(orderId)).toBeUndefined();
    });

    it("remembers how an order ended, a later fact winning whatever order they arrive in", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      expect(await store.outcome(orderId)).toBeUndefined();
      await store.recordOutcome(orderId, "compensation_failed");
      await store.recordOutcome(orderId, "failed");
      expect(await store.outcome(orderId)).toBe("compensation_failed");
      await store.recordOutcome(orderId, "compensation_resolved");
      expect(await store.outcome(orderId)).toBe("compensation_resolved");
    });

    it("refuses to emit another service's events", async () => {
      const { store } = await factory();
      const orderId = `o-${randomUUID()}`;
      const foreign = publisher.prepare("order.compensation.payment.refund", {
        orderId,
        reason: "x",
      }).message;
      await expect(store.commit(captured(orderId), null, [foreign])).rejects.toMatchObject({
        code: "FOREIGN_EVENT",
        message: expect.stringMatching(/owned by "order"/),
      });
      expect(await store.get(orderId)).toBeUndefined();
    });
  });
}
