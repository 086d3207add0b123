import { describe, expect, it } from "vitest";
import {
  childTraceparent,
  decodeEnvelope,
  encodeEnvelope,
  isTraceparent,
  messageIdGenerator,
  newMessageId,
  traceIdOf,
} from "./envelope.js";
import { MalformedMessageError } from "./errors.js";
import { generateIdempotencyKey } from "./idempotency-key.js";

describe("envelope", () => {
  it("message ids are UUIDv7 with the creation time in their first 48 bits", () => {
    const before = Date.now();
    const id = newMessageId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1);
  });

  it("message ids sort in creation order, also thousands within one millisecond", () => {
    const many = Array.from({ length: 5_000 }, () => newMessageId());
    expect([...many].sort()).toEqual(many);
    expect(new Set(many).size).toBe(many.length);
  });

  it("ids follow their clock back after a step of it (break11 F1), and stay monotonic over a small correction", () => {
    const idMs = (id: string) => Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16);
    const T = 1_700_000_000_000;
    const next = messageIdGenerator(() => T);
    const first = next(T);
    // A correction of a few ms (the shared clock clamps those; a host clock may not): still after.
    const corrected = next(T - 5);
    expect(idMs(corrected)).toBe(T);
    expect(corrected > first).toBe(true);
    // The shared clock re-anchored 60 s back (Redis's clock stepped): the id's time is the
    // message's signed creation time, so it must follow, or every consumer that has the new time
    // would see it a minute in the future and dead-letter it as CREATED_IN_FUTURE.
    const stepped = next(T - 60_000);
    expect(idMs(stepped)).toBe(T - 60_000);
    const after = next(T - 60_000);
    expect(after > stepped).toBe(true);
    expect(new Set([first, corrected, stepped, after]).size).toBe(4);
  });

  it("a child traceparent keeps the trace id and gets a new span id", () => {
    const root = childTraceparent();
    expect(root).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const child = childTraceparent(root);
    expect(traceIdOf(child)).toBe(traceIdOf(root));
    expect(child).not.toBe(root);
  });

  it("round-trips through the wire format", () => {
    const envelope = {
      id: newMessageId(),
      event: "item.added",
      version: 1,
      occurredAt: new Date(0).toISOString(),
      source: { service: "shop", instance: "shop-1" },
      correlationId: "c-1",
      traceparent: childTraceparent(),
      attributes: { tenant: "t1" },
      payload: { sku: "a", quantity: 1 },
    };
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
  });

  it("drops a traceparent that is not W3C (00-<32 hex>-<16 hex>-<2 hex>, ids not all zero): absent, the message still decodes", () => {
    const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const malformed = [
      'x"y',
      "x\\",
      "line\nbreak",
      "\ud800",
      valid.toUpperCase(),
      `${valid}-extra`,
      ` ${valid}`,
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
    ];
    const wire = (traceparent: string) =>
      encodeEnvelope({
        id: newMessageId(),
        event: "item.added",
        version: 1,
        occurredAt: new Date(0).toISOString(),
        source: { service: "shop", instance: "shop-1" },
        correlationId: "c-1",
        traceparent,
        attributes: {},
        payload: { sku: "a", quantity: 1 },
      });
    for (const traceparent of malformed) {
      expect(isTraceparent(traceparent)).toBe(false);
      const decoded = decodeEnvelope(wire(traceparent));
      expect(decoded.traceparent).toBe("");
      expect(decoded.payload).toEqual({ sku: "a", quantity: 1 });
    }
    expect(decodeEnvelope(wire(valid)).traceparent).toBe(valid);
    expect(decodeEnvelope(wire("")).traceparent).toBe("");
    // A child of a malformed parent starts a fresh trace.
    expect(isTraceparent(childTraceparent(malformed[8]))).toBe(true);
  });

  it("reports non-JSON and incomplete envelopes as malformed", () => {
    expect(() => decodeEnvelope("{not json")).toThrow(MalformedMessageError);
    expect(() => decodeEnvelope(JSON.stringify({ id: "x", event: "e" }))).toThrow(
      /occurredAt: expected a non-empty string/,
    );
  });
});

describe("generateIdempotencyKey", () => {
  it("is the same for equal payloads whatever the key order", () => {
    const a = generateIdempotencyKey("order.placed", { b: 1, a: { y: [1, 2], x: "s" } });
    const b = generateIdempotencyKey("order.placed", { a: { x: "s", y: [1, 2] }, b: 1 });
    expect(a).toBe(b);
    expect(a).toMatch(/^order\.placed:[0-9a-f]{32}$/);
  });

  it("differs for another event or another payload", () => {
    const base = generateIdempotencyKey("order.placed", { a: 1 });
    expect(generateIdempotencyKey("order.cancelled", { a: 1 })).not.toBe(base);
    expect(generateIdempotencyKey("order.placed", { a: 2 })).not.toBe(base);
    expect(generateIdempotencyKey("order.placed", { a: [1, 2] })).not.toBe(
      generateIdempotencyKey("order.placed", { a: [2, 1] }),
    );
  });
});
