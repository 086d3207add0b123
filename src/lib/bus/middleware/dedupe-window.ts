/**
 * The idempotency window on the consumer side. Every dedupe mark lives a bounded time (the store's
 * `ttlMs`, the services' `MARKER_TTL_MS`): a message delivered after its mark could have expired
 * can no longer be recognised as handled, so running it may do its work twice (a DLQ replay of a
 * week-old `inventory.reserve` re-reserving stock for a failed order). Such a message is refused
 * instead: `TooOldToDeduplicateError` (code `TOO_OLD_TO_DEDUPLICATE`, never retryable), so the
 * subscriber dead-letters it with that reason and an operator decides.
 *
 * The age is measured on the Redis clock (DESIGN §6: do not compare clocks across machines): from
 * when the message first entered a queue, which is the stream entry id's time (Redis clock), or for
 * a replay (whose entry is new) the time in its UUIDv7 id, stamped by the publisher when it wrote
 * the original entry; to `now`, Redis `TIME` (`redisTimeClock` in src/lib/redis: read every few seconds, advanced
 * in between by this process's monotonic timer, never by its wall clock).
 */
import type { MessageContext } from "../context.js";
import { TooOldToDeduplicateError } from "../errors.js";
import type { SubscriberMiddleware } from "../subscriber.js";

/** The current time in ms on the clock stream ids are written with (Redis `TIME`). */
export type ReferenceClock = () => number | Promise<number>;

const UUID_V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Creation time (ms) in a UUIDv7 message id, or undefined for another id. */
export function uuidV7Time(id: string): number | undefined {
  const match = UUID_V7.exec(id);
  return match ? Number.parseInt(`${match[1]}${match[2]}`, 16) : undefined;
}

/** When a message first entered a queue, ms: the earlier of its entry's time and its id's time. */
export function messageOrigin(ctx: Pick<MessageContext, "enqueuedAt" | "envelope">): number {
  const created = uuidV7Time(ctx.envelope.id);
  return created === undefined ? ctx.enqueuedAt : Math.min(ctx.enqueuedAt, created);
}

/** Throws `TooOldToDeduplicateError` when the message is older than `windowMs` on `clock`; else its age. */
export async function refuseIfTooOld(
  ctx: Pick<MessageContext, "enqueuedAt" | "envelope">,
  windowMs: number,
  clock: ReferenceClock,
): Promise<number> {
  const ageMs = (await clock()) - messageOrigin(ctx);
  if (ageMs > windowMs) throw new TooOldToDeduplicateError(ageMs, windowMs);
  return ageMs;
}

export interface DedupeWindowOptions {
  /** How long the dedupe marks of the handlers behind this middleware live, ms (`MARKER_TTL_MS`). */
  windowMs: number;
  /** Redis `TIME` in ms (a `redisTimeClock`'s `now`); default `Date.now` (in-memory: one process, one clock). */
  clock?: ReferenceClock;
  /** Called for each refused message (a counter). */
  onTooOld?: (ctx: MessageContext, ageMs: number) => void;
}

/**
 * Refuses to run a message older than `windowMs`: for handlers that dedupe by their own marks
 * (the services' per-order marks live `MARKER_TTL_MS`). `createIdempotencyMiddleware` applies the
 * same rule to its store's `ttlMs`.
 */
export function createDedupeWindowMiddleware(options: DedupeWindowOptions): SubscriberMiddleware {
  if (!Number.isFinite(options.windowMs) || options.windowMs <= 0) {
    throw new RangeError(`windowMs must be a positive number of ms, got ${options.windowMs}`);
  }
  const clock = options.clock ?? Date.now;
  return async (ctx, next) => {
    try {
      await refuseIfTooOld(ctx, options.windowMs, clock);
    } catch (error) {
      if (error instanceof TooOldToDeduplicateError) {
        options.onTooOld?.(ctx, (error.details as { ageMs: number }).ageMs);
      }
      throw error;
    }
    await next();
  };
}
