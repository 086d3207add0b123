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
 * | other `tok_*` | approved                                                                 |
 *
 * A suffix `__<letters and digits>` selects the same behaviour (`tok_decline__k3f9` declines): tests
 * use a unique token per order, so a scan for the token in clear cannot pass by accident.
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
 */
import { createHash, randomUUID } from "node:crypto";

export type ProviderErrorCode =
  "card_declined" | "processing_error" | "unknown_charge" | "provider_unavailable";

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
  /** `ch_...` for a charge, `re_...` for a refund. */
  id: string;
  status: "approved" | "declined";
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
  /** Counts one call made with this key; returns the count including this call. */
  countCall(idempotencyKey: string): Promise<number>;
  /** Epoch ms (provider clock) until which the provider is down; 0 when it is up. */
  unavailableUntil(): Promise<number>;
  /** Opens an outage window (tests, the fault suite): every call fails until `untilMs`. */
  setUnavailableUntil(untilMs: number): Promise<void>;
  /** Every entry of one kind (the provider's dashboard); bounded by the number of orders. */
  list(kind: LedgerEntry["kind"]): Promise<LedgerEntry[]>;
}

export class MemoryProviderLedger implements ProviderLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly byId = new Map<string, string>();
  private readonly calls = new Map<string, number>();

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

  async countCall(idempotencyKey: string): Promise<number> {
    const count = (this.calls.get(idempotencyKey) ?? 0) + 1;
    this.calls.set(idempotencyKey, count);
    return count;
  }

  private downUntil = 0;
  async unavailableUntil(): Promise<number> {
    return this.downUntil;
  }

  async setUnavailableUntil(untilMs: number): Promise<void> {
    this.downUntil = untilMs;
  }

  async list(kind: LedgerEntry["kind"]): Promise<LedgerEntry[]> {
    return [...this.entries.values()].filter((e) => e.kind === kind).map((e) => ({ ...e }));
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
  /** Every charge or refund the provider holds (its dashboard's list), for reconciliation. */
  list(kind: LedgerEntry["kind"]): Promise<LedgerEntry[]>;
}

export interface SimulatedProviderOptions {
  ledger?: ProviderLedger;
  newId?: () => string;
  now?: () => number;
  /** How late `tok_late` answers, in ms (default 2500: past the client's default 2 s budget). */
  lateAnswerMs?: number;
}

/** The test-mode behaviour a token selects: itself, without a `__<unique>` suffix. */
export const testModeOf = (token: string): string => {
  const cut = token.indexOf("__");
  return cut === -1 ? token : token.slice(0, cut);
};

/** A stable, non-reversible stand-in for the card behind a token. */
export const fingerprintToken = (token: string): string =>
  `fp_${createHash("sha256").update(`ordersaga:${token}`).digest("hex").slice(0, 24)}`;

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
  private readonly lateAnswerMs: number;

  constructor(options: SimulatedProviderOptions = {}) {
    this.ledger = options.ledger ?? new MemoryProviderLedger();
    this.newId = options.newId ?? randomUUID;
    this.now = options.now ?? Date.now;
    this.lateAnswerMs = options.lateAnswerMs ?? 2_500;
  }

  async retrieve(
    kind: LedgerEntry["kind"],
    idempotencyKey: string,
    _signal?: AbortSignal,
  ): Promise<LedgerEntry | undefined> {
    await this.ensureUp();
    return this.ledger.get(kind, idempotencyKey);
  }

  async list(kind: LedgerEntry["kind"]): Promise<LedgerEntry[]> {
    await this.ensureUp();
    return this.ledger.list(kind);
  }

  /** Every call fails while an outage window is open: the provider's own failure. */
  private async ensureUp(): Promise<void> {
    if (this.now() < (await this.ledger.unavailableUntil())) {
      throw new ProviderError("provider_unavailable", "simulated provider outage", true);
    }
  }

  async charge(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    await this.ensureUp();
    const result = await this.chargeNow(request, signal);
    // Committed (or replayed) already: only the answer is late, like a reply lost in a slow network.
    if (testModeOf(request.token) === "tok_late") await delay(this.lateAnswerMs, signal);
    return result;
  }

  private async chargeNow(request: ChargeRequest, signal?: AbortSignal): Promise<ChargeResult> {
    const previous = await this.ledger.get("charge", request.idempotencyKey);
    if (previous) return chargeResult(previous, true);
    const calls = await this.ledger.countCall(request.idempotencyKey);
    const token = testModeOf(request.token);
    if (token === "tok_timeout") return never(signal);
    if (token === "tok_error" || (token === "tok_flaky" && calls === 1)) {
      throw new ProviderError("processing_error", "simulated provider error, try again", true);
    }
    const stored = await this.ledger.putIfAbsent({
      kind: "charge",
      idempotencyKey: request.idempotencyKey,
      id: `ch_${this.newId()}`,
      status: token === "tok_decline" ? "declined" : "approved",
      amount: request.amount,
      currency: request.currency,
      fingerprint: fingerprintToken(request.token),
      createdAt: new Date(this.now()).toISOString(),
    });
    return chargeResult(stored.entry, !stored.created);
  }

  async refund(request: RefundRequest, _signal?: AbortSignal): Promise<RefundResult> {
    await this.ensureUp();
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

function chargeResult(entry: LedgerEntry, replayed: boolean): ChargeResult {
  if (entry.status === "declined") throw new ProviderError("card_declined", "card declined", false);
  return {
    chargeId: entry.id,
    amount: entry.amount,
    currency: entry.currency,
    fingerprint: entry.fingerprint ?? "",
    replayed,
  };
}
