/**
 * The inventory's state port and its in-memory adapter. Every change takes an `emit` callback that
 * turns the decision into prepared bus messages; the store writes the change and those messages
 * together (Redis: one Lua script; memory: mutate, then publish with no await in between), so
 * state and events never disagree.
 */
import { DEFAULT_MAX_ORDER_TOTAL_CENTS, MAX_STOCK_LEVEL } from "../../contracts/index.js";
import { assertOwnMessages } from "../../lib/bus/outbox.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { PublishMessages } from "../../lib/runtime/platform-store.js";
import { checkWriteDeadline } from "../../lib/redis/write-deadline.js";
import {
  assertUniqueLines,
  type CommitDecision,
  commitStock,
  decideCommit,
  decideRelease,
  decideReservation,
  type NewProduct,
  newProduct,
  type OrderLine,
  type Product,
  type ReleaseDecision,
  type Reservation,
  type ReservationOutcome,
  type ReserveDecision,
  releaseStock,
  reservationRecord,
  reserveStock,
  restockProduct,
  stockOnHand,
} from "./domain.js";
import { INVENTORY_OWNER } from "./keys.js";

/** Builds the messages describing a decision (synchronous: validation and encoding only). */
export type Emit<T> = (decision: T) => OutgoingMessage[];

/** A page of the catalog: products by id, after `after` (exclusive), at most `limit` of them. */
export interface ProductPageQuery {
  /** The last productId of the previous page; absent for the first page. */
  after?: string | undefined;
  /** Products per page (at least 1). */
  limit: number;
}

/**
 * One page of the catalog, by productId. `next` (the `after` of the following page) is present when
 * more ids follow; a page may hold fewer than `limit` products (an indexed id whose product is gone
 * is skipped) and still have a `next`.
 */
export interface ProductPage {
  products: Product[];
  next?: string;
}

/** A restock's Idempotency-Key: the scoped record key, the request's hash, how long it is kept (ms). */
export interface RestockOnce {
  key: string;
  requestHash: string;
  ttlMs: number;
}

/**
 * How a restock ended; only `applied` changed anything. `replayed` and `reused` come only with an
 * Idempotency-Key. `over_limit`: the product would hold more than MAX_STOCK_LEVEL units on hand
 * (available + reserved; units sold, committed, do not count), decided on the live stock in the
 * same atomic step as the change; `room` is how many units still fit (at least 0). A refusal with
 * `replayed: true` is the one saved under the key by an earlier request (its room then, not now).
 */
export type RestockOutcome =
  | { kind: "applied"; product: Product }
  | { kind: "replayed"; product: Product }
  | { kind: "reused" }
  | { kind: "missing"; replayed?: true }
  | { kind: "over_limit"; room: number; replayed?: true };

/** A refusal as a key's record keeps it (replayed to every later request with that key). */
type RestockRefusal = Extract<RestockOutcome, { kind: "missing" | "over_limit" }>;

export interface InventoryStore {
  /** Sorted by productId: up to `limit` products whose id sorts after `after`. O(limit). */
  listProducts(query: ProductPageQuery): Promise<ProductPage>;
  getProduct(productId: string): Promise<Product | undefined>;
  getReservation(orderId: string): Promise<Reservation | undefined>;
  /**
   * Add-if-absent: undefined when the product already exists (nothing written or emitted). With
   * `applyBy` (epoch ms: the gateway's deadline, `gatewayDeadlineOf`), `WriteDeadlineError` and
   * nothing written when the store's clock (Redis `TIME`) is past it in the atomic step (fixdl).
   */
  addProduct(input: NewProduct, emit: Emit<Product>, applyBy?: number): Promise<Product | undefined>;
  /**
   * Adds `quantity` units to `available` unless the product would then hold more than
   * MAX_STOCK_LEVEL on hand, available + reserved (`over_limit`): check, change and events in one atomic step. With
   * `once`, at most once per `once.key` within `once.ttlMs` (the record is written with the
   * change): the same key again is `replayed` with the current product if the request hash
   * matches, else `reused`. A refusal (`missing`, `over_limit`) is recorded under the key too, in
   * the same step, and replayed as it was (with `replayed: true`) to every later request with it.
   * With `applyBy` (epoch ms: the gateway's deadline), `WriteDeadlineError` and nothing written (no
   * key record either) when the store's clock is past it in that step (fixdl: an unkeyed restock
   * that landed after the client's check and resend counted the stock twice); a replay, which
   * writes nothing, is still answered.
   */
  restock(
    productId: string,
    quantity: number,
    emit: Emit<Product>,
    once?: RestockOnce,
    applyBy?: number,
  ): Promise<RestockOutcome>;
  /** All lines or none; once per orderId ever (a later call returns "duplicate" and emits nothing). */
  reserve(
    orderId: string,
    lines: readonly OrderLine[],
    emit: Emit<ReservationOutcome>,
  ): Promise<ReserveDecision>;
  release(orderId: string, emit: Emit<OrderLine[]>): Promise<ReleaseDecision>;
  commit(orderId: string, emit: Emit<OrderLine[]>): Promise<CommitDecision>;
}

/**
 * Only the inventory's own events may be written with its state: on Redis their streams share its
 * slot, which is what makes the single-script write legal on a cluster. The memory adapter refuses
 * them too, so the mistake shows in embedded mode and unit tests.
 */
export const assertOwnEvents = (messages: readonly OutgoingMessage[]): void =>
  assertOwnMessages(INVENTORY_OWNER, messages);

/** The decision's messages, refused up front (before any write) if another service owns one. */
function ownMessages<T>(emit: Emit<T>, decision: T): OutgoingMessage[] {
  const messages = emit(decision);
  assertOwnEvents(messages);
  return messages;
}

/** Every product, page by page (tests and tools; a request handler reads one page). */
export async function allProducts(store: InventoryStore, pageSize = 500): Promise<Product[]> {
  const products: Product[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listProducts({ after, limit: pageSize });
    products.push(...page.products);
    if (page.next === undefined) return products;
    after = page.next;
  }
}

const copy = <T extends object>(value: T): T => structuredClone(value);

export class MemoryInventoryStore implements InventoryStore {
  private readonly products = new Map<string, Product>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly restockKeys = new Map<
    string,
    { requestHash: string; expiresAt: number; refusal?: RestockRefusal }
  >();

  /** `maxOrderTotal`: largest order total in cents a reservation accepts. */
  constructor(
    private readonly publish: PublishMessages,
    private readonly maxOrderTotal = DEFAULT_MAX_ORDER_TOTAL_CENTS,
    private readonly now: () => number = Date.now,
  ) {}

  async listProducts({ after, limit }: ProductPageQuery): Promise<ProductPage> {
    const following = [...this.products.values()]
      .filter((p) => after === undefined || p.productId > after)
      .sort((a, b) => (a.productId < b.productId ? -1 : 1));
    const products = following.slice(0, limit).map(copy);
    const last = products.at(-1);
    return following.length > limit && last ? { products, next: last.productId } : { products };
  }

  async getProduct(productId: string): Promise<Product | undefined> {
    const product = this.products.get(productId);
    return product && copy(product);
  }

  async getReservation(orderId: string): Promise<Reservation | undefined> {
    const reservation = this.reservations.get(orderId);
    return reservation && copy(reservation);
  }

  async addProduct(input: NewProduct, emit: Emit<Product>, applyBy?: number): Promise<Product | undefined> {
    if (this.products.has(input.productId)) return undefined;
    checkWriteDeadline(`adding product ${input.productId}`, applyBy, this.now());
    const product = newProduct(input);
    const messages = ownMessages(emit, product);
    this.products.set(product.productId, product);
    await this.publish(messages);
    return copy(product);
  }

  async restock(
    productId: string,
    quantity: number,
    emit: Emit<Product>,
    once?: RestockOnce,
    applyBy?: number,
  ): Promise<RestockOutcome> {
    const prior = once && this.restockKeys.get(once.key);
    if (once && prior && prior.expiresAt > this.now()) {
      if (prior.requestHash !== once.requestHash) return { kind: "reused" };
      if (prior.refusal) return { ...prior.refusal, replayed: true };
      const product = this.products.get(productId);
      return product ? { kind: "replayed", product: copy(product) } : { kind: "missing" };
    }
    // Checked and applied (or the refusal recorded) with no await in between: atomic in this
    // process, as the Redis script.
    const refuse = (refusal: RestockRefusal): RestockOutcome => {
      if (once) {
        const expiresAt = this.now() + once.ttlMs;
        this.restockKeys.set(once.key, { requestHash: once.requestHash, expiresAt, refusal });
      }
      return refusal;
    };
    const current = this.products.get(productId);
    // As the scripts: RESTOCK refuses (writing nothing) before the deadline is read, RESTOCK_ONCE
    // reads it before the refusal's record is written.
    if (once) checkWriteDeadline(`restock of ${productId}`, applyBy, this.now());
    if (!current) return refuse({ kind: "missing" });
    const onHand = stockOnHand(current);
    if (onHand + quantity > MAX_STOCK_LEVEL) {
      return refuse({ kind: "over_limit", room: Math.max(0, MAX_STOCK_LEVEL - onHand) });
    }
    checkWriteDeadline(`restock of ${productId}`, applyBy, this.now());
    const product = restockProduct(current, quantity);
    const messages = ownMessages(emit, product);
    this.products.set(productId, product);
    if (once) {
      this.restockKeys.set(once.key, { requestHash: once.requestHash, expiresAt: this.now() + once.ttlMs });
    }
    await this.publish(messages);
    return { kind: "applied", product: copy(product) };
  }

  async reserve(
    orderId: string,
    lines: readonly OrderLine[],
    emit: Emit<ReservationOutcome>,
  ): Promise<ReserveDecision> {
    assertUniqueLines(lines);
    const products = lines.map((l) => this.products.get(l.productId));
    const decision = decideReservation(this.reservations.get(orderId), lines, products, this.maxOrderTotal);
    if (decision.kind === "duplicate") return decision;
    // Built before any mutation: a message that fails validation leaves the state untouched.
    const messages = ownMessages(emit, decision);
    if (decision.kind === "reserved") this.apply(lines, reserveStock);
    this.reservations.set(orderId, reservationRecord(orderId, decision));
    await this.publish(messages);
    return decision;
  }

  async release(orderId: string, emit: Emit<OrderLine[]>): Promise<ReleaseDecision> {
    const existing = this.reservations.get(orderId);
    const decision = decideRelease(existing);
    if (decision.kind === "tombstone") {
      this.reservations.set(orderId, { orderId, state: "released", items: [] });
    }
    if (decision.kind !== "release" || !existing) return decision;
    const messages = ownMessages(emit, decision.items);
    this.apply(decision.items, releaseStock);
    this.reservations.set(orderId, { ...existing, state: "released" });
    await this.publish(messages);
    return decision;
  }

  async commit(orderId: string, emit: Emit<OrderLine[]>): Promise<CommitDecision> {
    const existing = this.reservations.get(orderId);
    const decision = decideCommit(existing);
    if (decision.kind !== "commit" || !existing) return decision;
    const messages = ownMessages(emit, decision.items);
    this.apply(decision.items, commitStock);
    this.reservations.set(orderId, { ...existing, state: "committed" });
    await this.publish(messages);
    return decision;
  }

  private apply(lines: readonly OrderLine[], change: (p: Product, quantity: number) => Product): void {
    for (const line of lines) {
      const product = this.products.get(line.productId);
      if (product) this.products.set(line.productId, change(product, line.quantity));
    }
  }
}
