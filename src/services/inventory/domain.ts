/**
 * Stock decisions as pure functions: no Redis, no clock. Both store adapters decide with these, and
 * the Redis adapter's Lua script re-checks the same rules (see `reservationSignature`).
 */
import { DEFAULT_MAX_ORDER_TOTAL_CENTS, type ReservationFailureReason } from "../../contracts/index.js";

export const DEFAULT_LOW_STOCK_THRESHOLD = 10;

/** Invariant: available + reserved + committed = everything ever stocked; none negative. */
export interface Product {
  productId: string;
  name: string;
  /** Integer cents, fixed when the product is added. */
  price: number;
  available: number;
  reserved: number;
  committed: number;
  lowStockThreshold: number;
}

/** A product as added to the catalog (seed or `POST /inventory`). */
export interface NewProduct {
  productId: string;
  name: string;
  price: number;
  quantity: number;
  lowStockThreshold?: number;
}

export interface OrderLine {
  productId: string;
  quantity: number;
}

export interface PricedLine extends OrderLine {
  unitPrice: number;
}

export interface ShortLine {
  productId: string;
  requested: number;
  available: number;
}

export interface LowStockAlert {
  productId: string;
  available: number;
  threshold: number;
}

/** "released" without items is a tombstone: the release came before the reservation request. */
export type ReservationState = "reserved" | "failed" | "released" | "committed";

export interface Reservation {
  orderId: string;
  state: ReservationState;
  /** The priced lines while and after reserved; empty for a failure or a tombstone. */
  items: PricedLine[];
  reason?: ReservationFailureReason;
}

export type ReservationOutcome =
  | { kind: "reserved"; items: PricedLine[]; total: number; lowStock: LowStockAlert[] }
  | { kind: "failed"; reason: ReservationFailureReason; items: ShortLine[] };

export type ReserveDecision = ReservationOutcome | { kind: "duplicate"; state: ReservationState };

export type ReleaseDecision =
  { kind: "release"; items: OrderLine[] } | { kind: "tombstone" } | { kind: "noop"; state: ReservationState };

export type CommitDecision =
  { kind: "commit"; items: OrderLine[] } | { kind: "noop"; state: ReservationState | "none" };

export class InventoryError extends Error {
  constructor(
    readonly code: "DUPLICATE_LINES" | "CONTENTION",
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = "InventoryError";
  }
}

export function newProduct(input: NewProduct): Product {
  return {
    productId: input.productId,
    name: input.name,
    price: input.price,
    available: input.quantity,
    reserved: 0,
    committed: 0,
    lowStockThreshold: input.lowStockThreshold ?? DEFAULT_LOW_STOCK_THRESHOLD,
  };
}

export const stockTotal = (p: Product): number => p.available + p.reserved + p.committed;

/**
 * Units the product holds now: available + reserved. What the restock limit (MAX_STOCK_LEVEL)
 * bounds; committed units are sold and gone, so lifetime sales do not use up restock room.
 */
export const stockOnHand = (p: Product): number => p.available + p.reserved;

/** The events schema forbids a product twice in one order; a store must not trust that blindly. */
export function assertUniqueLines(lines: readonly OrderLine[]): void {
  if (new Set(lines.map((l) => l.productId)).size !== lines.length) {
    throw new InventoryError("DUPLICATE_LINES", "an order lists a product more than once");
  }
}

const crossesThreshold = (p: Product, quantity: number): boolean =>
  p.available > p.lowStockThreshold && p.available - quantity <= p.lowStockThreshold;

/**
 * All lines or none. `products[i]` is the product of `lines[i]` (undefined when unknown). An
 * unknown product wins over a short line: it will never succeed, however much stock arrives.
 */
export function decideReservation(
  existing: Reservation | undefined,
  lines: readonly OrderLine[],
  products: readonly (Product | undefined)[],
  maxTotal: number = DEFAULT_MAX_ORDER_TOTAL_CENTS,
): ReserveDecision {
  if (existing) return { kind: "duplicate", state: existing.state };
  const unknown = lines.filter((_, i) => !products[i]);
  if (unknown.length > 0) {
    const items = unknown.map((l) => ({ productId: l.productId, requested: l.quantity, available: 0 }));
    return { kind: "failed", reason: "unknown_product", items };
  }
  const known = products as readonly Product[];
  const short = lines.flatMap((l, i) => {
    const available = known[i]?.available ?? 0;
    return available < l.quantity ? [{ productId: l.productId, requested: l.quantity, available }] : [];
  });
  if (short.length > 0) return { kind: "failed", reason: "out_of_stock", items: short };
  const items = lines.map((l, i) => ({ ...l, unitPrice: known[i]?.price ?? 0 }));
  // Prices never change once a product exists, so this check is as stable as the stock checks above.
  // Beyond the maximum (itself ≤ MAX_SAFE_INTEGER) the order fails at once with the true reason.
  if (!withinTotal(items, maxTotal)) {
    const tooLarge = lines.map((l, i) => ({
      productId: l.productId,
      requested: l.quantity,
      available: known[i]?.available ?? 0,
    }));
    return { kind: "failed", reason: "order_total_too_large", items: tooLarge };
  }
  const lowStock = lines.flatMap((l, i) => {
    const p = known[i];
    return p && crossesThreshold(p, l.quantity)
      ? [{ productId: p.productId, available: p.available - l.quantity, threshold: p.lowStockThreshold }]
      : [];
  });
  const total = items.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
  return { kind: "reserved", items, total, lowStock };
}

/** Whether the lines' total stays ≤ `maxTotal`, checked line by line so no sum leaves the safe range. */
export function withinTotal(items: readonly PricedLine[], maxTotal: number): boolean {
  let total = 0;
  for (const line of items) {
    if (line.unitPrice > 0 && line.quantity > (maxTotal - total) / line.unitPrice) return false;
    total += line.quantity * line.unitPrice;
  }
  return total <= maxTotal;
}

/**
 * A compact, exact description of an outcome that the Lua script computes the same way from the
 * stock it sees: `U:<i>...` unknown lines, `S:<i>=<available>...` short lines, `R:<i>=<available
 * after>...` lines crossing their threshold (1-based line numbers). The script applies the
 * prepared events only when its signature equals the handler's, so the events always describe
 * what happened to the stock.
 */
export function reservationSignature(lines: readonly OrderLine[], outcome: ReservationOutcome): string {
  const position = (productId: string) => lines.findIndex((l) => l.productId === productId) + 1;
  if (outcome.kind === "reserved") {
    return `R${outcome.lowStock.map((a) => `:${position(a.productId)}=${a.available}`).join("")}`;
  }
  if (outcome.reason === "unknown_product") {
    return `U${outcome.items.map((s) => `:${position(s.productId)}`).join("")}`;
  }
  // The script does not read prices (they never change): it accepts T when no line is unknown or short.
  if (outcome.reason === "order_total_too_large") return "T";
  return `S${outcome.items.map((s) => `:${position(s.productId)}=${s.available}`).join("")}`;
}

/** Moves each line's quantity from available to reserved (call only after a "reserved" decision). */
export const reserveStock = (p: Product, quantity: number): Product => ({
  ...p,
  available: p.available - quantity,
  reserved: p.reserved + quantity,
});

export const releaseStock = (p: Product, quantity: number): Product => ({
  ...p,
  available: p.available + quantity,
  reserved: p.reserved - quantity,
});

export const commitStock = (p: Product, quantity: number): Product => ({
  ...p,
  reserved: p.reserved - quantity,
  committed: p.committed + quantity,
});

export const restockProduct = (p: Product, quantity: number): Product => ({
  ...p,
  available: p.available + quantity,
});

export const unpriced = (items: readonly PricedLine[]): OrderLine[] =>
  items.map((l) => ({ productId: l.productId, quantity: l.quantity }));

/** Nothing reserved yet: leave a tombstone so the late request finds the order already settled. */
export function decideRelease(existing: Reservation | undefined): ReleaseDecision {
  if (!existing) return { kind: "tombstone" };
  if (existing.state !== "reserved") return { kind: "noop", state: existing.state };
  return { kind: "release", items: unpriced(existing.items) };
}

export function decideCommit(existing: Reservation | undefined): CommitDecision {
  if (!existing) return { kind: "noop", state: "none" };
  if (existing.state !== "reserved") return { kind: "noop", state: existing.state };
  return { kind: "commit", items: unpriced(existing.items) };
}

/** The record a reservation outcome leaves behind. */
export function reservationRecord(orderId: string, outcome: ReservationOutcome): Reservation {
  return outcome.kind === "reserved"
    ? { orderId, state: "reserved", items: outcome.items }
    : { orderId, state: "failed", items: [], reason: outcome.reason };
}
