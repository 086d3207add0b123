/**
 * The shipping service's operator routes: the record of one shipment (break34 F3: before it, only
 * redis-cli showed it), the shipments parked because their record never read, and their re-queue.
 * All need an admin key when keys are configured (`isAdminRoute`, auth.ts): 403 ADMIN_REQUIRED
 * otherwise. `/shipments/parked` is a static segment: the router matches it before
 * `/shipments/:orderId` whatever the order of this table.
 */
import { pageLimit } from "../../lib/http/query.js";
import { z } from "zod";
import type { ProxyRoute } from "./types.js";

const tag = "Shipping";

/** One page of the parked shipments (validated again, with the cursor's format, by the shipping service). */
export const ParkedShipmentsQuery = z.strictObject({
  limit: pageLimit(500).optional(),
  cursor: z.string().optional(),
});

export const shippingRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/shipments/parked",
    service: "shipping",
    admin: true,
    tag,
    summary:
      "Shipments parked because their record did not read in 15 delivery tries, a page at a time (cursor in, nextCursor out). Admin key",
    query: ParkedShipmentsQuery,
    responses: {
      200: "{ parked: [{ orderId, reason, parkedAt? (ISO; absent on an entry damaged by hand), tries? }], nextCursor? }: one page (limit 1-500, default 100; about limit per page, a small set comes whole)",
      400: "Invalid limit or cursor, or an unknown parameter",
    },
    examples: {
      responses: {
        200: {
          parked: [
            {
              orderId: "o-123",
              reason: "record unreadable: Unexpected token",
              parkedAt: "2026-11-30T20:00:00.000Z",
              tries: 15,
            },
          ],
        },
      },
    },
  },
  {
    method: "GET",
    url: "/shipments/:orderId",
    service: "shipping",
    admin: true,
    tag,
    summary:
      "The shipment of an order as the shipping service records it: status, the carrier's booking (shipmentId, trackingNumber, carrier), due and delivery times. Admin key",
    description:
      "The service's record, not the carrier's own ledger. An order whose shipment was never requested has none (404).",
    responses: {
      200: "{ orderId, status (prepared | rejected | cancelled | delivered | voided), userId?, items?, shipmentId?, trackingNumber?, carrier?, reason?, correlationId?, deliverAt?, deliveredAt?, traceparent?, createdAt, updatedAt } (times ISO)",
      400: "Invalid order id (VALIDATION_FAILED)",
      404: "No shipment for this order (NOT_FOUND)",
    },
    examples: {
      responses: {
        200: {
          orderId: "o-123",
          status: "delivered",
          userId: "u-1",
          items: [{ productId: "p-1", quantity: 2 }],
          shipmentId: "5f0c7a1e-2b7d-4c5e-9a51-3f6c1d2e8b90",
          trackingNumber: "SIM0123456789",
          carrier: "SimShip",
          correlationId: "c-1",
          deliveredAt: "2026-11-30T21:00:05.000Z",
          createdAt: "2026-11-30T20:59:58.000Z",
          updatedAt: "2026-11-30T21:00:05.000Z",
        },
        404: { error: { code: "NOT_FOUND", message: "shipment of order o-123 not found" } },
      },
    },
  },
  {
    method: "POST",
    url: "/shipments/:orderId/requeue",
    service: "shipping",
    admin: true,
    tag,
    summary:
      "Puts a parked shipment back on the delivery schedule, due now (repair its record first), with fresh try counts. Admin key",
    description:
      "Atomic: of two calls for one shipment one re-queues, the other answers 404 SHIPMENT_NOT_PARKED; a shipment is never scheduled twice. A record that still does not read is parked again after 15 tries.",
    responses: {
      200: "{ orderId, requeued: true, dueAt (ISO, the service's Redis clock) }",
      400: "Invalid order id",
      404: "The shipment is not parked (never parked, or already re-queued): SHIPMENT_NOT_PARKED",
    },
    examples: {
      responses: {
        200: { orderId: "o-123", requeued: true, dueAt: "2026-11-30T21:00:00.000Z" },
        404: {
          error: {
            code: "SHIPMENT_NOT_PARKED",
            message:
              "shipment of order o-123 is not parked (never parked, or already re-queued): nothing re-queued",
          },
        },
      },
    },
  },
];
