import { describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { silentLogger } from "../../lib/bus/context.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { voidedRecord } from "./domain.js";
import { createPaymentHandlers } from "./handlers.js";
import { type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import { createProviderClient } from "./provider-client.js";
import { MemoryPaymentStore } from "./store.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "payment", instance: "test" },
});
const ctx = {
  prepare: publisher.prepare.bind(publisher),
  publish: publisher.publish.bind(publisher),
  logger: silentLogger,
};
const request = {
  orderId: "o-1",
  userId: "u-1",
  amount: 900,
  currency: "USD",
  paymentToken: "tok_ok",
  attempt: 1,
};

describe("payment handlers", () => {
  it("refunds at once a charge that completes after the order was voided, and tells nobody", async () => {
    const sent: OutgoingMessage[] = [];
    const store = new MemoryPaymentStore(async (messages) => {
      sent.push(...messages);
    });
    const inner = new SimulatedPaymentProvider();
    // The refund compensation lands while the provider is still charging.
    const racing: PaymentProvider = {
      charge: async (r, signal) => {
        const result = await inner.charge(r, signal);
        await store.commit(
          voidedRecord(r.idempotencyKey, "saga timed out", "2030-01-01T00:00:00.000Z"),
          null,
          [],
        );
        return result;
      },
      refund: (r, signal) => inner.refund(r, signal),
      retrieve: (kind, key, signal) => inner.retrieve(kind, key, signal),
      list: (kind, page) => inner.list(kind, page),
    };
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: racing }),
      now: () => 0,
      newId: () => "pay-1",
      // The handler gets the token from the opener (sealing is payment-token.test.ts's subject).
      tokens: { open: async () => request.paymentToken },
    });
    await handlers.paymentRequested(request, ctx);
    const record = await store.get("o-1");
    expect(record).toMatchObject({ status: "voided", providerChargeId: expect.stringMatching(/^ch_/) });
    expect(record?.refundId).toMatch(/^re_/);
    expect(await inner.ledger.get("refund", "refund:o-1")).toMatchObject({
      chargeId: record?.providerChargeId,
    });
    expect(sent).toEqual([]);
    await handlers.paymentRequested(request, ctx);
    expect(sent).toEqual([]);
  });
});
