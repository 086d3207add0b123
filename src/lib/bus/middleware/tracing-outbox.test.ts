/**
 * A message prepared for a store's outbox is written only when the attempt's store write succeeds
 * (break13 F7): a failed attempt must not leave an OK `publish` span for a message never written.
 * Tracing on (in-memory exporter), the memory transport, a handler that prepares its reply and
 * fails its "store write" on the first attempt, then succeeds.
 */
import { SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { initTracing } from "../../observability/tracing.js";
import { waitFor } from "../../../test-support/wait.js";
import type { OutgoingMessage } from "../transport.js";
import { Publisher } from "../publisher.js";
import { Subscriber } from "../subscriber.js";
import { TestEvents } from "../test-events.js";
import { MemoryTransport } from "../transports/memory.js";
import { createTracingPublisherMiddleware, instrumentTransport } from "./tracing.js";

type Events = typeof TestEvents;
const exporter = new InMemorySpanExporter();
let transport: MemoryTransport;

beforeAll(() => {
  initTracing({ service: "shop", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });
});

afterAll(async () => {
  await transport.close();
});

it("marks the publish span of a message whose store write failed as an error, and only the written one OK", async () => {
  const publisher = new Publisher({
    events: TestEvents,
    transport,
    source: { service: "shop", instance: "shop-1" },
    middleware: [createTracingPublisherMiddleware("memory")],
  });
  const written: OutgoingMessage[] = [];
  let attempts = 0;
  const subscriber = new Subscriber<Events, Events>({
    events: TestEvents,
    transport: instrumentTransport(transport, { group: "audit" }),
    group: "audit",
    consumer: "audit-1",
    publisher,
    retry: { backoff: () => 10, maxAttempts: 3 },
  });
  subscriber.on("item.added", async (payload, ctx) => {
    const reply = ctx.prepare("audit.noted", { note: `added ${payload.sku}` }).message;
    attempts++;
    // The store's outbox script: fails on the first attempt, writes the message on the second.
    if (attempts === 1) throw new Error("store write failed");
    written.push(reply);
  });
  await subscriber.start();
  try {
    await publisher.publish("item.added", { sku: "s-1", quantity: 1 });
    await waitFor(() => written.length === 1, 20_000, "the second attempt written", 20);
    const publishes = await waitFor(
      () => {
        const spans = exporter.getFinishedSpans().filter((s) => s.name === "publish audit.noted");
        return spans.length === 2 ? spans : undefined;
      },
      20_000,
      "both attempts' publish spans ended",
      20,
    );
    const ok = publishes.filter((s) => s.status.code !== SpanStatusCode.ERROR);
    const failed = publishes.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attributes["ordersaga.publish.outcome"]).toBe("attempt_failed");
    // The OK one is the message that was written.
    expect(ok[0]!.attributes["messaging.message.id"]).toBe(written[0]!.id);
  } finally {
    await subscriber.stop();
  }
}, 60_000);
