/**
 * The payment service's operator routes: the money of an order, and the reconciliation of all. Both
 * need an admin key when keys are configured (`isAdminRoute`, auth.ts): 403 ADMIN_REQUIRED otherwise.
 */
import { pageLimit } from "../../lib/http/query.js";
import { z } from "zod";
import type { ProxyRoute } from "./types.js";

const tag = "Payments";

/** One page of the reconciliation (validated again, with the cursor's format, by the payment service). */
export const ReconciliationQuery = z.strictObject({
  limit: pageLimit(500).optional(),
  cursor: z.string().optional(),
});

export const paymentRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/payments/reconciliation",
    service: "payment",
    tag,
    summary:
      "Orders whose payment record and provider ledger disagree, or whose money does not match the order's outcome, a page at a time (cursor in, nextCursor out). Admin key",
    query: ReconciliationQuery,
    responses: {
      200: "{ checked, mismatches: [{ orderId, kind, reason, status, outcome, amount, provider }], nextCursor? }: one page (limit 1-500, default 100; records first, then record-less provider charges). kind: mismatch, or in_progress (a provider call for the order is still being processed: re-check later; provider { charged: null, refunded: null, unknown })",
      400: "Invalid limit or cursor",
      503: "The payment provider cannot be asked (down, no answer in time, circuit open): PAYMENT_PROVIDER_UNAVAILABLE (Retry-After set)",
    },
  },
  {
    method: "GET",
    url: "/payments/:orderId",
    service: "payment",
    tag,
    summary: "The payment of an order, next to the provider's own ledger for it. Admin key",
    responses: {
      200: "{ orderId, status, amount, currency, refundedAmount, attempts, updatedAt, provider: { charged, refunded } } (provider: { charged: null, refunded: null, unknown } while the provider is down)",
      404: "No payment record, attempt or provider charge for this order",
      503: "The provider is down and there is no record to show: PAYMENT_PROVIDER_UNAVAILABLE (Retry-After set)",
    },
  },
];
