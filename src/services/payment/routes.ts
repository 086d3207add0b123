import { pageLimit } from "../../lib/http/query.js";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { AppError, notFound, parseInput } from "../../lib/http/index.js";
import { parseQuery } from "../../lib/http/server.js";
import { type LedgerEntry, type PaymentProvider, ProviderError } from "./provider.js";
import { type PaymentRow, paymentView, reconcile } from "./reconciliation.js";
import type { PaymentStore } from "./store.js";

const Params = z.object({ orderId: OrderIdSchema });

/** The saga asks for at most this many payment attempts (bounds the count below). */
const MAX_COUNTED_ATTEMPTS = 20;

/**
 * Where a reconciliation walk is: first the payment records (an SSCAN cursor of the record index),
 * then the provider's charges (a position in its ledger) to find charges no record knows.
 * Opaque to clients: base64url JSON.
 */
type ReconciliationPosition = { phase: "records"; cursor: string } | { phase: "provider"; offset: number };

export const encodeReconciliationCursor = (p: ReconciliationPosition): string =>
  Buffer.from(JSON.stringify(p.phase === "records" ? ["r", p.cursor] : ["p", p.offset])).toString(
    "base64url",
  );

export function decodeReconciliationCursor(cursor: string): ReconciliationPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [phase, at] = parsed as unknown[];
    if (phase === "r" && typeof at === "string" && /^\d{1,20}$/.test(at))
      return { phase: "records", cursor: at };
    if (phase === "p" && typeof at === "number" && Number.isSafeInteger(at) && at >= 0)
      return { phase: "provider", offset: at };
    return undefined;
  } catch {
    return undefined;
  }
}

const ReconciliationQuery = z.strictObject({
  limit: pageLimit(500).default(100),
  cursor: z
    .string()
    .refine(
      (c) => decodeReconciliationCursor(c) !== undefined,
      "cursor: the nextCursor of a previous page, unchanged",
    )
    .optional(),
});

/** The provider answered "down" or "busy with this key": its ledger cannot be read right now. */
const providerCannotAnswer = (error: unknown): boolean =>
  error instanceof ProviderError &&
  (error.code === "provider_unavailable" || error.code === "request_in_progress");

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

  /** One order's row; the provider's part throws `ProviderError` while it cannot answer. */
  async function row(orderId: string, charge?: LedgerEntry): Promise<PaymentRow> {
    const [record, outcome, attempts, charged, refund] = await Promise.all([
      store.get(orderId),
      store.outcome(orderId),
      failedAttempts(orderId),
      charge ?? provider.retrieve("charge", orderId),
      provider.retrieve("refund", refundKey(orderId)),
    ]);
    return { orderId, record, outcome, failedAttempts: attempts, charge: charged, refund };
  }

  /** Rows one at a time: a page never turns into a burst of thousands of Redis reads. */
  async function rows<T>(items: readonly T[], read: (item: T) => Promise<PaymentRow | undefined>) {
    const found: PaymentRow[] = [];
    for (const item of items) {
      const r = await read(item);
      if (r) found.push(r);
    }
    return found;
  }

  /**
   * One bounded page of the reconciliation: `checked` rows, their mismatches, and `nextCursor` while
   * more follow. Records first (every order with a payment record), then the provider's charges
   * that no record knows. 503 `PAYMENT_PROVIDER_UNAVAILABLE` while the provider cannot be asked.
   */
  app.get("/payments/reconciliation", async (request) => {
    const { limit, cursor } = parseQuery(ReconciliationQuery, request.query);
    const at = (cursor === undefined ? undefined : decodeReconciliationCursor(cursor)) ?? {
      phase: "records" as const,
      cursor: "0",
    };
    try {
      if (at.phase === "records") {
        const page = await store.pageOrderIds(at.cursor, limit);
        const checked = await rows([...new Set(page.ids)], (orderId) => row(orderId));
        const next: ReconciliationPosition =
          page.next === "0" ? { phase: "provider", offset: 0 } : { phase: "records", cursor: page.next };
        return {
          checked: checked.length,
          mismatches: reconcile(checked),
          nextCursor: encodeReconciliationCursor(next),
        };
      }
      const charges = await provider.list("charge", { offset: at.offset, limit });
      // Orders with a record were checked in the records phase: only charges no record knows.
      const checked = await rows(charges, async (charge) =>
        (await store.get(charge.idempotencyKey)) ? undefined : row(charge.idempotencyKey, charge),
      );
      const more = charges.length === limit;
      return {
        checked: checked.length,
        mismatches: reconcile(checked),
        ...(more
          ? { nextCursor: encodeReconciliationCursor({ phase: "provider", offset: at.offset + limit }) }
          : {}),
      };
    } catch (error) {
      if (!providerCannotAnswer(error)) throw error;
      throw new AppError(
        "PAYMENT_PROVIDER_UNAVAILABLE",
        "the payment provider cannot be asked right now: the reconciliation needs its ledger, retry later",
      );
    }
  });

  app.get("/payments/:orderId", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    try {
      const found = await row(orderId);
      if (!found.record && !found.charge && found.failedAttempts === 0)
        throw notFound("payment of order", orderId);
      return paymentView(found);
    } catch (error) {
      if (!providerCannotAnswer(error)) throw error;
      // The record is ours and readable: shown, with the provider's part marked unknown.
      const [record, attempts] = await Promise.all([store.get(orderId), failedAttempts(orderId)]);
      if (!record && attempts === 0) {
        // No record of ours: only the provider could tell whether it holds a charge.
        throw new AppError(
          "PAYMENT_PROVIDER_UNAVAILABLE",
          `the payment provider cannot be asked right now about order ${orderId}: retry later`,
        );
      }
      const reason = error instanceof Error ? error.message : String(error);
      return paymentView(
        {
          orderId,
          record,
          outcome: undefined,
          failedAttempts: attempts,
          charge: undefined,
          refund: undefined,
        },
        { unknown: reason },
      );
    }
  });
}
