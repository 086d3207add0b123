import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { AppError, notFound, parseInput, parseQuery } from "../../lib/http/index.js";
import { CLIENT_HEADER } from "../../lib/http/headers.js";
import { pageLimit } from "../../lib/http/query.js";
import type { ShippingStore } from "./store.js";

const Params = z.object({ orderId: OrderIdSchema });

/** Opaque to clients (base64url JSON of the store's scan cursor), like the reconciliation's. */
export const encodeParkedCursor = (next: string): string =>
  Buffer.from(JSON.stringify(["k", next])).toString("base64url");

/** The store's scan cursor a `nextCursor` stands for, or undefined when this API did not issue it. */
export function decodeParkedCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [tag, at] = parsed as unknown[];
    return tag === "k" && typeof at === "string" && /^\d{1,20}$/.test(at) ? at : undefined;
  } catch {
    return undefined;
  }
}

export const ParkedQuery = z.strictObject({
  limit: pageLimit(500).default(100),
  cursor: z
    .string()
    .refine(
      (c) => decodeParkedCursor(c) !== undefined,
      "cursor: the nextCursor of a previous page, unchanged",
    )
    .optional(),
});

export interface ShippingRoutesDeps {
  store: ShippingStore;
  /** The service's clock (ms epoch; Redis `TIME` on Redis): a re-queued shipment is due at once on it. */
  now: () => number;
  /** Where a re-queue is logged with its caller (the gateway's digest prefix of the API key). */
  logger?: { info(fields: object, message: string): void };
}

/**
 * Shipment records, and the operator's parked shipments (proxied by the gateway, admin key): list
 * them a page at a time, and re-queue one once its record is repaired.
 */
export function registerShippingRoutes(app: FastifyInstance, deps: ShippingRoutesDeps): void {
  const { store } = deps;

  // A static segment: find-my-way matches it before `/shipments/:orderId`, in any order.
  app.get("/shipments/parked", async (request) => {
    const { limit, cursor } = parseQuery(ParkedQuery, request.query);
    const page = await store.pageParked(
      (cursor === undefined ? undefined : decodeParkedCursor(cursor)) ?? "0",
      limit,
    );
    return {
      parked: page.parked.map((p) => ({
        orderId: p.orderId,
        reason: p.reason,
        ...(p.parkedAt === undefined ? {} : { parkedAt: new Date(p.parkedAt).toISOString() }),
        ...(p.tries === undefined ? {} : { tries: p.tries }),
      })),
      ...(page.next === "0" ? {} : { nextCursor: encodeParkedCursor(page.next) }),
    };
  });

  app.get("/shipments/:orderId", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    const record = await store.get(orderId);
    if (!record) throw notFound("shipment of order", orderId);
    return record;
  });

  /**
   * Puts a parked shipment back on the schedule, due now, with fresh counts (one atomic store step:
   * of two concurrent calls one re-queues, the other gets 404). If its record still does not read it
   * is parked again after 15 tries.
   */
  app.post("/shipments/:orderId/requeue", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    const dueAt = deps.now();
    if (!(await store.requeueParked(orderId, dueAt))) {
      throw new AppError(
        "SHIPMENT_NOT_PARKED",
        `shipment of order ${orderId} is not parked (never parked, or already re-queued): nothing re-queued`,
      );
    }
    deps.logger?.info({ orderId, caller: request.headers[CLIENT_HEADER] }, "parked shipment re-queued");
    return { orderId, requeued: true, dueAt: new Date(dueAt).toISOString() };
  });
}
