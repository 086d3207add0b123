/**
 * A delivery of one stream entry to one consumer and how it is settled. Failures of earlier
 * attempts live in Redis next to the stream (same hash slot, with a TTL), not in this process, so
 * a consumer that takes the entry over after a crash still dead-letters it with its whole history.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import { execOrThrow } from "../../redis/index.js";
import type { AttemptFailure, DeadLetterRequest, Delivery } from "../transport.js";
import { KEEP_FIRST_ATTEMPTS, KEEP_LAST_ATTEMPTS, parkDeadLetter } from "./dead-letter-record.js";
import { deferralsKey, entryRecordKeys, failuresKey, soloRunsKey } from "./redis-stream-keys.js";
import type { AckBatcher } from "./redis-streams-acks.js";
import type { TransportLogger } from "./redis-streams-support.js";

export interface DeliveryContext {
  redis: Redis;
  acks: AckBatcher;
  deadLetters: DeadLetterStore;
  group: string;
  consumer: string;
  failureTtlMs: number;
  /** The group's replay stream (`{group}:redeliver`): its entries are DLQ replays. */
  redeliverKey: string;
  /** Epoch ms on the Redis clock, the clock entry ids are made of. */
  clock: () => number;
  logger: TransportLogger;
}

export interface EntrySource {
  streamKey: string;
  entryId: string;
  topic: string;
  owner: string;
  body: string;
  /** Redis delivery count, including this delivery. */
  deliveryCount: number;
  /** Failed attempts recorded for the entry (`retry`). */
  failures: number;
  /** Of `failures`, those recorded as `waited` (they spend no retry budget). */
  waitedFailures: number;
  /** Deferrals recorded for the entry (`defer`). */
  deferrals: number;
  /**
   * Of the silent deliveries (`deliveryCount - 1 - failures - deferrals`), those a later failed
   * attempt explained: the entry ran and ended with an outcome then, so it did not crash the
   * process (break21 N5). Kept in the last failure record (`retry`).
   */
  explained?: number | undefined;
  /**
   * A crash suspect (redis-streams-isolation.ts): its crash-loop count, i.e. its silent deliveries
   * that can only have been its own. Undefined: not a suspect.
   */
  soloSilent?: number | undefined;
  /** A suspect's solo runs before this one that ended silently (proven crashes; soloRunsKey). */
  soloRunsBefore?: number | undefined;
  /** Solo runs of the entry whose count was undone as company joined them (soloUndoneKey). */
  undoneSoloRuns?: number | undefined;
  /** A suspect's run counted alone: undoes its count (once), see Dispatcher.uncountOnce. */
  uncount?: (() => Promise<void>) | undefined;
  /**
   * A redelivery: when the entry was first delivered (Redis clock), as its first failed attempt
   * recorded it (undefined: unknown, e.g. its first delivery ended silently).
   */
  firstDeliveredAt?: number | undefined;
  /** Records in the entry's failure list (fewer than `failures` once it was bounded). */
  failureRecords?: number;
  /**
   * A redelivery: its redeliveries whose handler started, this one included (startedRunsKey).
   * Undefined on a first delivery, or unknown (then every silent delivery counts as a run).
   */
  startedRedeliveries?: number | undefined;
  /** A redelivery: its earlier runs given up as hung (hungRunsKey); undefined on a first delivery. */
  hungRuns?: number | undefined;
}

/**
 * Where a run stands against other runs of its entry here (Dispatcher, break24 F2 / break26 F1):
 * a run given up as hung is let go, and its entry may run again beside it.
 */
export interface RunStanding {
  /**
   * Given up as hung (ran maxLeaseMs; its hang recorded): its entry may run again, here (it was let
   * go) or elsewhere, and those runs wrote records next to it.
   */
  givenUp(): boolean;
  /**
   * Its lease was found lost while it ran and it was recorded alive (Dispatcher.recordStall): its
   * ack cleans the entry's records, the stall record first (break36 F1: left for its 7-day TTL).
   */
  stallRecorded(): boolean;
  /** Let go, and its entry started again here since: only its success still counts (see settle). */
  superseded(): boolean;
  /** Its entry was acked by an earlier run of it that had been let go: it settles nothing. */
  overtaken(): boolean;
  /** Its ack applied: newer runs of its entry here lose their lease (Dispatcher.lateAck). */
  acked(): void;
}

/**
 * Earlier runs of the entry whose handler started and that ended without an outcome: the crash-loop
 * backstop's count (break24 F1). The started redeliveries before this one, plus the first delivery,
 * ASSUMED started (it writes nothing, to keep the hot path free: one that died waiting at the run
 * gate is counted once too many), minus the runs that ended with an outcome (failures, deferrals).
 * Clamped to [0, the silent deliveries]: an expired counter counts less, never more.
 */
export function silentStartedRunsOf(source: EntrySource): number {
  const silent = silentDeliveriesOf(source);
  if (source.deliveryCount <= 1 || source.startedRedeliveries === undefined) return silent;
  // The counter holds this run (−1) but not the first delivery (+1): as it is, the runs before.
  return Math.min(silent, Math.max(0, source.startedRedeliveries - source.failures - source.deferrals));
}

/** Deliveries of the entry before this one that ended without an outcome, explained or not. */
export function silentDeliveriesOf(source: EntrySource): number {
  return Math.max(0, source.deliveryCount - 1 - source.failures - source.deferrals);
}

/** Silent deliveries of the entry that no later outcome explained: > 0 makes it a crash suspect. */
export function unexplainedOf(source: EntrySource): number {
  return silentDeliveriesOf(source) - (source.explained ?? 0);
}

/**
 * The silent deliveries before this run that an outcome of it explains (a failed attempt's, or a
 * hang's: hungRunsKey): the entry ran and did not take the process down, so the silences in company
 * before it were not its crashes (break21 N5). Not its proven crashes (`soloRunsBefore`, break23
 * F2): a later outcome does not un-prove a crash alone.
 */
export function explainedByOutcomeOf(source: EntrySource): number {
  const silent = silentDeliveriesOf(source);
  return source.soloRunsBefore === undefined
    ? silent
    : Math.max(source.explained ?? 0, silent - source.soloRunsBefore);
}

/**
 * A hung-run record (hungRunsKey: `"<hung runs> <explained>"`): how many runs hung, and how many
 * silent deliveries the hangs explain (each hung run itself, and what explainedByOutcomeOf says).
 * Zeros if absent or unsound.
 */
export function hungRecordOf(record: string | null | undefined): { runs: number; explained: number } {
  const match = /^(\d+) (\d+)$/.exec(record ?? "");
  return match ? { runs: Number(match[1]), explained: Number(match[2]) } : { runs: 0, explained: 0 };
}

/** The silent deliveries a failure record says its attempt explained (0 if none or unsound). */
export function explainedOf(record: string | undefined): number {
  try {
    const value = (JSON.parse(record ?? "{}") as { explained?: unknown }).explained;
    return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : 0;
  } catch {
    return 0;
  }
}

/** The first delivery's time kept in a failure record (`retry`), if it is there and sound. */
export function firstDeliveredAtOf(record: string | null | undefined): number | undefined {
  if (!record) return undefined;
  try {
    const value = (JSON.parse(record) as { firstDeliveredAt?: unknown }).firstDeliveredAt;
    return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

const failureSchema = z.object({
  attempt: z.number(),
  at: z.string(),
  durationMs: z.number(),
  error: z.object({ name: z.string(), message: z.string(), code: z.string().optional() }),
  waited: z.boolean().optional(),
});

/**
 * Marks the record `retry` drops from the middle of a full failure list (LSET then LREM): no JSON
 * record can equal it.
 */
const DROPPED_RECORD = "\u0000dropped";

const totalsSchema = z.object({ attempt: z.number(), waitedTotal: z.number().optional() });

/**
 * Failed attempts and, of them, waited ones, from an entry's failure records (JSON, as `retry`
 * writes them). The list keeps the first and last attempts only (break20 F9): once bounded, the
 * last record's attempt number and running `waitedTotal` count what the list no longer holds.
 */
export function failureCountsOf(records: readonly string[]): { failures: number; waitedFailures: number } {
  const parsed = parseFailures(records);
  const counted = {
    failures: records.length,
    waitedFailures: parsed.filter((f) => f.waited === true).length,
  };
  if (records.length < KEEP_FIRST_ATTEMPTS + KEEP_LAST_ATTEMPTS) return counted;
  const last = attemptTotals(records[records.length - 1]);
  if (last === undefined || last.attempt <= records.length) return counted;
  return {
    failures: last.attempt,
    waitedFailures: Math.max(counted.waitedFailures, last.waitedTotal ?? counted.waitedFailures),
  };
}

function attemptTotals(record: string | undefined): z.infer<typeof totalsSchema> | undefined {
  try {
    const parsed = totalsSchema.safeParse(JSON.parse(record ?? ""));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function parseFailures(raw: readonly string[]): AttemptFailure[] {
  return raw.flatMap((item) => {
    try {
      const parsed = failureSchema.safeParse(JSON.parse(item));
      return parsed.success ? [parsed.data as AttemptFailure] : [];
    } catch {
      return [];
    }
  });
}

export class StreamDelivery implements Delivery {
  readonly deliveryId: string;
  readonly topic: string;
  readonly owner: string;
  readonly body: string;
  readonly attempt: number;
  readonly waitedAttempts: number;
  readonly silentDeliveries: number;
  readonly deferrals: number;
  readonly signal: AbortSignal | undefined;
  readonly enqueuedAt: number;
  readonly firstDeliveredAt: number | undefined;
  readonly streamKey: string;
  readonly deliveryCount: number;
  readonly replay: boolean;
  /** Records in the entry's failure list as read (fewer than its failures once bounded). */
  private readonly failureRecords: number;
  /** Deliveries before this one that ended silently, explained or not. */
  private readonly allSilentDeliveries: number;
  /** Runs before this one that started and ended silently (the crash-loop backstop): silentStartedRunsOf. */
  readonly silentStartedRuns: number;
  /** Earlier runs given up as hung (Delivery.hungRuns). */
  readonly hungRuns: number | undefined;
  /** Of them, those this one's failure explains, as a running total (`retry`). */
  private readonly explainedByFailure: number;
  private readonly uncount: (() => Promise<void>) | undefined;
  /** Set by `retry`: the subscription takes the entry again this long after the handler returns. */
  retryAfterMs: number | undefined;
  private settled = false;

  /** `standing`: the run against others of its entry here (see settle); none: it runs alone. */
  constructor(
    private readonly context: DeliveryContext,
    source: EntrySource,
    signal?: AbortSignal,
    private readonly standing?: RunStanding,
  ) {
    this.signal = signal;
    this.deferrals = source.deferrals;
    this.deliveryId = source.entryId;
    this.topic = source.topic;
    this.owner = source.owner;
    this.body = source.body;
    this.attempt = source.failures + 1;
    this.waitedAttempts = Math.min(source.waitedFailures, source.failures);
    this.failureRecords = source.failureRecords ?? source.failures;
    this.deliveryCount = source.deliveryCount;
    // Every delivery before this one ended with an outcome (a failure or a deferral) or silently.
    // Only silent runs alone count (break20 F1): a crash while others ran may have been theirs.
    this.silentDeliveries = source.soloSilent ?? 0;
    this.allSilentDeliveries = silentDeliveriesOf(source);
    this.silentStartedRuns = silentStartedRunsOf(source);
    this.hungRuns = source.hungRuns;
    // A failure explains the silences in company only (break23 F2): a silent solo run was a proven
    // crash, which a later failure does not un-prove, so those stay unexplained (and counted).
    this.explainedByFailure = explainedByOutcomeOf(source);
    this.uncount = source.uncount;
    // A stream entry id starts with its XADD time in ms (Redis clock).
    this.enqueuedAt = Number(source.entryId.split("-")[0]) || 0;
    // The first delivery is now (before the handler runs: at or before any handling of it); a
    // redelivery knows it only if the first delivery's failed attempt recorded it (`retry`).
    this.firstDeliveredAt =
      source.deliveryCount <= 1 ? Math.max(this.enqueuedAt, context.clock()) : source.firstDeliveredAt;
    this.streamKey = source.streamKey;
    this.replay = source.streamKey === context.redeliverKey;
  }

  /** Read on the Redis clock, never this host's: a skewed host clock does not age a message. */
  ageMs(): number {
    return Math.max(0, this.context.clock() - this.enqueuedAt);
  }

  /** Redis `TIME` through the measured offset (the clock of `ageMs`), not the entry id's time. */
  now(): number {
    return this.context.clock();
  }

  async ack(): Promise<void> {
    await this.settle("ack", async () => {
      await this.acknowledge();
      this.standing?.acked();
    });
  }

  async retry(failure: AttemptFailure, delayMs: number): Promise<void> {
    await this.settle("retry", async () => {
      const key = this.failuresKey();
      // Each record carries the first delivery's time when known, so the entry's retry (on any
      // consumer) counts its dedupe window from it, not from the entry's time (a backlog).
      // `waitedTotal`: the waited failures so far, still known once the list is bounded.
      // `explained`: this run ended with an outcome, so the silences in company before it were not
      // its crashes (break21 N5): unless it crashed alone before, it is no suspect until a new one.
      const record = {
        ...failure,
        ...(this.firstDeliveredAt === undefined ? {} : { firstDeliveredAt: this.firstDeliveredAt }),
        waitedTotal: this.waitedAttempts + (failure.waited === true ? 1 : 0),
        ...(this.explainedByFailure > 0 ? { explained: this.explainedByFailure } : {}),
      };
      const multi = this.context.redis.multi().rpush(key, JSON.stringify(record));
      // Bounded (break20 F9): past the first and last attempts kept, the oldest of the last ones
      // goes. One entry is handled by one consumer at a time, so the list is the length it read.
      if (this.failureRecords + 1 > KEEP_FIRST_ATTEMPTS + KEEP_LAST_ATTEMPTS)
        multi.lset(key, KEEP_FIRST_ATTEMPTS, DROPPED_RECORD).lrem(key, 1, DROPPED_RECORD);
      await execOrThrow(multi.pexpire(key, this.context.failureTtlMs));
      // This run ended with an outcome: its own count goes; the proven crashes before it stay.
      await this.uncount?.();
      this.retryAfterMs = Math.max(0, delayMs);
    });
  }

  /**
   * Explains nothing and keeps the crash-loop count: a deferred delivery did not run its handler
   * (another run of it holds its claim, e.g. the crashed one's until its lease lapses), so it
   * proves nothing about crashes; clearing the count here let a poison message behind an
   * idempotency claim crash the process for ever. Only this run's own count is undone: it did not
   * end silently.
   */
  async defer(delayMs: number): Promise<void> {
    await this.settle("defer", async () => {
      const key = deferralsKey(this.streamKey, this.context.group, this.deliveryId);
      await execOrThrow(this.context.redis.multi().incr(key).pexpire(key, this.context.failureTtlMs));
      await this.uncount?.();
      this.retryAfterMs = Math.max(0, delayMs);
    });
  }

  /** Dead-letter record first (idempotent), then XACK: a crash in between loses nothing. */
  async deadLetter(request: DeadLetterRequest): Promise<void> {
    await this.settle("deadLetter", async () => {
      const { redis, deadLetters, group, consumer } = this.context;
      const earlierFailures = parseFailures(await redis.lrange(this.failuresKey(), 0, -1));
      await parkDeadLetter(
        deadLetters,
        {
          group,
          topic: this.topic,
          owner: this.owner,
          deliveryId: this.deliveryId,
          body: this.body,
          earlierFailures,
          request,
        },
        consumer,
      );
      await this.acknowledge();
    });
  }

  /** Cleared by the entry's end, kept by a failure or deferral (see EntrySource.soloSilent). */
  private soloRunsKey(): string {
    return soloRunsKey(this.streamKey, this.context.group, this.deliveryId);
  }

  private failuresKey(): string {
    return failuresKey(this.streamKey, this.context.group, this.deliveryId);
  }

  /**
   * Batched with the other acks of this turn; only a redelivered entry can have records to clean up,
   * or one whose run was given up as hung (its hang, its later runs' counts, here or elsewhere), or
   * one whose run was recorded alive after a stall (its record: break36 F1).
   */
  private acknowledge(): Promise<void> {
    const standing = this.standing;
    const cleanup =
      this.deliveryCount > 1 || standing?.givenUp() === true || standing?.stallRecorded() === true
        ? entryRecordKeys(this.streamKey, this.context.group, this.deliveryId)
        : undefined;
    return this.context.acks.ack(this.streamKey, this.deliveryId, cleanup);
  }

  /**
   * Settles at most once; a failed attempt (Redis down) may be repeated by the caller.
   * A run given up as hung whose entry ran again here since (superseded, break24 F2) still acks:
   * its work is done, and dropping its success left a slow handler (one that outlives maxLeaseMs +
   * claimIdleMs, then succeeds) running again and again on one instance and parked as a crash loop
   * (break26 F1); the newer runs then lose their lease (RunStanding.acked), as when another
   * instance acks. Its failure, retry, deferral or dead letter is dropped: the entry is the newer
   * run's, and they would count against (or settle) the newer run's delivery. A run whose entry an
   * earlier run acked so (overtaken) settles nothing: its message is done.
   */
  private async settle(action: string, run: () => Promise<void>): Promise<void> {
    if (this.standing?.overtaken()) {
      this.context.logger.warn(
        { topic: this.topic, deliveryId: this.deliveryId, action },
        "an earlier run given up as hung acked this message meanwhile: this run's outcome is dropped",
      );
      return;
    }
    if (action !== "ack" && this.standing?.superseded()) {
      this.context.logger.warn(
        { topic: this.topic, deliveryId: this.deliveryId, action },
        "a run given up as hung returned after its message was run again: its outcome is dropped",
      );
      return;
    }
    if (this.settled) {
      this.context.logger.warn(
        { topic: this.topic, deliveryId: this.deliveryId, action },
        "delivery already settled; ignored",
      );
      return;
    }
    this.settled = true;
    try {
      await run();
    } catch (error) {
      this.settled = false;
      throw error;
    }
  }
}
