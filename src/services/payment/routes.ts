import { pageLimit } from "../../lib/http/query.js";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { AppError, notFound, parseInput } from "../../lib/http/index.js";
import { parseQuery } from "../../lib/http/server.js";
import type { LedgerEntry } from "./provider.js";
import { OutcomeUnknownError, type ProviderClient } from "./provider-client.js";
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

/**
 * The provider's ledger cannot be read right now: it is down, did not answer within the client's
 * time budget, or the circuit is open (the client's `OutcomeUnknownError`). A key whose call is in
 * progress is not this: the provider answered (see `peekOrBusy`).
 */
const providerCannotAnswer = (error: unknown): boolean => error instanceof OutcomeUnknownError;

/** What the provider holds for one key: its entry (none: nothing), or its words on a call in progress. */
type Peeked = { entry: LedgerEntry | undefined; busy?: string };

/** Rows of one reconciliation page read at once (each row is a few Redis reads and two provider reads). */
export const RECONCILIATION_READ_CONCURRENCY = 8;

export interface PaymentRoutesDeps {
  store: PaymentStore;
  /**
   * The provider as the service calls it (provider-client.ts): asked like a provider's dashboard
   * API (never the service's own records), every read under the client's time budget and never
   * while its breaker is open, so an operator's page neither hangs on a provider that does not
   * answer nor hammers one that is down (and its own failures never open the breaker).
   */
  provider: Pick<ProviderClient, "peek" | "list">;
  refundKey: (orderId: string) => string;
  /** Rows of a reconciliation page read at once (default `RECONCILIATION_READ_CONCURRENCY`). */
  readConcurrency?: number;
}

/**
 * Operators' view of the money (proxied by the gateway as `/payments/...`). Records hold a token
 * fingerprint, never a token, and the answers show neither.
 */
export function registerPaymentRoutes(app: FastifyInstance, deps: PaymentRoutesDeps): void {
  const { store, provider, refundKey } = deps;
  const concurrency = Math.max(1, deps.readConcurrency ?? RECONCILIATION_READ_CONCURRENCY);

  async function failedAttempts(orderId: string): Promise<number> {
    let n = 0;
    while (n < MAX_COUNTED_ATTEMPTS && (await store.attemptReported(orderId, n + 1))) n++;
    return n;
  }

  /**
   * The provider's entry for a key. A call with the key still being processed (`request_in_progress`:
   * the provider answered, it is up) is `busy` with the provider's words, not a failure: one order
   * in flight must not fail a whole reconciliation page (break34 F1). Throws `OutcomeUnknownError`
   * while the provider cannot be asked (down, no answer in the time budget, circuit open).
   */
  async function peekOrBusy(kind: LedgerEntry["kind"], key: string): Promise<Peeked> {
    try {
      return { entry: await provider.peek(kind, key) };
    } catch (error) {
      if (!(error instanceof OutcomeUnknownError && error.providerAnswered)) throw error;
      const cause: unknown = error.cause ?? error;
      return { entry: undefined, busy: cause instanceof Error ? cause.message : String(cause) };
    }
  }

  /**
   * One order's row (`inProgress` when a call for it is still being processed at the provider); the
   * provider's part throws `OutcomeUnknownError` while it cannot be asked.
   */
  async function row(orderId: string, charge?: LedgerEntry): Promise<PaymentRow> {
    const [record, outcome, attempts, charged, refund] = await Promise.all([
      store.get(orderId),
      store.outcome(orderId),
      failedAttempts(orderId),
      charge ? Promise.resolve<Peeked>({ entry: charge }) : peekOrBusy("charge", orderId),
      peekOrBusy("refund", refundKey(orderId)),
    ]);
    const busy = [charged.busy, refund.busy].filter((b): b is string => b !== undefined);
    return {
      orderId,
      record,
      outcome,
      failedAttempts: attempts,
      charge: charged.entry,
      refund: refund.entry,
      ...(busy.length > 0 ? { inProgress: busy.join("; ") } : {}),
    };
  }

  /**
   * The rows of a page, in the page's order, at most `concurrency` read at once: a page is bounded
   * (`limit` <= 500), so it never turns into a burst of thousands of reads, nor into `limit` round
   * trips one after the other. The first failure fails the page (no further row is started).
   */
  async function rows<T>(items: readonly T[], read: (item: T) => Promise<PaymentRow | undefined>) {
    const found: (PaymentRow | undefined)[] = new Array<PaymentRow | undefined>(items.length);
    let next = 0;
    let failing = false;
    const worker = async () => {
      while (!failing && next < items.length) {
        const index = next++;
        try {
          found[index] = await read(items[index] as T);
        } catch (error) {
          failing = true;
          throw error;
        }
      }
    };
    const workers = Array.from({ length: Math.min(concurrency, items.length) }, worker);
    const settled = await Promise.allSettled(workers);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return found.filter((r): r is PaymentRow => r !== undefined);
  }

  /**
   * One bounded page of the reconciliation: `checked` rows, their mismatches, and `nextCursor` while
   * more follow. Records first (every order with a payment record), then the provider's charges
   * that no record knows. An order with a provider call in progress is one `in_progress` row (re-check
   * it later), never a failure of the page (break34 F1). 503 `PAYMENT_PROVIDER_UNAVAILABLE` only
   * while the provider cannot be asked (down, no answer in the time budget, circuit open).
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
      // A call in progress at the provider is something for the order, even with nothing else.
      if (!found.record && !found.charge && found.failedAttempts === 0 && found.inProgress === undefined)
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
      // The provider's own words (its outage, the open circuit, the time budget), not the wrapper's.
      const cause: unknown = error instanceof Error && error.cause !== undefined ? error.cause : error;
      const reason = cause instanceof Error ? cause.message : String(cause);
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
