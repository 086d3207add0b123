/**
 * Every Redis key the payment service touches. All share the `{payment}` hash tag with the streams of
 * the events it owns (`eventStreamKey("payment", topic)`), so one Lua script can write a payment
 * record and its events atomically, also on Redis Cluster.
 */
export { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";

export const PAYMENT_OWNER = "payment";
const TAG = "{payment}";

/** Hash `{status, data}`: the payment record of one order. */
export const paymentKey = (orderId: string): string => `${TAG}:payment:${orderId}`;

/** Set of the order ids that have a payment record (the reconciliation walks it). */
export const paymentIndexKey = (): string => `${TAG}:payments`;

/** Hash `{outcome, rank}`: how the order's saga ended (`completed`, `failed`, ...), as announced by the order service. */
export const orderOutcomeKey = (orderId: string): string => `${TAG}:outcome:${orderId}`;

/** Marker that a transient failure of (order, attempt) was already reported. */
export const attemptFailureKey = (orderId: string, attempt: number): string =>
  `${TAG}:attempt:${orderId}:${attempt}`;

/** The simulated provider's ledger: its charges and refunds by idempotency key. */
export const providerEntryKey = (kind: "charge" | "refund", idempotencyKey: string): string =>
  `${TAG}:provider:${kind}:${idempotencyKey}`;

/** How many times the provider was called with one idempotency key (drives `tok_flaky`). */
export const providerCallsKey = (idempotencyKey: string): string => `${TAG}:provider:calls:${idempotencyKey}`;

/** Index of ledger entries by provider id (`ch_...`, `re_...`) → their entry key. */
export const providerIdKey = (id: string): string => `${TAG}:provider:id:${id}`;

/** Sorted set (score: creation, epoch ms) of the ledger's entry keys of one kind: the provider's dashboard. */
export const providerIndexKey = (kind: "charge" | "refund"): string => `${TAG}:provider:index:${kind}`;

/** Epoch ms until which the simulated provider is down (an outage window; absent = up). */
export const providerDownKey = (): string => `${TAG}:provider:down-until`;

/** Marker (lease) that the simulated provider is processing a call with this (kind, idempotency key). */
export const providerInFlightKey = (kind: "charge" | "refund", idempotencyKey: string): string =>
  `${TAG}:provider:inflight:${kind}:${idempotencyKey}`;

/**
 * String: the orphan-charge pass's scan cursor, a charge creation time (epoch ms): every charge
 * created before it was examined by a pass (orphan-charges.ts). Shared by the payment instances.
 */
export const orphanScanCursorKey = (): string => `${TAG}:orphan-scan:cursor`;
/**
 * String: `<createdAtMs>:<skip>`, how many charges of the cursor's millisecond the orphan-charge pass
 * examined (a millisecond with more charges than a pass's budget is crossed over passes); counts only
 * while its time is the cursor's (orphan-charges.ts).
 */
export const orphanScanSkipKey = (): string => `${TAG}:orphan-scan:cursor-skip`;
