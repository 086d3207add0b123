/**
 * Leases that live as long as the work. Redis Streams has no visibility timeout: a pending entry is
 * "idle" until someone acks or claims it, and the idle claim of another instance takes it over after
 * `claimIdleMs`. So every `renewIntervalMs` a subscription resets the idle time of every entry it is
 * still handling or holding (one script call per stream and batch), and a live handler, however
 * slow, is never run twice at once. An entry moves on only when its owner stops renewing: the
 * process died, its event loop is blocked for longer than `claimIdleMs`, or the handler has run for
 * `maxLeaseMs` and is taken for hung.
 */
import type { Redis } from "ioredis";
import { type ClaimedEntry, parseIds } from "./redis-streams-replies.js";
import { renewLeaseScript } from "./redis-streams-scripts.js";
import { entryKey, errorDetails, type TransportLogger } from "./redis-streams-support.js";

/** Most ids renewed by one script call (keeps each call short: the script blocks Redis while it runs). */
const RENEW_BATCH = 256;

export interface LeaseOptions {
  redis: Redis;
  group: string;
  consumer: string;
  logger: TransportLogger;
  /**
   * Whether the entry is still handled or held here. An entry acknowledged during the renewal
   * round is gone from the PEL but was not taken over: it is not reported as lost.
   */
  stillHeld?: (stream: string, id: string) => boolean;
  /** Told how many entries of a stream each call renewed (metrics). */
  onRenewed?: (stream: string, count: number) => void;
  /** Told of the entries still held here that another consumer owns now (a parked one must not run). */
  onLost?: (stream: string, ids: readonly string[]) => void;
}

/**
 * The ownership check of every path that must not run or renew an entry another consumer took
 * over: renews the lease of those of `ids` (entries of `stream`) still pending in `consumer`'s name
 * in `group`, and returns the others (taken over, or no longer pending). One script call: keep
 * `ids` to a few hundred (it blocks Redis while it runs). Throws when the call fails (then nothing
 * is known).
 */
export async function lostIds(
  redis: Redis,
  stream: string,
  group: string,
  consumer: string,
  ids: readonly string[],
): Promise<string[]> {
  return parseIds(await renewLeaseScript.run(redis, [stream], [group, consumer, ...ids]));
}

/** An entry handed to this consumer by a read or claim of `key`. */
export interface ReceivedEntry {
  key: string;
  claimed: ClaimedEntry;
}

/** What the late-reply check needs (see receiveOwned). */
export interface LateReplyCheck {
  redis: Redis;
  group: string;
  consumer: string;
  logger: TransportLogger;
  /** Idle time (ms) after which another consumer's idle claim may take an entry over. */
  claimIdleMs: number;
  /**
   * Told of each entry of a late reply found taken over meanwhile (not run here): a silence of
   * this consumer's that was no crash (Dispatcher.explainUnrun).
   */
  onTakenOver?: (key: string, claimed: ClaimedEntry) => void;
}

/**
 * What a command that hands entries to this consumer got: its parsed `reply`, the entries in it
 * (`all`), those safe to run (`owned`), and when they were last known ours (`confirmedAt`,
 * `performance.now()`).
 */
export interface Received<T extends ReceivedEntry, R> {
  reply: R;
  all: T[];
  owned: T[];
  confirmedAt: number;
}

/**
 * Sends a command that hands entries to this consumer (XREADGROUP, or a script that reads or
 * XCLAIMs: idle claim, own resume, local retry) and returns what it got (`all`: `entriesOf` its
 * reply), with `owned`: those safe to run. Redis resets an entry's idle time when it runs the
 * command, but a reply that took `claimIdleMs / 2` (ms) or more may have waited in the socket while
 * this process was frozen (SIGSTOP, a long GC, a blocked event loop): its entries, unrenewed, may
 * have been taken over and even finished elsewhere meanwhile (break-bus7 F1). Then `owned` is only
 * those still pending in this consumer's name (renewed in the same step: lostIds), none if that
 * check fails. Sooner, no other consumer can have taken them (idle time below claimIdleMs), so no
 * round trip is spent. `confirmedAt` is when they were last known ours: the send, or the check.
 * Throws what `send` throws.
 */
export async function receiveOwned<T extends ReceivedEntry, R>(
  check: LateReplyCheck,
  what: string,
  send: () => Promise<R>,
  entriesOf: (reply: R) => T[],
): Promise<Received<T, R>> {
  const sentAt = performance.now();
  const reply = await send();
  const all = entriesOf(reply);
  if (all.length === 0 || performance.now() - sentAt < check.claimIdleMs / 2)
    return { reply, all, owned: all, confirmedAt: sentAt };
  const confirmedAt = performance.now();
  return { reply, all, owned: await stillOwned(check, what, all), confirmedAt };
}

/** The entries still pending in this consumer's name, their leases renewed; none if unsure. */
async function stillOwned<T extends ReceivedEntry>(
  { redis, group, consumer, logger, onTakenOver }: LateReplyCheck,
  what: string,
  items: readonly T[],
): Promise<T[]> {
  const byStream = new Map<string, string[]>();
  for (const { key, claimed } of items) {
    let ids = byStream.get(key);
    if (!ids) byStream.set(key, (ids = []));
    ids.push(claimed.entry.id);
  }
  const lost = new Set<string>();
  try {
    for (const [key, ids] of byStream) {
      for (const id of await lostIds(redis, key, group, consumer, ids)) lost.add(entryKey(key, id));
    }
  } catch (error) {
    // Unsure: run nothing now; entries still ours are taken up again (own resume, idle claim).
    logger.warn({ ...errorDetails(error), group, what }, `could not check a late ${what}'s entries`);
    return [];
  }
  if (lost.size > 0)
    logger.warn({ group, consumer, ids: [...lost] }, `late ${what}: entries taken over meanwhile; not run`);
  const isLost = ({ key, claimed }: T) => lost.has(entryKey(key, claimed.entry.id));
  for (const item of items) if (isLost(item)) onTakenOver?.(item.key, item.claimed);
  return items.filter((item) => !isLost(item));
}

/**
 * Renews the given entries of each stream. Entries another consumer owns now (this one looked dead,
 * or was past `maxLeaseMs`) are left alone and reported. Returns how many were renewed, and
 * whether a call failed (Redis away: other instances may have missed renewals too).
 */
export async function renewLeases(
  options: LeaseOptions,
  leased: ReadonlyMap<string, string[]>,
): Promise<{ renewed: number; failed: boolean }> {
  const { redis, group, consumer, logger } = options;
  let renewed = 0;
  let failed = false;
  for (const [stream, ids] of leased) {
    for (let i = 0; i < ids.length; i += RENEW_BATCH) {
      const batch = ids.slice(i, i + RENEW_BATCH);
      try {
        const lost = await lostIds(redis, stream, group, consumer, batch);
        renewed += batch.length - lost.length;
        if (batch.length > lost.length) options.onRenewed?.(stream, batch.length - lost.length);
        // Let handlers whose ack replied in this same turn leave the in-flight set first.
        if (lost.length > 0 && options.stillHeld) await new Promise((r) => setImmediate(r));
        const taken = options.stillHeld ? lost.filter((id) => options.stillHeld?.(stream, id)) : lost;
        if (taken.length > 0) {
          logger.warn(
            { stream, group, consumer, ids: taken },
            "lease lost: another consumer owns these entries now",
          );
          options.onLost?.(stream, taken);
        }
      } catch (error) {
        failed = true;
        logger.warn({ ...errorDetails(error), stream, group }, "lease renewal failed; retrying next round");
      }
    }
  }
  return { renewed, failed };
}
