/**
 * break-late F5 / break9 F1: deliveries signed as created the skew margin or more in the future are
 * not run: dead-lettered at once as CREATED_IN_FUTURE (no memory or slot held per message, unlike
 * the deferral they replaced), for an operator to retry once their time has come; the Subscriber
 * warns once per publisher per minute however many of its messages it dead-letters.
 */
import { describe, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { waitFor } from "../../test-support/wait.js";
import { childTraceparent, encodeEnvelope } from "./envelope.js";
import { createDedupeWindowMiddleware } from "./middleware/dedupe-window.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";
import { warningRecorder } from "./transports/transport-contract.js";

/** A UUIDv7 message id made at `ms`. */
const idAt = (ms: number, n: number) => {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7abc-8000-${String(n).padStart(12, "0")}`;
};

/** An `item.added` stamped by publisher `instance` at `createdAt` (its clock). */
function message(instance: string, createdAt: number, n: number) {
  const id = idAt(createdAt, n);
  const body = encodeEnvelope({
    id,
    event: "item.added",
    version: 1,
    occurredAt: new Date(createdAt).toISOString(),
    source: { service: "shop", instance },
    correlationId: `c-${n}`,
    traceparent: childTraceparent(),
    attributes: {},
    payload: { sku: `s-${n}`, quantity: 1 },
  });
  return { topic: "item.added", owner: "shop", id, body };
}

describe("a message created in the future", () => {
  it("is dead-lettered as CREATED_IN_FUTURE without running; the right publisher's message runs; one warning per publisher, every one counted", async () => {
    const deadLetters = new MemoryDeadLetterStore();
    const transport = new MemoryTransport({ deadLetters });
    const { warnings, logger } = warningRecorder();
    // Marks of 10 s: a skew margin of 1 s.
    const refused: unknown[] = [];
    const subscriber = new Subscriber({
      events: TestEvents,
      transport,
      group: "audit",
      consumer: "audit-1",
      logger: { ...logger, child: () => ({ ...logger, child: () => logger }) } as never,
      middleware: [createDedupeWindowMiddleware({ windowMs: 10_000 })],
      onRefused: (reason, details) => void refused.push({ reason, ...details }),
    });
    const ran: string[] = [];
    subscriber.on("item.added", async (payload) => void ran.push(payload.sku));
    await subscriber.start();
    try {
      const fast = Date.now() + 5_000; // the publisher's clock, 5 s fast
      await transport.publish([message("shop-fast", fast, 1), message("shop-fast", fast, 2)]);
      await transport.publish([message("shop-ok", Date.now(), 3)]);
      const records = await waitFor(
        async () => {
          const list = await deadLetters.list();
          return list.length === 2 && ran.length === 1 ? list : undefined;
        },
        20_000,
        "two dead letters and the right one handled",
      );
      expect(ran).toEqual(["s-3"]);
      expect(records.map((r) => r.attempts.at(-1)?.error.code)).toEqual([
        "CREATED_IN_FUTURE",
        "CREATED_IN_FUTURE",
      ]);
      expect(records[0]!.reason).toMatch(/in the future.*retry it from the DLQ/);
      expect(refused).toHaveLength(2);
      for (const refusal of refused) {
        expect(refusal).toMatchObject({ reason: "CREATED_IN_FUTURE", event: "item.added" });
        expect((refusal as { aheadMs: number }).aheadMs).toBeGreaterThanOrEqual(1_000);
      }
      expect(warnings.filter((w) => /created in the future/.test(w))).toHaveLength(1);
    } finally {
      await subscriber.stop();
      await transport.close();
    }
  });
});
