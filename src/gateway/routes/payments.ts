/** The payment service's operator routes: the money of an order, and the reconciliation of all. */
import type { ProxyRoute } from "./types.js";

const tag = "Payments";

export const paymentRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/payments/reconciliation",
    service: "payment",
    tag,
    summary:
      "Orders whose payment record and provider ledger disagree, or whose money does not match the order's outcome",
    responses: { 200: "{ checked, mismatches: [{ orderId, reason, status, outcome, amount, provider }] }" },
  },
  {
    method: "GET",
    url: "/payments/:orderId",
    service: "payment",
    tag,
    summary: "The payment of an order, next to the provider's own ledger for it",
    responses: {
      200: "{ orderId, status, amount, currency, refundedAmount, attempts, updatedAt, provider: { charged, refunded } }",
      404: "No payment record, attempt or provider charge for this order",
    },
  },
];
