/**
 * The inventory store on Redis. A change reads a snapshot (one pipelined round trip), decides with
 * the pure domain, builds the exact events, then runs one Lua script that re-checks the decision
 * against the live stock and writes state and events together. If the stock moved in a way that
 * changes the events (a threshold crossed, a line now short), the script writes nothing and the
 * store decides again: optimistic, so concurrent reservations never block each other.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import {
  DEFAULT_MAX_ORDER_TOTAL_CENTS,
  MAX_STOCK_LEVEL,
  PricedOrderLineSchema,
  ReservationFailureReasonSchema,
} from "../../contracts/index.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { type OutboxArgs, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import {
  assertUniqueLines,
  type CommitDecision,
  decideCommit,
  decideRelease,
  decideReservation,
  InventoryError,
  type NewProduct,
  newProduct,
  type OrderLine,
  type Product,
  type ReleaseDecision,
  type Reservation,
  type ReservationOutcome,
  type ReservationState,
  type ReserveDecision,
  reservationRecord,
  reservationSignature,
  restockProduct,
} from "./domain.js";
import { deadlineArg, LATE_REPLY, lateReplyError } from "../../lib/redis/write-deadline.js";
import { legacyProductIndexKey, productIndexKey, productKey, reservationKey } from "./keys.js";
import { ADD_PRODUCT, MOVE_LEGACY_INDEX, RESERVE, RESTOCK, RESTOCK_ONCE, SETTLE } from "./scripts.js";
import {
  assertOwnEvents,
  type Emit,
  type InventoryStore,
  type ProductPage,
  type ProductPageQuery,
  type RestockOnce,
  type RestockOutcome,
} from "./store.js";

export interface RedisInventoryStoreOptions {
  redis: Redis;
  /** Decide-and-apply rounds before giving up with a retryable CONTENTION error (default 25). */
  maxAttempts?: number;
  /**
   * Lifetime (ms) of a settled (released, committed) or failed reservation, which then only dedupes
   * late redeliveries of the order's messages. Default 7 days, as `DEFAULT_RETENTION.markerTtlMs`.
   * A reservation that holds stock never expires.
   */
  markerTtlMs?: number;
  /** Largest order total in cents a reservation accepts (default `DEFAULT_MAX_ORDER_TOTAL_CENTS`). */
  maxOrderTotal?: number;
}

const CONFLICT = Symbol("conflict");
type Attempt<T> = T | typeof CONFLICT;

/** How RESTOCK_ONCE prefixes a refusal saved under the key, replayed ('replayed:<refusal>'). */
const REPLAYED_REFUSAL = "replayed:";
const OVER_LIMIT = "over_limit:";

/**
 * A restock script's refusal, 'missing' or 'over_limit:<room>' (scripts.ts `restock_check`), as an
 * outcome; undefined for any other reply.
 */
function restockRefusal(
  reply: string,
): { kind: "missing" } | { kind: "over_limit"; room: number } | undefined {
  if (reply === "missing") return { kind: "missing" };
  if (reply.startsWith(OVER_LIMIT))
    return { kind: "over_limit", room: Number(reply.slice(OVER_LIMIT.length)) };
  return undefined;
}

const StoredReservation = z.object({
  state: z.enum(["reserved", "failed", "released", "committed"]),
  items: z.string().transform((s) => z.array(PricedOrderLineSchema).parse(JSON.parse(s))),
  reason: ReservationFailureReasonSchema.optional(),
});

type Hash = Record<string, string>;

/**
 * Entries kept by each of the store's in-process memories (product prices, this instance's open
 * reservations): a bound on their memory, not a correctness limit (a miss costs a Redis read).
 */
const MEMORY_ENTRIES = 10_000;

/** Sets `key` in an insertion-ordered map, dropping the oldest entry past `MEMORY_ENTRIES`. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MEMORY_ENTRIES) map.delete(map.keys().next().value as string);
}

/** A reservation this instance made: its lines and the items JSON it stored. */
interface OpenReservation {
  lines: OrderLine[];
  itemsJson: string;
}

function toProduct(hash: Hash): Product | undefined {
  if (hash.id === undefined) return undefined;
  return {
    productId: hash.id,
    name: hash.name ?? "",
    price: Number(hash.price),
    available: Number(hash.available),
    reserved: Number(hash.reserved),
    committed: Number(hash.committed),
    lowStockThreshold: Number(hash.threshold),
  };
}

function toReservation(orderId: string, hash: Hash): Reservation | undefined {
  if (hash.state === undefined) return undefined;
  const { state, items, reason } = StoredReservation.parse(hash);
  return reason ? { orderId, state, items, reason } : { orderId, state, items };
}

const toState = (raw: string): ReservationState => StoredReservation.shape.state.parse(raw);

/** Stream keys and bodies of the messages a script appends; only the inventory's own events. */
function outbox(messages: readonly OutgoingMessage[]): OutboxArgs {
  assertOwnEvents(messages);
  return outboxArgs(messages);
}

export class RedisInventoryStore implements InventoryStore {
  private readonly redis: Redis;
  private readonly maxAttempts: number;
  private readonly markerTtlMs: number;
  private readonly maxOrderTotal: number;
  /**
   * Prices seen (fixed when a product is added): a reservation request is first tried as a guess
   * from them, in one Redis call, which RESERVE checks (stock, thresholds and prices) before it
   * applies; a wrong guess falls back to reading the state.
   */
  private readonly prices = new Map<string, number>();
  /**
   * Reservations this instance made and has not settled: a commit tries them in one Redis call,
   * which SETTLE checks (still reserved, with these items); otherwise it reads the reservation.
   */
  private readonly open = new Map<string, OpenReservation>();

  constructor(options: RedisInventoryStoreOptions) {
    this.redis = options.redis;
    this.maxAttempts = options.maxAttempts ?? 25;
    this.markerTtlMs = options.markerTtlMs ?? 7 * 86_400_000;
    this.maxOrderTotal = options.maxOrderTotal ?? DEFAULT_MAX_ORDER_TOTAL_CENTS;
  }

  async listProducts({ after, limit }: ProductPageQuery): Promise<ProductPage> {
    await this.moveLegacyIndex();
    // Exclusive lower bound: `(id` starts strictly after the previous page's last id. One id more
    // than the page tells whether another page follows.
    const min = after === undefined ? "-" : `(${after}`;
    const read = await this.redis.zrangebylex(productIndexKey(), min, "+", "LIMIT", 0, limit + 1);
    const ids = read.slice(0, limit);
    const hashes = await this.hashes(ids.map(productKey));
    // An id whose product is gone is skipped, but still moves the page on: `next` is the last id
    // read, not the last product kept, so a stale id never ends the paging early.
    const products = hashes.map(toProduct).filter((p): p is Product => p !== undefined);
    const last = ids.at(-1);
    return read.length > limit && last !== undefined ? { products, next: last } : { products };
  }

  /**
   * Catalogs written before the sorted index kept their ids in a plain set: moves them into the
   * sorted index in atomic batches (MOVE_LEGACY_INDEX), on every listing. Safe with any number of
   * instances listing at once and with an older instance still adding to the set; once the set is
   * gone a listing pays one O(1) script call.
   */
  private async moveLegacyIndex(): Promise<void> {
    const keys = [legacyProductIndexKey(), productIndexKey()];
    while (Number(await MOVE_LEGACY_INDEX.run(this.redis, keys, [500])) > 0);
  }

  async getProduct(productId: string): Promise<Product | undefined> {
    return toProduct(await this.redis.hgetall(productKey(productId)));
  }

  async getReservation(orderId: string): Promise<Reservation | undefined> {
    return toReservation(orderId, await this.redis.hgetall(reservationKey(orderId)));
  }

  async addProduct(input: NewProduct, emit: Emit<Product>, applyBy?: number): Promise<Product | undefined> {
    const product = newProduct(input);
    const { keys, bodies } = outbox(emit(product));
    const fields = [
      product.productId,
      product.name,
      product.price,
      product.available,
      product.lowStockThreshold,
    ];
    const added = await ADD_PRODUCT.run(
      this.redis,
      [productKey(product.productId), productIndexKey(), ...keys],
      [...fields, deadlineArg(applyBy), ...bodies],
    );
    if (typeof added === "string" && added.startsWith(LATE_REPLY)) {
      throw lateReplyError(`adding product ${product.productId}`, applyBy, added);
    }
    if (added !== 1) return undefined;
    remember(this.prices, product.productId, product.price);
    return product;
  }

  async restock(
    productId: string,
    quantity: number,
    emit: Emit<Product>,
    once?: RestockOnce,
    applyBy?: number,
  ): Promise<RestockOutcome> {
    return this.optimistic("restock", async (): Promise<Attempt<RestockOutcome>> => {
      const current = await this.getProduct(productId);
      // A missing product may still be a replay's (a saved refusal): decide in the script.
      const product = current && restockProduct(current, quantity);
      const { keys, bodies } = product ? outbox(emit(product)) : { keys: [], bodies: [] };
      const seen = current?.available ?? "";
      // The limit is checked by the script on the live stock, with the change: never on this snapshot.
      const result = String(
        once === undefined
          ? await RESTOCK.run(
              this.redis,
              [productKey(productId), ...keys],
              [quantity, seen, MAX_STOCK_LEVEL, deadlineArg(applyBy), ...bodies],
            )
          : await RESTOCK_ONCE.run(
              this.redis,
              [productKey(productId), once.key, ...keys],
              [
                quantity,
                seen,
                once.requestHash,
                once.ttlMs,
                MAX_STOCK_LEVEL,
                deadlineArg(applyBy),
                ...bodies,
              ],
            ),
      );
      if (result.startsWith(LATE_REPLY)) throw lateReplyError(`restock of ${productId}`, applyBy, result);
      if (result === "ok" && product) return { kind: "applied", product };
      if (result === "reused") return { kind: "reused" };
      if (result === "replayed") {
        const now = await this.getProduct(productId);
        return now ? { kind: "replayed", product: now } : { kind: "missing" };
      }
      if (result.startsWith(REPLAYED_REFUSAL)) {
        const refusal = restockRefusal(result.slice(REPLAYED_REFUSAL.length));
        if (refusal) return { ...refusal, replayed: true };
      }
      return restockRefusal(result) ?? CONFLICT;
    });
  }

  async reserve(
    orderId: string,
    lines: readonly OrderLine[],
    emit: Emit<ReservationOutcome>,
  ): Promise<ReserveDecision> {
    assertUniqueLines(lines);
    const stateKeys = [reservationKey(orderId), ...lines.map((l) => productKey(l.productId))];
    const guess = this.guessReservation(lines);
    if (guess) {
      const result = await this.writeReservation(orderId, lines, stateKeys, guess, emit);
      if (result !== CONFLICT) return result;
    }
    return this.optimistic("reserve", async (): Promise<Attempt<ReserveDecision>> => {
      const [reservation = {}, ...products] = await this.hashes(stateKeys);
      for (const product of products) {
        if (product.id !== undefined) remember(this.prices, product.id, Number(product.price));
      }
      const decision = decideReservation(
        toReservation(orderId, reservation),
        lines,
        products.map(toProduct),
        this.maxOrderTotal,
      );
      if (decision.kind === "duplicate") return decision;
      return this.writeReservation(orderId, lines, stateKeys, decision, emit);
    });
  }

  /**
   * The outcome when every product exists at the price seen, with stock for its line and no
   * low-stock threshold crossed (most requests): decideReservation's over products just so
   * stocked, which RESERVE then checks against the real stock. Undefined when a price was never
   * seen or the total is too large.
   */
  private guessReservation(lines: readonly OrderLine[]): ReservationOutcome | undefined {
    const products: Product[] = [];
    for (const { productId, quantity } of lines) {
      const price = this.prices.get(productId);
      if (price === undefined) return undefined;
      const stock = { available: quantity, reserved: 0, committed: 0, lowStockThreshold: -1 };
      products.push({ productId, name: "", price, ...stock });
    }
    const outcome = decideReservation(undefined, lines, products, this.maxOrderTotal);
    return outcome.kind === "reserved" ? outcome : undefined;
  }

  /** RESERVE `outcome` if it is still the outcome (see the script); CONFLICT when it is not. */
  private async writeReservation(
    orderId: string,
    lines: readonly OrderLine[],
    stateKeys: readonly string[],
    outcome: ReservationOutcome,
    emit: Emit<ReservationOutcome>,
  ): Promise<Attempt<ReserveDecision>> {
    const record = reservationRecord(orderId, outcome);
    const itemsJson = JSON.stringify(record.items);
    const { keys, bodies } = outbox(emit(outcome));
    const result = String(
      await RESERVE.run(
        this.redis,
        [...stateKeys, ...keys],
        [
          lines.length,
          reservationSignature(lines, outcome),
          itemsJson,
          record.reason ?? "",
          ...lines.map((l) => l.quantity),
          this.markerTtlMs,
          ...bodies,
        ],
      ),
    );
    if (result === "applied") {
      // A reserved outcome's items are `lines` priced (strict schema: nothing else on a line).
      if (outcome.kind === "reserved") remember(this.open, orderId, { lines: [...lines], itemsJson });
      return outcome;
    }
    if (result.startsWith("duplicate:")) return { kind: "duplicate", state: toState(result.slice(10)) };
    return CONFLICT;
  }

  async release(orderId: string, emit: Emit<OrderLine[]>): Promise<ReleaseDecision> {
    this.open.delete(orderId);
    return this.optimistic("release", async (): Promise<Attempt<ReleaseDecision>> => {
      const decision = decideRelease(await this.getReservation(orderId));
      if (decision.kind === "noop") return decision;
      const items = decision.kind === "release" ? decision.items : [];
      const result = await this.settle("released", orderId, items, items.length > 0 ? emit(items) : []);
      if (result === "done" || result === "tombstone") return decision;
      return result.startsWith("noop:") ? { kind: "noop", state: toState(result.slice(5)) } : CONFLICT;
    });
  }

  async commit(orderId: string, emit: Emit<OrderLine[]>): Promise<CommitDecision> {
    const known = this.open.get(orderId);
    if (known) {
      // One call: SETTLE commits only a reservation still reserved with exactly these items.
      this.open.delete(orderId);
      const result = await this.settle("committed", orderId, known.lines, emit(known.lines), known.itemsJson);
      if (result === "done") return { kind: "commit", items: known.lines };
      if (result.startsWith("noop:")) return { kind: "noop", state: toState(result.slice(5)) };
    }
    return this.optimistic("commit", async (): Promise<Attempt<CommitDecision>> => {
      const decision = decideCommit(await this.getReservation(orderId));
      if (decision.kind === "noop") return decision;
      const result = await this.settle("committed", orderId, decision.items, emit(decision.items));
      if (result === "done") return decision;
      return result.startsWith("noop:") ? { kind: "noop", state: toState(result.slice(5)) } : CONFLICT;
    });
  }

  /** Release or commit `items` if the reservation is still reserved (or, with no items, still absent). */
  private async settle(
    to: "released" | "committed",
    orderId: string,
    items: readonly OrderLine[],
    messages: readonly OutgoingMessage[],
    itemsJson = "",
  ): Promise<string> {
    const { keys, bodies } = outbox(messages);
    const productKeys = items.map((l) => productKey(l.productId));
    const seen = items.length > 0 ? "reserved" : "none";
    const quantities = items.map((l) => l.quantity);
    const result = await SETTLE.run(
      this.redis,
      [reservationKey(orderId), ...productKeys, ...keys],
      [to, seen, items.length, ...quantities, this.markerTtlMs, itemsJson, ...bodies],
    );
    return String(result);
  }

  private async hashes(keys: readonly string[]): Promise<Hash[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw error;
      return value as Hash;
    });
  }

  private async optimistic<T>(operation: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
    for (let i = 0; i < this.maxAttempts; i++) {
      const result = await attempt();
      if (result !== CONFLICT) return result;
    }
    throw new InventoryError(
      "CONTENTION",
      `${operation}: stock kept changing, gave up after ${this.maxAttempts} tries`,
      true,
    );
  }
}
