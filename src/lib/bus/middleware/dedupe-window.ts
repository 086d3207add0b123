/**
 * The idempotency window on the consumer side. Every dedupe mark lives a bounded time (the store's
 * `ttlMs`, the services' `MARKER_TTL_MS`). Running a message is unsafe only when this group may have
 * handled it before and the mark of that handling may have expired since: then it could do its work
 * twice (a DLQ replay of a week-old `inventory.reserve` re-reserving stock for a failed order). Such a
 * message is refused instead: `TooOldToDeduplicateError` (code `TOO_OLD_TO_DEDUPLICATE`, never
 * retryable), so the subscriber dead-letters it with that reason and an operator decides.
 *
 * Every delivery is first dated by its signed creation time (`signedAgeMs`: the UUIDv7 id's time,
 * else `occurredAt`; both inside the envelope's MAC, so nobody without a signing key can make a
 * message younger). A message created longer ago than the marks live, minus a clock-skew margin (a
 * publisher clock ahead of Redis makes a message look younger by that much), is refused whatever
 * its entry says: an entry is not proof that a message is new. A verbatim copy of a genuine signed
 * entry re-XADDed after its marks expired would otherwise be a "first delivery" and run again
 * (break-sig F2: stock re-reserved for a failed order). The cost: a backlog older than the window
 * (default 7 days) is dead-lettered instead of run (a backlog inside it runs), and a publisher whose
 * clock is behind Redis by more than the window has its fresh messages refused (keep hosts on NTP).
 *
 * A publisher clock *ahead* by more than the margin (break-late F5): its message looks younger than
 * it is by that much, so run at once, its marks would expire before the rule above refuses a copy
 * of it, and a copy re-added in between would run again. Publishers date messages on the
 * platform's shared Redis-time clock (publisher.ts, break9 F2), so only a broken Redis-time
 * estimate (or a key holder's forged date) produces one. Such a message (signed creation time the
 * margin or more ahead of the transport's clock) is not run: `CreatedInFutureError` (code
 * `CREATED_IN_FUTURE`, not retryable) makes the Subscriber dead-letter it at once, reported to its
 * `onRefused`, with a warning per publisher per minute. Chosen over deferring it (bus8):
 * a deferral held each message in memory with a timer and its re-deliveries took the consumer's
 * slots, so a flood of 50k held 500 MB and kept healthy messages waiting minutes (break9 F1;
 * DESIGN §6 "backpressure means reading less"). A dead letter costs no memory or slot, is visible,
 * and is not lost: an operator retries it from the DLQ once its signed time has come (a retry
 * before then is dead-lettered again, never run early). Exempt, as from every rule here, are
 * handlers that dedupe by record (`dedupedBy: "record"`): they run whatever the date.
 *
 * A step of Redis's clock (clocksync9). Every process follows a step at its own next sync (every
 * 10 s), so for a few seconds after one, processes disagree by the step, and genuine messages of
 * real orders look dated in the future to a consumer that followed it first. Before refusing a
 * delivery as `CREATED_IN_FUTURE`, the consumer therefore (with the middleware's `clock`):
 * - re-syncs its own clock (`SharedClock.resync`: at most one forced sync a second per clock,
 *   shared by concurrent deliveries) and checks again: a consumer behind the shared clock (a
 *   forward step it has not followed yet, on a transport whose entry time is not Redis's) runs it;
 * - allows, for `RECENT_STEP_MS` (1 min) after its clock followed a backward step of S ms, messages
 *   dated up to S + margin ahead: after a backward step it is the *publisher* that is ahead until
 *   its next sync, and the messages it dated meanwhile stay dated ahead by about S forever.
 *   Dead-lettering them would stop their orders until an operator retries each one; their date is
 *   explained by the step. The cost, accepted: such a message's marks expire up to S - margin
 *   before the signed-age rule refuses a copy of it, so a verbatim copy re-added in that gap, a
 *   window (7 days by default) later, would run again; the gap is S wide (a minute for a minute's
 *   step) and only for messages published in the seconds before their publisher synced.
 * A consumer started after the step never saw it (its first measurement is its only one), so it
 * still dead-letters such messages: retried from the DLQ once their time has come, they run.
 *
 * Then, when can an earlier handling of this entry exist, and how old can it be (`dedupeAgeMs`)?
 * - The first delivery of an entry (`deliveryCount` 1, not a replay): no earlier handling of this
 *   entry, and the handler writes its mark atomically with its effect, so a backlog inside the
 *   window runs (soak, issue 11: 644 replies at 60/s with a 20 s window).
 * - A redelivery (`deliveryCount` > 1: a retry, a takeover): an earlier handling happened at or after
 *   the entry's first delivery, which is at or after the entry's time. The age counts from the first
 *   delivery when the transport knows it (`firstDeliveredAt`: on Redis Streams the first delivery's
 *   failed attempt records it), else from the entry id's time: both on Redis's clock (XADD `*`),
 *   never the publisher's (a publisher whose clock is 10 days behind must not make fresh messages
 *   old). So a backlogged entry first delivered late that fails once is retried, not refused: its
 *   marks are as young as that first delivery. A first delivery that ended silently (its process
 *   died) recorded nothing: its takeover counts from the entry's time (refused when in doubt).
 * - A replay (DLQ retry: a new entry carrying an old message): earlier handlings came before the
 *   replay's entry, so the age counts from the earlier of its entry's time and its UUIDv7 id's time
 *   (stamped by the publisher when it first sent the message). The publisher's clock can only make a
 *   replay look older (refused), never younger than its replay entry (Redis's time).
 * - A handler that dedupes by its system of record (`dedupedBy: "record"`, e.g. a refund by order id
 *   in the payment record, refunded at the provider under a stable idempotency key) has no mark that
 *   expires: its messages run at any age, so an operator's retry of a refund dead-lettered a week ago
 *   runs, and runs once however often it is replayed.
 *
 * `now` is the transport's clock (`MessageContext.ageMs`: on Redis Streams Redis `TIME`, read through
 * the platform's one shared `redisTimeClock`), never this host's wall clock (DESIGN §6).
 */
import type { SharedClock } from "../../redis/clock.js";
import type { MessageContext } from "../context.js";
import { CreatedInFutureError, TooOldToDeduplicateError } from "../errors.js";
import type { SubscriberMiddleware } from "../subscriber.js";

/** What the window reads of a message. */
export type AgedMessage = Pick<
  MessageContext,
  "enqueuedAt" | "envelope" | "ageMs" | "now" | "deliveryCount" | "replay" | "dedupedBy" | "firstDeliveredAt"
>;

const UUID_V7 = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Creation time (ms) in a UUIDv7 message id, or undefined for another id. */
export function uuidV7Time(id: string): number | undefined {
  const match = UUID_V7.exec(id);
  return match ? Number.parseInt(`${match[1]}${match[2]}`, 16) : undefined;
}

/**
 * How old (ms) an earlier handling of this message by this group can be, at most: undefined when
 * there can be none whose mark could have expired (a first delivery, or a handler deduplicating by
 * its system of record). See the module comment for each case.
 */
export function dedupeAgeMs(ctx: AgedMessage): number | undefined {
  if (ctx.dedupedBy === "record") return undefined;
  if (!ctx.replay && ctx.deliveryCount <= 1) return undefined;
  const age = ctx.ageMs();
  if (!ctx.replay) {
    // Handlings began at or after the first delivery (never before the entry: clamped).
    const waited =
      ctx.firstDeliveredAt === undefined ? 0 : Math.max(0, ctx.firstDeliveredAt - ctx.enqueuedAt);
    return Math.max(0, age - waited);
  }
  // A replay's earlier handlings began at or after the message's creation: as old as that, or as
  // the replay entry if older. `now - created`, not `age + (enqueuedAt - created)`: the entry id may
  // lie ahead of the clock (break37 F1: a planted redeliver entry made every DLQ retry "too old").
  const created = uuidV7Time(ctx.envelope.id);
  return created === undefined ? age : Math.max(age, nowOf(ctx) - created);
}

/** The transport's clock now (`ctx.now`), else `enqueuedAt + ageMs()` (true for an id not ahead of it). */
function nowOf(ctx: AgedMessage): number {
  return ctx.now ? ctx.now() : ctx.enqueuedAt + ctx.ageMs();
}

/**
 * How far (ms) a publisher's clock may run ahead of Redis's and still have its messages dated safely:
 * 1 minute, and at most a tenth of a short window (tests, soak runs with windows of seconds).
 */
export const DEFAULT_CLOCK_SKEW_MS = 60_000;

/** The skew margin used for a window: `DEFAULT_CLOCK_SKEW_MS`, capped at a tenth of the window. */
export function skewMarginMs(windowMs: number): number {
  return Math.min(DEFAULT_CLOCK_SKEW_MS, Math.floor(windowMs / 10));
}

/**
 * Ms since the message was created by its signed creation time (the UUIDv7 id's time, else
 * `occurredAt`), as of the transport's clock now (`ctx.now`); undefined when the envelope carries
 * neither. Nothing unsigned enters it: `enqueuedAt + ageMs()` would be "now" only for an entry id
 * at or behind that clock; an id ahead of it (set by hand with `XADD <id>`, or by a Redis clock
 * that ran ahead, and then inherited by every later entry of the stream) made every fresh genuine
 * message look that much older, past the window: each dead-lettered (break37 F1).
 */
export function signedAgeMs(ctx: AgedMessage): number | undefined {
  const created = uuidV7Time(ctx.envelope.id) ?? Date.parse(ctx.envelope.occurredAt);
  if (!Number.isFinite(created)) return undefined;
  return nowOf(ctx) - created;
}

/**
 * Throws `TooOldToDeduplicateError` when an earlier handling's mark (living `windowMs`) may be gone:
 * the message was signed longer ago than `windowMs - skewMarginMs` (any delivery, a copy included),
 * or this entry's earlier handling may be older than `windowMs` (`dedupeAgeMs`). Throws
 * `CreatedInFutureError` when it was signed as created `skewMarginMs + stepToleranceMs` or more in
 * the future (dead-lettered: see the module comment). `stepToleranceMs` (ms, default 0): the
 * recent backward step of the consumer's clock that explains a date ahead (module comment).
 */
export function refuseIfTooOld(ctx: AgedMessage, windowMs: number, stepToleranceMs = 0): void {
  if (ctx.dedupedBy === "record") return;
  const signed = signedAgeMs(ctx);
  const marginMs = skewMarginMs(windowMs);
  // Runs only when less than `marginMs` ahead: its marks then outlive the point where a copy is
  // refused as too old (strictly). Beyond it only by a recent step's size (module comment).
  const allowedMs = marginMs + Math.max(0, stepToleranceMs);
  if (signed !== undefined && -signed >= allowedMs) throw new CreatedInFutureError(-signed, allowedMs);
  const limitMs = windowMs - marginMs;
  if (signed !== undefined && signed > limitMs) throw new TooOldToDeduplicateError(signed, windowMs, limitMs);
  const ageMs = dedupeAgeMs(ctx);
  if (ageMs !== undefined && ageMs > windowMs) throw new TooOldToDeduplicateError(ageMs, windowMs);
}

export interface DedupeWindowOptions {
  /** How long the dedupe marks of the handlers behind this middleware live, ms (`MARKER_TTL_MS`). */
  windowMs: number;
  /**
   * The clock `ctx.ageMs` reads (the platform's shared clock): re-synced before a delivery is
   * refused as created in the future, and its recent backward step allowed (module comment).
   * Without it, such a delivery is refused at once.
   */
  clock?: FutureRecheckClock;
}

/** What the window asks of the consumer's clock before refusing a delivery dated in its future. */
export type FutureRecheckClock = Pick<SharedClock, "resync" | "recentBackwardStepMs">;

/**
 * `refuseIfTooOld`; with a `clock`, a delivery about to be refused as created in the future is
 * checked once more after `clock.resync()`, allowing `clock.recentBackwardStepMs()` (module
 * comment). Rejects with the refusal (`TooOldToDeduplicateError`, `CreatedInFutureError`).
 */
export async function refuseIfTooOldRechecked(
  ctx: AgedMessage,
  windowMs: number,
  clock: FutureRecheckClock | undefined,
): Promise<void> {
  try {
    refuseIfTooOld(ctx, windowMs);
  } catch (error) {
    if (!(error instanceof CreatedInFutureError) || clock === undefined) throw error;
    // The consumer's clock may be the one behind, or have stepped back before the publisher's.
    await clock.resync();
    refuseIfTooOld(ctx, windowMs, clock.recentBackwardStepMs());
  }
}

/**
 * Refuses to run a message whose earlier handling's marks may be gone (`refuseIfTooOld`): for
 * handlers that dedupe by their own marks (the services' per-order marks live `MARKER_TTL_MS`).
 * `createIdempotencyMiddleware` applies the same rule to its store's `ttlMs`. A refusal is thrown;
 * the Subscriber reports it to its `onRefused` (with the age, or how far ahead) and dead-letters it.
 */
export function createDedupeWindowMiddleware(options: DedupeWindowOptions): SubscriberMiddleware {
  if (!Number.isFinite(options.windowMs) || options.windowMs <= 0) {
    throw new RangeError(`windowMs must be a positive number of ms, got ${options.windowMs}`);
  }
  return async (ctx, next) => {
    await refuseIfTooOldRechecked(ctx, options.windowMs, options.clock);
    await next();
  };
}
