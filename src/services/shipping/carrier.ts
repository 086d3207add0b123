/**
 * A simulated carrier ("SimShip"), deterministic so tests and the demo can trigger each case by
 * product id, and keyed like a real carrier's booking API: every booking carries the caller's
 * idempotency key, a second booking with a key already used replays the first answer (no second
 * shipment), `retrieve` answers what a key did (so a caller whose answer was lost or late can learn
 * the outcome instead of guessing), and `cancel` is by key and idempotent.
 *
 * | line productId starts with | result                                                          |
 * |----------------------------|-----------------------------------------------------------------|
 * | `noship-`                  | rejected (permanent; the refusal is stored under the key)       |
 * | `slowship-`                | processed for `slowDelayMs` (default 60 s), later than any saga |
 * |                            | deadline; the processing stops (nothing booked) when the call's |
 * |                            | signal aborts                                                   |
 * | `lateship-`                | booked (committed) at once, but every answer (also a replay)    |
 * |                            | arrives `lateAnswerMs` later (default 7.5 s, past the shipping  |
 * |                            | service's 5 s carrier timeout): only retrieve-by-key learns it  |
 * | anything else              | booked                                                          |
 *
 * A call is *in flight* from its arrival until its processing ends (a lease of `inFlightLeaseMs`,
 * default 60 s, in case the carrier dies mid-call): meanwhile `retrieve`, `cancel` and a second
 * booking with that key throw `CarrierError("request_in_progress")`, never "no such booking".
 * A booking without a `slowship-` line takes no time: it is processed in one atomic ledger step
 * (`bookInstantly`, one Redis script), so its in-flight mark never needs to exist.
 *
 * A cancel of a key the carrier has no booking for stores a `voided` tombstone: a booking with that
 * key arriving later (a late or redelivered request) is refused, so a cancel and a booking that race
 * end in "not shipped" whichever lands first.
 *
 * A booked shipment gets a random `shipmentId` and a tracking number derived from the order id
 * (`SIM` + 10 digits of its SHA-256).
 */
import { createHash, randomUUID } from "node:crypto";
import { monotonicNow } from "../../lib/resilience/monotonic.js";

export const CARRIER_NAME = "SimShip";

export interface CarrierRequest {
  /** The caller's key for this booking (the shipping service uses one per order: `carrierKeyFor`). */
  idempotencyKey: string;
  orderId: string;
  items: readonly { productId: string; quantity: number }[];
}

export type CarrierOutcome =
  | { accepted: true; shipmentId: string; trackingNumber: string; carrier: string }
  | { accepted: false; reason: string };

/**
 * What the carrier holds for an idempotency key: `booked` (a live shipment), `rejected` (refused),
 * `cancelled` (booked, then cancelled by key) or `voided` (a cancel that came before any booking).
 */
export interface CarrierBooking {
  idempotencyKey: string;
  orderId: string;
  status: "booked" | "rejected" | "cancelled" | "voided";
  shipmentId?: string;
  trackingNumber?: string;
  carrier: string;
  /** Rejected: why. */
  reason?: string;
  /** ISO times (carrier clock). */
  createdAt: string;
  updatedAt: string;
}

export type CarrierErrorCode = "request_in_progress" | "carrier_unavailable";

/** A carrier answer that is not an outcome; always transient (ask again later). */
export class CarrierError extends Error {
  constructor(
    readonly code: CarrierErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CarrierError";
  }
}

export interface Carrier {
  /**
   * Books a shipment under `request.idempotencyKey` (a replay answers the first outcome). Rejections
   * are outcomes; a thrown error means the carrier could not be reached or the key is in flight
   * (transient): the booking may or may not have been made, ask `retrieve`.
   */
  prepare(request: CarrierRequest, signal?: AbortSignal): Promise<CarrierOutcome>;
  /**
   * What a call with this key did: the booking (any status), or undefined when nothing was ever
   * stored under it. Throws `CarrierError("request_in_progress")` while a call with it is processed.
   */
  retrieve(idempotencyKey: string, signal?: AbortSignal): Promise<CarrierBooking | undefined>;
  /**
   * Cancels the booking made with this key (idempotent): answers the booking as it now stands
   * (`cancelled`; `rejected` stays rejected; `voided` when there was none, which also refuses a
   * later booking with the key). Throws `CarrierError("request_in_progress")` while a booking with
   * the key is processed.
   */
  cancel(idempotencyKey: string, orderId: string, signal?: AbortSignal): Promise<CarrierBooking>;
  /**
   * The carrier's dashboard list of its bookings (every status) by creation time, oldest first: the
   * page's `limit` bookings created in [`fromMs`, `toMs`] (epoch ms, inclusive), from its
   * `offset`-th. Bookings of one millisecond come in a stable order. The orphan-booking pass scans
   * it (orphan-bookings.ts). Throws when the carrier cannot be reached (transient).
   */
  list(page: BookingPage, signal?: AbortSignal): Promise<CarrierBooking[]>;
}

/** A page of the carrier's bookings by creation time (`Carrier.list`). */
export interface BookingPage {
  /** Bookings of the range skipped first. */
  offset: number;
  /** Bookings returned at most. */
  limit: number;
  /** Earliest creation time, epoch ms (inclusive). */
  fromMs: number;
  /** Latest creation time, epoch ms (inclusive). */
  toMs: number;
}

/** The shipping service's booking key for an order: one shipment per order, at the carrier too. */
export const carrierKeyFor = (orderId: string): string => `shipment:${orderId}`;

export function trackingNumberFor(orderId: string): string {
  const digest = createHash("sha256").update(orderId).digest();
  return `SIM${(digest.readBigUInt64BE(0) % 10_000_000_000n).toString().padStart(10, "0")}`;
}

/** The carrier's own storage (its "database"), a port with memory and Redis adapters. */
export interface CarrierLedger {
  /** Stores the booking unless its key is taken; returns the stored booking either way. */
  putIfAbsent(booking: CarrierBooking): Promise<{ booking: CarrierBooking; created: boolean }>;
  get(idempotencyKey: string): Promise<CarrierBooking | undefined>;
  /**
   * Atomically: `booked` → `cancelled`; nothing stored → the `voided` tombstone given; any other
   * status unchanged. Returns the booking as stored after the change.
   */
  cancel(tombstone: CarrierBooking, at: string): Promise<CarrierBooking>;
  /** Marks a call with this key in flight for at most `leaseMs`; false when one already is. */
  beginCall(idempotencyKey: string, leaseMs: number): Promise<boolean>;
  endCall(idempotencyKey: string): Promise<void>;
  inFlight(idempotencyKey: string): Promise<boolean>;
  /**
   * A booking whose processing takes no time, in one atomic step (its in-flight mark never needs
   * to exist): `busy` while a call with its key is in flight, else `putIfAbsent`'s stored booking.
   */
  bookInstantly(booking: CarrierBooking): Promise<"busy" | CarrierBooking>;
  /**
   * Without a page, every booking (tests and the fault suite's oracle; bounded by the orders); with
   * one, a page of them by creation time (`Carrier.list`).
   */
  list(page?: BookingPage): Promise<CarrierBooking[]>;
}

export class MemoryCarrierLedger implements CarrierLedger {
  private readonly bookings = new Map<string, CarrierBooking>();
  /** In-flight key → lease end on `monotonicNow` (a local duration: a clock step must not move it). */
  private readonly flying = new Map<string, number>();

  async putIfAbsent(booking: CarrierBooking): Promise<{ booking: CarrierBooking; created: boolean }> {
    const existing = this.bookings.get(booking.idempotencyKey);
    if (existing) return { booking: { ...existing }, created: false };
    this.bookings.set(booking.idempotencyKey, { ...booking });
    return { booking: { ...booking }, created: true };
  }

  async bookInstantly(booking: CarrierBooking): Promise<"busy" | CarrierBooking> {
    if ((this.flying.get(booking.idempotencyKey) ?? 0) > monotonicNow()) return "busy";
    return (await this.putIfAbsent(booking)).booking;
  }

  async get(idempotencyKey: string): Promise<CarrierBooking | undefined> {
    const booking = this.bookings.get(idempotencyKey);
    return booking ? { ...booking } : undefined;
  }

  async cancel(tombstone: CarrierBooking, at: string): Promise<CarrierBooking> {
    const existing = this.bookings.get(tombstone.idempotencyKey);
    if (!existing) {
      this.bookings.set(tombstone.idempotencyKey, { ...tombstone });
      return { ...tombstone };
    }
    if (existing.status === "booked") {
      existing.status = "cancelled";
      existing.updatedAt = at;
    }
    return { ...existing };
  }

  async beginCall(idempotencyKey: string, leaseMs: number): Promise<boolean> {
    if (await this.inFlight(idempotencyKey)) return false;
    this.flying.set(idempotencyKey, monotonicNow() + leaseMs);
    return true;
  }

  async endCall(idempotencyKey: string): Promise<void> {
    this.flying.delete(idempotencyKey);
  }

  async inFlight(idempotencyKey: string): Promise<boolean> {
    return (this.flying.get(idempotencyKey) ?? 0) > monotonicNow();
  }

  async list(page?: BookingPage): Promise<CarrierBooking[]> {
    const all = [...this.bookings.values()].map((b) => ({ ...b }));
    if (!page) return all;
    // By creation time; one millisecond's bookings in insertion order (the sort is stable).
    return all
      .map((b) => ({ b, at: Date.parse(b.createdAt) }))
      .filter(({ at }) => at >= page.fromMs && at <= page.toMs)
      .sort((x, y) => x.at - y.at)
      .slice(page.offset, page.offset + page.limit)
      .map(({ b }) => b);
  }
}

export interface SimulatedCarrierOptions {
  ledger?: CarrierLedger;
  /** How long `slowship-` bookings are processed, ms (default 60 s). */
  slowDelayMs?: number;
  /** How late `lateship-` answers, ms (default 7.5 s: past the shipping service's 5 s budget). */
  lateAnswerMs?: number;
  /** Longest a call stays marked in flight if its processing never ends, ms (default 60 s). */
  inFlightLeaseMs?: number;
  newId?: () => string;
  now?: () => number;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const inProgress = (key: string) =>
  new CarrierError("request_in_progress", `a booking with idempotency key ${key} is in progress`);

function outcomeOf(booking: CarrierBooking): CarrierOutcome {
  if (booking.status === "booked" && booking.shipmentId && booking.trackingNumber) {
    return {
      accepted: true,
      shipmentId: booking.shipmentId,
      trackingNumber: booking.trackingNumber,
      carrier: booking.carrier,
    };
  }
  if (booking.status === "rejected") return { accepted: false, reason: booking.reason ?? "rejected" };
  return {
    accepted: false,
    reason: `booking ${booking.idempotencyKey} was ${booking.status} by the shipper`,
  };
}

/** The outcome a booking stands for: `prepare`'s answer, as learned later by `retrieve`. */
export const carrierOutcomeOf = outcomeOf;

export class SimulatedCarrier implements Carrier {
  readonly ledger: CarrierLedger;
  private readonly slowDelayMs: number;
  private readonly lateAnswerMs: number;
  private readonly inFlightLeaseMs: number;
  private readonly newId: () => string;
  private readonly now: () => number;

  constructor(options: SimulatedCarrierOptions = {}) {
    this.ledger = options.ledger ?? new MemoryCarrierLedger();
    this.slowDelayMs = options.slowDelayMs ?? 60_000;
    this.lateAnswerMs = options.lateAnswerMs ?? 7_500;
    this.inFlightLeaseMs = options.inFlightLeaseMs ?? 60_000;
    this.newId = options.newId ?? randomUUID;
    this.now = options.now ?? Date.now;
  }

  async prepare(request: CarrierRequest, signal?: AbortSignal): Promise<CarrierOutcome> {
    const key = request.idempotencyKey;
    if (!request.items.some((line) => line.productId.startsWith("slowship-"))) {
      // Processing that takes no time: one atomic ledger step (one Redis call), same outcomes.
      const booking = await this.ledger.bookInstantly(this.bookingFor(request));
      if (booking === "busy") throw inProgress(key);
      if (request.items.some((line) => line.productId.startsWith("lateship-"))) {
        await delay(this.lateAnswerMs, signal);
      }
      return outcomeOf(booking);
    }
    if (!(await this.ledger.beginCall(key, this.inFlightLeaseMs))) throw inProgress(key);
    let booking: CarrierBooking;
    try {
      booking = await this.book(request, signal);
    } finally {
      await this.ledger.endCall(key);
    }
    // Committed (or replayed) already: only the answer is late, like a reply lost in a slow network.
    if (request.items.some((line) => line.productId.startsWith("lateship-"))) {
      await delay(this.lateAnswerMs, signal);
    }
    return outcomeOf(booking);
  }

  /** What the carrier books for a request: a refusal for a `noship-` line, else a shipment. */
  private bookingFor(request: CarrierRequest): CarrierBooking {
    const at = new Date(this.now()).toISOString();
    const base = {
      idempotencyKey: request.idempotencyKey,
      orderId: request.orderId,
      carrier: CARRIER_NAME,
      createdAt: at,
      updatedAt: at,
    };
    const refused = request.items.find((line) => line.productId.startsWith("noship-"));
    if (refused)
      return { ...base, status: "rejected", reason: `carrier cannot ship product ${refused.productId}` };
    return {
      ...base,
      status: "booked",
      shipmentId: this.newId(),
      trackingNumber: trackingNumberFor(request.orderId),
    };
  }

  private async book(request: CarrierRequest, signal?: AbortSignal): Promise<CarrierBooking> {
    const previous = await this.ledger.get(request.idempotencyKey);
    if (previous) return previous;
    const booking = this.bookingFor(request);
    if (booking.status === "booked") {
      // Only reached for a slowship- line (book() is the slow path: see above).
      // The caller going away stops this processing: nothing is booked.
      await delay(this.slowDelayMs, signal);
    }
    return (await this.ledger.putIfAbsent(booking)).booking;
  }

  async retrieve(idempotencyKey: string, _signal?: AbortSignal): Promise<CarrierBooking | undefined> {
    // In flight first: a call that ends between the two reads is reported in progress (ask again),
    // never as "no such booking".
    const busy = await this.ledger.inFlight(idempotencyKey);
    const booking = await this.ledger.get(idempotencyKey);
    if (booking) return booking;
    if (busy) throw inProgress(idempotencyKey);
    return undefined;
  }

  async cancel(idempotencyKey: string, orderId: string, _signal?: AbortSignal): Promise<CarrierBooking> {
    if (await this.ledger.inFlight(idempotencyKey)) throw inProgress(idempotencyKey);
    const at = new Date(this.now()).toISOString();
    return this.ledger.cancel(
      { idempotencyKey, orderId, status: "voided", carrier: CARRIER_NAME, createdAt: at, updatedAt: at },
      at,
    );
  }

  async list(page: BookingPage, _signal?: AbortSignal): Promise<CarrierBooking[]> {
    return this.ledger.list(page);
  }
}
