import { describe, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import type { BusLogger } from "./context.js";
import { DeliveredContext } from "./delivered-context.js";
import { decodeEnvelope } from "./envelope.js";
import { Publisher } from "./publisher.js";
import { TestEvents } from "./test-events.js";
import type { Delivery } from "./transport.js";
import { MemoryTransport } from "./transports/memory.js";

const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
const publisher = new Publisher({
  events: TestEvents,
  transport,
  source: { service: "shop", instance: "shop-1" },
  signer: null,
});
const received = decodeEnvelope(
  publisher.prepare("item.added", { sku: "a", quantity: 1 }, { correlationId: "corr-1" }).message.body,
);

/** A delivery whose signal and clock reads are counted. */
function delivery(options: { now?: () => number } = {}): Delivery & { signalReads: number } {
  const controller = new AbortController();
  const fake = {
    signalReads: 0,
    deliveryId: "1-0",
    topic: "item.added",
    owner: "shop",
    body: "",
    attempt: 2,
    waitedAttempts: 0,
    silentDeliveries: 0,
    deliveryCount: 3,
    replay: false,
    enqueuedAt: 1_000,
    firstDeliveredAt: 900,
    get signal() {
      fake.signalReads++;
      return controller.signal;
    },
    ageMs: () => 42,
    ...(options.now ? { now: options.now } : {}),
    ack: async () => {},
    retry: async () => {},
    defer: async () => {},
    deadLetter: async () => {},
  };
  return fake;
}

function countingLogger(): BusLogger & { children: number; lines: unknown[] } {
  const logger = {
    children: 0,
    lines: [] as unknown[],
    debug() {},
    info: (obj: object, msg?: string) => logger.lines.push([obj, msg]),
    warn() {},
    error() {},
    child(bindings: Record<string, unknown>): BusLogger {
      logger.children++;
      return {
        ...logger,
        info: (obj: object, msg?: string) => logger.lines.push([{ ...bindings, ...obj }, msg]),
      };
    },
    isLevelEnabled: (level: string) => level !== "debug",
  };
  return logger;
}

describe("DeliveredContext", () => {
  it("carries the delivery's facts, and publish/prepare destructured from it stay causal", () => {
    const ctx = new DeliveredContext(received, delivery(), "marks", "g", countingLogger(), publisher);
    expect(ctx).toMatchObject({ event: "item.added", attempt: 2, deliveryCount: 3, enqueuedAt: 1_000 });
    expect(ctx.payload).toEqual({ sku: "a", quantity: 1 });
    expect(ctx.ageMs()).toBe(42);
    const { prepare } = ctx;
    const next = decodeEnvelope(prepare("item.removed", { sku: "a" }).message.body);
    expect(next.correlationId).toBe("corr-1");
    expect(next.causationId).toBe(received.id);
  });

  it("reads the lease signal from the delivery only when asked (the transport makes it on first read)", () => {
    const fake = delivery();
    const ctx = new DeliveredContext(received, fake, "marks", "g", countingLogger(), publisher);
    expect(fake.signalReads).toBe(0);
    expect(ctx.signal?.aborted).toBe(false);
    expect(fake.signalReads).toBe(1);
  });

  it("makes the child logger only when a line is written, bound to the message's ids", () => {
    const base = countingLogger();
    const ctx = new DeliveredContext(received, delivery(), "marks", "g", base, publisher);
    const { logger } = ctx;
    logger.debug({ skipped: true }, "below the level");
    expect(base.children).toBe(0);
    logger.info({ n: 1 }, "handled");
    logger.info({ n: 2 }, "again");
    expect(base.children).toBe(1);
    expect(base.lines[0]).toEqual([
      { correlationId: "corr-1", messageId: received.id, event: "item.added", n: 1 },
      "handled",
    ]);
  });

  it("has now() only when the transport has a clock", () => {
    expect(
      new DeliveredContext(received, delivery(), "marks", "g", countingLogger(), publisher).now,
    ).toBeUndefined();
    const ctx = new DeliveredContext(
      received,
      delivery({ now: () => 7 }),
      "marks",
      "g",
      countingLogger(),
      publisher,
    );
    expect(ctx.now?.()).toBe(7);
  });

  it("without a publisher, publish throws a clear error", () => {
    const ctx = new DeliveredContext(received, delivery(), "marks", "g", countingLogger(), undefined);
    expect(() => ctx.prepare("item.removed", { sku: "a" })).toThrow(/without a publisher/);
  });
});
