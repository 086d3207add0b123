import { pageLimit } from "../../lib/http/query.js";
import { PlaceOrderBody } from "../../contracts/http.js";
import type { ProxyRoute } from "./types.js";
import { z } from "zod";

const tag = "Orders";

export const OrdersQuery = z.strictObject({
  userId: z.string().min(1).optional(),
  limit: pageLimit(500).optional(),
  cursor: z.string().optional(),
});

/** The order reads by id take no query parameter (break42 F4); the order service refuses any. */
export const NoQuery = z.strictObject({});
const NO_QUERY =
  "Takes no query parameter: any (e.g. `asOf`, `version`) is 400 VALIDATION_FAILED naming it " +
  "(`query:asOf`); there is no temporal or per-version read over HTTP, the answer is always the present.";

export const orderRoutes: ProxyRoute[] = [
  {
    method: "POST",
    url: "/orders",
    service: "order",
    tag,
    summary: "Place a new order (send an Idempotency-Key header to make retries safe)",
    body: PlaceOrderBody,
    idempotencyKey: true,
    responses: {
      202: "Accepted: { orderId, status: 'pending' }",
      400: "Invalid body",
      422: "Idempotency-Key reused with a different body",
    },
  },
  {
    method: "GET",
    url: "/orders",
    service: "order",
    tag,
    summary: "List orders newest first, optionally of one user, a page at a time (cursor in, nextCursor out)",
    query: OrdersQuery,
    responses: { 200: "{ orders: [...], nextCursor? } newest first", 400: "Invalid limit or cursor" },
  },
  {
    method: "GET",
    url: "/orders/:id",
    service: "order",
    tag,
    summary: "Get order by ID",
    description: NO_QUERY,
    query: NoQuery,
    responses: {
      200: "{ id, userId, items, total, status, createdAt, updatedAt }",
      400: "Invalid id, or any query parameter (VALIDATION_FAILED at `query:<name>`)",
      404: "No such order",
    },
  },
  {
    method: "POST",
    url: "/orders/:id/cancel",
    service: "order",
    tag,
    summary: "Cancel an order",
    responses: {
      202: "Cancellation accepted",
      404: "No such order",
      409: "Order can no longer be cancelled",
    },
  },
  {
    method: "GET",
    url: "/orders/:id/events",
    service: "order",
    tag,
    summary: "Get order event history",
    description: NO_QUERY,
    query: NoQuery,
    responses: {
      200: "The order's events, oldest first, and `traceId` when it was placed with tracing on",
      400: "Invalid id, or any query parameter (VALIDATION_FAILED at `query:<name>`)",
      404: "No such order",
    },
  },
];
