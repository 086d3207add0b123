/**
 * Every Redis key family the system writes, with its owner, what it holds, whether it is the system
 * of record or transient, and its bound. The table in docs/storage.md is rendered from this list
 * (`npx tsx scripts/storage-table.ts`; a test keeps the two equal), and the storage test scans a
 * Redis after a run of the whole system against it: a key of no family, or a transient key without
 * its bound, fails it. Each family's example is built by the owner's own key function, so a key
 * layout change that the patterns miss fails the tests too.
 */
import {
  deferralsKey,
  hungRunsKey,
  soloRunsKey,
  soloUndoneKey,
  startedRunsKey,
  eventStreamKey,
  failuresKey,
  READ_TO_TTL_MS,
  readToKey,
  redeliverStreamKey,
  replaysKey,
} from "../lib/bus/transports/redis-stream-keys.js";
import { REPLAY_DEDUPE_MS } from "../lib/bus/transport.js";
import { instanceKey, serviceIndexKey, servicesKey } from "../lib/discovery/keys.js";
import { deadLetterKeys, RETRY_OF_PURGED_CLAIM_TTL_MS } from "../lib/dlq/keys.js";
import {
  allEventsKey,
  checkpointKey,
  positionKey,
  readModelKey,
  rebuildMarkerKey,
  streamKey,
} from "../lib/eventstore/keys.js";
import { productIndexKey, productKey, reservationKey } from "../services/inventory/keys.js";
import { TEMPLATES } from "../services/notification/domain.js";
import {
  byOrderKey,
  byUserKey,
  contactKey,
  notificationKey,
  providerFlakyKey,
  providerSentKey,
} from "../services/notification/keys.js";
import {
  deadlineCheckpointKey,
  rebuildMarkerKeyOf,
  deadlineIndexKey,
  deadlinePositionsKey,
  aofRewriteThrottleKey,
  ORDER_TAG,
  lostReplyKey,
  orderStreamId,
  shredIntentsKey,
} from "../services/order/keys.js";
import {
  attemptFailureKey,
  orderOutcomeKey,
  orphanScanCursorKey,
  orphanScanSkipKey,
  paymentIndexKey,
  paymentKey,
  providerDownKey,
  providerIndexKey,
  providerCallsKey,
  providerEntryKey,
  providerIdKey,
  providerInFlightKey,
} from "../services/payment/keys.js";
import { orderListProjection } from "../services/order/order-list.js";
import { orderListKey, userOrderListKey } from "../services/order/order-list-redis.js";
import { DEFAULT_IDEMPOTENCY_TTL_MS } from "../services/order/idempotency-records.js";
import { idempotencyRecordKey } from "../services/order/idempotency-records-redis.js";
import {
  carrierBookingKey,
  carrierIndexKey,
  carrierInFlightKey,
  carrierTimeIndexKey,
  orphanBookingScanCursorKey,
  orphanBookingScanSkipKey,
  dueFailuresKey,
  dueUnreadableKey,
  parkedKey,
  dueKey,
  shipmentKey,
} from "../services/shipping/keys.js";
import { TOKEN_KEY_TTL_MS, tokenKeyKey } from "../lib/security/payment-token.js";
import { pendingKeyOf } from "../lib/security/aof-compactor.js";
import { deletedKey, emailKey, userKey, validationKey } from "../services/user/keys.js";
import { MAX_TIMER_MS } from "../lib/runtime/config.js";
import { DEV_SECRETS_FINGERPRINT_KEY } from "./dev-secrets.js";
import { IdSchema, MAX_ORDER_LINES } from "../contracts/common.js";
import { DEFAULT_SLOT, LAUNCHER_SLOT_LEASE_MS, launcherSlotKey } from "./launch-guard.js";

/**
 * The settings the documented bounds are stated in: the retention policy of the run (the soak and
 * the tests shorten it) and the bus's and registry's lifetimes. The scan holds each key against the
 * bound its family computes from these, so "a TTL" means "a TTL no longer than documented".
 */
export interface BoundSettings {
  /** `MARKER_TTL_MS`: dedupe and attempt marks (not the simulated provider's ledger, kept like payment records). */
  markerTtlMs: number;
  /** `HEARTBEAT_INTERVAL_MS`: an instance key lives three of them. */
  heartbeatIntervalMs: number;
  /** `DLQ_AUDIT_RETENTION_MS`: a record's own audit trail lives this long after its last entry. */
  dlqAuditRetentionMs: number;
}

/** The bus's lifetime of a pending entry's recorded failures and deferrals (`failureTtlMs`), ms. */
export const FAILURE_RECORD_TTL_MS = 7 * 86_400_000;
/** The simulated provider's cap on its per-key call counters, ms (provider-redis-ledger.ts). */
export const PROVIDER_CALLS_TTL_MAX_MS = 24 * 3_600_000;

/** The longest TTL a key of a family may carry, from the run's settings, ms. */
export type TtlBound = (settings: BoundSettings) => number;

/**
 * How a family's bound is checked on a live Redis.
 * - `kept`: the system of record; it grows with the business (users, orders) and is measured in
 *   bytes per order, not bounded.
 * - `expires`: every key has a TTL, and none longer than `maxTtl`.
 * - `expires-once-settled`: a reservation hash has such a TTL unless it still holds stock (`reserved`).
 * - `trimmed`: a stream trimmed by the owner (`StreamTrimmer`): nothing every group has handled,
 *   and in a stream no group reads nothing older than `STREAM_RETENTION_MS`.
 * - `audit-window`: a stream trimmed on append to `DLQ_AUDIT_RETENTION_MS`.
 * - `count`: at most `max` keys in the family (one per service, per projection, a singleton);
 *   what each holds is bounded by the work in flight or the services deployed (`holds` says how).
 * Independently, a collection family (hash, set, zset, list) with `maxMembers` has at most that
 * many fields, members or elements in each key.
 */
export type BoundCheck =
  | { kind: "kept" }
  | { kind: "expires"; maxTtl: TtlBound }
  | { kind: "expires-once-settled"; maxTtl: TtlBound }
  | { kind: "trimmed" }
  | { kind: "audit-window" }
  | { kind: "count"; max: number };

export type KeyRole = "record" | "transient";

export interface KeyFamily {
  /** Pattern in the docs' notation: `<placeholder>` for a variable part. */
  pattern: string;
  /** Full-key matcher; the families are disjoint (a test checks every example matches one). */
  match: RegExp;
  /** A key of the family, built by the owner's key function. */
  example: string;
  owner: string;
  type: "string" | "hash" | "list" | "set" | "zset" | "stream";
  holds: string;
  role: KeyRole;
  /** The bound in words, with the setting that controls it. */
  bound: string;
  check: BoundCheck;
  /** Most fields/members/elements of one key, for a collection family that documents it. */
  maxMembers?: number;
  /** What one order adds to the family, for a family that grows with orders (the soak gates it). */
  perOrder?: PerOrderBound;
  /** How each member of a collection family bounded by work in flight must look (the scan checks). */
  members?: MemberCheck;
}

/**
 * The bound on each member of a collection whose member count is bounded by work in flight
 * rather than by a number (a `count` family holds one key, but its members could still pile up):
 * - `due`: a zset scored by a due time (ms since the epoch): a member overdue by more than the
 *   scan's `overdueMs` is stuck (its sweeper does not take it), and the set grows;
 * - `within`: a hash whose fields must each be a member of the sibling zset `of(key)` (the two
 *   change together, atomically): a field without its member is a leak;
 * - `max-age`: a zset scored by the time a member was added (ms): none older than `maxAgeMs`.
 */
export type MemberCheck =
  { kind: "due" } | { kind: "within"; of: (key: string) => string } | { kind: "max-age"; maxAgeMs: number };

/**
 * What one order adds to a family that grows with orders; `npm run soak` fails a run over it.
 * - System of record: `keys` new keys and `bytes` of MEMORY USAGE per order placed (the measured
 *   figures of docs/storage.md with headroom; the soak's orders: one item, `tok_ok`, one user).
 * - Transient: `keys` (or stream `entries`) held per order placed within the family's window
 *   (`MARKER_TTL_MS`, `STREAM_RETENTION_MS`; the soak sets both to one window), so the family
 *   holds at most about rate × window × this.
 */
export interface PerOrderBound {
  keys?: number;
  entries?: number;
  bytes?: number;
  /**
   * The orders a key is counted against: those placed (default) or, for a family written when the
   * saga ends, those that ended (a slow run's sagas end in bursts long after their orders were
   * placed: break-11 F7). Transient: within the family's window; system of record: over the run.
   */
  counts?: "placed" | "ended";
  /**
   * For a family whose size follows the order's lines: bytes measured for the worst order a client
   * can place (MAX_ORDER_LINES lines, ids at IdSchema's maximum length; break42 F2). `bytes` is the
   * one-line order the soak places, and stays the gate; this is documentation only.
   */
  worstCaseBytes?: number;
}

const ID = "[^:]+";
const re = (source: string) => new RegExp(`^${source}$`);
const tagged = (tag: string) => `\\{${tag}\\}`;
/** Any hash tag: `{owner}`, `{group}`, `{namespace}`. */
const ANY_TAG = "\\{[^{}:]+\\}";
/** Services that may own streams or register instances: six services and the gateway. */
const SERVICE_COUNT = 7;

const KEPT = "kept (system of record)";
const MARK = "TTL `MARKER_TTL_MS` (default 7 days)";
const markerTtl: TtlBound = (s) => s.markerTtlMs;
/** Notifications one order can get: every channel of every template about an order. */
const NOTIFICATIONS_PER_ORDER = Object.entries(TEMPLATES)
  .filter(([template]) => template.startsWith("order."))
  .reduce((n, [, t]) => n + t.channels.length, 0);

export const KEY_FAMILIES: readonly KeyFamily[] = [
  // user
  {
    pattern: "{user}:u:<userId>",
    match: re(`${tagged("user")}:u:${ID}`),
    example: userKey("u1"),
    owner: "user",
    type: "hash",
    holds:
      "a user (`data`: JSON, email and phone sealed), its `version`, and `claim`: its email claim's blind index, read by DELETE without the data keys",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
  },
  {
    pattern: "{user}:email:<email index>",
    match: re(`${tagged("user")}:email:[0-9a-f]{64}`),
    example: emailKey("5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"),
    owner: "user",
    type: "string",
    holds:
      "the user id holding an email; named by the email's blind index (hex HMAC-SHA256 of the lower-cased email), never the email",
    role: "record",
    bound: `${KEPT}: one per user`,
    check: { kind: "kept" },
  },
  {
    pattern: "{user}:deleted:<userId>",
    match: re(`${tagged("user")}:deleted:${ID}`),
    example: deletedKey("u1"),
    owner: "user",
    type: "string",
    holds: "tombstone of a deleted user (validation answers `deleted`)",
    role: "record",
    bound: `${KEPT}: one per deleted user`,
    check: { kind: "kept" },
  },
  {
    pattern: "{user}:validated:<orderId>",
    match: re(`${tagged("user")}:validated:${ID}`),
    example: validationKey("o1"),
    owner: "user",
    type: "string",
    holds: "dedupe mark: the validation answer already given for an order",
    role: "transient",
    bound: MARK,
    check: { kind: "expires", maxTtl: markerTtl },
    perOrder: { keys: 1 },
  },
  // order
  {
    pattern: "{order}:es:s:order-<orderId>",
    match: re(`${tagged(ORDER_TAG)}:es:s:${ID}`),
    example: streamKey(ORDER_TAG, orderStreamId("o1")),
    owner: "order",
    type: "list",
    holds: "an order's events (event sourcing: the order's history)",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
    perOrder: { keys: 1, bytes: 8_000, worstCaseBytes: 35_632 },
  },
  {
    pattern: "{order}:es:all",
    match: re(`${tagged(ORDER_TAG)}:es:all`),
    example: allEventsKey(ORDER_TAG),
    owner: "order",
    type: "stream",
    holds:
      "the global event log: one entry per append (entry id = its first global position) naming the stream and versions of its events; read only to rebuild a read model",
    role: "record",
    bound: `${KEPT}: a projection rebuild reads it from the start`,
    check: { kind: "kept" },
    perOrder: { bytes: 1_000 },
  },
  {
    pattern: "{order}:es:pos",
    match: re(`${tagged(ORDER_TAG)}:es:pos`),
    example: positionKey(ORDER_TAG),
    owner: "order",
    type: "string",
    holds: "last global position handed out",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{order}:rm:<projection>",
    match: re(`${tagged(ORDER_TAG)}:rm:${ID}`),
    example: readModelKey(ORDER_TAG, "order-view-v1"),
    owner: "order",
    type: "hash",
    holds: "the order views (read side of `GET /orders`), one field per order",
    role: "record",
    bound: "kept; optional `ORDER_VIEW_RETENTION_MS` drops views of orders ended longer ago",
    check: { kind: "kept" },
    perOrder: { bytes: 1_000, worstCaseBytes: 14_684 },
  },
  {
    pattern: "{order}:rm:<projection>:checkpoint",
    match: re(`${tagged(ORDER_TAG)}:rm:${ID}:checkpoint`),
    example: checkpointKey(ORDER_TAG, "order-view-v1"),
    owner: "order",
    type: "string",
    holds: "a projection's last applied global position (written by a rebuild only: appends write the views)",
    role: "record",
    bound: "one per projection",
    check: { kind: "count", max: 2 },
  },
  {
    pattern: "{order}:rm:<projection>:rebuilding",
    match: re(`${tagged(ORDER_TAG)}:rm:${ID}:rebuilding`),
    example: rebuildMarkerKey(ORDER_TAG, "order-view-v1"),
    owner: "order",
    type: "string",
    holds:
      "a projection's rebuild marker: the id of a rebuild that cleared the read model and has not replayed the log to its end",
    role: "transient",
    bound:
      "one per projection, only while its rebuild runs or after one was interrupted (removed once the replay reached the end of the log; after an interrupted one the order service refuses to start until a rebuild completes)",
    check: { kind: "count", max: 2 },
  },
  {
    pattern: "{order}:<projection>:due",
    match: re(`${tagged(ORDER_TAG)}:order-deadlines-v\\d+:due`),
    example: deadlineIndexKey(ORDER_TAG, "order-deadlines-v1"),
    owner: "order",
    type: "zset",
    holds: "deadline index: orders in flight scored by their step deadline",
    role: "transient",
    bound: "one key; an order leaves it when its saga ends (orders in flight)",
    check: { kind: "count", max: 1 },
    members: { kind: "due" },
  },
  {
    pattern: "{order}:<projection>:pos",
    match: re(`${tagged(ORDER_TAG)}:order-deadlines-v\\d+:pos`),
    example: deadlinePositionsKey(ORDER_TAG, "order-deadlines-v1"),
    owner: "order",
    type: "hash",
    holds: "deadline index: last applied position per order in flight",
    role: "transient",
    bound: "one key; an order leaves it when its saga ends (orders in flight)",
    check: { kind: "count", max: 1 },
    members: { kind: "within", of: (key) => key.replace(/:pos$/, ":due") },
  },
  {
    pattern: "{order}:<projection>:checkpoint",
    match: re(`${tagged(ORDER_TAG)}:order-deadlines-v\\d+:checkpoint`),
    example: deadlineCheckpointKey(ORDER_TAG, "order-deadlines-v1"),
    owner: "order",
    type: "string",
    holds: "deadline index: last applied global position (written by a rebuild only)",
    role: "transient",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{order}:<projection>:rebuilding",
    match: re(`${tagged(ORDER_TAG)}:order-deadlines-v\\d+:rebuilding`),
    example: rebuildMarkerKeyOf(ORDER_TAG, "order-deadlines-v1"),
    owner: "order",
    type: "string",
    holds: "deadline index: rebuild marker (the id of a rebuild not yet replayed to the end of the log)",
    role: "transient",
    bound:
      "one per projection, only while its rebuild runs or after one was interrupted (removed once the replay reached the end of the log; after an interrupted one the order service refuses to start until a rebuild completes)",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{order}:<list>:all",
    match: re(`${tagged(ORDER_TAG)}:order-list-v\\d+:all`),
    example: orderListKey(),
    owner: "order",
    type: "zset",
    holds: "order list index: every order by creation time (`GET /orders`)",
    role: "record",
    bound: "one key; one member per order",
    check: { kind: "count", max: 1 },
    perOrder: { bytes: 400 },
  },
  {
    pattern: "{order}:<list>:user:<userId>",
    match: re(`${tagged(ORDER_TAG)}:order-list-v\\d+:user:${ID}`),
    example: userOrderListKey("u1"),
    owner: "order",
    type: "zset",
    holds: "order list index: one user's orders by creation time",
    role: "record",
    bound: `${KEPT}: one per distinct userId that orders were placed for, existing users or not (an order for an unknown user fails, its index entry stays with its history: break22 F7)`,
    check: { kind: "kept" },
    perOrder: { bytes: 400 },
  },
  {
    pattern: "{order}:<list>:records",
    match: re(`${tagged(ORDER_TAG)}:order-list-v\\d+:records`),
    example: `{${ORDER_TAG}}:${orderListProjection.name}:records`,
    owner: "order",
    type: "hash",
    holds: "order list index: each order's entry and projection position",
    role: "record",
    bound: "one key; one field per order",
    check: { kind: "count", max: 1 },
    perOrder: { bytes: 500 },
  },
  {
    pattern: "{order}:<list>:checkpoint",
    match: re(`${tagged(ORDER_TAG)}:order-list-v\\d+:checkpoint`),
    example: `{${ORDER_TAG}}:${orderListProjection.name}:checkpoint`,
    owner: "order",
    type: "string",
    holds: "order list index: last applied global position (written by a rebuild only)",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{order}:<list>:rebuilding",
    match: re(`${tagged(ORDER_TAG)}:order-list-v\\d+:rebuilding`),
    example: rebuildMarkerKeyOf(ORDER_TAG, orderListProjection.name),
    owner: "order",
    type: "string",
    holds: "order list index: rebuild marker (the id of a rebuild not yet replayed to the end of the log)",
    role: "transient",
    bound:
      "one per projection, only while its rebuild runs or after one was interrupted (removed once the replay reached the end of the log; after an interrupted one the order service refuses to start until a rebuild completes)",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{order}:aof-rewrite",
    match: re(`${tagged(ORDER_TAG)}:aof-rewrite`),
    example: aofRewriteThrottleKey(),
    owner: "order",
    type: "string",
    holds:
      "the order instances' shared AOF-rewrite throttle after shredding: `claimed:<holder>`, then `requested:<Redis µs>:<holder>` once a rewrite was requested, `done:<Redis µs>:<holder>` once it completed (back to `claimed:<holder>` when it failed), `failed:<Redis µs>:<holder>` for the interval after Redis refused the request",
    role: "transient",
    bound: "one key; TTL `SHRED_AOF_REWRITE_INTERVAL_MS` (default 60 s)",
    check: { kind: "expires", maxTtl: () => MAX_TIMER_MS },
  },
  {
    pattern: "{order}:shred:due",
    match: re(`${tagged(ORDER_TAG)}:shred:due`),
    example: shredIntentsKey(),
    owner: "order",
    type: "zset",
    holds:
      "shred intents: orders whose saga ended, scored by that time (ms), until their `{payment}:tokenkey:<orderId>` was deleted (written by the terminal append; src/services/order/shred-sweeper.ts)",
    role: "transient",
    bound:
      "one key; an order leaves it once its token key is deleted (at once, else by the shred sweeper after `shredGraceMs`, 60 s)",
    check: { kind: "count", max: 1 },
    members: { kind: "max-age", maxAgeMs: 10 * 60_000 },
  },
  {
    pattern: "{order}:lost:<orderId>:<compensation>",
    match: re(`${tagged(ORDER_TAG)}:lost:${ID}:(inventory\\.release|payment\\.refund|shipment\\.cancel)`),
    example: lostReplyKey("o1", "payment.refund"),
    owner: "order",
    type: "string",
    holds:
      "marker: the compensation of an effect reply for a lost order (no history: lost with Redis's last writes) was published",
    role: "transient",
    bound: MARK,
    check: { kind: "expires", maxTtl: markerTtl },
  },
  {
    pattern: "{order}:aof-rewrite:pending",
    match: re(`${tagged(ORDER_TAG)}:aof-rewrite:pending`),
    example: pendingKeyOf(aofRewriteThrottleKey()),
    owner: "order",
    type: "string",
    holds:
      "Redis µs of the newest shred no completed AOF rewrite covers yet, for every order instance (a stopped instance's shred is taken over by the others at their next look)",
    role: "transient",
    bound: "one key; deleted by the rewrite that covers it",
    check: { kind: "count", max: 1 },
  },
  // inventory
  {
    pattern: "{inventory}:product:<productId>",
    match: re(`${tagged("inventory")}:product:${ID}`),
    example: productKey("prod-keyboard"),
    owner: "inventory",
    type: "hash",
    holds: "a product: price, available, reserved, committed stock",
    role: "record",
    bound: `${KEPT}: the catalog`,
    check: { kind: "kept" },
  },
  {
    pattern: "{inventory}:product-ids",
    match: re(`${tagged("inventory")}:product-ids`),
    example: productIndexKey(),
    owner: "inventory",
    type: "zset",
    holds: "every product id at score 0, sorted by id (catalog pages)",
    role: "record",
    bound: "one key; one member per product",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{inventory}:reservation:<orderId>",
    match: re(`${tagged("inventory")}:reservation:${ID}`),
    example: reservationKey("o1"),
    owner: "inventory",
    type: "hash",
    holds: "an order's reservation; once released, committed or failed only its dedupe mark",
    role: "transient",
    bound: `kept while it holds stock; then ${MARK}; fields: \`state\`, \`items\`, \`reason\``,
    check: { kind: "expires-once-settled", maxTtl: markerTtl },
    perOrder: { keys: 1 },
    maxMembers: 3,
  },
  // payment
  {
    pattern: "{payment}:payment:<orderId>",
    match: re(`${tagged("payment")}:payment:${ID}`),
    example: paymentKey("o1"),
    owner: "payment",
    type: "hash",
    holds: "an order's payment record (status, amounts, provider ids)",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
    perOrder: { keys: 1, bytes: 1_200 },
  },
  {
    pattern: "{payment}:payments",
    match: re(`${tagged("payment")}:payments`),
    example: paymentIndexKey(),
    owner: "payment",
    type: "set",
    holds: "every order id with a payment record (the reconciliation walks it)",
    role: "record",
    bound: "one key; one member per payment record",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{payment}:orphan-scan:cursor",
    match: re(`${tagged("payment")}:orphan-scan:cursor`),
    example: orphanScanCursorKey(),
    owner: "payment",
    type: "string",
    holds:
      "where the orphan-charge pass reached: a charge creation time (epoch ms), shared by the instances (src/services/payment/orphan-charges.ts)",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{payment}:orphan-scan:cursor-skip",
    match: re(`${tagged("payment")}:orphan-scan:cursor-skip`),
    example: orphanScanSkipKey(),
    owner: "payment",
    type: "string",
    holds:
      "`<createdAtMs>:<skip>`: how many charges of the cursor's millisecond the orphan-charge pass examined (src/services/payment/orphan-charges.ts)",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{payment}:outcome:<orderId>",
    match: re(`${tagged("payment")}:outcome:${ID}`),
    example: orderOutcomeKey("o1"),
    owner: "payment",
    type: "hash",
    holds:
      "how the order's saga ended (`outcome`, `rank`): what `GET /payments/reconciliation` judges the order's money by",
    role: "record",
    // Kept: with a TTL (MARKER_TTL_MS, 7 days) money still owed left the reconciliation (break34 F2).
    // Written when the saga ends (every order ends): one small hash per order, 152 B measured.
    bound:
      "kept as long as the payment records: one per ended order (keys an earlier release wrote keep their 7-day TTL)",
    check: { kind: "kept" },
    perOrder: { keys: 1, bytes: 200, counts: "ended" },
  },
  {
    pattern: "{payment}:tokenkey:<orderId>",
    match: re(`${tagged("payment")}:tokenkey:${ID}`),
    example: tokenKeyKey("o1"),
    owner: "payment (written by order)",
    type: "hash",
    holds:
      "seal id → ephemeral X25519 public key and the token's own entry secret (`<public>.<secret>`) of the order's sealed payment token: without it the token cannot be opened (docs/security.md)",
    role: "transient",
    bound: "deleted at the saga's terminal state (crypto-shredding); TTL 7 days as a backstop",
    check: { kind: "expires", maxTtl: () => TOKEN_KEY_TTL_MS },
    perOrder: { keys: 1 },
  },
  {
    pattern: "{payment}:provider:index:<charge|refund>",
    match: re(`${tagged("payment")}:provider:index:(charge|refund)`),
    example: providerIndexKey("charge"),
    owner: "payment (simulated provider)",
    type: "zset",
    holds: "the provider's dashboard: ledger entry keys by creation time",
    role: "record",
    bound: "one key per kind; one member per ledger entry",
    check: { kind: "count", max: 2 },
  },
  {
    pattern: "{payment}:provider:down-until",
    match: re(`${tagged("payment")}:provider:down-until`),
    example: providerDownKey(),
    owner: "payment (simulated provider)",
    type: "string",
    holds: "end of an outage window (tests, `npm run chaos`)",
    role: "transient",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{payment}:attempt:<orderId>:<n>",
    match: re(`${tagged("payment")}:attempt:${ID}:\\d+`),
    example: attemptFailureKey("o1", 1),
    owner: "payment",
    type: "string",
    holds: "marker: a transient failure of this attempt was already reported",
    role: "transient",
    bound: MARK,
    check: { kind: "expires", maxTtl: markerTtl },
  },
  {
    pattern: "{payment}:provider:<charge|refund>:<idempotencyKey>",
    match: re(`${tagged("payment")}:provider:(charge|refund):.+`),
    example: providerEntryKey("charge", "o1:1"),
    owner: "payment (simulated provider)",
    type: "string",
    holds: "the simulated card network's ledger entry (its dashboard: never forgets money)",
    role: "record",
    bound: "kept as long as the payment records: at most one charge and one refund per order",
    check: { kind: "kept" },
    perOrder: { keys: 2, bytes: 1_200 },
  },
  {
    pattern: "{payment}:provider:id:<providerId>",
    match: re(`${tagged("payment")}:provider:id:.+`),
    example: providerIdKey("ch_1"),
    owner: "payment (simulated provider)",
    type: "string",
    holds: "ledger index: provider id → entry key",
    role: "record",
    bound: "kept with its ledger entry: one per charge or refund",
    check: { kind: "kept" },
    perOrder: { keys: 2, bytes: 600 },
  },
  {
    pattern: "{payment}:provider:inflight:<charge|refund>:<idempotencyKey>",
    match: re(`${tagged("payment")}:provider:inflight:(charge|refund):.+`),
    example: providerInFlightKey("charge", "o1"),
    owner: "payment (simulated provider)",
    type: "string",
    holds: "lease: the provider is processing a call with this key (`request_in_progress`)",
    role: "transient",
    bound: "deleted when the call ends; lease 60 s if the provider dies mid-call",
    check: { kind: "expires", maxTtl: () => 60_000 },
  },
  {
    pattern: "{payment}:provider:calls:<idempotencyKey>",
    match: re(`${tagged("payment")}:provider:calls:.+`),
    example: providerCallsKey("o1:1"),
    owner: "payment (simulated provider)",
    type: "string",
    holds: "calls made with one idempotency key (drives `tok_flaky`)",
    role: "transient",
    bound: "TTL `MARKER_TTL_MS`, at most 24 h",
    check: { kind: "expires", maxTtl: (st) => Math.min(st.markerTtlMs, PROVIDER_CALLS_TTL_MAX_MS) },
    perOrder: { keys: 2 },
  },
  // shipping
  {
    pattern: "{shipping}:shipment:<orderId>",
    match: re(`${tagged("shipping")}:shipment:${ID}`),
    example: shipmentKey("o1"),
    owner: "shipping",
    type: "hash",
    holds: "an order's shipment (carrier, tracking, status)",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
    perOrder: { keys: 1, bytes: 1_200, worstCaseBytes: 14_608 },
  },
  {
    pattern: "{shipping}:due",
    match: re(`${tagged("shipping")}:due`),
    example: dueKey(),
    owner: "shipping",
    type: "zset",
    holds: "shipments awaiting delivery, by due time",
    role: "transient",
    bound: "one key; a shipment leaves it when delivered (shipments in transit)",
    check: { kind: "count", max: 1 },
    members: { kind: "due" },
  },
  {
    pattern: "{shipping}:due:failures",
    match: re(`${tagged("shipping")}:due:failures`),
    example: dueFailuresKey(),
    owner: "shipping",
    type: "hash",
    holds:
      "failed delivery tries of a shipment on the schedule (order id → count; it was moved back by its backoff)",
    role: "transient",
    bound:
      "one key; a field only while its shipment is on `{shipping}:due` (removed with it, same script; one an older release left is removed by the poller's sweep)",
    check: { kind: "count", max: 1 },
    members: { kind: "within", of: () => dueKey() },
  },
  {
    pattern: "{shipping}:due:unreadable",
    match: re(`${tagged("shipping")}:due:unreadable`),
    example: dueUnreadableKey(),
    owner: "shipping",
    type: "hash",
    holds:
      "consecutive tries of a shipment on the schedule whose record could not be read (order id → count; parked at 15)",
    role: "transient",
    bound: "one key; a field only while its shipment is on `{shipping}:due` (removed with it, same script)",
    check: { kind: "count", max: 1 },
    members: { kind: "within", of: () => dueKey() },
  },
  {
    pattern: "{shipping}:parked",
    match: re(`${tagged("shipping")}:parked`),
    example: parkedKey(),
    owner: "shipping",
    type: "hash",
    holds:
      "shipments taken off the schedule because their record never read (order id → `{reason, parkedAt, tries}`), for an operator (`GET /shipments/parked`, `POST /shipments/:orderId/requeue`)",
    role: "record",
    bound: "one key; at most one field per order, until an operator re-queues or deletes it (normally empty)",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{shipping}:carrier:booking:<idempotencyKey>",
    match: re(`${tagged("shipping")}:carrier:booking:.+`),
    example: carrierBookingKey("shipment:o1"),
    owner: "shipping (simulated carrier)",
    type: "hash",
    holds: "the simulated carrier's booking made with one idempotency key (`status`, `data`, `updatedAt`)",
    role: "record",
    bound: "kept like the shipment records: at most one per order (key `shipment:<orderId>`)",
    check: { kind: "kept" },
  },
  {
    pattern: "{shipping}:carrier:bookings",
    match: re(`${tagged("shipping")}:carrier:bookings`),
    example: carrierIndexKey(),
    owner: "shipping (simulated carrier)",
    type: "set",
    holds: "the carrier's dashboard: every booking's idempotency key",
    role: "record",
    bound: "one key; one member per booking",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{shipping}:carrier:bookings-by-time",
    match: re(`${tagged("shipping")}:carrier:bookings-by-time`),
    example: carrierTimeIndexKey(),
    owner: "shipping (simulated carrier)",
    type: "zset",
    holds:
      "the carrier's dashboard by creation time (score: epoch ms): every booking's idempotency key, scanned by the orphan-booking pass (src/services/shipping/orphan-bookings.ts)",
    role: "record",
    bound: "one key; one member per booking",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{shipping}:orphan-scan:cursor",
    match: re(`${tagged("shipping")}:orphan-scan:cursor`),
    example: orphanBookingScanCursorKey(),
    owner: "shipping",
    type: "string",
    holds:
      "where the orphan-booking pass reached: a booking creation time (epoch ms), shared by the instances (src/services/shipping/orphan-bookings.ts)",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{shipping}:orphan-scan:cursor-skip",
    match: re(`${tagged("shipping")}:orphan-scan:cursor-skip`),
    example: orphanBookingScanSkipKey(),
    owner: "shipping",
    type: "string",
    holds:
      "`<createdAtMs>:<skip>`: how many bookings of the cursor's millisecond the orphan-booking pass examined (src/services/shipping/orphan-bookings.ts)",
    role: "record",
    bound: "one key",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{shipping}:carrier:inflight:<idempotencyKey>",
    match: re(`${tagged("shipping")}:carrier:inflight:.+`),
    example: carrierInFlightKey("shipment:o1"),
    owner: "shipping (simulated carrier)",
    type: "string",
    holds: "lease: the carrier is processing a booking with this key (`request_in_progress`)",
    role: "transient",
    bound: "deleted when the call ends; lease 60 s if the carrier dies mid-call",
    check: { kind: "expires", maxTtl: () => 60_000 },
  },
  // notification
  {
    pattern: "{notification}:contact:<userId>",
    match: re(`${tagged("notification")}:contact:${ID}`),
    example: contactKey("u1"),
    owner: "notification",
    type: "hash",
    holds: "a user's contact details (projection of user events)",
    role: "record",
    bound: `${KEPT}: one per user`,
    check: { kind: "kept" },
  },
  {
    pattern: "{notification}:n:<template>:<id>:<channel>",
    match: re(`${tagged("notification")}:n:.+`),
    example: notificationKey("order.confirmed:o1:email"),
    owner: "notification",
    type: "string",
    holds: "a notification sent (or rejected), kept for `GET /notifications`",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
    perOrder: { keys: NOTIFICATIONS_PER_ORDER, bytes: 3_000 },
  },
  {
    pattern: "{notification}:by-user:<userId>",
    match: re(`${tagged("notification")}:by-user:${ID}`),
    example: byUserKey("u1"),
    owner: "notification",
    type: "zset",
    holds: "index of a user's notifications",
    role: "record",
    bound: KEPT,
    check: { kind: "kept" },
    perOrder: { bytes: 1_000 },
  },
  {
    pattern: "{notification}:by-order:<orderId>",
    match: re(`${tagged("notification")}:by-order:${ID}`),
    example: byOrderKey("o1"),
    owner: "notification",
    type: "zset",
    holds: "index of an order's notifications",
    role: "record",
    bound: `${KEPT}; at most ${NOTIFICATIONS_PER_ORDER} members (every channel of every order template)`,
    check: { kind: "kept" },
    perOrder: { keys: 1, bytes: 800 },
    maxMembers: NOTIFICATIONS_PER_ORDER,
  },
  {
    pattern: "{notification}:provider:sent:<notificationId>",
    match: re(`${tagged("notification")}:provider:sent:.+`),
    example: providerSentKey("n1"),
    owner: "notification (simulated channel providers)",
    type: "string",
    holds:
      "the simulated provider's answer to one notification id (its idempotency ledger, shared by every instance)",
    role: "transient",
    bound: MARK,
    check: { kind: "expires", maxTtl: markerTtl },
    perOrder: { keys: NOTIFICATIONS_PER_ORDER, bytes: NOTIFICATIONS_PER_ORDER * 150 },
  },
  {
    pattern: "{notification}:provider:flaky:<notificationId>",
    match: re(`${tagged("notification")}:provider:flaky:.+`),
    example: providerFlakyKey("n1"),
    owner: "notification (simulated channel providers)",
    type: "string",
    holds: "the `@flaky.test` test mode failed this notification id's first try",
    role: "transient",
    bound: MARK,
    check: { kind: "expires", maxTtl: markerTtl },
  },
  // bus
  {
    pattern: "{<owner>}:ev:<event>",
    match: re(`${ANY_TAG}:ev:[^:]+`),
    example: eventStreamKey("order", "order.placed"),
    owner: "the event's owning service",
    type: "stream",
    holds: "the event's stream (bus); written by the owner's outbox or publisher",
    role: "transient",
    bound:
      "trimmed by the owner every `STREAM_TRIM_INTERVAL_MS`: below every group's oldest pending or unread entry; no group: `STREAM_RETENTION_MS` (1 h) and `STREAM_MAXLEN_WITHOUT_GROUPS`",
    check: { kind: "trimmed" },
    perOrder: { entries: 12 },
  },
  {
    pattern: "{<group>}:redeliver",
    match: re(`${ANY_TAG}:redeliver`),
    example: redeliverStreamKey("payment"),
    owner: "the consumer group's service",
    type: "stream",
    holds: "DLQ replays to one group",
    role: "transient",
    bound: "trimmed like the event streams",
    check: { kind: "trimmed" },
  },
  {
    pattern: "{<group>}:replays",
    match: re(`${ANY_TAG}:replays`),
    example: replaysKey("payment"),
    owner: "the gateway (DLQ retries), in the consumer group's slot",
    type: "zset",
    holds: "ids of the DLQ replays sent to one group (each sent once), scored by time sent",
    role: "transient",
    bound:
      "members older than 24 h (`REPLAY_DEDUPE_MS`) dropped on each send; the key expires 24 h after the last",
    check: { kind: "expires", maxTtl: () => REPLAY_DEDUPE_MS },
    members: { kind: "max-age", maxAgeMs: 2 * REPLAY_DEDUPE_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:readto:<group>, {<group>}:redeliver:readto:<group>",
    match: re(`${ANY_TAG}:(ev:[^:]+|redeliver):readto:${ID}`),
    example: readToKey(eventStreamKey("order", "payment.requested"), "payment"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds:
      "the last entry id a read of the group got from the stream, by any instance: a group destroyed under running instances is recreated after it",
    role: "transient",
    bound:
      "one per stream and group; TTL 30 days, renewed by the reads (a blocking one's at most once a second)",
    check: { kind: "expires", maxTtl: () => READ_TO_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:fail:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:fail:${ID}:\\d+-\\d+`),
    example: failuresKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "list",
    holds:
      "failed attempts of one pending entry (for its DLQ record): the first 3 and last 7, error texts ≤ 2 KiB each",
    role: "transient",
    bound:
      "at most 10 records (each error text ≤ 2 KiB); deleted on ack or dead-letter, or by a scheduled retry that finds the entry acked by the consumer it was taken from; TTL 7 days (`failureTtlMs`) otherwise",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:defer:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:defer:${ID}:\\d+-\\d+`),
    example: deferralsKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds: "how often one pending entry was deferred (an in-progress duplicate), not a failed attempt",
    role: "transient",
    bound: "deleted on ack or dead-letter (or a scheduled retry of an entry acked elsewhere); TTL 7 days",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:solo:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:solo:${ID}:\\d+-\\d+`),
    example: soloRunsKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds:
      "crash-suspect runs of one pending entry that had the process to themselves and ended without an outcome (its crash-loop count)",
    role: "transient",
    bound:
      "deleted on ack or dead-letter, or a scheduled retry of an entry acked elsewhere (a failure or deferral keeps it); TTL 7 days",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:undone:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:undone:${ID}:\\d+-\\d+`),
    example: soloUndoneKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds:
      "crash-suspect runs of one pending entry whose solo count was undone as others started beside them (each doubles its next hold)",
    role: "transient",
    bound: "deleted on ack or dead-letter (or a scheduled retry of an entry acked elsewhere); TTL 7 days",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:runs:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:runs:${ID}:\\d+-\\d+`),
    example: startedRunsKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds:
      "redeliveries of one pending entry whose handler started (the crash-loop backstop counts silent runs that started, not deliveries)",
    role: "transient",
    bound: "deleted on ack or dead-letter (or a scheduled retry of an entry acked elsewhere); TTL 7 days",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<owner>}:ev:<event>:hung:<group>:<entryId>",
    match: re(`${ANY_TAG}:ev:[^:]+:hung:${ID}:\\d+-\\d+`),
    example: hungRunsKey(eventStreamKey("order", "payment.requested"), "payment", "1-0"),
    owner: "the consumer group's service (bus)",
    type: "string",
    holds:
      "runs of one pending entry given up as hung (ran maxLeaseMs) and the silent deliveries they, or runs found alive after their consumer stalled and lost the lease, explain: its next run is no crash suspect",
    role: "transient",
    bound:
      "written once per hung run, stalled run, or first delivery taken over before it ran; deleted on ack (the stalled run's own included) or dead-letter (or a scheduled retry of an entry acked elsewhere); TTL 7 days",
    check: { kind: "expires", maxTtl: () => FAILURE_RECORD_TTL_MS },
  },
  {
    pattern: "{<namespace>}:idem:<key>",
    match: re(`${ANY_TAG}:idem:.+`),
    example: idempotencyRecordKey("api-key:1", "7f3c"),
    owner:
      "order (`POST /orders` Idempotency-Key records), user (`POST /users`), inventory (restock Idempotency-Key records); a service using `createIdempotencyMiddleware`",
    type: "string",
    holds:
      "the order an Idempotency-Key created (`{order}:idem:<sha256>`), the request hash a restock's key was used with, and its refusal if it was refused (`{inventory}:idem:<sha256>`: `<hash>`, `<hash>:missing`, `<hash>:over_limit:<room>`); the user a `POST /users` key created (`{user}:idem:<sha256>`: `<HMAC of the body> <userId>`, or `<HMAC> -` when refused EMAIL_TAKEN); or a message's idempotency lease, then done mark",
    role: "transient",
    bound:
      "TTL: the order service's `idempotencyTtlMs` (`ORDER_IDEMPOTENCY_TTL_MS`, 24 h), 24 h for a restock or a user; the middleware's lease, then its `ttlMs` (`MARKER_TTL_MS`)",
    check: { kind: "expires", maxTtl: (st) => Math.max(DEFAULT_IDEMPOTENCY_TTL_MS, st.markerTtlMs) },
  },
  // discovery
  {
    pattern: "{discovery}:inst:<service>:<instanceId>",
    match: re(`${tagged("discovery")}:inst:${ID}:.+`),
    example: instanceKey("order", "order-1"),
    owner: "every instance (registry)",
    type: "hash",
    holds: "a registered instance: address, port, health",
    role: "transient",
    bound: "TTL three heartbeats (`HEARTBEAT_INTERVAL_MS`)",
    check: { kind: "expires", maxTtl: (st) => 3 * st.heartbeatIntervalMs },
  },
  {
    pattern: "{discovery}:svc:<service>",
    match: re(`${tagged("discovery")}:svc:${ID}`),
    example: serviceIndexKey("order"),
    owner: "registry",
    type: "set",
    holds: "instance ids of a service; ids whose instance key expired are pruned on every list",
    role: "transient",
    bound: "one per service; members: live instances",
    check: { kind: "count", max: SERVICE_COUNT },
  },
  {
    pattern: "{discovery}:services",
    match: re(`${tagged("discovery")}:services`),
    example: servicesKey(),
    owner: "registry",
    type: "set",
    holds: "names of services with instances",
    role: "transient",
    bound: `one key; at most ${SERVICE_COUNT} members (the services)`,
    check: { kind: "count", max: 1 },
    maxMembers: SERVICE_COUNT,
  },
  {
    pattern: "ordersaga:launcher:slot:<host>:<slot>",
    match: re(`ordersaga:launcher:slot:${ID}:${ID}`),
    example: launcherSlotKey("vm", DEFAULT_SLOT),
    owner: "npm run start:services (launch-guard.ts)",
    type: "string",
    holds: "the launcher holding that slot on that host (its processes' INSTANCE_SLOT prefix)",
    role: "transient",
    bound: "TTL 15 s (`LAUNCHER_SLOT_LEASE_MS`), renewed while the launcher runs; one per running launcher",
    check: { kind: "expires", maxTtl: () => LAUNCHER_SLOT_LEASE_MS },
  },
  {
    pattern: "ordersaga:dev-secrets:fingerprint",
    match: re("ordersaga:dev-secrets:fingerprint"),
    example: DEV_SECRETS_FINGERPRINT_KEY,
    owner: "npm run start:services, npm start over Redis (dev-secrets.ts)",
    type: "string",
    holds:
      "a non-secret fingerprint of the development secrets this Redis's data was written with (a start with other secrets is refused)",
    role: "record",
    bound:
      "one key, claimed at the first development start with a 30 s lease renewed until its system is up, then permanent (replaced only when it is alone in the database, a start that stopped before writing data)",
    check: { kind: "count", max: 1 },
  },
  // dead-letter queue
  {
    pattern: "{dlq}:rec:<id>",
    match: re(`${tagged("dlq")}:rec:.+`),
    example: deadLetterKeys().record("r1"),
    owner: "DLQ (written by consumers, managed by operators)",
    type: "hash",
    holds: "a dead letter: the message, its attempts' errors (the first 3 and last 7, each ≤ 2 KiB), status",
    role: "record",
    bound: "kept until an operator purges it (`DELETE /dlq?olderThan=`); grows with failures only",
    check: { kind: "kept" },
  },
  {
    pattern: "{dlq}:idx",
    match: re(`${tagged("dlq")}:idx`),
    example: deadLetterKeys().index,
    owner: "DLQ",
    type: "zset",
    holds: "dead-letter ids by time",
    role: "record",
    bound: "one key; one member per record",
    check: { kind: "count", max: 1 },
  },
  {
    pattern: "{dlq}:audit",
    match: re(`${tagged("dlq")}:audit`),
    example: deadLetterKeys().audit,
    owner: "DLQ",
    type: "stream",
    holds: "audit trail of every DLQ action",
    role: "transient",
    bound: "trimmed on append to `DLQ_AUDIT_RETENTION_MS` (default 30 days)",
    check: { kind: "audit-window" },
  },
  {
    pattern: "{dlq}:audit:<id>",
    match: re(`${tagged("dlq")}:audit:.+`),
    example: deadLetterKeys().auditOf("r1"),
    owner: "DLQ",
    type: "list",
    holds: "one record's audit trail (what inspect reads)",
    role: "transient",
    bound: "trimmed on append; TTL `DLQ_AUDIT_RETENTION_MS` after its last entry",
    check: { kind: "expires", maxTtl: (st) => st.dlqAuditRetentionMs },
  },
  {
    pattern: "{dlq}:retry-of-purged:<id>#<n>",
    match: re(`${tagged("dlq")}:retry-of-purged:.+#\\d+`),
    example: deadLetterKeys().retryOfPurged("r1#1"),
    owner: "DLQ (every accepted retry's mark)",
    type: "hash",
    holds:
      "the claim of one accepted replay: a retry of the same replay finding the record purged is a conflict, not accepted again",
    role: "transient",
    bound: "one per accepted retry; TTL 24 h",
    check: { kind: "expires", maxTtl: () => RETRY_OF_PURGED_CLAIM_TTL_MS },
  },
];

/** The family of a key, or undefined for a key no family documents. */
export function familyOf(key: string): KeyFamily | undefined {
  return KEY_FAMILIES.find((family) => family.match.test(key));
}

const cell = (text: string) => text.replaceAll("|", "\\|");

/** The per-order bound in the table's words ("" when the family does not grow with orders). */
function perOrderCell(f: KeyFamily): string {
  const b = f.perOrder;
  if (!b) return "";
  const n = (v: number) => v.toLocaleString("en-US");
  const parts = [
    b.keys === undefined ? undefined : `${n(b.keys)} key${b.keys === 1 ? "" : "s"}`,
    b.entries === undefined ? undefined : `${n(b.entries)} entries`,
    b.bytes === undefined ? undefined : `${n(b.bytes)} B`,
  ].filter((p): p is string => p !== undefined);
  const counted = b.counts === "ended" ? " ended" : "";
  const worst =
    b.worstCaseBytes === undefined
      ? ""
      : ` (a one-line order; ${n(b.worstCaseBytes)} B for a delivered ${MAX_ORDER_LINES}-line order (MAX_ORDER_LINES) with ${IdSchema.maxLength ?? "maximum-length"}-character ids, measured in break42)`;
  return `${parts.join(", ")}${f.role === "transient" ? ` held per order${counted} in its window` : counted ? " per order ended" : ""}${worst}`;
}

/** The markdown table of docs/storage.md. */
export function renderKeyFamilyTable(): string {
  const rows = KEY_FAMILIES.map((f) =>
    [
      `\`${cell(f.pattern)}\``,
      cell(f.owner),
      f.type,
      cell(f.holds),
      f.role === "record" ? "system of record" : "transient",
      cell(f.bound),
      perOrderCell(f),
    ].join(" | "),
  );
  return [
    "| key | owner | type | holds | kind | bound | per order (soak gate) |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((row) => `| ${row} |`),
  ].join("\n");
}
