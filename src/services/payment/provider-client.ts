/**
 * The payment provider as the service calls it: every call under a time budget and through a
 * circuit breaker, and every ambiguous answer (a timeout, a lost connection) resolved by asking the
 * provider what the call's idempotency key did before anything is decided. A timeout is not a
 * failure: the charge may have gone through.
 *
 * Only provider-level failures (outage, timeout, lost connection) count towards opening the breaker
 * every customer shares; a card's own failure (declined, card error) is an answer from a healthy
 * provider and never condemns other customers' orders.
 */
import { BusError } from "../../lib/bus/errors.js";
import { providerSpan } from "../../lib/observability/spans.js";
import {
  CircuitBreaker,
  CircuitOpenError,
  type CircuitStateChange,
  withTimeout,
} from "../../lib/resilience/index.js";
import {
  type ChargeRequest,
  type ChargeResult,
  isProviderFailure,
  type LedgerEntry,
  type PaymentProvider,
  ProviderError,
  type RefundRequest,
  type RefundResult,
} from "./provider.js";

export interface ProviderClientOptions {
  provider: PaymentProvider;
  /** Per-call time budget in ms (default 2 s). */
  timeoutMs?: number;
  /** Consecutive provider-level failures that open the circuit (default 5). */
  failureThreshold?: number;
  /** How long the circuit stays open before a trial call, in ms (default 30 s). */
  openMs?: number;
  /** Retrieve-by-key tries within one call before the outcome is reported unknown (default 3). */
  retrieveTries?: number;
  /** Pause before the first retrieve, doubled after each failed try, in ms (default 200). */
  retrieveBackoffMs?: number;
  now?: () => number;
  onStateChange?: (change: CircuitStateChange) => void;
}

export interface ProviderClient {
  readonly breaker: CircuitBreaker;
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<RefundResult>;
  /** What the provider holds for an idempotency key; throws `OutcomeUnknownError` when it cannot be asked. */
  lookup(kind: LedgerEntry["kind"], key: string): Promise<LedgerEntry | undefined>;
  /** Ms until the open circuit lets a trial call through (0 when calls may run now). */
  retryAfterMs(): number;
}

export const PROVIDER_BREAKER = "payment-provider";

/**
 * The provider may or may not have acted on a call and could not be asked yet (it is down or keeps
 * timing out). Retryable: a redelivery calls again with the same idempotency key, which either
 * replays the first result or makes the call for the first time. Never a failure of the payment.
 */
export class OutcomeUnknownError extends BusError {
  constructor(what: string, cause: unknown) {
    super("PAYMENT_OUTCOME_UNKNOWN", `outcome of ${what} unknown: the provider could not be asked yet`, {
      retryable: true,
      cause,
    });
    this.name = "OutcomeUnknownError";
  }
}

/** Errors after which the call may have taken effect at the provider. */
const isAmbiguous = (error: unknown): boolean =>
  !(error instanceof ProviderError) && !(error instanceof CircuitOpenError);

/** Errors that say "the provider cannot be used right now": wait for it, do not decide. */
export const isProviderUnavailable = (error: unknown): boolean =>
  error instanceof CircuitOpenError ||
  error instanceof OutcomeUnknownError ||
  (error instanceof ProviderError && error.code === "provider_unavailable");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const openMs = options.openMs ?? 30_000;
  const now = options.now ?? Date.now;
  const breaker = new CircuitBreaker({
    name: PROVIDER_BREAKER,
    failureThreshold: options.failureThreshold ?? 5,
    successThreshold: 1,
    timeout: openMs,
    isFailure: isProviderFailure,
    now,
    ...(options.onStateChange ? { onStateChange: options.onStateChange } : {}),
  });
  const { provider } = options;
  const tries = options.retrieveTries ?? 3;
  const backoffMs = options.retrieveBackoffMs ?? 200;
  const timed = <T>(work: (signal: AbortSignal) => Promise<T>) => withTimeout(work, timeoutMs);

  /** Asks the provider what the key did, a few times with backoff; throws when it cannot tell. */
  async function retrieve(kind: LedgerEntry["kind"], key: string, first: unknown) {
    let last = first;
    for (let attempt = 0; attempt < tries; attempt++) {
      await sleep(backoffMs * 2 ** attempt);
      try {
        return await timed((signal) => provider.retrieve(kind, key, signal));
      } catch (error) {
        last = error;
      }
    }
    throw new OutcomeUnknownError(`${kind} ${key}`, last);
  }

  /**
   * One call and, when its answer was lost, the retrieve that settles it, as one breaker call: a late
   * answer the provider confirms is a success (the provider is up), while a retrieve that cannot get
   * through is the provider's failure.
   */
  const settled = <T>(
    kind: LedgerEntry["kind"],
    key: string,
    call: (signal: AbortSignal) => Promise<T>,
    fromEntry: (entry: LedgerEntry | undefined, cause: unknown) => T,
  ): Promise<T> =>
    providerSpan("payment-provider", kind, { "ordersaga.idempotency_key": key }, () =>
      breaker.execute(async () => {
        try {
          return await timed(call);
        } catch (error) {
          if (!isAmbiguous(error)) throw error;
          return fromEntry(await retrieve(kind, key, error), error);
        }
      }),
    );

  const charge = (request: ChargeRequest): Promise<ChargeResult> =>
    settled(
      "charge",
      request.idempotencyKey,
      (signal) => provider.charge(request, signal),
      (entry, cause) => {
        if (!entry) throw cause; // it never took effect: a plain failure of this attempt
        if (entry.status === "declined") throw new ProviderError("card_declined", "card declined", false);
        return {
          chargeId: entry.id,
          amount: entry.amount,
          currency: entry.currency,
          fingerprint: entry.fingerprint ?? "",
          replayed: true,
        };
      },
    );

  const refund = (request: RefundRequest): Promise<RefundResult> =>
    settled(
      "refund",
      request.idempotencyKey,
      (signal) => provider.refund(request, signal),
      (entry, cause) => {
        // Not taken: unknown rather than failed, so the refund is simply asked for again.
        if (!entry) throw new OutcomeUnknownError(`refund ${request.idempotencyKey}`, cause);
        return {
          refundId: entry.id,
          chargeId: entry.chargeId ?? request.chargeId,
          amount: entry.amount,
          currency: entry.currency,
          replayed: true,
        };
      },
    );

  /** What the provider holds for a key (the charge of an order voided before it was recorded). */
  const lookup = (kind: LedgerEntry["kind"], key: string): Promise<LedgerEntry | undefined> =>
    breaker
      .execute(() => timed((signal) => provider.retrieve(kind, key, signal)))
      .catch((error: unknown) => {
        throw new OutcomeUnknownError(`${kind} ${key}`, error);
      });

  return {
    breaker,
    charge,
    refund,
    lookup,
    retryAfterMs: () => {
      const { state, openedAt } = breaker.snapshot();
      return state === "OPEN" && openedAt !== null ? Math.max(0, openedAt + openMs - now()) : 0;
    },
  };
}
