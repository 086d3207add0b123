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
    responses: { 200: "{ id, userId, items, total, status, createdAt, updatedAt }", 404: "No such order" },
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
    responses: {
      200: "The order's events, oldest first, and `traceId` when it was placed with tracing on",
      404: "No such order",
    },
  },
];
