/**
 * One consumer's subscription on the Streams transport. Entries reach handlers on four paths, all
 * bounded by one permit pool of `concurrency` slots:
 * - a blocking XREADGROUP loop per owner (hash slot), on its own connection, after first resuming
 *   this consumer's own pending entries (id `0`): a restarted instance picks up where it stopped;
 * - a polling loop on the group's redeliver stream (manual DLQ replays: rare, so it holds no slot
 *   while waiting and needs no connection of its own);
 * - an idle claim (XPENDING IDLE + XCLAIM) every `claimIntervalMs`: entries idle for `claimIdleMs`
 *   (dead consumers, hung handlers), skipping those this consumer is itself handling (but not
 *   those whose run it gave up as hung: Dispatcher.leased); under a backlog it gets the next free
 *   slot ahead of new reads;
 * - a local timer per `retry`, which takes the entry back with XCLAIM (bumping its delivery count).
 * Every entry handled or held here has its lease renewed every `renewIntervalMs` (see
 * redis-streams-leases.ts), and every `cleanupIntervalMs` consumers of the group that own nothing
 * and were not seen for `deadConsumerMs` are removed (XGROUP DELCONSUMER, atomically checked).
 */
import type { Redis } from "ioredis";
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import type {
  DeliveryHandler,
  ReadThrottle,
  StopOptions,
  TopicRef,
  TransportSubscription,
} from "../transport.js";
import { Dispatcher, type Incoming } from "./redis-streams-dispatcher.js";
import {
  type ClaimedEntry,
  parseClaimedReply,
  parseIdleClaim,
  parseReadFewReply,
  parseReadReply,
  type StreamFailure,
} from "./redis-streams-replies.js";
import { type LateReplyCheck, type Received, receiveOwned, renewLeases } from "./redis-streams-leases.js";
import { ReadMarkPacer, recreateGroup } from "./redis-streams-read-marks.js";
import { READ_TO_TTL_MS, readToKey } from "./redis-stream-keys.js";
import {
  claimIdleScript,
  readFewScript,
  readOwnPendingScript,
  removeDeadConsumersScript,
} from "./redis-streams-scripts.js";
import {
  errorDetails,
  nextBackoff,
  type Permits,
  Sleeper,
  type TransportLogger,
  withinMs,
} from "./redis-streams-support.js";

export interface StreamSubscriptionOptions {
  redis: Redis;
  deadLetters: DeadLetterStore;
  group: string;
  consumer: string;
  /** Event streams grouped by owner (one hash slot each): one blocking read loop per group. */
  slots: readonly (readonly { key: string; ref: TopicRef }[])[];
  redeliverKey: string;
  concurrency: number;
  batchSize: number;
  blockMs: number;
  /** BLOCK time of a read of every stream of its loop without a throttle (see the transport's option). */
  idleBlockMs: number;
  /**
   * After a read that returned several entries (a busy stream), the next read waits until this
   * long (ms) after it, so it takes what arrived meanwhile in one batch (0: never waits).
   */
  readLingerMs: number;
  claimIdleMs: number;
  claimIntervalMs: number;
  /** How often the leases of entries handled or held here are renewed (ms). */
  renewIntervalMs: number;
  /** A handler running this long (ms) is taken for hung: its entry's lease is no longer renewed. */
  maxLeaseMs: number;
  /** How long (ms) a crash suspect waits for the process's other handlers and holds them off. */
  isolationMs: number;
  /** Consumers of the group with nothing pending, unseen this long (ms), are removed. */
  deadConsumerMs: number;
  failureTtlMs: number;
  /** Epoch ms on the Redis clock (what entry ids are made of): message ages are read on it. */
  clock: () => number;
  logger: TransportLogger;
  /**
   * Plain (blocking) reads raise the group's read-to marks at most once per this many ms per read
   * loop: the marks lag those reads by up to as long (see ReadMarkPacer).
   */
  readMarkIntervalMs: number;
  /** Read-side backpressure (the rate limiter): new entries are read only as it grants. */
  throttle?: ReadThrottle;
  /** Told of lease renewals, takeovers and hung runs (metrics). */
  onLeaseActivity?: (activity: LeaseActivity) => void;
}

/**
 * Leases renewed by this consumer, entries it took over from a silent one, or its runs found hung
 * (ran maxLeaseMs: `hung_let_go` freed their slot, `hung_kept` kept it at the let-go cap), on one topic.
 */
export interface LeaseActivity {
  kind: "renewed" | "taken_over" | "hung_let_go" | "hung_kept";
  group: string;
  topic: string;
  count: number;
}

export class StreamSubscription implements TransportSubscription {
  private readonly refs: ReadonlyMap<string, TopicRef>;
  private readonly dispatcher: Dispatcher;
  private readonly permits: Permits;
  private readonly sleeper = new Sleeper();
  private readonly streamKeys: string[];
  private readonly connections: Redis[] = [];
  private readonly loops: Promise<void>[] = [];
  private stopped = false;
  /**
   * No idle claims before this time (ms epoch): set to now + claimIdleMs after a reconnect or a
   * failed renewal or claim round. Other instances may have missed renewals meanwhile (same outage):
   * they get a full takeover time to come back and renew before this one takes anything over.
   */
  private claimsHeldUntil = 0;
  private readonly onMainReady = (): void => this.afterOutage();
  /** Which stream a read of fewer entries than streams starts at (see readFewer). */
  private rotation = 0;
  /** Reads a throttle did not grant (see readStreams): paid from its next grants before reading on. */
  private owed = 0;
  /** Set once the handlers a stop waits for have returned: leases are renewed until then. */
  private drained = false;
  private readonly renewSleeper = new Sleeper();
  private renewing: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  /**
   * Per stream, the id a group found missing (NOGROUP) is recreated at: the last entry this
   * subscription read there, else (nothing read yet) its start time on the Redis clock less a
   * second. Never `0`: a group destroyed while an instance runs must not replay the whole stream.
   */
  private readonly recreateAt = new Map<string, string>();
  /** Per connection plain reads are sent on (each read loop's, and the main one's), its marks. */
  private readonly markPacers = new Map<Redis, ReadMarkPacer>();
  /**
   * The late-reply check of reads and claims (receiveOwned): an entry taken over meanwhile, its
   * first delivery never run here, is recorded as no crash of this process (explainUnrun).
   */
  private readonly lateCheck: LateReplyCheck;

  constructor(
    private readonly options: StreamSubscriptionOptions,
    handler: DeliveryHandler,
  ) {
    const refs = new Map(options.slots.flatMap((slot) => slot.map(({ key, ref }) => [key, ref] as const)));
    this.refs = refs;
    this.streamKeys = [...refs.keys(), options.redeliverKey];
    const onHung = (stream: string, letGo: boolean) =>
      this.leaseActivity(letGo ? "hung_let_go" : "hung_kept", stream, 1);
    this.dispatcher = new Dispatcher({ ...options, refs, onHung }, handler);
    this.permits = this.dispatcher.permits;
    this.lateCheck = {
      ...options,
      onTakenOver: (key, claimed) =>
        this.dispatcher.explainUnrun(key, claimed.entry.id, claimed.deliveryCount),
    };
  }

  start(): void {
    const { slots, concurrency, logger } = this.options;
    const startedAt = `${Math.max(0, Math.floor(this.options.clock()) - 1_000)}-0`;
    for (const key of this.streamKeys) this.recreateAt.set(key, startedAt);
    // A share of the slots per loop, so one owner's burst does not take every slot from the others.
    const share = Math.max(1, Math.ceil(concurrency / Math.max(1, slots.length)));
    for (const slot of slots) {
      // One command at a time, sent at once: auto-pipelining would only add a turn and a pipeline.
      const connection = this.options.redis.duplicate({ enableAutoPipelining: false });
      connection.on("error", (error: unknown) =>
        logger.debug(errorDetails(error), "stream reader connection"),
      );
      // A read whose reply was lost with the connection left entries pending in this consumer's
      // name that it never received: after a reconnect, take them up at once instead of waiting
      // for the idle claim.
      let connectedBefore = false;
      connection.on("ready", () => {
        if (connectedBefore && !this.stopped) {
          this.afterOutage();
          for (const { key } of slot) void this.resumeOwnPending(key, "keep");
        }
        connectedBefore = true;
      });
      this.connections.push(connection);
      this.addMarkPacer(connection);
      this.loops.push(
        this.readLoop(
          connection,
          slot.map((s) => s.key),
          share,
        ),
      );
    }
    this.addMarkPacer(this.options.redis);
    this.options.redis.on("ready", this.onMainReady);
    this.loops.push(this.redeliverLoop(), this.claimLoop());
    this.renewing = this.renewLoop();
  }

  private addMarkPacer(reader: Redis): void {
    const { redis, group, logger, readMarkIntervalMs: intervalMs } = this.options;
    const onError = (error: unknown) =>
      logger.debug({ ...errorDetails(error), group }, "read-to mark not raised");
    this.markPacers.set(reader, new ReadMarkPacer({ reader, redis, group, intervalMs, onError }));
  }

  /** Stops reading, waits for in-flight handlers; unsettled and retry-waiting entries stay pending. */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.timeoutMs);
    return this.stopping;
  }

  private async shutdown(timeoutMs: number | undefined): Promise<void> {
    this.stopped = true;
    this.options.redis.off("ready", this.onMainReady);
    this.dispatcher.close();
    this.sleeper.cancelAll();
    for (const pacer of this.markPacers.values()) pacer.close();
    for (const connection of this.connections) connection.disconnect();
    await Promise.allSettled(this.loops);
    // Handlers still running keep their leases until they return: a graceful stop must not let
    // another instance take over (and run a second time) the work it is waiting for. Past a
    // timeout (break20 F7: a hung handler held stop() for ever) the leases go: taken over later.
    if (!(await withinMs(this.dispatcher.drain(), timeoutMs))) {
      this.dispatcher.abandon();
      const { group, consumer, logger } = this.options;
      logger.warn(
        { group, consumer, timeoutMs },
        "stop timed out with handlers still running: their entries stay pending, taken over by another consumer once idle",
      );
    }
    this.drained = true;
    this.renewSleeper.cancelAll();
    await this.renewing;
  }

  /**
   * Blocking reads sized by the free slots. Permits are taken when entries arrive, not held while
   * blocked (that would starve the claim and retry paths); if those took slots meanwhile, the few
   * extra entries wait in `parked` for a slot. With `readLingerMs`, a read of several entries (a
   * busy stream) is followed by the next one only that long after it, so it takes what came meanwhile
   * in one batch.
   */
  private async readLoop(connection: Redis, keys: readonly string[], share: number): Promise<void> {
    for (const key of keys) await this.resumeOwnPending(key, "bump");
    let backoff = 0;
    let lastCount = 0;
    let lastReadAt = 0;
    for (;;) {
      const { readLingerMs } = this.options;
      if (readLingerMs > 0 && lastCount > 1 && !this.stopped) {
        const wait = lastReadAt + readLingerMs - performance.now();
        if (wait >= 0.5) await this.sleeper.sleep(wait);
      }
      if (!(await this.permits.waitForFree())) break;
      // Let handlers finishing in this turn free their slots too: one read of many, not many of one.
      if (this.permits.available < Math.min(this.options.batchSize, share) / 2)
        await new Promise((r) => setImmediate(r));
      const free = Math.min(this.options.batchSize, share, this.permits.available);
      const { throttle } = this.options;
      if (throttle && this.owed > 0) this.owed -= throttle.tryTake(this.owed);
      const count = !throttle ? free : this.owed > 0 ? 0 : throttle.tryTake(free);
      if (count === 0) {
        // Over the rate: read nothing; the backlog waits in the stream, not pending in our name.
        await this.sleeper.sleep(throttle?.waitMs() || 1);
        continue;
      }
      try {
        const read = await this.readNew(connection, keys, count, true);
        lastCount = read;
        lastReadAt = performance.now();
        throttle?.giveBack(Math.max(0, count - read));
        backoff = 0;
      } catch (error) {
        lastCount = 0;
        throttle?.giveBack(count);
        backoff = await this.recover(error, backoff);
      }
    }
  }

  private async redeliverLoop(): Promise<void> {
    const key = this.options.redeliverKey;
    await this.resumeOwnPending(key, "bump");
    let backoff = 0;
    while (!this.stopped) {
      const count = Math.min(this.options.batchSize, this.permits.available);
      try {
        if (count > 0) await this.readNew(this.options.redis, [key], count, false);
        backoff = 0;
      } catch (error) {
        backoff = await this.recover(error, backoff);
        continue;
      }
      await this.sleeper.sleep(this.options.blockMs);
    }
  }

  /**
   * Reads up to `count` new entries (`>`) and hands them to handlers; returns how many it read.
   * COUNT applies per stream, so a read of k streams returns up to k * COUNT entries. With at least
   * one entry per stream to read, one read of every stream, COUNT split over them. With fewer (few
   * free slots, a small rate grant) see readFewer.
   */
  private async readNew(
    connection: Redis,
    keys: readonly string[],
    count: number,
    block: boolean,
  ): Promise<number> {
    if (count < keys.length) return this.readFewer(connection, keys, count, block);
    return this.readStreams(connection, keys, Math.floor(count / keys.length), block);
  }

  /**
   * Fewer entries to read than streams (few free slots, a small rate grant): one script call reads
   * up to `count`, at most one per stream, looking at the streams from a rotating one, and the next
   * read starts after the last stream it took from (round robin over the streams served). So a
   * burst on one stream takes one slot per read, and an entry on any other is read at the next free
   * slot; a scan of a window at a time from a start moved by one per read, stopping at the first
   * stream with entries, left the streams behind a busy one waiting ~n reads (1.5-1.8 s with 40
   * streams and 4 slots, break-bus F2), at up to n round trips each. Nothing read: a blocking read
   * of every stream (one of some would leave an entry arriving on another waiting out the block:
   * seen, 1 s stalls). It may return an entry from each stream that received one since the script
   * ran, more than `count`: without a throttle the extra ones wait, leased, for a slot (acceptAll,
   * which runs them only while still ours); under one they are charged to it (readStreams).
   */
  private async readFewer(
    connection: Redis,
    keys: readonly string[],
    count: number,
    block: boolean,
  ): Promise<number> {
    const { group, consumer } = this.options;
    const start = this.rotation % keys.length;
    const rotated = [...keys.slice(start), ...keys.slice(0, start)];
    let failed: StreamFailure[] = [];
    const read = await this.deliver(async () => {
      const marks = rotated.map((key) => readToKey(key, group));
      const reply = parseReadFewReply(
        await readFewScript.run(connection, [...rotated, ...marks], [group, consumer, count, READ_TO_TTL_MS]),
      );
      failed = reply.failed;
      return reply.read;
    });
    if (failed.length > 0) await this.someStreamsFailed(failed, read.length);
    if (read.length > 0) {
      this.rotation = start + rotated.indexOf(read.at(-1)!.key) + 1;
      return read.length;
    }
    return block && !this.stopped ? this.readStreams(connection, keys, 1, true, count) : 0;
  }

  /**
   * Streams whose read failed in a read of few (readFewScript), after what it did read was handed
   * to handlers. Nothing read: thrown, so the read loop recovers as from a failed read of every
   * stream (which would fail the same way): backoff, groups recreated after NOGROUP. Else the read
   * went on: the groups are recreated at once, and the next read looks again.
   */
  private async someStreamsFailed(failed: readonly StreamFailure[], read: number): Promise<void> {
    const { group, consumer, logger } = this.options;
    const first = failed[0]!;
    if (read === 0) throw new Error(`${first.message} (stream ${first.key})`);
    logger.warn({ group, consumer, failed }, "stream read failed for some streams; read the others");
    if (failed.some(({ message }) => message.startsWith("NOGROUP"))) await this.recreateGroups();
  }

  /**
   * One XREADGROUP of `perStream` entries from each of `streams`; hands what it got to handlers.
   * Entries beyond a throttle's `granted` are charged to it before they run (owed if it has no room
   * now: the next reads wait until it is paid), so a throttled subscription never reads faster than
   * its limit (break-bus F3).
   */
  private async readStreams(
    connection: Redis,
    streams: readonly string[],
    perStream: number,
    block: boolean,
    granted = Infinity,
  ): Promise<number> {
    const { group, consumer, blockMs, idleBlockMs, throttle } = this.options;
    const read = await this.deliver(
      () =>
        connection.call("XREADGROUP", [
          ...["GROUP", group, consumer, "COUNT", Math.max(1, perStream)],
          // A blocking read always lists every stream (see readFewer), so any new entry ends the wait: a
          // long one costs no latency. A rate-limited read keeps `blockMs`, to ask the limiter sooner.
          ...(block ? ["BLOCK", throttle ? blockMs : idleBlockMs] : []),
          ...["STREAMS", ...streams, ...streams.map(() => ">")],
        ]),
      (got) => {
        if (throttle && got > granted) this.owed += got - granted - throttle.tryTake(got - granted);
      },
      this.markPacers.get(connection),
    );
    return read.length;
  }

  /**
   * Sends a read (XREADGROUP's reply shape) and hands what it got to handlers; returns it.
   * `beforeRun` sees how many entries came before any runs. A late reply runs only the entries
   * still ours (receiveOwned). With `marks` (a plain XREADGROUP, which cannot raise the group's
   * read-to marks itself), what it read is handed to that pacer before anything runs.
   */
  private async deliver(
    send: () => Promise<unknown>,
    beforeRun?: (got: number) => void,
    marks?: ReadMarkPacer,
  ): Promise<Incoming[]> {
    const { all, owned, confirmedAt } = await receiveOwned(
      this.lateCheck,
      "read",
      async () => parseReadReply(await send()),
      (streams): Incoming[] =>
        streams.flatMap(({ key, entries }) =>
          entries.map((entry) => ({ key, claimed: { entry, deliveryCount: 1 } })),
        ),
    );
    beforeRun?.(all.length);
    const lastRead = new Map<string, string>();
    for (const { key, claimed } of all) lastRead.set(key, claimed.entry.id);
    for (const [key, id] of lastRead) this.recreateAt.set(key, id);
    marks?.read(lastRead);
    // Extras parked for a slot are known ours as of confirmedAt (see acceptAll).
    await this.dispatcher.acceptAll(owned, this.permits.tryTake(owned.length), confirmedAt);
    return all;
  }

  /**
   * This consumer's own pending entries, oldest first, following the cursor past those handed out.
   * "bump" at start (their last delivery died with the previous process), "keep" after a reconnect
   * of this live process (see readOwnPendingScript).
   */
  private async resumeOwnPending(key: string, counts: "bump" | "keep"): Promise<void> {
    const { redis, group, consumer, batchSize } = this.options;
    let cursor = "0";
    let backoff = 0;
    while (!this.stopped) {
      const count = await this.permits.take(batchSize);
      if (count === 0) return;
      let received: Received<Incoming, ClaimedEntry[]>;
      try {
        received = await receiveOwned(
          this.lateCheck,
          "own resume",
          async () =>
            parseClaimedReply(
              await readOwnPendingScript.run(redis, [key], [group, consumer, count, cursor, counts]),
            ),
          // Entries this process is still handling or holding for a retry are not started twice;
          // one a hung run of it still holds waits for the idle claim, which counts its redelivery.
          (claimed) =>
            claimed
              .filter(
                (c) =>
                  !this.dispatcher.isBusy(key, c.entry.id) && !this.dispatcher.hasHungRun(key, c.entry.id),
              )
              .map((c) => ({ key, claimed: c })),
        );
      } catch (error) {
        this.permits.release(count);
        backoff = await this.recover(error, backoff);
        continue;
      }
      await this.dispatcher.acceptAll(received.owned, count, received.confirmedAt);
      const claimed = received.reply;
      const last = claimed.at(-1);
      if (!last || claimed.length < count) return;
      cursor = last.entry.id;
    }
  }

  private async claimLoop(): Promise<void> {
    const cleanupEvery = Math.min(60_000, this.options.deadConsumerMs);
    // Local durations on the monotonic clock (break22 F3: a wall-clock step held or rushed them).
    let lastCleanup = performance.now();
    while (!this.stopped) {
      await this.sleeper.sleep(this.options.claimIntervalMs);
      // Not while the connection is down either: a claim queued offline would run first thing
      // after the reconnect, before the live owners' renewals.
      const held = performance.now() < this.claimsHeldUntil || this.options.redis.status !== "ready";
      if (!this.stopped && !held) await this.claimIdle();
      if (!this.stopped && performance.now() - lastCleanup >= cleanupEvery) {
        lastCleanup = performance.now();
        await this.removeDeadConsumers();
      }
    }
  }

  private async renewLoop(): Promise<void> {
    const { redis, group, consumer, logger, renewIntervalMs, maxLeaseMs } = this.options;
    while (!this.drained) {
      await this.renewSleeper.sleep(renewIntervalMs);
      if (this.drained) return;
      const leased = this.dispatcher.leased(performance.now(), maxLeaseMs);
      const stillHeld = (stream: string, id: string) => this.dispatcher.isBusy(stream, id);
      const onRenewed = (stream: string, count: number) => this.leaseActivity("renewed", stream, count);
      const onLost = (stream: string, ids: readonly string[]) => this.dispatcher.markLost(stream, ids);
      const lease = { redis, group, consumer, logger, stillHeld, onRenewed, onLost };
      const sentAt = performance.now();
      const { failed } = await renewLeases(lease, leased);
      // A renewal round that waited out a Redis stall (connection up) holds claims like a failed one.
      if (failed || this.stalled(sentAt)) this.holdClaims();
    }
  }

  private leaseActivity(kind: LeaseActivity["kind"], stream: string, count: number): void {
    const topic = this.refs.get(stream)?.topic ?? stream;
    this.options.onLeaseActivity?.({ kind, group: this.options.group, topic, count });
  }

  /**
   * Whether a round trip sent at `sentAt` (performance.now()) took claimIdleMs / 2 or more: Redis
   * (or this process) stalled long enough that other owners' leases may have gone idle meanwhile.
   */
  private stalled(sentAt: number): boolean {
    return performance.now() - sentAt >= this.options.claimIdleMs / 2;
  }

  private holdClaims(): void {
    this.claimsHeldUntil = Math.max(this.claimsHeldUntil, performance.now() + this.options.claimIdleMs);
  }

  /** A connection came back: renew this consumer's own leases at once, take nothing over for a while. */
  private afterOutage(): void {
    this.holdClaims();
    this.renewSleeper.wake();
  }

  /** Consumers of gone instances leave the group; the check and removal are one atomic script. */
  private async removeDeadConsumers(): Promise<void> {
    const { redis, group, consumer, deadConsumerMs, logger } = this.options;
    for (const key of this.streamKeys) {
      try {
        const removed = (await removeDeadConsumersScript.run(
          redis,
          [key],
          [group, deadConsumerMs, consumer],
        )) as string[];
        if (removed.length > 0) logger.debug({ key, group, removed }, "removed dead consumers");
      } catch (error) {
        logger.warn({ ...errorDetails(error), key, group }, "dead consumer cleanup failed");
      }
    }
  }

  /**
   * Takes over idle entries of every stream, as far as free slots allow; the rest waits for the next
   * round. With every slot busy, a stream that has idle entries waits for the next free slot,
   * ahead of new reads (Permits.takeFirst). A stream whose claim fails is skipped for this round: it must not keep the others' dead
   * consumers' entries waiting (no head-of-line blocking).
   */
  private async claimIdle(): Promise<void> {
    const { redis, group, consumer, claimIdleMs, batchSize, logger } = this.options;
    for (const key of this.streamKeys) {
      let cursor = "0-0";
      do {
        let count = this.permits.tryTake(batchSize);
        if (count === 0) {
          // Every slot busy (a backlog: the read loop takes each freed slot at once). Entries idle
          // here (a dead instance's) get the next free slot ahead of new reads, or they would wait
          // for the backlog to drain (break-bus7 F3: 16.8 s with claimIdleMs 2 s).
          if (!(await this.hasIdle(key))) break;
          count = await this.permits.takeFirst(batchSize);
          if (count === 0) return;
        }
        let received: Received<Incoming, ReturnType<typeof parseIdleClaim>>;
        let sentAt = performance.now();
        try {
          received = await receiveOwned(
            this.lateCheck,
            "idle claim",
            async () => {
              const busy = this.dispatcher.busyIds(key);
              // Sent at (Redis clock): a call that waits out a pause claims nothing (claimIdleScript).
              const issuedAt = Math.floor(this.options.clock());
              sentAt = performance.now();
              return parseIdleClaim(
                await claimIdleScript.run(
                  redis,
                  [key],
                  [group, consumer, claimIdleMs, cursor, count, issuedAt, ...busy],
                ),
              );
            },
            (result) =>
              result.claimed
                .filter((c) => !this.dispatcher.isBusy(key, c.entry.id))
                .map((claimed) => ({ key, claimed })),
          );
        } catch (error) {
          this.permits.release(count);
          if (this.stopped) return;
          logger.warn({ ...errorDetails(error), key, group }, "idle claim failed");
          // Redis away: hold every claim (see claimsHeldUntil). A failure of this one stream only
          // (a broken key) must not hold up the others' takeovers.
          if (redis.status !== "ready") {
            this.holdClaims();
            return;
          }
          break;
        }
        const { reply: result, owned, confirmedAt } = received;
        if (result.stale || this.stalled(sentAt)) {
          // Redis stalled (CLIENT PAUSE, a long fork, a slow script) with the connection up: the
          // live owners' renewals waited too. Like after a reconnect, they renew first.
          logger.warn({ key, group, consumer }, "idle claim waited out a Redis stall; claims held");
          this.holdClaims();
          if (result.stale) {
            this.permits.release(count);
            return;
          }
        }
        if (result.deleted > 0)
          logger.warn({ key, group, count: result.deleted }, "pending entries trimmed away");
        if (owned.length > 0) this.leaseActivity("taken_over", key, owned.length);
        await this.dispatcher.acceptAll(owned, count, confirmedAt);
        cursor = result.cursor;
      } while (cursor !== "0-0" && !this.stopped);
    }
  }

  /**
   * Whether `key` has an entry pending for `claimIdleMs` or more (one XPENDING IDLE of one row);
   * false if unsure. Asked only when every slot is busy, before waiting for one (claimIdle).
   */
  private async hasIdle(key: string): Promise<boolean> {
    const { redis, group, claimIdleMs, logger } = this.options;
    try {
      const rows = (await redis.call("XPENDING", key, group, "IDLE", claimIdleMs, "-", "+", 1)) as unknown[];
      return rows.length > 0;
    } catch (error) {
      logger.debug({ ...errorDetails(error), key, group }, "idle check failed");
      return false;
    }
  }

  private async recover(error: unknown, backoff: number): Promise<number> {
    if (this.stopped) return backoff;
    const { group, consumer, logger } = this.options;
    const wait = nextBackoff(backoff);
    logger.warn({ ...errorDetails(error), group, consumer, retryInMs: wait }, "stream read failed; retrying");
    if (error instanceof Error && error.message.startsWith("NOGROUP")) await this.recreateGroups();
    await this.sleeper.sleep(wait);
    return wait;
  }

  /**
   * After NOGROUP: the group was destroyed while this instance ran (an operator's XGROUP DESTROY),
   * the stream deleted, or Redis came back without its data. Recreated after the last entry any
   * instance of the group read (its read-to mark), or this one's own last read if further (see
   * recreateAt), never at `0`: every entry still in the stream would be handled again (break20
   * F10), and not after this instance's reads only: another instance's next read would succeed on
   * the recreated group and get again what it had read past that (break21 N3). The mark lags other
   * instances' blocking reads by up to `readMarkIntervalMs`: what they read in that last interval
   * may be handed out again, for their idempotent consumers to absorb (ReadMarkPacer). A group
   * another instance recreated behind the mark is moved forward (recreateGroupScript). Entries
   * added after that point are read (none lost to a Redis that lost its data); the ones before are
   * not. Logged at error: it is an operator's mistake or a data loss. Never throws.
   */
  private async recreateGroups(): Promise<void> {
    const { redis, group, consumer, logger } = this.options;
    await Promise.all(
      this.streamKeys.map(async (key) => {
        const own = this.recreateAt.get(key) ?? "0-0";
        try {
          const { outcome, id } = await recreateGroup(redis, key, group, own);
          if (outcome === "exists") return;
          logger.error(
            { group, consumer, stream: key, recreatedAt: id, ownLastRead: own, outcome },
            "consumer group was missing (destroyed while an instance ran, or Redis lost its data): recreated after the last entry any instance of it read, earlier entries are not handled again",
          );
        } catch (error) {
          logger.warn({ ...errorDetails(error), stream: key }, "recreating the consumer group failed");
        }
      }),
    );
  }
}
