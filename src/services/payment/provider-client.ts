/**
 * The payment provider as the service calls it: every call under a time budget and through a
 * circuit breaker, and every ambiguous answer (a timeout, a lost connection) resolved by asking the
 * provider what the call's idempotency key did before anything is decided. A timeout is not a
 * failure: the charge may have gone through.
 *
 * Only provider-level failures (outage, lost connection, a timeout the provider cannot even be asked
 * about) count towards opening the breaker every customer shares. A card's own failure (declined,
 * card error), and a timeout whose retrieve-by-key got an answer, are answers from a reachable
 * provider: they never condemn other customers' orders, and a half-open trial that ends in one
 * closes the breaker (the provider answered) instead of re-opening it.
 *
 * A retrieve that answers `request_in_progress` (the call is still being processed) is asked again
 * with backoff; the outcome is never decided from "in progress" (see `SimulatedPaymentProvider`).
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
  chargeResult,
  isProviderFailure,
  type LedgerEntry,
  type LedgerPage,
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
  /**
   * Ms on a monotonic source timing the breaker (default `monotonicNow`). Never the host's wall
   * clock: a step back of it held the breaker open for the step (break22 F2).
   */
  monotonicNow?: () => number;
  onStateChange?: (change: CircuitStateChange) => void;
}

export interface ProviderClient {
  readonly breaker: CircuitBreaker;
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<RefundResult>;
  /**
   * Voids the charge of a key (`PaymentProvider.voidCharge`): the key's entry after, the `voided`
   * tombstone or the charge it already held. Throws `OutcomeUnknownError` (retryable) while the
   * call is in flight or the provider cannot be asked: a void is never assumed.
   */
  voidCharge(key: string): Promise<LedgerEntry>;
  /**
   * Operators' reads of the provider's dashboard (`GET /payments/...`): what it holds for a key, and
   * a page of its ledger. Under the same time budget as every call, and never while the circuit is
   * open (answered at once without calling the provider); throws `OutcomeUnknownError` when the
   * provider cannot be asked (down, busy, open circuit, no answer within the budget). Their failures
   * are not counted by the breaker: an operator's page timing out under load must not stop
   * customers' charges; only the money calls (charges, refunds, the retrieves that settle them)
   * judge the provider's health.
   */
  peek(kind: LedgerEntry["kind"], key: string): Promise<LedgerEntry | undefined>;
  list(kind: LedgerEntry["kind"], page: LedgerPage): Promise<LedgerEntry[]>;
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
  /** True when the provider answered ("still in progress"): it is up, the call is just not decided. */
  readonly providerAnswered: boolean;

  constructor(what: string, cause: unknown) {
    const answered = isInProgress(cause);
    super(
      "PAYMENT_OUTCOME_UNKNOWN",
      answered
        ? `outcome of ${what} unknown: the provider is still processing it`
        : `outcome of ${what} unknown: the provider could not be asked yet`,
      { retryable: true, cause },
    );
    this.name = "OutcomeUnknownError";
    this.providerAnswered = answered;
  }
}

/** The provider's "a call with this key is still being processed" (Stripe: 409 idempotency in progress). */
export const isInProgress = (error: unknown): boolean =>
  error instanceof ProviderError && error.code === "request_in_progress";

/** Errors after which the call may have taken effect at the provider. */
const isAmbiguous = (error: unknown): boolean =>
  !(error instanceof ProviderError) && !(error instanceof CircuitOpenError);

/** Errors that say "the provider cannot be used right now": wait for it, do not decide. */
export const isProviderUnavailable = (error: unknown): boolean =>
  error instanceof CircuitOpenError ||
  error instanceof OutcomeUnknownError ||
  isInProgress(error) ||
  (error instanceof ProviderError && error.code === "provider_unavailable");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const openMs = options.openMs ?? 30_000;
  /**
   * Errors of calls whose retrieve-by-key got an answer ("nothing taken"): the provider is reachable,
   * so the lost answer was this call's own bad luck (or this card's: `tok_timeout`), not an outage.
   */
  const answeredByProvider = new WeakSet<object>();
  const isBreakerFailure = (error: unknown): boolean => {
    if (typeof error === "object" && error !== null && answeredByProvider.has(error)) return false;
    if (error instanceof OutcomeUnknownError) return !error.providerAnswered;
    return isProviderFailure(error);
  };
  const breaker = new CircuitBreaker({
    name: PROVIDER_BREAKER,
    failureThreshold: options.failureThreshold ?? 5,
    successThreshold: 1,
    timeout: openMs,
    isFailure: isBreakerFailure,
    ...(options.monotonicNow ? { monotonicNow: options.monotonicNow } : {}),
    ...(options.onStateChange ? { onStateChange: options.onStateChange } : {}),
  });
  const { provider } = options;
  const tries = options.retrieveTries ?? 3;
  const backoffMs = options.retrieveBackoffMs ?? 200;
  const timed = <T>(work: (signal: AbortSignal) => Promise<T>) => withTimeout(work, timeoutMs);

  /**
   * Asks the provider what the key did, a few times with backoff, while it cannot be asked or answers
   * "in progress"; throws `OutcomeUnknownError` when it still cannot tell (the caller's message is
   * then redelivered and asks again: it keeps asking until it knows).
   */
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

  /** The lost call's own error, marked as answered by a reachable provider (not a breaker failure). */
  const notTaken = (cause: unknown): unknown => {
    if (typeof cause === "object" && cause !== null) answeredByProvider.add(cause);
    return cause;
  };

  /**
   * One call and, when its answer was lost, the retrieve that settles it, as one breaker call: a late
   * answer the provider confirms is a success and a retrieve that answers "nothing taken" is this
   * call's failure (the provider is up either way), while a retrieve that cannot get through is the
   * provider's failure.
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
        // It never took effect (nothing stored, nothing in flight): a plain failure of this attempt.
        if (!entry) throw notTaken(cause);
        return chargeResult(entry, true);
      },
    );

  const refund = (request: RefundRequest): Promise<RefundResult> =>
    settled(
      "refund",
      request.idempotencyKey,
      (signal) => provider.refund(request, signal),
      (entry, cause) => {
        // Not taken: unknown rather than failed, so the refund is simply asked for again.
        if (!entry) throw notTaken(new OutcomeUnknownError(`refund ${request.idempotencyKey}`, cause));
        return {
          refundId: entry.id,
          chargeId: entry.chargeId ?? request.chargeId,
          amount: entry.amount,
          currency: entry.currency,
          replayed: true,
        };
      },
    );

  const voidCharge = (key: string): Promise<LedgerEntry> =>
    breaker
      .execute(() => timed((signal) => provider.voidCharge(key, signal)))
      .catch((error: unknown) => {
        throw new OutcomeUnknownError(`void of charge ${key}`, error);
      });

  /** An operator's read: gated by the breaker and timed, but never counted by it. */
  const read = async <T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const wait = breaker.retryAfterMs();
    if (wait > 0) throw new OutcomeUnknownError(what, new CircuitOpenError(PROVIDER_BREAKER, wait));
    try {
      return await timed(work);
    } catch (error) {
      throw new OutcomeUnknownError(what, error);
    }
  };
  const peek = (kind: LedgerEntry["kind"], key: string): Promise<LedgerEntry | undefined> =>
    read(`${kind} ${key}`, (signal) => provider.retrieve(kind, key, signal));
  const list = (kind: LedgerEntry["kind"], page: LedgerPage): Promise<LedgerEntry[]> =>
    read(`${kind} list`, () => provider.list(kind, page));

  return {
    breaker,
    charge,
    refund,
    voidCharge,
    peek,
    list,
    retryAfterMs: () => breaker.retryAfterMs(),
  };
}
