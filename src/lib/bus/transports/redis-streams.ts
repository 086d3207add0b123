/**
 * Durable, at-least-once transport on Redis Streams with consumer groups.
 *
 * - One stream per event, `{owner}:ev:<event>`, in the owning service's hash slot, so a service can
 *   XADD its events in the same MULTI/Lua as its state change (see redis-stream-keys.ts).
 * - One consumer group per subscribing service, created at `0` with MKSTREAM (a group created at `$`
 *   would miss what was published before it); one consumer per instance, competing for entries.
 * - An entry stays pending until acked; retry keeps it pending and takes it back later with XCLAIM;
 *   while a consumer handles or holds an entry it renews the entry's lease (XCLAIM JUSTID of its
 *   own entries), so only an entry whose owner stopped renewing goes idle and is taken over after
 *   `claimIdleMs` (XPENDING IDLE + XCLAIM). Attempts count recorded failures (kept next to the
 *   stream); the delivery count minus the recorded outcomes counts deliveries that died silently.
 * - XACK is not checked against the owner, so after a takeover a stalled consumer may still ack:
 *   handlers must be idempotent (the idempotency middleware, and the services' own dedup marks).
 * - Trimming only ever uses MINID below every group's oldest pending entry (`trim()`), never MAXLEN.
 *   `trim()` runs when called: the periodic trim of a service's streams is its owned-stream trimmer
 *   (redis-streams-trim.ts, started by the service host), the one loop that trims.
 *
 * The `redis` client is the caller's (commands and pipelines); each subscription opens its own
 * blocking connections with `duplicate()` and closes them on stop. `close()` leaves `redis` open.
 */
import type { Redis } from "ioredis";
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import { execOrThrow, LuaScript, redisTimeClock, type SharedClock } from "../../redis/index.js";
import { BusError, ConsumerGroupError, describeError } from "../errors.js";
import type {
  ConsumerInfo,
  DeliveryHandler,
  OutgoingMessage,
  Replay,
  SubscribeOptions,
  TopicRef,
  Transport,
  TransportSubscription,
} from "../transport.js";
import { REPLAY_DEDUPE_MS } from "../transport.js";
import {
  eventStreamFields,
  eventStreamKey,
  FIELD_BODY,
  FIELD_OWNER,
  FIELD_TOPIC,
  redeliverStreamKey,
  replaysKey,
} from "./redis-stream-keys.js";
import { ISOLATION_MS } from "./redis-streams-isolation.js";
import { safeTrimScript } from "./redis-streams-scripts.js";
import { type LeaseActivity, StreamSubscription } from "./redis-streams-subscription.js";
import { errorDetails, silentLogger, type TransportLogger } from "./redis-streams-support.js";

export interface RedisStreamsTransportOptions {
  /** Client for commands; blocking reads use `duplicate()`s of it. */
  redis: Redis;
  deadLetters: DeadLetterStore;
  /**
   * Idle time (ms) after which the idle claim hands a pending entry to another consumer (default
   * 5 s). Live entries are renewed, so this is how long a dead instance's work waits: with the
   * default claim interval it moves within 5-10 s.
   */
  claimIdleMs?: number;
  /** How often (ms) each subscription looks for idle entries (default claimIdleMs). */
  claimIntervalMs?: number;
  /** How often (ms) leases of entries being handled or held are renewed (default claimIdleMs / 3). */
  renewIntervalMs?: number;
  /** A handler running this long (ms) is taken for hung and its lease lapses (default 10 min). */
  maxLeaseMs?: number;
  /**
   * After a crash, how long (ms) a suspect (a message with a delivery that ended silently) waits for
   * the process's other handlers to return before it runs, and how long it keeps new ones from
   * starting while it runs alone (default 30 s, `ISOLATION_MS`; see redis-streams-isolation.ts).
   */
  isolationMs?: number;
  /** Consumers with nothing pending, unseen this long (ms), leave their groups (default 1 h). */
  deadConsumerMs?: number;
  /**
   * XREADGROUP BLOCK time of a rate-limited read; also the poll interval of the redeliver stream
   * (default 1 s). Clamped, like `idleBlockMs`, to under half of `claimIdleMs` and at most a quarter
   * of `deadConsumerMs` (e.g. claimIdleMs 2 s: 900 ms).
   */
  blockMs?: number;
  /**
   * XREADGROUP BLOCK time of a read without a read throttle (default 2/5 of `claimIdleMs`, 2 s; never
   * under `blockMs`). Always clamped to 9/20 of `claimIdleMs` and a quarter of `deadConsumerMs`.
   * Such a read lists every stream of its loop: a new entry on any of them ends the wait at once, so this is only how often an idle reader asks
   * again: at `blockMs` (1 s) every reader of every service woke once a second for nothing. Kept under
   * half of `claimIdleMs`: a read that took longer is still taken for a frozen process's (its entries
   * are checked before they run). A read under a throttle (it holds grants while it waits) keeps
   * `blockMs`, to ask the limiter sooner.
   */
  idleBlockMs?: number;
  /**
   * After a read that returned several entries, how long (ms) the next read waits from it, so
   * that a busy stream is read in batches rather than an entry at a time (default 0: no wait; at
   * most 1000: a larger value, e.g. seconds given for ms, would stall the reader).
   */
  readLingerMs?: number;
  /**
   * How often (ms) at most each read loop records how far its group has read (the read-to marks a
   * group destroyed under running instances is recreated at; default 1 s). Entries another
   * instance read in the last interval before such a destroy may be handled again.
   */
  readMarkIntervalMs?: number;
  /** Most entries read or claimed per call (default 128). */
  batchSize?: number;
  /** Lifetime of the recorded failures of a pending entry (default 7 days). */
  failureTtlMs?: number;
  /** Entries (about) kept by `trim()` in a stream no group reads (default 100,000; 0 keeps all). */
  retainWithoutGroups?: number;
  /**
   * This host's clock (default `Date.now`). Only its rate matters: message ages (the must-complete
   * window, counted from the entry id's time) are read on Redis `TIME`, through an offset measured
   * at the first subscribe and every `clockSyncIntervalMs`. Tests inject a skewed clock here.
   */
  now?: () => number;
  /** How often (ms) the offset of this host's clock to Redis `TIME` is measured again (default 10 s). */
  clockSyncIntervalMs?: number;
  /**
   * The process's shared Redis-time clock (the platform's `clock()`): used instead of a clock of
   * the transport's own (then `now` and `clockSyncIntervalMs` are the shared clock's business).
   * The transport does not stop a clock it was given.
   */
  clock?: () => Promise<SharedClock>;
  logger?: TransportLogger;
}

const DAY_MS = 86_400_000;

/**
 * The cap of every XREADGROUP BLOCK time (break-bus F4): under half of `claimIdleMs`, so only a
 * frozen process's read takes as long as the late-read check looks for; at most a quarter of
 * `deadConsumerMs`, since a blocked reader is unseen (XINFO CONSUMERS idle) for as long and must
 * never look dead. `blockMs` and `idleBlockMs` above it are clamped to it.
 */
function blockCapOf(t: { claimIdleMs: number; deadConsumerMs: number }): number {
  return Math.max(1, Math.min(Math.floor((t.claimIdleMs * 9) / 20), Math.floor(t.deadConsumerMs / 4)));
}

/** The idle readers' BLOCK time (see `idleBlockMs`): not under `blockMs`, never over the cap. */
function idleBlockMsOf(
  asked: number | undefined,
  t: { blockMs: number; claimIdleMs: number; deadConsumerMs: number },
): number {
  return Math.min(blockCapOf(t), Math.max(t.blockMs, asked ?? Math.floor((t.claimIdleMs * 2) / 5)));
}
/** Upper bound of `readLingerMs`: a linger is a batching pause, never a stall (break-consumer F5). */
const MAX_READ_LINGER_MS = 1_000;

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new BusError("INVALID_TRANSPORT_OPTION", `${name} must be a positive number, got ${value}`);
  }
  return value;
}

/**
 * KEYS: replays set, redeliver stream. ARGV: window ms, then (id, topic, owner, body)... Replay ids
 * are scored, and pruned, by Redis's own clock (TIME), never a caller's: gateways whose host clocks
 * disagree share one time line, so a skewed one can neither forget another's recent replays (and
 * send them again) nor keep its own past the window.
 */
const REDELIVER_ONCE = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = string.format('%.0f', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[1])))
local sent = 0
for i = 2, #ARGV, 4 do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], score, ARGV[i])
    redis.call('XADD', KEYS[2], '*', '${FIELD_TOPIC}', ARGV[i + 1], '${FIELD_OWNER}', ARGV[i + 2], '${FIELD_BODY}', ARGV[i + 3])
    sent = sent + 1
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return sent`);

export class RedisStreamsTransport implements Transport {
  readonly kind = "redis-streams" as const;
  readonly durable = true;
  private readonly redis: Redis;
  private readonly logger: TransportLogger;
  private readonly subscriptions = new Set<StreamSubscription>();
  /** Streams this transport has published to or created groups on: what `trim()` covers by default. */
  private readonly knownStreams = new Set<string>();
  private readonly leaseListeners = new Set<(activity: LeaseActivity) => void>();
  /** Redis `TIME` read through a measured offset; started by the first subscribe. */
  private clock: Promise<SharedClock> | undefined;
  private closed = false;

  constructor(private readonly options: RedisStreamsTransportOptions) {
    this.redis = options.redis;
    this.logger = options.logger ?? silentLogger;
    const checked = [
      "claimIdleMs",
      "claimIntervalMs",
      "renewIntervalMs",
      "maxLeaseMs",
      "isolationMs",
      "deadConsumerMs",
      "blockMs",
      "idleBlockMs",
      "batchSize",
      "failureTtlMs",
      "clockSyncIntervalMs",
      "readMarkIntervalMs",
    ] as const;
    for (const name of checked) {
      const value = options[name];
      if (value !== undefined) positive(name, value);
    }
    const { readLingerMs } = options;
    if (readLingerMs !== undefined && !(readLingerMs >= 0 && readLingerMs <= MAX_READ_LINGER_MS))
      throw new BusError(
        "INVALID_TRANSPORT_OPTION",
        `readLingerMs must be 0 to ${MAX_READ_LINGER_MS} (ms), got ${readLingerMs}`,
      );
  }

  async ensureGroups(group: string, topics: readonly TopicRef[]): Promise<void> {
    const keys = new Set([...topics.map((t) => eventStreamKey(t.owner, t.topic)), redeliverStreamKey(group)]);
    await Promise.all([...keys].map((key) => this.createGroup(key, group)));
  }

  /**
   * All XADDs of a batch in one pipeline per owner slot: one round trip, not one per message. A
   * single message is one plain XADD (a pipeline of one costs twice its CPU; a coalescing client
   * still sends it in the same write as the turn's other commands).
   */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 1) {
      const message = messages[0]!;
      const key = eventStreamKey(message.owner, message.topic);
      this.knownStreams.add(key);
      await this.redis.xadd(key, "*", ...eventStreamFields(message));
      return;
    }
    const byOwner = new Map<string, OutgoingMessage[]>();
    for (const message of messages) {
      const batch = byOwner.get(message.owner) ?? [];
      batch.push(message);
      byOwner.set(message.owner, batch);
    }
    await Promise.all(
      [...byOwner.values()].map((batch) => {
        const pipeline = this.redis.pipeline();
        for (const message of batch) {
          const key = eventStreamKey(message.owner, message.topic);
          this.knownStreams.add(key);
          pipeline.xadd(key, "*", ...eventStreamFields(message));
        }
        return execOrThrow(pipeline);
      }),
    );
  }

  async subscribe(options: SubscribeOptions, handler: DeliveryHandler): Promise<TransportSubscription> {
    this.assertOpen();
    const concurrency = positive("concurrency", options.concurrency ?? 16);
    const claimIdleMs = this.options.claimIdleMs ?? 5_000;
    const deadConsumerMs = this.options.deadConsumerMs ?? 3_600_000;
    const blockMs = Math.min(this.options.blockMs ?? 1_000, blockCapOf({ claimIdleMs, deadConsumerMs }));
    await this.ensureGroups(options.group, options.topics);
    const { now: clock } = await this.redisClock();
    const subscription = new StreamSubscription(
      {
        redis: this.redis,
        deadLetters: this.options.deadLetters,
        group: options.group,
        consumer: options.consumer,
        slots: slotsOf(options.topics),
        redeliverKey: redeliverStreamKey(options.group),
        concurrency,
        batchSize: this.options.batchSize ?? 128,
        blockMs,
        idleBlockMs: idleBlockMsOf(this.options.idleBlockMs, { blockMs, claimIdleMs, deadConsumerMs }),
        readLingerMs: this.options.readLingerMs ?? 0,
        readMarkIntervalMs: this.options.readMarkIntervalMs ?? 1_000,
        claimIdleMs,
        claimIntervalMs: this.options.claimIntervalMs ?? claimIdleMs,
        renewIntervalMs: this.options.renewIntervalMs ?? Math.max(1, Math.floor(claimIdleMs / 3)),
        maxLeaseMs: this.options.maxLeaseMs ?? 600_000,
        isolationMs: this.options.isolationMs ?? ISOLATION_MS,
        deadConsumerMs,
        failureTtlMs: this.options.failureTtlMs ?? 7 * DAY_MS,
        clock,
        logger: this.logger,
        onLeaseActivity: (activity) => {
          for (const listener of this.leaseListeners) listener(activity);
        },
        ...(options.throttle ? { throttle: options.throttle } : {}),
      },
      handler,
    );
    subscription.start();
    this.subscriptions.add(subscription);
    return {
      stop: async (stopOptions) => {
        await subscription.stop(stopOptions);
        this.subscriptions.delete(subscription);
      },
    };
  }

  /** Appends to the group's redeliver stream, which only that group reads. */
  /**
   * One script per batch in the group's slot: forgets replay ids older than `REPLAY_DEDUPE_MS` by
   * Redis's clock (TIME, not this host's),
   * then XADDs each replay whose id is not in `{group}:replays` and records the id, so a batch
   * is all sent and recorded or nothing (a crash cannot leave a sent replay unrecorded).
   */
  async redeliverOnce(group: string, replays: readonly Replay[]): Promise<number> {
    this.assertOpen();
    if (replays.length === 0) return 0;
    const key = redeliverStreamKey(group);
    this.knownStreams.add(key);
    const args: (string | number)[] = [REPLAY_DEDUPE_MS];
    for (const { replayId, message } of replays)
      args.push(replayId, message.topic, message.owner, message.body);
    return Number(await REDELIVER_ONCE.run(this.redis, [replaysKey(group), key], args));
  }

  async redeliver(group: string, message: OutgoingMessage): Promise<void> {
    this.assertOpen();
    const key = redeliverStreamKey(group);
    this.knownStreams.add(key);
    await this.redis.xadd(
      key,
      "*",
      FIELD_TOPIC,
      message.topic,
      FIELD_OWNER,
      message.owner,
      FIELD_BODY,
      message.body,
    );
  }

  /**
   * Removes entries every group has handled: MINID below each group's oldest pending entry (or
   * past its last-delivered id when nothing is pending). Streams without any group keep their
   * newest `retainWithoutGroups` entries.
   * Defaults to the streams this transport touched. Returns the number of entries removed.
   */
  async trim(topics?: readonly TopicRef[]): Promise<number> {
    const keys = topics ? topics.map((t) => eventStreamKey(t.owner, t.topic)) : [...this.knownStreams];
    const retain = this.options.retainWithoutGroups ?? 100_000;
    // One stream that cannot be trimmed (a wrong type, a script error) must not stop the others.
    const results = await Promise.allSettled(
      keys.map((key) => safeTrimScript.run(this.redis, [key], [retain])),
    );
    let removed = 0;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") removed += Number(result.value);
      else this.logger.warn({ ...errorDetails(result.reason), key: keys[i] }, "stream trim failed");
    });
    return removed;
  }

  async consumers(group: string, topics: readonly TopicRef[]): Promise<ConsumerInfo[]> {
    const keys = [...topics.map((t) => eventStreamKey(t.owner, t.topic)), redeliverStreamKey(group)];
    const merged = new Map<string, ConsumerInfo>();
    for (const key of keys) {
      let rows: unknown[];
      try {
        rows = (await this.redis.xinfo("CONSUMERS", key, group)) as unknown[];
      } catch (error) {
        if (error instanceof Error && /NOGROUP|no such key/i.test(error.message)) continue;
        throw error;
      }
      for (const row of rows) {
        const info = pairs(row as unknown[]);
        const name = String(info.name);
        const seen = merged.get(name) ?? { name, pending: 0, idleMs: 0 };
        seen.pending += Number(info.pending ?? 0);
        seen.idleMs = Math.max(seen.idleMs, Number(info.idle ?? 0));
        merged.set(name, seen);
      }
    }
    return [...merged.values()];
  }

  /** Listens to lease renewals and takeovers of every subscription (metrics); returns the unsubscribe. */
  onLeaseActivity(listener: (activity: LeaseActivity) => void): () => void {
    this.leaseListeners.add(listener);
    return () => {
      this.leaseListeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.subscriptions.clear();
    (await this.clock?.catch(() => undefined))?.stop();
  }

  /**
   * One Redis-time clock for every subscription of this transport (the shared one when given); a
   * failed first sync is retried.
   */
  private redisClock(): Promise<SharedClock> {
    if (this.options.clock) return this.options.clock();
    this.clock ??= redisTimeClock({
      redis: this.redis,
      ...(this.options.now ? { local: this.options.now } : {}),
      ...(this.options.clockSyncIntervalMs ? { syncIntervalMs: this.options.clockSyncIntervalMs } : {}),
    });
    const clock = this.clock;
    clock.catch(() => {
      if (this.clock === clock) this.clock = undefined;
    });
    return clock;
  }

  /** Creates `group` on `key` at `0` (MKSTREAM); false when it already existed. */
  private async createGroup(key: string, group: string): Promise<boolean> {
    // Not added to the streams trim() defaults to: a stream a group reads belongs to the event's
    // owner, which trims it (StreamTrimmer); a consumer's Redis ACL user may not XTRIM it.
    try {
      await this.redis.xgroup("CREATE", key, group, "0", "MKSTREAM");
      return true;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("BUSYGROUP")) return false;
      // Redis refuses CREATE before looking for the group when it is at maxmemory (noeviction: OOM),
      // yet an existing group is all a consumer needs to read and XACK and drain the backlog
      // (break20 F4). XINFO GROUPS is no write: it answers at OOM too.
      if (await this.groupExists(key, group)) return false;
      throw new ConsumerGroupError(key, group, describeError(error).message, error);
    }
  }

  /** Whether `group` exists on the stream `key` (false when the stream does not, or Redis fails). */
  private async groupExists(key: string, group: string): Promise<boolean> {
    try {
      const groups = (await this.redis.xinfo("GROUPS", key)) as unknown[][];
      return groups.some((row) => pairs(row).name === group);
    } catch {
      return false;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError("TRANSPORT_CLOSED", "The Redis Streams transport is closed");
  }
}

/** A flat [field, value, ...] reply as an object. */
function pairs(row: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < row.length; i += 2) out[String(row[i])] = row[i + 1];
  return out;
}

/** Streams grouped by owner: one hash slot each, so one multi-stream XREADGROUP is legal on a cluster. */
function slotsOf(topics: readonly TopicRef[]): { key: string; ref: TopicRef }[][] {
  const byOwner = new Map<string, Map<string, { key: string; ref: TopicRef }>>();
  for (const ref of topics) {
    const key = eventStreamKey(ref.owner, ref.topic);
    const slot = byOwner.get(ref.owner) ?? new Map();
    slot.set(key, { key, ref: { topic: ref.topic, owner: ref.owner } });
    byOwner.set(ref.owner, slot);
  }
  return [...byOwner.values()].map((slot) => [...slot.values()]);
}
