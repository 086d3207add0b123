/**
 * A simulated carrier ("SimShip"), deterministic so tests and the demo can trigger each case by
 * product id:
 *
 * | line productId starts with | result                                                          |
 * |----------------------------|-----------------------------------------------------------------|
 * | `noship-`                  | rejected (permanent)                                            |
 * | `slowship-`                | answers only after `slowDelayMs` (default 60 s), later than any |
 * |                            | saga deadline; the call stops early when its signal aborts      |
 * | anything else              | accepted                                                        |
 *
 * An accepted shipment gets a random `shipmentId` and a tracking number derived from the order id
 * (`SIM` + 10 digits of its SHA-256), so asking twice for one order gives the same tracking number.
 */
import { createHash, randomUUID } from "node:crypto";

export const CARRIER_NAME = "SimShip";

export interface CarrierRequest {
  orderId: string;
  items: readonly { productId: string; quantity: number }[];
}

export type CarrierOutcome =
  | { accepted: true; shipmentId: string; trackingNumber: string; carrier: string }
  | { accepted: false; reason: string };

export interface Carrier {
  /** Rejections are outcomes; a thrown error means the carrier could not be reached (transient). */
  prepare(request: CarrierRequest, signal?: AbortSignal): Promise<CarrierOutcome>;
}

export function trackingNumberFor(orderId: string): string {
  const digest = createHash("sha256").update(orderId).digest();
  return `SIM${(digest.readBigUInt64BE(0) % 10_000_000_000n).toString().padStart(10, "0")}`;
}

export interface SimulatedCarrierOptions {
  slowDelayMs?: number;
  newId?: () => string;
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

export class SimulatedCarrier implements Carrier {
  private readonly slowDelayMs: number;
  private readonly newId: () => string;

  constructor(options: SimulatedCarrierOptions = {}) {
    this.slowDelayMs = options.slowDelayMs ?? 60_000;
    this.newId = options.newId ?? randomUUID;
  }

  async prepare(request: CarrierRequest, signal?: AbortSignal): Promise<CarrierOutcome> {
    const refused = request.items.find((line) => line.productId.startsWith("noship-"));
    if (refused) return { accepted: false, reason: `carrier cannot ship product ${refused.productId}` };
    if (request.items.some((line) => line.productId.startsWith("slowship-"))) {
      await delay(this.slowDelayMs, signal);
    }
    return {
      accepted: true,
      shipmentId: this.newId(),
      trackingNumber: trackingNumberFor(request.orderId),
      carrier: CARRIER_NAME,
    };
  }
}
