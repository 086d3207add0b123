/**
 * A simulated payment provider, deterministic like a real provider's test mode. Behaviour by token:
 *
 * | token         | result                                                                   |
 * |---------------|--------------------------------------------------------------------------|
 * | `tok_ok`      | approved                                                                 |
 * | `tok_decline` | declined (`card_declined`, permanent)                                    |
 * | `tok_error`   | transient `processing_error` on every call                               |
 * | `tok_timeout` | never answers; the call settles only when its AbortSignal aborts         |
 * | `tok_flaky`   | transient `processing_error` on the first call for an idempotency key,   |
 * |               | approved afterwards                                                      |
 * | `tok_late`    | approved and committed at once, but every charge answer (also a replay)  |
 * |               | arrives `lateAnswerMs` later (default 2.5 s, past the client's 2 s)      |
 * | `tok_late_commit` | the provider takes `lateCommitMs` (default 2.5 s) to process the     |
 * |               | charge, then commits it (approved) and answers: the commit itself lands  |
 * |               | after the client's timeout, whatever the client does meanwhile           |
 * | other `tok_*` | approved                                                                 |
 *
 * A suffix `__<letters and digits>` selects the same behaviour (`tok_decline__k3f9` declines): tests
 * use a unique token per order, so a scan for the token in clear cannot pass by accident.
 *
 * A call is *in flight* at the provider from its arrival until its processing ends (committed or
 * failed), like a real provider's idempotency-key lock: meanwhile `retrieve` for that key, and a
 * second call with it, answer `request_in_progress` (Stripe: 409 "idempotency key in use"), never
 * "no such call", so a caller that timed out cannot mistake a charge still on its way for one that
 * never happened. A client giving up (its signal aborting) does not stop the provider's processing,
 * except for `tok_timeout`, whose processing fails when the caller goes away. The in-flight mark is
 * a lease (`inFlightLeaseMs`, default 60 s, longer than any processing above) so a provider that
 * died mid-call does not hold the key forever.
 *
 * `card_declined` and `processing_error` are the card's own failures: the provider is healthy.
 * `provider_unavailable` (thrown for every call while the ledger's outage window is open) is the
 * provider's own failure, the only kind that says "the provider is unhealthy".
 *
 * Like real providers it keeps a ledger keyed by the caller's idempotency key: a second charge (or
 * refund) with a key already used returns the first result (`replayed: true`) and moves no money,
 * and `retrieve` answers what a key did (like a provider's "retrieve by idempotency key"), so a
 * caller whose answer was lost can learn the outcome. The ledger never holds the token, only a
 * fingerprint of it.
 *
 * A caller that gave up on a charge voids its key (`voidCharge`): a `voided` entry on a key that held
 * nothing, after which every charge with the key, also one whose slow commit was already under way,
 * answers `charge_voided` and moves no money.
 */
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { monotonicNow } from "../../lib/resilience/monotonic.js";

export type ProviderErrorCode =
  | "card_declined"
  | "processing_error"
  | "unknown_charge"
  | "provider_unavailable"
  /** A call with this idempotency key is still being processed: ask again later (Stripe: 409). */
  | "request_in_progress"
  /** The charge's key was voided before anything was taken: it can never charge (Stripe: canceled intent). */
  | "charge_voided";

/** A provider answer that is not a success; `transient` says whether the same call may succeed later. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}

/** A declined card is an answer from a healthy provider, not a sign of trouble. */
export const isDecline = (error: unknown): boolean =>
  error instanceof ProviderError && error.code === "card_declined";

/**
 * Whether an error says the provider itself is unhealthy (outage, timeout, lost connection), as
 * opposed to an answer about one card or charge from a healthy provider. Only these may open the
 * breaker that all customers share.
 */
export const isProviderFailure = (error: unknown): boolean =>
  !(error instanceof ProviderError) || error.code === "provider_unavailable";

export interface LedgerEntry {
  kind: "charge" | "refund";
  idempotencyKey: string;
  /** `ch_...` for a charge, `re_...` for a refund, `vo_...` for a voided charge key. */
  id: string;
  /**
   * `voided`: a tombstone the caller's void left on a charge key that held nothing (amount 0): no
   * call with the key can charge afterwards, like a cancelled PaymentIntent that cannot be captured.
   */
  status: "approved" | "declined" | "voided";
  amount: number;
  currency: string;
  /** Charges: fingerprint of the token (never the token). */
  fingerprint?: string;
  /** Refunds: the refunded charge. */
  chargeId?: string;
  createdAt: string;
}

/** The provider's own storage (its "database"), a port with memory and Redis adapters. */
export interface ProviderLedger {
  /** Stores the entry unless its (kind, key) is taken; returns the stored entry either way. */
  putIfAbsent(entry: LedgerEntry): Promise<{ entry: LedgerEntry; created: boolean }>;
  get(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<LedgerEntry | undefined>;
  /** An entry by its provider id (`ch_...`, `re_...`). */
  getById(id: string): Promise<LedgerEntry | undefined>;
  /**
   * Marks a call with this (kind, key) in flight for at most `leaseMs`; false (and nothing changed)
   * when one already is.
   */
  beginCall(kind: LedgerEntry["kind"], idempotencyKey: string, leaseMs: number): Promise<boolean>;
  /** Ends the in-flight mark of a (kind, key): its processing committed or failed. */
  endCall(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<void>;
  /** Whether a call with this (kind, key) is being processed now. */
  inFlight(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<boolean>;
  /**
   * The whole processing of a charge that takes no time, in one atomic step (so its in-flight mark
   * never needs to be visible): `down` while an outage window is open at `nowMs`, `busy` while a
   * call with the key is in flight, the stored entry (`created: false`) when the key was used;
   * otherwise counts the call (the key's call counter) when `fail` can fail it, and, unless `fail`
   * says this call fails (`failed`: nothing stored), stores `entry` (`putIfAbsent`). A call that
   * cannot fail ("never") is not counted: it stores the entry, so later calls with its key are replays.
   */
  chargeInstantly(entry: LedgerEntry, nowMs: number, fail: InstantFailure): Promise<InstantOutcome>;
  /** Epoch ms (provider clock) until which the provider is down; 0 when it is up. */
  unavailableUntil(): Promise<number>;
  /** Opens an outage window (tests, the fault suite): every call fails until `untilMs`. */
  setUnavailableUntil(untilMs: number): Promise<void>;
  /**
   * Entries of one kind, oldest first (the provider's dashboard): a page of at most `page.limit`
   * from position `page.offset`, or every entry without `page` (tests; bounded by the orders).
   */
  list(kind: LedgerEntry["kind"], page?: LedgerPage): Promise<LedgerEntry[]>;
}

/** A page of a ledger list: `limit` entries from position `offset` (0 = the oldest). */
/** Which calls of an instant charge fail transiently: none, the key's first, or every one. */
export type InstantFailure = "never" | "first" | "always";

export type InstantOutcome =
  | { kind: "down" }
  | { kind: "busy" }
  | { kind: "failed" }
  | { kind: "stored"; entry: LedgerEntry; created: boolean };

/** Whether the call numbered `calls` (1 = the key's first) fails under `fail`. */
export const failsOn = (fail: InstantFailure, calls: number): boolean =>
  fail === "always" || (fail === "first" && calls === 1);

export interface LedgerPage {
  offset: number;
  limit: number;
  /** Only entries created at or after this time (epoch ms); `offset` counts within them. */
  fromMs?: number;
  /** Only entries created at or before this time (epoch ms). */
  toMs?: number;
}

/** Whether a creation time (epoch ms) is in the page's `fromMs`..`toMs` range (inclusive). */
const inRange = (createdMs: number, page?: LedgerPage): boolean =>
  createdMs >= (page?.fromMs ?? -Infinity) && createdMs <= (page?.toMs ?? Infinity);

export class MemoryProviderLedger implements ProviderLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly byId = new Map<string, string>();
  private readonly calls = new Map<string, number>();
  /** In-flight (kind:key) → lease end on `monotonicNow` (a local duration: a clock step must not move it). */
  private readonly flying = new Map<string, number>();

  async beginCall(kind: LedgerEntry["kind"], idempotencyKey: string, leaseMs: number): Promise<boolean> {
    if (await this.inFlight(kind, idempotencyKey)) return false;
    this.flying.set(`${kind}:${idempotencyKey}`, monotonicNow() + leaseMs);
    return true;
  }

  async endCall(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<void> {
    this.flying.delete(`${kind}:${idempotencyKey}`);
  }

  async inFlight(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<boolean> {
    return (this.flying.get(`${kind}:${idempotencyKey}`) ?? 0) > monotonicNow();
  }

  async putIfAbsent(entry: LedgerEntry): Promise<{ entry: LedgerEntry; created: boolean }> {
    const key = `${entry.kind}:${entry.idempotencyKey}`;
    const existing = this.entries.get(key);
    if (existing) return { entry: { ...existing }, created: false };
    this.entries.set(key, { ...entry });
    this.byId.set(entry.id, key);
    return { entry: { ...entry }, created: true };
  }

  async get(kind: LedgerEntry["kind"], idempotencyKey: string): Promise<LedgerEntry | undefined> {
    const entry = this.entries.get(`${kind}:${idempotencyKey}`);
    return entry ? { ...entry } : undefined;
  }

  async getById(id: string): Promise<LedgerEntry | undefined> {
    const key = this.byId.get(id);
    const entry = key === undefined ? undefined : this.entries.get(key);
    return entry ? { ...entry } : undefined;
  }

  async chargeInstantly(entry: LedgerEntry, nowMs: number, fail: InstantFailure): Promise<InstantOutcome> {
    // No await before the last step: atomic like the Redis ledger's script.
    if (nowMs < this.downUntil) return { kind: "down" };
    if ((this.flying.get(`charge:${entry.idempotencyKey}`) ?? 0) > monotonicNow()) return { kind: "busy" };
    const existing = this.entries.get(`charge:${entry.idempotencyKey}`);
    if (existing) return { kind: "stored", entry: { ...existing }, created: false };
    if (fail !== "never") {
      const calls = (this.calls.get(entry.idempotencyKey) ?? 0) + 1;
      this.calls.set(entry.idempotencyKey, calls);
      if (failsOn(fail, calls)) return { kind: "failed" };
    }
    return { kind: "stored", ...(await this.putIfAbsent(entry)) };
  }

  private downUntil = 0;
  async unavailableUntil(): Promise<number> {
    return this.downUntil;
  }

  async setUnavailableUntil(untilMs: number): Promise<void> {
    this.downUntil = untilMs;
  }

  async list(kind: LedgerEntry["kind"], page?: LedgerPage): Promise<LedgerEntry[]> {
    const all = [...this.entries.values()]
      .filter((e) => e.kind === kind && inRange(Date.parse(e.createdAt), page))
      .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    const shown = page ? all.slice(page.offset, page.offset + page.limit) : all;
    return shown.map((e) => ({ ...e }));
  }
}

export interface ChargeRequest {
  idempotencyKey: string;
  amount: number;
  currency: string;
  token: string;
}

export interface ChargeResult {
  chargeId: string;
  amount: number;
  currency: string;
  fingerprint: string;
  /** True when the key was used before and this is the stored first result. */
  replayed: boolean;
}

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amount: number;
  currency: string;
}

export interface RefundResult {
  refundId: string;
  chargeId: string;
  amount: number;
  currency: string;
  replayed: boolean;
}

export interface PaymentProvider {
  /** Resolves when approved; throws `ProviderError` otherwise. */
  charge(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult>;
  refund(request: RefundRequest, signal?: AbortSignal): Promise<RefundResult>;
  /**
   * What a call with this idempotency key did: the stored entry, or undefined when no such call
   * took effect. Throws `ProviderError("provider_unavailable")` while the provider is down.
   */
  retrieve(
    kind: LedgerEntry["kind"],
    idempotencyKey: string,
    signal?: AbortSignal,
  ): Promise<LedgerEntry | undefined>;
  /**
   * Voids the charge of an idempotency key that took nothing: stores a `voided` tombstone on the key
   * unless an entry is there, in one ledger step (`putIfAbsent`), so a charge with the key that
   * commits later (a provider process frozen past its in-flight lease) finds the key taken and moves
   * no money. Returns the key's entry after: the tombstone, or the charge (or decline) it already
   * held (then the caller refunds it). Idempotent. Throws `ProviderError("request_in_progress")`
   * while a call with the key is in flight (ask again), `provider_unavailable` while down.
   */
  voidCharge(idempotencyKey: string, signal?: AbortSignal): Promise<LedgerEntry>;
  /** The charges or refunds the provider holds (its dashboard's list, paged), for reconciliation. */
  list(kind: LedgerEntry["kind"], page?: LedgerPage): Promise<LedgerEntry[]>;
}

export interface SimulatedProviderOptions {
  ledger?: ProviderLedger;
  /**
   * The provider's own secret for card fingerprints (as a real provider keys its own): an HMAC, so
   * a stored fingerprint cannot be tested against guessed tokens once the token is shredded
   * (break44 F4). Default: random per provider (fingerprints then stable only within it); the
   * payment service passes `cardFingerprintKey` (derived from its current payment token key).
   */
  fingerprintKey?: Buffer;
  newId?: () => string;
  now?: () => number;
  /** How late `tok_late` answers, in ms (default 2500: past the client's default 2 s budget). */
  lateAnswerMs?: number;
  /** How long `tok_late_commit` is processed before it commits, in ms (default 2500). */
  lateCommitMs?: number;
  /** Longest a call stays marked in flight if its processing never ends (default 60 s). */
  inFlightLeaseMs?: number;
  /**
   * How `tok_late_commit` processing waits `lateCommitMs` before it commits (default a timer). Tests
   * hold a commit here, like a provider process frozen mid-call, and release it when they choose.
   */
  processingDelay?: (ms: number) => Promise<void>;
}

/** The test-mode behaviour a token selects: itself, without a `__<unique>` suffix. */
export const testModeOf = (token: string): string => {
  const cut = token.indexOf("__");
  return cut === -1 ? token : token.slice(0, cut);
};

/**
 * A stand-in for the card behind a token, stable under one key and not testable without it:
 * `fp_` + 24 hex of HMAC-SHA256(key, token). It was an unkeyed SHA-256, kept for ever in the payment
 * record: anyone with Redis or a backup could test guessed tokens against it (break44 F4).
 */
export const fingerprintToken = (token: string, key: Buffer): string =>
  `fp_${createHmac("sha256", key).update(token).digest("hex").slice(0, 24)}`;

/** Resolves after `ms` unless the signal aborts first (then rejects with its reason). */
const delay = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** Settles only when the signal aborts: a provider that never answers. */
const never = (signal?: AbortSignal): Promise<never> =>
  new Promise((_resolve, reject) => {
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

export class SimulatedPaymentProvider implements PaymentProvider {
  readonly ledger: ProviderLedger;
  private readonly newId: () => string;
  private readonly now: () => number;
  private readonly fingerprintKey: Buffer;
  private readonly lateAnswerMs: number;
  private readonly lateCommitMs: number;
  private readonly inFlightLeaseMs: number;
  private readonly processingDelay: (ms: number) => Promise<void>;

  constructor(options: SimulatedProviderOptions = {}) {
    this.ledger = options.ledger ?? new MemoryProviderLedger();
    this.fingerprintKey = options.fingerprintKey ?? randomBytes(32);
    this.newId = options.newId ?? randomUUID;
    this.now = options.now ?? Date.now;
    this.lateAnswerMs = options.lateAnswerMs ?? 2_500;
    this.lateCommitMs = options.lateCommitMs ?? 2_500;
    this.inFlightLeaseMs = options.inFlightLeaseMs ?? 60_000;
    this.processingDelay = options.processingDelay ?? ((ms) => delay(ms));
  }

  /**
   * What a call with this key did; throws `ProviderError("request_in_progress")` while such a call
   * is still being processed (its outcome is not decided yet).
   */
  async retrieve(
    kind: LedgerEntry["kind"],
    idempotencyKey: string,
    _signal?: AbortSignal,
  ): Promise<LedgerEntry | undefined> {
    await this.ensureUp();
    // In flight first: a call that ends between the two reads is reported in progress (ask again),
    // never as "no such call".
    const busy = await this.ledger.inFlight(kind, idempotencyKey);
    const entry = await this.ledger.get(kind, idempotencyKey);
    if (entry) return entry;
    if (busy) throw inProgress(kind, idempotencyKey);
    return undefined;
  }

  /**
   * Runs the provider's processing of one call under the key's in-flight mark. The processing goes
   * on when the caller gives up (its signal aborts): the caller only stops waiting for the answer.
   */
  private async process<T>(
    kind: LedgerEntry["kind"],
    idempotencyKey: string,
    signal: AbortSignal | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    if (!(await this.ledger.beginCall(kind, idempotencyKey, this.inFlightLeaseMs))) {
      throw inProgress(kind, idempotencyKey);
    }
    const processing = (async () => {
      try {
        return await work();
      } finally {
        await this.ledger.endCall(kind, idempotencyKey);
      }
    })();
    return untilAborted(processing, signal);
  }

  async list(kind: LedgerEntry["kind"], page?: LedgerPage): Promise<LedgerEntry[]> {
    await this.ensureUp();
    return this.ledger.list(kind, page);
  }

  /** Every call fails while an outage window is open: the provider's own failure. */
  private async ensureUp(): Promise<void> {
    if (this.now() < (await this.ledger.unavailableUntil())) {
      throw new ProviderError("provider_unavailable", "simulated provider outage", true);
    }
  }

  async charge(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    const token = testModeOf(request.token);
    if (token !== "tok_timeout" && token !== "tok_late_commit") {
      // Processing that takes no time: one atomic ledger step (one Redis call), same outcomes.
      const result = await this.chargeInstantly(request, token);
      if (token === "tok_late") await delay(this.lateAnswerMs, signal);
      return result;
    }
    await this.ensureUp();
    return this.process("charge", request.idempotencyKey, signal, () => this.chargeNow(request, signal));
  }

  private async chargeInstantly(request: ChargeRequest, token: string): Promise<ChargeResult> {
    const fail: InstantFailure = token === "tok_error" ? "always" : token === "tok_flaky" ? "first" : "never";
    const outcome = await this.ledger.chargeInstantly(this.chargeEntry(request, token), this.now(), fail);
    switch (outcome.kind) {
      case "down":
        throw new ProviderError("provider_unavailable", "simulated provider outage", true);
      case "busy":
        throw inProgress("charge", request.idempotencyKey);
      case "failed":
        throw new ProviderError("processing_error", "simulated provider error, try again", true);
      case "stored":
        return chargeResult(outcome.entry, !outcome.created);
    }
  }

  private chargeEntry(request: ChargeRequest, token: string): LedgerEntry {
    return {
      kind: "charge",
      idempotencyKey: request.idempotencyKey,
      id: `ch_${this.newId()}`,
      status: token === "tok_decline" ? "declined" : "approved",
      amount: request.amount,
      currency: request.currency,
      fingerprint: fingerprintToken(request.token, this.fingerprintKey),
      createdAt: new Date(this.now()).toISOString(),
    };
  }

  private async chargeNow(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    const previous = await this.ledger.get("charge", request.idempotencyKey);
    if (previous) return chargeResult(previous, true);
    // Only tok_timeout and tok_late_commit come here (`charge`); the failing tokens are instant.
    const token = testModeOf(request.token);
    if (token === "tok_timeout") return never(signal);
    // Slow processing: the commit lands after the caller's timeout, whether it still waits or not.
    await this.processingDelay(this.lateCommitMs);
    const stored = await this.ledger.putIfAbsent(this.chargeEntry(request, token));
    return chargeResult(stored.entry, !stored.created);
  }

  async voidCharge(idempotencyKey: string, _signal?: AbortSignal): Promise<LedgerEntry> {
    await this.ensureUp();
    // While a call is processed its outcome is not decided: the void waits, like a refund would.
    if (await this.ledger.inFlight("charge", idempotencyKey)) throw inProgress("charge", idempotencyKey);
    // A charge that begins between the two steps is safe: its commit meets the tombstone.
    const stored = await this.ledger.putIfAbsent({
      kind: "charge",
      idempotencyKey,
      id: `vo_${this.newId()}`,
      status: "voided",
      amount: 0,
      currency: "",
      createdAt: new Date(this.now()).toISOString(),
    });
    return stored.entry;
  }

  async refund(request: RefundRequest, signal?: AbortSignal): Promise<RefundResult> {
    await this.ensureUp();
    return this.process("refund", request.idempotencyKey, signal, () => this.refundNow(request));
  }

  private async refundNow(request: RefundRequest): Promise<RefundResult> {
    const charge = await this.ledger.getById(request.chargeId);
    if (charge?.kind !== "charge" || charge.status !== "approved") {
      throw new ProviderError("unknown_charge", `no approved charge ${request.chargeId}`, false);
    }
    const stored = await this.ledger.putIfAbsent({
      kind: "refund",
      idempotencyKey: request.idempotencyKey,
      id: `re_${this.newId()}`,
      status: "approved",
      amount: request.amount,
      currency: request.currency,
      chargeId: request.chargeId,
      createdAt: new Date(this.now()).toISOString(),
    });
    const entry = stored.entry;
    return {
      refundId: entry.id,
      chargeId: entry.chargeId ?? request.chargeId,
      amount: entry.amount,
      currency: entry.currency,
      replayed: !stored.created,
    };
  }
}

const inProgress = (kind: LedgerEntry["kind"], key: string) =>
  new ProviderError("request_in_progress", `a ${kind} with idempotency key ${key} is in progress`, true);

/** The work's result, or the signal's reason as soon as it aborts (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  // The processing's own failure after the caller left is nobody's answer: observed, not raised.
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** A charge's answer from its key's entry; throws for a decline or a voided key. */
export function chargeResult(entry: LedgerEntry, replayed: boolean): ChargeResult {
  if (entry.status === "declined") throw new ProviderError("card_declined", "card declined", false);
  if (entry.status === "voided") {
    throw new ProviderError(
      "charge_voided",
      `charge ${entry.idempotencyKey} was voided: nothing taken`,
      false,
    );
  }
  return {
    chargeId: entry.id,
    amount: entry.amount,
    currency: entry.currency,
    fingerprint: entry.fingerprint ?? "",
    replayed,
  };
}
