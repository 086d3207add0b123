import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { notFound, parseInput } from "../../lib/http/index.js";
import type { PaymentProvider } from "./provider.js";
import { type PaymentRow, paymentView, reconcile } from "./reconciliation.js";
import type { PaymentStore } from "./store.js";

const Params = z.object({ orderId: OrderIdSchema });

/** The saga asks for at most this many payment attempts (bounds the count below). */
const MAX_COUNTED_ATTEMPTS = 20;

export interface PaymentRoutesDeps {
  store: PaymentStore;
  /** The provider, asked like a provider's dashboard API (never the service's own records). */
  provider: PaymentProvider;
  refundKey: (orderId: string) => string;
}

/**
 * Operators' view of the money (proxied by the gateway as `/payments/...`). Records hold a token
 * fingerprint, never a token, and the answers show neither.
 */
export function registerPaymentRoutes(app: FastifyInstance, deps: PaymentRoutesDeps): void {
  const { store, provider, refundKey } = deps;

  async function failedAttempts(orderId: string): Promise<number> {
    let n = 0;
    while (n < MAX_COUNTED_ATTEMPTS && (await store.attemptReported(orderId, n + 1))) n++;
    return n;
  }

  async function row(orderId: string, ledger?: Ledger): Promise<PaymentRow> {
    const [record, outcome, attempts, charge, refund] = await Promise.all([
      store.get(orderId),
      store.outcome(orderId),
      failedAttempts(orderId),
      ledger ? ledger.charges.get(orderId) : provider.retrieve("charge", orderId),
      ledger ? ledger.refunds.get(refundKey(orderId)) : provider.retrieve("refund", refundKey(orderId)),
    ]);
    return { orderId, record, outcome, failedAttempts: attempts, charge, refund };
  }

  app.get("/payments/reconciliation", async () => {
    const [charges, refunds, recorded] = await Promise.all([
      provider.list("charge"),
      provider.list("refund"),
      store.listOrderIds(),
    ]);
    const ledger: Ledger = {
      charges: new Map(charges.map((e) => [e.idempotencyKey, e])),
      refunds: new Map(refunds.map((e) => [e.idempotencyKey, e])),
    };
    const orderIds = [...new Set([...recorded, ...ledger.charges.keys()])].sort();
    const rows = await Promise.all(orderIds.map((orderId) => row(orderId, ledger)));
    return { checked: rows.length, mismatches: reconcile(rows) };
  });

  app.get("/payments/:orderId", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    const found = await row(orderId);
    if (!found.record && !found.charge && found.failedAttempts === 0)
      throw notFound("payment of order", orderId);
    return paymentView(found);
  });
}

interface Ledger {
  charges: Map<string, Awaited<ReturnType<PaymentProvider["retrieve"]>>>;
  refunds: Map<string, Awaited<ReturnType<PaymentProvider["retrieve"]>>>;
}
