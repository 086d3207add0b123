/**
 * The handler side of a Streams subscription: `concurrency` slots (permits), the entries being
 * handled or held, settling through StreamDelivery, and local retries. Readers hand it entries
 * together with the permits they took for them.
 */
import type { ChainableCommander, Redis } from "ioredis";
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import { execOrThrow } from "../../redis/index.js";
import { type DeliveryHandler, MAX_HUNG_RUNS_LET_GO, type TopicRef } from "../transport.js";
import {
  deferralsKey,
  entryRecordKeys,
  FIELD_BODY,
  FIELD_OWNER,
  FIELD_TOPIC,
  failuresKey,
  hungRunsKey,
  soloRunsKey,
  soloUndoneKey,
  startedRunsKey,
} from "./redis-stream-keys.js";
import { AckBatcher } from "./redis-streams-acks.js";
import {
  type DeliveryContext,
  type EntrySource,
  explainedOf,
  firstDeliveredAtOf,
  failureCountsOf,
  hungRecordOf,
  type RunStanding,
  StreamDelivery,
  unexplainedOf,
} from "./redis-streams-delivery.js";
import { explainUnrun, recheckOf, recordAlive } from "./redis-streams-alive.js";
import { type ClaimedEntry, parseClaimedReply } from "./redis-streams-replies.js";
import { type GateRun, MAX_HOLD_FACTOR, processRunGate, type RunGate } from "./redis-streams-isolation.js";
import { lostIds, receiveOwned } from "./redis-streams-leases.js";
import { claimOwnScript, uncountSoloRunScript } from "./redis-streams-scripts.js";
import { entryKey, errorDetails, Permits, type TransportLogger } from "./redis-streams-support.js";

export interface DispatcherOptions {
  redis: Redis;
  deadLetters: DeadLetterStore;
  group: string;
  consumer: string;
  concurrency: number;
  failureTtlMs: number;
  /** Idle time after which another consumer may take an entry over (see parked extras in acceptAll). */
  claimIdleMs: number;
  /** The group's replay stream: its entries are DLQ replays (`Delivery.replay`). */
  redeliverKey: string;
  /** Epoch ms on the Redis clock (what entry ids are made of): message ages are read on it. */
  clock: () => number;
  logger: TransportLogger;
  /** Topic of each event stream; entries of other streams (redeliver) carry it in their fields. */
  refs: ReadonlyMap<string, TopicRef>;
  /** A handler running this long (ms) is taken for hung: its lease lapses, the gate stops waiting for it. */
  maxLeaseMs: number;
  /** How long (ms) a crash suspect waits for others to return and holds them off (redis-streams-isolation.ts). */
  isolationMs: number;
  /**
   * How often (ms) leases are renewed (default claimIdleMs / 3): a waiting or holding suspect
   * re-reads its stall record as often (at most every isolationMs / 10, at least every 50 ms).
   */
  renewIntervalMs?: number;
  /** The run gate (default the process's, shared by every subscription: tests give their own). */
  gate?: RunGate;
  /** Most hung runs let go at once (default MAX_HUNG_RUNS_LET_GO; see Dispatcher.leased). */
  maxHungRunsLetGo?: number;
  /**
   * Told once per run found hung (ran maxLeaseMs after it started) on `stream`: `letGo` false when
   * the maxHungRunsLetGo cap was reached and the run keeps its slot (metrics: break26 L1).
   */
  onHung?: (stream: string, letGo: boolean) => void;
}

/** An entry read or claimed from `key`. */
export interface Incoming {
  key: string;
  claimed: ClaimedEntry;
}

/** One handler run of an entry here, from its dispatch to its end. */
interface EntryRun {
  /** The entry (entryKey). */
  key: string;
  /** performance.now() when its handler started (when it was dispatched, until then). */
  since: number;
  /** Its handler has started (past the gate, its counts read). */
  started: boolean;
  /** Aborted when its lease is given up (maxLeaseMs) or lost (Delivery.signal). */
  lease: AbortController;
  /** Its run in the gate, once admitted. */
  gateRun?: GateRun;
  /** Given up as hung and let go (see leased): its slot freed, its entry no longer busy here. */
  letGo: boolean;
  /** performance.now() when it was let go (see busyIds: other instances get the entry first). */
  letGoAt?: number;
  /** Given up as hung (ran maxLeaseMs), let go or not: its hang recorded (recordHang), once. */
  givenUp: boolean;
  /** Let go, and its entry started again here since: only its success still counts (StreamDelivery.settle). */
  superseded: boolean;
  /** An earlier run of its entry, let go as hung, acked it (lateAck): it settles nothing. */
  overtaken: boolean;
  /** Its entry as its handler started, counted (recordHang records the hang from it). */
  source?: EntrySource;
  /** Its lease found lost while it ran (a stall of this process): recorded alive (recordStall), once. */
  stallRecorded?: boolean;
  /** Its entry's delivery count as handed here (1: a first delivery, see explainUnrun). */
  deliveryCount: number;
  /** The run itself (drain waits for it). */
  done?: Promise<void>;
}

export class Dispatcher {
  readonly permits: Permits;
  private readonly context: DeliveryContext;
  /** Entries a handler is working on now (one run at most per entry), by entry key. */
  private readonly inFlight = new Map<string, EntryRun>();
  /**
   * Runs given up as hung and let go (break24 F2): they run on (a handler cannot be stopped), but
   * hold no slot, and their entries may be taken up again here like a dead consumer's.
   */
  private readonly hung = new Set<EntryRun>();
  /** Every run not ended yet, in flight or let go. */
  private readonly runs = new Set<EntryRun>();
  /**
   * Entries this consumer holds without handling them, waiting for a retry timer or a free slot,
   * with the delivery count they were handed with (0 for a retry's: it had an outcome), which
   * markLost passes to explainUnrun (only a first delivery is recorded).
   */
  private readonly parked = new Map<string, number>();
  /**
   * Entries being handled here that a renewal found owned by another consumer (break-bus7 F2): no
   * longer renewed nor asked about (each round would warn again, up to maxLeaseMs / renewIntervalMs
   * times). Still busy: the idle claim must not take one back while its handler runs.
   */
  private readonly lost = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly gate: RunGate;
  private closed = false;

  constructor(
    private readonly options: DispatcherOptions,
    private readonly handler: DeliveryHandler,
  ) {
    this.permits = new Permits(options.concurrency);
    this.gate = options.gate ?? processRunGate;
    const { redis, deadLetters, group, consumer, failureTtlMs, redeliverKey, clock, logger } = options;
    this.context = {
      redis,
      redeliverKey,
      clock,
      acks: new AckBatcher(redis, group),
      deadLetters,
      group,
      consumer,
      failureTtlMs,
      logger,
    };
  }

  /** Handled or held here: a claim of it must not start a second handler. */
  isBusy(key: string, id: string): boolean {
    const k = entryKey(key, id);
    return this.inFlight.has(k) || this.parked.has(k);
  }

  /**
   * Whether a run of the entry was given up as hung here and still runs: the idle claim may take
   * the entry again (counted as a redelivery), an own resume after a reconnect must not (it would
   * run it again without counting it).
   */
  hasHungRun(key: string, id: string): boolean {
    const k = entryKey(key, id);
    for (const run of this.hung) if (run.key === k) return true;
    return false;
  }

  /**
   * Ids of `streamKey` entries handled or held here, which the idle claim must leave alone; also
   * those whose run here was let go as hung less than 2 × claimIdleMs ago: another instance, whose
   * handler may not hang, gets a head start of a claimIdleMs or more on them (it can claim one
   * claimIdleMs after the last renewal), as the in-memory transport hands a hung message to another
   * consumer first. Without it the stuck instance, its claim timer firing first, took its own hung
   * entry back every time and another instance only got it by chance (transport contract flake).
   * Alone, an instance runs it again 2 × claimIdleMs after letting it go.
   */
  busyIds(streamKey: string): string[] {
    const prefix = entryKey(streamKey, "");
    const since = performance.now() - 2 * this.options.claimIdleMs;
    const recentlyLetGo = [...this.hung].filter((run) => (run.letGoAt ?? 0) > since).map((run) => run.key);
    return [...new Set([...this.inFlight.keys(), ...this.parked.keys(), ...recentlyLetGo])]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length));
  }

  /**
   * The entries whose lease must be renewed, by stream: those held here (waiting for a retry or a
   * slot) and those being handled, unless the handler has run `maxLeaseMs` or more (hung: its
   * entry may move on) or the entry was found taken over (see markLost). `now`: performance.now()
   * (handler starts are stamped on the monotonic clock, never the wall clock: break22 F3).
   * A hung run is also let go (break24 F2): it frees its slot, and its entry is no longer busy
   * here, so once idle it is claimed again by any consumer, this one included, and run again (a
   * silent redelivery, its run counted as started): a handler that hangs on every run is parked
   * by the crash-loop backstop whatever the number of instances. Kept, every hung run held its
   * slot and its entry: an instance never took its own hung entry again, and with fewer instances
   * than the backstop's runs the entry stayed pending for ever (and a process whose every slot
   * held a hung run handled nothing more). At most `maxHungRunsLetGo` at once.
   * The hang is recorded next to the entry (hungRunsKey, break26 F2), so its next run, on any
   * instance, is no crash suspect: a hang is not a crash, and a suspect's run alone holds every
   * handler of the process. Its late success still acks (break26 F1: StreamDelivery.settle).
   */
  leased(now: number, maxLeaseMs: number): Map<string, string[]> {
    const byStream = new Map<string, string[]>();
    const add = (key: string) => {
      const cut = key.indexOf("\n");
      const stream = key.slice(0, cut);
      const ids = byStream.get(stream) ?? [];
      ids.push(key.slice(cut + 1));
      byStream.set(stream, ids);
    };
    for (const [key, run] of this.inFlight) {
      const hung = now - run.since >= maxLeaseMs;
      if (!hung && !this.lost.has(key)) add(key);
      else {
        this.giveUp(run, this.lost.has(key) ? "lease lost" : "maxLeaseMs reached");
        if (hung) this.hangs(run);
      }
    }
    for (const key of this.parked.keys()) add(key);
    return byStream;
  }

  /** Takes no new work; pending retries are dropped (their entries stay pending in Redis). */
  close(): void {
    this.closed = true;
    this.permits.close();
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  /**
   * Gives up the handlers still running (a stop that timed out: their leases lapse): the gate
   * takes them for hung, so crash suspects of the process no longer wait for them.
   */
  abandon(): void {
    for (const run of this.runs) run.gateRun?.giveUp();
  }

  /** Waits for every running handler to return (those let go as hung too). */
  async drain(): Promise<void> {
    while (this.runs.size > 0) await Promise.allSettled([...this.runs].map((run) => run.done));
  }

  /**
   * Starts handlers for the first `held` entries at once (permits taken), the rest (extras of a read)
   * as slots free up. An extra may wait for seconds; it runs only if it is still ours then: dropped
   * if a renewal found it taken over meanwhile (markLost), and checked (and renewed) in Redis first
   * when its slot came `claimIdleMs / 2` or more after `readAt` (performance.now() when the read was
   * sent). Sooner, no other consumer can have taken it: its idle time, reset by the read, is below
   * claimIdleMs (the same bound as the late-read check). A check on every extra would cost a round
   * trip each, and reads of every stream park extras often (see readNew).
   */
  async acceptAll(items: readonly Incoming[], held: number, readAt = performance.now()): Promise<void> {
    this.permits.release(held - items.length);
    const extra = items.length > held ? items.slice(held) : [];
    for (const { key, claimed } of extra)
      this.parked.set(entryKey(key, claimed.entry.id), claimed.deliveryCount);
    const now = Math.min(held, items.length);
    for (let i = 0; i < now; i++) this.accept(items[i]!.key, items[i]!.claimed);
    for (const { key, claimed } of extra) {
      const got = await this.permits.take(1);
      const stillParked = this.parked.delete(entryKey(key, claimed.entry.id));
      if (got === 0) continue;
      const recent = performance.now() - readAt < this.options.claimIdleMs / 2;
      if (stillParked && (recent || (await this.stillOurs(key, claimed)))) this.accept(key, claimed);
      else this.permits.release(1);
    }
  }

  /**
   * Entries among `ids` of `stream` that a renewal found owned by another consumer now. Parked ones
   * are no longer held here, so never run (the new owner runs them); those being handled run on (a
   * handler cannot be stopped) but are no longer renewed or reported (see leased), and those whose
   * handler started are recorded alive (recordStall): this process stalled, it did not crash.
   */
  markLost(stream: string, ids: readonly string[]): void {
    for (const id of ids) {
      const key = entryKey(stream, id);
      const parkedCount = this.parked.get(key);
      if (parkedCount !== undefined) {
        this.parked.delete(key);
        this.options.logger.warn({ stream, id }, "parked entry taken over meanwhile; dropped, not run");
        this.explainUnrun(stream, id, parkedCount);
      } else {
        const run = this.inFlight.get(key);
        if (!run) continue;
        this.lost.add(key);
        this.giveUp(run, "lease lost");
        this.stalls(run);
      }
    }
  }

  /** Tells the handler of `run` its lease is gone (once): see Delivery.signal. */
  private giveUp(run: EntryRun, reason: string): void {
    if (!run.lease.signal.aborted) run.lease.abort(new Error(reason));
  }

  /**
   * A run found hung (ran maxLeaseMs): let go (see letGo), and its hang recorded once it started,
   * let go or not: were it kept (past maxHungRunsLetGo), its entry goes to another instance, whose
   * run of it must not be a crash suspect either. Told to `onHung` once, let go or kept.
   */
  private hangs(run: EntryRun): void {
    this.letGo(run);
    if (!run.started || run.givenUp) return;
    run.givenUp = true;
    this.options.onHung?.(run.key.slice(0, run.key.indexOf("\n")), run.letGo);
    // Its entry is done (acked by an earlier run): nothing to record.
    if (!run.overtaken && run.source) void this.recordHang(run.source);
  }

  /**
   * A run whose lease a renewal found lost: recorded alive once, if its handler started, runs on
   * (not given up as hung: that records a hang) and its entry was not acked by an earlier run
   * (overtaken). A run still waiting for the gate never starts (run: `lost`), so a first delivery's
   * is recorded unrun (explainUnrun: break36 F4), its new owner's run no crash suspect. Not one past
   * the gate, counting its records: its handler may start yet (a round trip away).
   */
  private stalls(run: EntryRun): void {
    if (!run.gateRun && !run.started && run.deliveryCount === 1) {
      const cut = run.key.indexOf("\n");
      this.explainUnrun(run.key.slice(0, cut), run.key.slice(cut + 1), 1);
      return;
    }
    if (!run.started || run.givenUp || run.overtaken || run.stallRecorded || !run.source) return;
    run.stallRecorded = true;
    void this.recordStall(run.source);
  }

  /**
   * Lets a run given up as hung go (see leased): its slot is freed and its entry is no longer busy
   * here. Not a run still waiting for the gate (it has not started: it holds nothing up), and not
   * past `maxHungRunsLetGo` (then it keeps both, as before break24 F2).
   */
  private letGo(run: EntryRun): void {
    const max = this.options.maxHungRunsLetGo ?? MAX_HUNG_RUNS_LET_GO;
    if (!run.started || run.letGo || this.hung.size >= max) return;
    run.letGo = true;
    run.letGoAt = performance.now();
    this.inFlight.delete(run.key);
    this.lost.delete(run.key);
    this.hung.add(run);
    this.permits.release(1);
    const cut = run.key.indexOf("\n");
    this.options.logger.warn(
      { stream: run.key.slice(0, cut), id: run.key.slice(cut + 1), hung: this.hung.size },
      "handler hung (ran maxLeaseMs): its slot is freed and its entry may run again; it runs on",
    );
  }

  /**
   * Records a run let go as hung (rare: one small write): its hang explains its silence, and those
   * in company before it (explainedByOutcomeOf), so its next run, here or on another instance, is
   * no crash suspect and holds nothing up (break26 F2). If it was counted as a crash suspect's
   * run alone, that count is undone: it is known to have hung, not crashed. The crash-loop
   * backstop still counts it (a started run without an outcome), so a handler that hangs on every
   * run is still parked, with a reason that says so. A failed write is logged: its next run is
   * then a suspect, as before.
   */
  private async recordHang(source: EntrySource): Promise<void> {
    await recordAlive(this.options, source, true, "could not record a hung run");
  }

  /**
   * Records a run whose lease was lost while it ran on (markLost): this process stalled (a long
   * GC, SIGSTOP, a starved CPU) past claimIdleMs and another consumer took the entry over, but it
   * did not crash. As a hang does (recordHang), this explains the silence of its delivery and those
   * in company before it, so the new owner's run, a crash suspect for that silence, re-reads it
   * while it waits or holds (redis-streams-isolation.ts Recheck) and runs as an ordinary run; and
   * its own solo-run count, if it was counted alone, is undone. Not a hung run: the count the
   * backstop's reason names (hungLoopReason) is left alone. The backstop still counts both runs
   * (started, no outcome yet). A failed write is logged: the new owner's run stays a suspect.
   */
  private async recordStall(source: EntrySource): Promise<void> {
    await recordAlive(this.options, source, false, "could not record a run alive after its lease was lost");
  }

  /**
   * Records the delivery of an entry handed here that never ran here and was taken over meanwhile
   * (a parked extra, a late reply, a run still waiting in the gate): see explainUnrun
   * (redis-streams-alive.ts).
   */
  explainUnrun(stream: string, id: string, deliveryCount: number): void {
    explainUnrun(this.options, stream, id, deliveryCount);
  }

  /**
   * The ack of `run`, let go as hung, applied (its late success: StreamDelivery.settle): the other
   * runs of its entry here lose their lease, as when another instance acks it (break26 F1). They
   * run on (a handler cannot be stopped: their signal aborts), and settle nothing.
   */
  private lateAck(run: EntryRun): void {
    if (!run.givenUp) return;
    let overtook = 0;
    for (const other of this.runs) {
      if (other === run || other.key !== run.key || other.overtaken) continue;
      other.overtaken = true;
      overtook++;
      if (this.inFlight.get(run.key) === other) this.lost.add(run.key);
      this.giveUp(other, "lease lost: acked by an earlier run given up as hung");
    }
    const cut = run.key.indexOf("\n");
    this.options.logger.warn(
      { stream: run.key.slice(0, cut), id: run.key.slice(cut + 1), overtook },
      "a run given up as hung returned with success: its ack is kept, newer runs of its message lose their lease",
    );
  }

  /**
   * Whether the entry is still pending in this consumer's name (then renewed); false if unsure.
   * Taken over, it is recorded unrun (explainUnrun), as markLost does for a parked one (break36 F3).
   */
  private async stillOurs(stream: string, { entry, deliveryCount }: ClaimedEntry): Promise<boolean> {
    const { redis, group, consumer, logger } = this.options;
    const id = entry.id;
    try {
      if ((await lostIds(redis, stream, group, consumer, [id])).length === 0) return true;
      logger.warn({ stream, id, group, consumer }, "parked entry taken over meanwhile; not run");
      this.explainUnrun(stream, id, deliveryCount);
    } catch (error) {
      // Unsure: run nothing; if still ours it is taken up again (own resume, idle claim).
      logger.warn({ ...errorDetails(error), stream, id }, "could not check a parked entry; not run");
    }
    return false;
  }

  /** Consumes one permit: passes it to a handler, or releases it. */
  private accept(key: string, { entry, deliveryCount }: ClaimedEntry): void {
    const fields = entry.fields;
    if (fields === null) {
      this.permits.release(1);
      void this.dropDeleted(key, entry.id);
      return;
    }
    const ref = this.options.refs.get(key);
    this.dispatch({
      streamKey: key,
      entryId: entry.id,
      topic: ref?.topic ?? fields[FIELD_TOPIC] ?? "",
      owner: ref?.owner ?? fields[FIELD_OWNER] ?? "",
      body: fields[FIELD_BODY] ?? "",
      deliveryCount,
      failures: 0,
      waitedFailures: 0,
      deferrals: 0,
    });
  }

  private dispatch(source: EntrySource): void {
    const key = entryKey(source.streamKey, source.entryId);
    if (this.inFlight.has(key)) {
      this.permits.release(1);
      return;
    }
    // The entry runs again: what a hung run of it settles late is stale now (see StreamDelivery).
    for (const hung of this.hung) if (hung.key === key) hung.superseded = true;
    const run: EntryRun = {
      key,
      since: performance.now(),
      started: false,
      lease: new AbortController(),
      letGo: false,
      givenUp: false,
      superseded: false,
      overtaken: false,
      deliveryCount: source.deliveryCount,
    };
    this.inFlight.set(key, run);
    // Added before the run can end: it always awaits its handler first.
    this.runs.add(run);
    run.done = this.run(source, run);
  }

  /** One handler run, from counting the entry's records to releasing its slot. */
  private async run(source: EntrySource, run: EntryRun): Promise<void> {
    const { key } = run;
    try {
      const counted = source.deliveryCount <= 1 ? source : await this.withRecords(source);
      // A delivery died without an outcome, and no outcome since explained it: maybe this entry
      // killed the process, maybe one running beside it did. Run it alone to tell
      // (redis-streams-isolation.ts).
      const suspect = unexplainedOf(counted) > 0;
      const { maxLeaseMs: hungMs, isolationMs } = this.options;
      // Each time company joined its run after the hold (its count undone), the next holds twice
      // as long: a slow poison ends up crashing alone (break23 F1, F3). Capped (break24 F4): a
      // hold stops the whole process; a slower poison is parked by the backstop.
      const doubled = isolationMs * 2 ** (counted.undoneSoloRuns ?? 0);
      const holdMs = Math.min(hungMs, MAX_HOLD_FACTOR * isolationMs, doubled);
      let uncount: (company: boolean) => Promise<void> = async () => {};
      // Set once its silence is explained (a stall elsewhere, not a crash: recordStall), or its
      // entry found acked meanwhile (`gone`).
      let explained: number | undefined;
      let gone = false;
      const recheck = suspect
        ? recheckOf(this.options, counted, (n, acked) => {
            explained = n;
            gone = acked;
            this.options.logger.debug(
              { id: source.entryId, group: this.options.group, acked },
              "crash suspect explained: its former owner stalled, it did not crash; no longer held alone",
            );
          })
        : undefined;
      const admitted = suspect
        ? await this.gate.enterSuspect({
            hungMs,
            isolationMs,
            holdMs,
            // Explained, company joining does not double its next hold (it did not outlive it).
            onCompany: () => uncount(explained === undefined),
            ...(recheck ? { recheck } : {}),
          })
        : await this.gate.enterOrdinary({ hungMs });
      run.gateRun = admitted;
      try {
        // Stopped while it waited for the gate (break21 N4): not started, it stays pending. Or its
        // entry was acked meanwhile by an earlier run let go as hung: done, nothing to run. Or it
        // was found taken over as it waited (markLost: this process stalled): another consumer's
        // now, never run here (break36 F4; recorded unrun by stalls).
        if (this.closed || run.overtaken || this.lost.has(key)) return;
        // Or (found as it waited, a suspect) acked by the stalled consumer it was taken from: done.
        // Its records go too: that consumer's run recorded its stall, and its ack, of an earlier
        // delivery, may have left them (break36 F1). The entry is no longer pending: nothing writes
        // them again (hungRunScript writes only for a pending entry).
        if (gone && admitted.explained) {
          await this.dropRecords(source.streamKey, source.entryId);
          return;
        }
        // maxLeaseMs counts from the start of the handler, on the monotonic clock: a step of the
        // host's wall clock must not take every handler for hung (break22 F3) nor stretch a lease.
        run.since = performance.now();
        let ready: EntrySource;
        if (admitted.explained) ready = await this.countStartedRun({ ...counted, explained });
        else if (suspect) {
          const counting = this.countSoloRun(counted, admitted.alone, () => uncount(false));
          if (admitted.alone) uncount = this.uncountOnce(counted, counting);
          ready = await counting;
        } else ready = await this.countStartedRun(counted);
        run.started = true;
        run.source = ready;
        const standing: RunStanding = {
          givenUp: () => run.givenUp,
          stallRecorded: () => run.stallRecorded === true,
          superseded: () => run.superseded,
          overtaken: () => run.overtaken,
          acked: () => this.lateAck(run),
        };
        const delivery = new StreamDelivery(this.context, ready, run.lease.signal, standing);
        await this.runHandler(delivery);
        // Its entry was acked meanwhile by an earlier run let go as hung: a count this run wrote
        // as that ack went (a race) would outlive the entry until its TTL.
        if (run.overtaken) await this.dropRecords(source.streamKey, source.entryId);
        if (delivery.retryAfterMs !== undefined)
          this.scheduleRetry(source.streamKey, source.entryId, delivery.retryAfterMs);
      } finally {
        admitted.leave();
      }
    } catch (error) {
      // Counting its records failed (Redis away): the entry stays pending for a later delivery.
      this.options.logger.warn({ ...errorDetails(error), id: source.entryId }, "could not start a handler");
    } finally {
      this.runs.delete(run);
      // Let go as hung: its slot was freed then, and its entry may be another run's now.
      if (run.letGo) this.hung.delete(run);
      else {
        this.inFlight.delete(key);
        this.lost.delete(key);
        this.permits.release(1);
      }
    }
  }

  /**
   * Counts a redelivery's run as started, past the gate (startedRunsKey): the backstop counts only
   * runs that started, not deliveries that died waiting their turn (break24 F1). A first delivery
   * writes nothing (the hot path); it is assumed started (silentStartedRunsOf).
   */
  private async countStartedRun(source: EntrySource): Promise<EntrySource> {
    if (source.deliveryCount <= 1) return source;
    const [started] = (await execOrThrow(this.startedRunCount(source))) as [number, number];
    return { ...source, startedRedeliveries: Number(started) };
  }

  /** A MULTI whose first two replies count a redelivery's run as started (INCR, then PEXPIRE). */
  private startedRunCount(source: EntrySource): ChainableCommander {
    const key = startedRunsKey(source.streamKey, this.options.group, source.entryId);
    return this.options.redis.multi().incr(key).pexpire(key, this.options.failureTtlMs);
  }

  /**
   * A suspect's crash-loop count as its run starts: its solo runs that ended silently (proven
   * crashes, `soloRunsBefore`), plus one (the silence that made it a suspect), at most its
   * unexplained silent deliveries. A run alone is counted first (INCR: a crash during it leaves the
   * count); a run in company only reads it. `uncount` undoes this run's INCR (once): `uncountOnce`.
   * In the same MULTI as its started-run count (a suspect is always a redelivery): one round trip.
   */
  private async countSoloRun(
    source: EntrySource,
    alone: boolean,
    uncount: () => Promise<void>,
  ): Promise<EntrySource> {
    const key = soloRunsKey(source.streamKey, this.options.group, source.entryId);
    const counts = this.startedRunCount(source);
    if (alone) counts.incr(key).pexpire(key, this.options.failureTtlMs);
    else counts.get(key);
    const [started, , solo] = (await execOrThrow(counts)) as [number, number, number | string | null];
    const runs = alone ? Number(solo) : Number(solo ?? 0) + 1;
    const soloSilent = Math.min(unexplainedOf(source), runs);
    return { ...source, startedRedeliveries: Number(started), soloSilent, soloRunsBefore: runs - 1, uncount };
  }

  /**
   * Undoes a counted run's INCR, at most once: when the gate lets others start beside it
   * (`company`: it is no longer alone; its undone runs are counted, see soloUndoneKey) or when it
   * ends with an outcome (a failure or a deferral: not a silent run). Never below 0 and never
   * re-creates the key an outcome deleted meanwhile (the script); after the INCR (`counting`), which
   * a stalled Redis may answer late. A failure is logged: the count then stays one too high, as if
   * the run had ended silently.
   */
  private uncountOnce(source: EntrySource, counting: Promise<unknown>): (company: boolean) => Promise<void> {
    let done: Promise<void> | undefined;
    const { group, redis, failureTtlMs } = this.options;
    const keys = [
      soloRunsKey(source.streamKey, group, source.entryId),
      soloUndoneKey(source.streamKey, group, source.entryId),
    ];
    return (company) => {
      done ??= counting
        .then(
          () => uncountSoloRunScript.run(redis, keys, [company ? "1" : "0", failureTtlMs]),
          () => undefined, // not counted: nothing to undo
        )
        .then(() => undefined)
        .catch((error: unknown) =>
          this.options.logger.warn(
            { ...errorDetails(error), id: source.entryId },
            "could not undo a crash suspect's solo-run count",
          ),
        );
      return done;
    };
  }

  /** A redelivered entry's failed attempts and deferrals, recorded next to the stream. */
  private async withRecords(source: EntrySource): Promise<EntrySource> {
    if (source.deliveryCount <= 1) return source;
    const { streamKey, entryId } = source;
    const { group } = this.options;
    // The whole list (not LLEN): which failures waited is in the records. It is short under the
    // default policy (maxAttempts ordinary ones, plus one waiting record per retry of at most 60 s
    // apart by default in the must-complete window) and expires with the entry's records.
    const [records, deferrals, undone, hungRecord] = (await execOrThrow(
      this.options.redis
        .multi()
        .lrange(failuresKey(streamKey, group, entryId), 0, -1)
        .get(deferralsKey(streamKey, group, entryId))
        .get(soloUndoneKey(streamKey, group, entryId))
        .get(hungRunsKey(streamKey, group, entryId)),
    )) as [string[], string | null, string | null, string | null];
    // Hangs explain silences as a failed attempt does (break26 F2): the later of the two explains
    // at least what the earlier did, so the larger count holds.
    const hung = hungRecordOf(hungRecord);
    return {
      ...source,
      ...failureCountsOf(records),
      explained: Math.max(explainedOf(records[records.length - 1]), hung.explained),
      hungRuns: hung.runs,
      failureRecords: records.length,
      deferrals: Number(deferrals ?? 0),
      undoneSoloRuns: Number(undone ?? 0) || 0,
      firstDeliveredAt: firstDeliveredAtOf(records[0]),
    };
  }

  private async runHandler(delivery: StreamDelivery): Promise<void> {
    try {
      await this.handler(delivery);
    } catch (error) {
      // The subscriber settles every delivery itself; a throw here leaves the entry pending for the idle claim.
      this.options.logger.error(
        { ...errorDetails(error), topic: delivery.topic, deliveryId: delivery.deliveryId },
        "stream handler threw",
      );
    }
  }

  private scheduleRetry(streamKey: string, id: string, delayMs: number): void {
    if (this.closed) return;
    const key = entryKey(streamKey, id);
    this.parked.set(key, 0);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      void this.retryNow(streamKey, id, key);
    }, delayMs);
    this.retryTimers.add(timer);
  }

  private async retryNow(streamKey: string, id: string, key: string): Promise<void> {
    const { redis, group, consumer, logger } = this.options;
    const got = await this.permits.take(1);
    try {
      if (got === 0) return;
      // A late reply (frozen process) runs the entry only if it is still ours (receiveOwned).
      const { owned } = await receiveOwned(
        this.options,
        "retry claim",
        // No longer pending at all (acked by the consumer it was taken from, break22 F4): its
        // records (this consumer's failures after the takeover) go too, not left for their TTL.
        async () =>
          parseClaimedReply(
            await claimOwnScript.run(
              redis,
              [streamKey, ...entryRecordKeys(streamKey, group, id)],
              [group, consumer, id],
            ),
          ),
        (claimed) => claimed.slice(0, 1).map((c) => ({ key: streamKey, claimed: c })),
      );
      this.parked.delete(key); // before accept: a fast handler may park it again
      if (owned[0]) this.accept(streamKey, owned[0].claimed);
      else this.permits.release(1);
    } catch (error) {
      this.parked.delete(key);
      this.permits.release(1);
      logger.warn({ ...errorDetails(error), streamKey, id }, "retry claim failed; left for takeover");
    } finally {
      if (got === 0) this.parked.delete(key);
    }
  }

  /** Deletes the records of an entry known to be acked; a failure is logged (they expire). */
  private async dropRecords(streamKey: string, id: string): Promise<void> {
    try {
      await this.options.redis.del(...entryRecordKeys(streamKey, this.options.group, id));
    } catch (error) {
      this.options.logger.warn(
        { ...errorDetails(error), streamKey, id },
        "could not drop an acked entry's records",
      );
    }
  }

  private async dropDeleted(streamKey: string, id: string): Promise<void> {
    const { redis, group, logger } = this.options;
    logger.warn({ streamKey, id, group }, "pending entry was trimmed before being handled; dropped");
    try {
      await execOrThrow(
        redis
          .multi()
          .xack(streamKey, group, id)
          .del(...entryRecordKeys(streamKey, group, id)),
      );
    } catch (error) {
      logger.warn({ ...errorDetails(error), streamKey, id }, "could not drop a trimmed entry");
    }
  }
}
