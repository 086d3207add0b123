/**
 * The operator's parked-shipment routes over real HTTP on the memory store: list (paged), re-queue
 * once, then the poller delivers it. The Redis run is parked-routes.redis.test.ts.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { createHttpServer } from "../../lib/http/server.js";
import { createLogger } from "../../lib/observability/logger.js";
import { waitFor } from "../../test-support/wait.js";
import { type DeliveryPoller, startDeliveryPoller } from "./delivery.js";
import { preparedRecord } from "./domain.js";
import { registerShippingRoutes } from "./routes.js";
import { MemoryShippingStore } from "./store.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

interface Parked {
  orderId: string;
  reason: string;
  parkedAt: string;
  tries?: number;
}
type ErrorAnswer = { error: { code: string; message: string; details?: { path: string }[] } };

let app: FastifyInstance | undefined;
let poller: DeliveryPoller | undefined;
afterEach(async () => {
  await poller?.stop();
  await app?.close();
  poller = undefined;
  app = undefined;
});

async function setup() {
  const sent: OutgoingMessage[] = [];
  const store = new MemoryShippingStore(async (messages) => {
    sent.push(...messages);
  });
  let clock = T0;
  app = createHttpServer();
  registerShippingRoutes(app, { store, now: () => clock });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  /** A shipment scheduled at T0 whose record "never read": parked at its first failed try. */
  const park = async (orderId: string, reason = "record unreadable: Unexpected token") => {
    const record = preparedRecord(
      { orderId, userId: "u", items: [{ productId: "p", quantity: 1 }] },
      { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000000", carrier: "SimShip" },
      `corr-${orderId}`,
      T0,
    );
    await store.commit(record, null, []);
    await store.scheduleDelivery(orderId, T0, 0);
    const backoff = { baseMs: 1_000, maxMs: 1_000 };
    expect(await store.deferDue(orderId, T0, backoff, { after: 1, reason })).toEqual({
      failures: 1,
      parked: true,
    });
  };
  const delivered = (orderId: string) =>
    sent.filter(
      (m) =>
        m.topic.endsWith("shipping.shipment.delivered") &&
        (decodeEnvelope(m.body).payload as { orderId?: string }).orderId === orderId,
    );
  return { store, url, park, delivered, setClock: (ms: number) => (clock = ms), now: () => clock };
}

const requeue = (url: string, orderId: string) =>
  fetch(`${url}/shipments/${encodeURIComponent(orderId)}/requeue`, { method: "POST" });

describe("shipping routes: parked shipments (memory store)", () => {
  it("lists a parked shipment, re-queues it once (a second re-queue is 404 SHIPMENT_NOT_PARKED), then the poller delivers it once", async () => {
    const { store, url, park, delivered, setClock, now } = await setup();
    const orderId = `o-${randomUUID()}`;
    await park(orderId);

    const listed = await fetch(`${url}/shipments/parked`);
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({
      parked: [
        {
          orderId,
          reason: "record unreadable: Unexpected token",
          parkedAt: new Date(T0).toISOString(),
          tries: 1,
        },
      ],
    });
    // `/shipments/:orderId` still answers the record (the static route did not take it over).
    expect(((await (await fetch(`${url}/shipments/${orderId}`)).json()) as { status: string }).status).toBe(
      "prepared",
    );

    setClock(T0 + 60_000);
    const first = await requeue(url, orderId);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({
      orderId,
      requeued: true,
      dueAt: new Date(T0 + 60_000).toISOString(),
    });
    const second = await requeue(url, orderId);
    expect(second.status).toBe(404);
    expect(((await second.json()) as ErrorAnswer).error.code).toBe("SHIPMENT_NOT_PARKED");
    // Scheduled once, due now on the service's clock; no longer listed.
    expect(await store.due(T0 + 59_999, 10)).toEqual([]);
    expect(await store.due(T0 + 60_000, 10)).toEqual([orderId]);
    expect(await (await fetch(`${url}/shipments/parked`)).json()).toEqual({ parked: [] });

    const publisher = new Publisher({
      events: AllEvents,
      transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
      source: { service: "shipping", instance: "test" },
    });
    poller = startDeliveryPoller({
      store,
      publisher,
      now,
      intervalMs: 10,
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    await waitFor(() => delivered(orderId).length > 0, 10_000, "delivered");
    await poller.stop();
    expect(delivered(orderId)).toHaveLength(1);
    expect((await store.get(orderId))?.status).toBe("delivered");
    expect((await requeue(url, orderId)).status).toBe(404);
  });

  it("answers 404 SHIPMENT_NOT_PARKED for a shipment never parked, and schedules nothing", async () => {
    const { store, url } = await setup();
    const res = await requeue(url, "o-never-parked");
    expect(res.status).toBe(404);
    const body = (await res.json()) as ErrorAnswer;
    expect(body.error.code).toBe("SHIPMENT_NOT_PARKED");
    expect(body.error.message).toContain("o-never-parked");
    expect(await store.due(T0 + 3_600_000, 10)).toEqual([]);
  });

  it("pages the list: limit per page, nextCursor until the last page, every shipment once", async () => {
    const { url, park } = await setup();
    const ids = Array.from({ length: 5 }, (_, i) => `o-${i}-${randomUUID()}`);
    for (const orderId of ids) await park(orderId);
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    do {
      const query = `limit=2${cursor === undefined ? "" : `&cursor=${cursor}`}`;
      const res = await fetch(`${url}/shipments/parked?${query}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { parked: Parked[]; nextCursor?: string };
      sizes.push(page.parked.length);
      seen.push(...page.parked.map((p) => p.orderId));
      cursor = page.nextCursor;
    } while (cursor !== undefined && sizes.length < 10);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it("answers 400 VALIDATION_FAILED with the issues for a bad limit, cursor, unknown parameter or order id", async () => {
    const { url } = await setup();
    const cases: [string, string][] = [
      ["/shipments/parked?limit=0", "query:limit"],
      ["/shipments/parked?limit=501", "query:limit"],
      ["/shipments/parked?limit=1e2", "query:limit"],
      ["/shipments/parked?cursor=not-a-cursor", "query:cursor"],
      ["/shipments/parked?offset=3", "query"],
    ];
    for (const [path, at] of cases) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as ErrorAnswer;
      expect(body.error.code, path).toBe("VALIDATION_FAILED");
      expect(body.error.details?.map((d) => d.path).join(","), path).toContain(at);
    }
    const badId = await requeue(url, "o 1");
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as ErrorAnswer).error.code).toBe("VALIDATION_FAILED");
  });
});
