/**
 * Simulated channel providers (email, push, SMS): deterministic stand-ins for external systems,
 * like the test modes of real providers. Each call carries the notification id as its idempotency
 * key: a repeated id is answered as the first time and never sent twice.
 *
 * Test addresses:
 * - email `...@bounce.test`: permanent failure (`rejected`, no retry).
 * - email `...@flaky.test`: transient failure on the first try of each notification id
 *   (throws a retryable `PROVIDER_UNAVAILABLE`), accepted on the next.
 * - SMS to a number whose digits end in `0000`: permanent failure (invalid number).
 * - anything else, and every push: accepted.
 */
import type { NotificationChannel } from "../../contracts/common.js";
import { BusError } from "../../lib/bus/errors.js";

export interface ProviderRequest {
  /** Idempotency key at the provider. */
  notificationId: string;
  channel: NotificationChannel;
  to: string;
  subject: string;
  text: string;
}

export type ProviderResult = { status: "accepted" } | { status: "rejected"; reason: string };

/** A channel provider; throws a retryable error for a transient failure. */
export interface ChannelProvider {
  send(request: ProviderRequest): Promise<ProviderResult>;
}

/** What a simulated provider delivered. */
export interface SentMessage extends ProviderRequest {
  acceptedAt: number;
}

export class ProviderUnavailableError extends BusError {
  constructor(channel: NotificationChannel, reason: string) {
    super("PROVIDER_UNAVAILABLE", `${channel} provider unavailable: ${reason}`, { retryable: true });
    this.name = "ProviderUnavailableError";
  }
}

function permanentFailure(request: ProviderRequest): string | undefined {
  if (request.channel === "email" && request.to.toLowerCase().endsWith("@bounce.test")) {
    return "email bounced: mailbox does not exist";
  }
  if (request.channel === "sms" && request.to.replace(/\D/g, "").endsWith("0000")) {
    return "sms rejected: invalid number";
  }
  return undefined;
}

const isFlaky = (request: ProviderRequest) =>
  request.channel === "email" && request.to.toLowerCase().endsWith("@flaky.test");

/**
 * The simulated provider's idempotency ledger: what it answered per notification id. In memory for
 * the embedded mode; in Redis otherwise (RedisSendLedger), shared by every instance as a real
 * provider's is, so a message sent by an instance killed before it recorded the send is not sent
 * again by the instance that takes the fact over (break34 F3: each instance had its own ledger).
 */
export interface SendLedger {
  /**
   * Records `result` as the answer to `notificationId` unless one is recorded: atomic, first
   * writer wins. Returns the answer recorded before (then nothing is sent), or undefined (this
   * call's result is recorded: the caller sends).
   */
  settle(notificationId: string, result: ProviderResult, atMs: number): Promise<ProviderResult | undefined>;
  /** True the first time the flaky test mode sees `notificationId` (it then fails that try). */
  firstTry(notificationId: string): Promise<boolean>;
}

export interface MemorySendLedgerOptions {
  /**
   * Notification ids remembered (default 10,000), like a real provider's idempotency window:
   * bounded, so a year of notifications does not live in the heap. The service dedupes in its own
   * store before calling, so this is only the second line.
   */
  capacity?: number;
}

/** Adds to an insertion-ordered map or set, dropping the oldest entry past `capacity`. */
function remember<K>(collection: Map<K, unknown> | Set<K>, key: K, capacity: number): void {
  if (collection.size <= capacity) return;
  const oldest = collection.keys().next();
  if (!oldest.done && oldest.value !== key) collection.delete(oldest.value);
}

export class MemorySendLedger implements SendLedger {
  private readonly results = new Map<string, ProviderResult>();
  private readonly failedOnce = new Set<string>();
  private readonly capacity: number;

  constructor(options: MemorySendLedgerOptions = {}) {
    this.capacity = options.capacity ?? 10_000;
  }

  async settle(notificationId: string, result: ProviderResult): Promise<ProviderResult | undefined> {
    const known = this.results.get(notificationId);
    if (known) return known;
    this.results.set(notificationId, result);
    remember(this.results, notificationId, this.capacity);
    return undefined;
  }

  async firstTry(notificationId: string): Promise<boolean> {
    if (this.failedOnce.has(notificationId)) return false;
    this.failedOnce.add(notificationId);
    remember(this.failedOnce, notificationId, this.capacity);
    return true;
  }
}

export interface SimulatedProvidersOptions {
  now?: () => number;
  /** Where answers are remembered per notification id (default: a MemorySendLedger). */
  ledger?: SendLedger;
  /** Accepted messages kept for `sent()` (default 1,000: the most recent ones; tests read it). */
  keepSent?: number;
}

export class SimulatedProviders implements ChannelProvider {
  private readonly delivered: SentMessage[] = [];
  private readonly now: () => number;
  private readonly ledger: SendLedger;
  private readonly keepSent: number;

  constructor(options: SimulatedProvidersOptions = {}) {
    this.now = options.now ?? Date.now;
    this.ledger = options.ledger ?? new MemorySendLedger();
    this.keepSent = options.keepSent ?? 1_000;
  }

  async send(request: ProviderRequest): Promise<ProviderResult> {
    if (isFlaky(request) && (await this.ledger.firstTry(request.notificationId)))
      throw new ProviderUnavailableError(request.channel, "temporary failure (flaky.test)");
    const reason = permanentFailure(request);
    const result: ProviderResult = reason ? { status: "rejected", reason } : { status: "accepted" };
    const acceptedAt = this.now();
    const known = await this.ledger.settle(request.notificationId, result, acceptedAt);
    if (known) return known;
    if (result.status === "accepted") {
      this.delivered.push({ ...request, acceptedAt });
      if (this.delivered.length > this.keepSent) this.delivered.shift();
    }
    return result;
  }

  /** The last `keepSent` messages accepted by this instance, oldest first. */
  sent(): readonly SentMessage[] {
    return [...this.delivered];
  }
}
