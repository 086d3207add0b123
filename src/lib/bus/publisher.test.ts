import { describe, expect, it } from "vitest";
import { MemoryDeadLetterStore } from "../dlq/memory-dead-letter-store.js";
import { decodeEnvelope, traceIdOf } from "./envelope.js";
import { Publisher, type PublisherMiddleware } from "./publisher.js";
import { TestEvents } from "./test-events.js";
import { MemoryTransport } from "./transports/memory.js";

const source = { service: "shop", instance: "shop-1" };
const transport = new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() });

describe("Publisher middleware", () => {
  it("runs in order around every envelope, and what it adds is in the encoded message", () => {
    const trace: string[] = [];
    const tenant: PublisherMiddleware = (envelope, next) => {
      trace.push("tenant>");
      envelope.attributes.tenant = "t-1";
      next();
      trace.push("tenant<");
    };
    const audit: PublisherMiddleware = (envelope, next) => {
      trace.push(`audit ${envelope.attributes.tenant}`);
      next();
    };
    const publisher = new Publisher({ events: TestEvents, transport, source, middleware: [tenant, audit] });
    const prepared = publisher.prepare("item.added", { sku: "a", quantity: 1 });
    expect(trace).toEqual(["tenant>", "audit t-1", "tenant<"]);
    expect(decodeEnvelope(prepared.message.body).attributes).toEqual({ tenant: "t-1" });
  });

  it("vetoes a message by throwing: nothing is prepared or sent", async () => {
    const veto: PublisherMiddleware = (envelope) => {
      if (envelope.event === "item.removed") throw new Error("removals are frozen");
    };
    const publisher = new Publisher({ events: TestEvents, transport, source, middleware: [veto] });
    await expect(publisher.publish("item.removed", { sku: "a" })).rejects.toThrow("removals are frozen");
    expect(() => publisher.prepare("item.added", { sku: "a", quantity: 1 })).not.toThrow();
  });
});

describe("Publisher traceparent", () => {
  it("sends only a W3C traceparent: a malformed one given is replaced by a fresh trace", () => {
    const publisher = new Publisher({ events: TestEvents, transport, source });
    const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    expect(
      publisher.prepare("item.added", { sku: "a", quantity: 1 }, { traceparent: valid }).envelope.traceparent,
    ).toBe(valid);
    for (const traceparent of [
      'x"y',
      "line\nbreak",
      "\ud800",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    ]) {
      const prepared = publisher.prepare("item.added", { sku: "a", quantity: 1 }, { traceparent });
      const sent = decodeEnvelope(prepared.message.body).traceparent;
      expect(sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(traceIdOf(sent)).not.toBe("00000000000000000000000000000000");
      expect(prepared.envelope.traceparent).toBe(sent);
    }
  });
});
