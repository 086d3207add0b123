import type { MessageContext } from "../context.js";
import { MessageInProgressError } from "../errors.js";
import type { IdempotencyStore } from "../idempotency/store.js";
import type { SubscriberMiddleware } from "../subscriber.js";
import { type FutureRecheckClock, refuseIfTooOldRechecked } from "./dedupe-window.js";

interface CommonOptions {
  /** The dedup key of a message (default: group + idempotency key or message id). */
  key?: (ctx: MessageContext) => string;
  /** Called when a message is skipped as already processed. */
  onDuplicate?: (ctx: MessageContext) => void;
}

export interface IdempotencyStoreOptions extends CommonOptions {
  store: IdempotencyStore;
  /**
   * How long a claim protects a handler (default 30 s): extended every third of it while the
   * handler runs and its run holds the message's lease (`ctx.signal`), so a slow handler keeps it;
   * a crashed handler's claim, or a hung one's (past `maxLeaseMs`) or one whose entry was taken
   * over, expires after it.
   */
  leaseMs?: number;
  /**
   * How long a processed mark is kept (default 7 days). A redelivery or replay older than this is
   * refused (`TooOldToDeduplicateError`, dead-lettered): its mark may be gone, so it could run
   * twice. Ages are read on the transport's clock (`ctx.ageMs`: Redis `TIME` on Redis Streams).
   * Refusals (this one and `CREATED_IN_FUTURE`, dedupe-window.ts) reach the Subscriber's `onRefused`.
   */
  ttlMs?: number;
  /** The consumer's clock, re-checked before a delivery is refused as created in the future (dedupe-window.ts). */
  clock?: FutureRecheckClock;
}

/** The spec's check-then-mark callbacks; the check and the mark are not atomic (see below). */
export interface IdempotencyCallbackOptions extends CommonOptions {
  hasProcessed: (messageId: string) => Promise<boolean> | boolean;
  markProcessed: (messageId: string) => Promise<void> | void;
}

export type IdempotencyOptions = IdempotencyStoreOptions | IdempotencyCallbackOptions;

/** Deduplicates per consumer group: two services handling one message each handle it once. */
export const defaultIdempotencyKey = (ctx: MessageContext): string =>
  `${ctx.group}:${ctx.envelope.idempotencyKey ?? ctx.envelope.id}`;

/**
 * Skips messages already processed. With a `store`, a redelivery or replay older than the marks'
 * `ttlMs` is refused without running (dead-lettered as `TOO_OLD_TO_DEDUPLICATE`, see dedupe-window.ts); a
 * younger one is claimed atomically with a lease before the handlers run, marked done after they succeed and released when they fail, so two
 * concurrent deliveries of one message never both run (the loser is retried later, by which time
 * the message is done). With the `hasProcessed`/`markProcessed` callbacks two deliveries racing
 * between the check and the mark can both run: use them only where deliveries cannot overlap.
 * A handler whose effects must happen once even if the process dies between its commit and the
 * mark must also be idempotent itself (the services record their own dedup marks atomically).
 */
export function createIdempotencyMiddleware(options: IdempotencyOptions): SubscriberMiddleware {
  const keyOf = options.key ?? defaultIdempotencyKey;
  if ("store" in options) {
    const { store } = options;
    const leaseMs = options.leaseMs ?? 30_000;
    const ttlMs = options.ttlMs ?? 7 * 24 * 3600_000;
    return async (ctx, next) => {
      await refuseIfTooOldRechecked(ctx, ttlMs, options.clock);
      const key = keyOf(ctx);
      const claim = await store.claim(key, leaseMs);
      if (claim.status === "processed") {
        options.onDuplicate?.(ctx);
        return;
      }
      if (claim.status === "in_progress") throw new MessageInProgressError(key);
      // Extended while this run holds the message's stream lease, no longer: a hung handler (taken
      // for hung at maxLeaseMs) or one whose entry was taken over must let its claim expire, or the
      // new owner's delivery is deferred for ever (break20 F6).
      const renew = setInterval(() => {
        if (ctx.signal?.aborted) return clearInterval(renew);
        store.extend(key, claim.token, leaseMs).catch(() => undefined); // the next round tries again
      }, leaseMs / 3);
      const stopRenewing = () => clearInterval(renew);
      ctx.signal?.addEventListener("abort", stopRenewing, { once: true });
      try {
        await next();
      } catch (error) {
        await store.release(key, claim.token);
        throw error;
      } finally {
        clearInterval(renew);
        ctx.signal?.removeEventListener("abort", stopRenewing);
      }
      await store.complete(key, claim.token, ttlMs);
    };
  }
  return async (ctx, next) => {
    const key = keyOf(ctx);
    if (await options.hasProcessed(key)) {
      options.onDuplicate?.(ctx);
      return;
    }
    await next();
    await options.markProcessed(key);
  };
}
