/**
 * The event store port: append-only streams with optimistic concurrency, one global log for
 * projections, and an outbox written in the same atomic step as the events.
 *
 * Guarantees every adapter keeps:
 * - `append` checks the expected version and writes all its events and all its outbox messages at
 *   once, or nothing. A lost race throws `ConcurrencyError` and writes nothing.
 * - Global positions are assigned inside that atomic step, so the global log never has a gap that
 *   fills in later: a reader that saw position N has seen everything before N.
 * - Outbox messages must be owned by the store's `tag` (one hash slot on Redis Cluster).
 * - Inline projections' views (`inline`) are written in that same atomic step, after the version
 *   check: an event is never visible without its views (inline-projection.ts).
 */
import { randomBytes } from "node:crypto";
import type { OutgoingMessage } from "../bus/transport.js";
import { InvalidAppendError, InvalidReadError, OutboxOwnerError } from "./errors.js";
import type { InlineUpdate } from "./inline-projection.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An event as stored: immutable once appended. */
export interface StoredEvent {
  streamId: string;
  /** 1-based, per stream, no gaps. */
  version: number;
  /** Position in the store's global log: fixed-width digits, so string order is append order. */
  globalPosition: string;
  type: string;
  data: JsonValue;
  /** correlationId, causationId, ... */
  metadata: Record<string, string>;
  /** ISO time from the store's clock at append. */
  recordedAt: string;
  /**
   * The id of the append that stored it (every event of one append has the same one; `newAppendId`):
   * unlike the global position, unique even after the store lost writes and handed that position
   * out again (break33 F1). Absent on events stored before appends had ids.
   */
  appendId?: string;
}

/** An event to append. `data` must survive JSON (it is stored as JSON and read back as such). */
export interface NewEvent {
  type: string;
  data: unknown;
  metadata?: Record<string, string>;
}

/**
 * `number`: the stream must be at exactly this version (0 = does not exist yet);
 * `"no_stream"`: the stream must not exist; `"any"`: no check.
 */
export type ExpectedVersion = number | "no_stream" | "any";

export interface AppendOptions {
  expectedVersion: ExpectedVersion;
  /** Bus messages written atomically with the events (the outbox); each `owner` must equal the tag. */
  outbox?: readonly OutgoingMessage[];
  /**
   * Epoch ms to record as the events' `recordedAt` instead of the store's clock: the writer's clock
   * when it must be one clock for every writer, or never earlier than the stream's last event.
   */
  recordedAt?: number;
  /**
   * Views written in the same atomic step as the events, only if the append succeeds (inline
   * projections, see inline-projection.ts). Needs `expectedVersion` to be a number or `"no_stream"`.
   */
  inline?: readonly InlineUpdate[];
  /**
   * With a numeric `expectedVersion` above 0: the event the writer believes is at that version. The
   * append is refused (`ConcurrencyError`, nothing missed) when the stream holds another one there:
   * the store lost its last writes and another writer appended in their place (as many events, or
   * more: then too nothing is missed, since the events after that version follow another history).
   */
  expectedLast?: EventMark;
  /**
   * Epoch ms after which the append must not happen (the gateway's deadline for the request that
   * makes it, break35 F1): refused with `AppendDeadlineError`, nothing written, when the store's
   * clock is past it, checked in the atomic step itself (Redis: `TIME` in the script), so no stall
   * of the writer before it can land the write later.
   */
  applyBy?: number;
}

/**
 * What identifies a stored event besides its version: the id of its append (`appendId`), and, for
 * events stored without one, its global position, type and `recordedAt`. Those three are not unique:
 * after the store lost its last writes (Redis: the position counter goes back with the streams)
 * another writer's event can get the lost one's position, type and time (its clock clamped to the
 * order's last event; break33 F1). An undefined part is not compared; a defined `appendId` is
 * compared with the stored event's, so an event stored without one is not the one it marks.
 */
export interface EventMark {
  globalPosition: string | undefined;
  type: string;
  recordedAt: string | undefined;
  appendId?: string | undefined;
}

/** Whether `event` is the one `mark` describes. */
export function isMarked(
  event: Pick<StoredEvent, "globalPosition" | "type" | "recordedAt" | "appendId">,
  mark: EventMark,
): boolean {
  return (
    event.type === mark.type &&
    (mark.globalPosition === undefined || event.globalPosition === mark.globalPosition) &&
    (mark.recordedAt === undefined || event.recordedAt === mark.recordedAt) &&
    (mark.appendId === undefined || event.appendId === mark.appendId)
  );
}

/**
 * A new append id: 16 random bytes (128 bits), base64url (22 characters). Random, not counted, so
 * nothing the store can lose and hand out again (a counter in Redis goes back with the data).
 */
export const newAppendId = (): string => randomBytes(16).toString("base64url");

export interface AppendResult {
  /** The stream's version after this append: pass it as `expectedVersion` for the next one. */
  nextVersion: number;
  /** Global positions of the appended events, in order. */
  positions: string[];
  /** The id stored with every appended event (`StoredEvent.appendId`): its mark's `appendId`. */
  appendId: string;
}

export interface ReadOptions {
  /** First version to return (default 1). */
  fromVersion?: number;
  /** Last version to return, inclusive (default: the end). */
  toVersion?: number;
  /** Temporal read: the stream as it was at this time (events recorded at or before it). */
  asOf?: Date;
}

export interface ReadAllOptions {
  /** Exclusive: return events after this global position (default: from the start). */
  after?: string;
  /** Maximum events returned (default 100). */
  limit?: number;
}

export interface EventStore {
  /** The hash tag all keys of this store share; outbox messages must have `owner === tag`. */
  readonly tag: string;
  append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult>;
  /** Events of one stream, oldest first. */
  read(streamId: string, options?: ReadOptions): Promise<StoredEvent[]>;
  /** Current version of a stream: 0 when it has no events. */
  version(streamId: string): Promise<number>;
  /** Events of every stream in global order, for projections. */
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;
}

export const DEFAULT_READ_ALL_LIMIT = 100;
const POSITION_WIDTH = 16;

/** Global position `n` (1-based) as a fixed-width, string-sortable position. */
export const formatPosition = (n: number): string => String(n).padStart(POSITION_WIDTH, "0");

/** The sequence number of a position; 0 for "before the first event". */
export function parsePosition(position: string | undefined): number {
  if (position === undefined) return 0;
  const n = Number(position);
  if (!/^\d+$/.test(position) || !Number.isSafeInteger(n)) {
    throw new InvalidReadError(`not a global position: "${position}"`);
  }
  return n;
}

/** True when a stream at `actual` satisfies `expected`. */
export function versionMatches(expected: ExpectedVersion, actual: number): boolean {
  if (expected === "any") return true;
  if (expected === "no_stream") return actual === 0;
  return expected === actual;
}

/** Checks an append before any adapter touches storage; returns the events' JSON-encoded data. */
export function validateAppend(
  tag: string,
  streamId: string,
  events: readonly NewEvent[],
  options: AppendOptions,
): string[] {
  if (streamId.length === 0) throw new InvalidAppendError("empty stream id");
  if (events.length === 0) throw new InvalidAppendError(`no events for stream "${streamId}"`);
  const expected = options.expectedVersion;
  if (typeof expected === "number" && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidAppendError(`expected version ${expected} is not a non-negative integer`);
  }
  if (expected === "any" && (options.inline?.length ?? 0) > 0) {
    throw new InvalidAppendError(`inline projections need a pinned expected version, not "any"`);
  }
  for (const message of options.outbox ?? []) {
    if (message.owner !== tag) throw new OutboxOwnerError(tag, message.owner, message.topic);
  }
  return events.map((event) => encodeData(streamId, event));
}

function encodeData(streamId: string, event: NewEvent): string {
  if (event.type.length === 0) throw new InvalidAppendError(`event without a type in "${streamId}"`);
  let json: string | undefined;
  try {
    json = JSON.stringify(event.data);
  } catch (error) {
    throw new InvalidAppendError(`data of "${event.type}" is not JSON: ${(error as Error).message}`);
  }
  if (json === undefined) throw new InvalidAppendError(`data of "${event.type}" is not JSON`);
  return json;
}

/** The validated range of a stream read, as 1-based inclusive versions (`to` undefined = end). */
export function readRange(options: ReadOptions = {}): { from: number; to: number | undefined } {
  const from = options.fromVersion ?? 1;
  const to = options.toVersion;
  if (!Number.isSafeInteger(from) || from < 1) throw new InvalidReadError(`fromVersion ${from} < 1`);
  if (to !== undefined && !Number.isSafeInteger(to)) throw new InvalidReadError(`toVersion ${to}`);
  checkAsOf(options.asOf);
  return { from, to };
}

/**
 * An `asOf` must be a valid Date (or absent): an invalid Date compares false with every time, so it
 * would cut nothing and answer the present to an "as of" caller (break42 F3); a string or number
 * is refused rather than guessed at.
 */
function checkAsOf(asOf: unknown): void {
  if (asOf === undefined) return;
  if (!(asOf instanceof Date) || Number.isNaN(asOf.getTime())) {
    const shown = asOf instanceof Date ? "Invalid Date" : (JSON.stringify(asOf) ?? typeof asOf);
    throw new InvalidReadError(`asOf ${shown} is not a valid Date`);
  }
}

/** The validated page size of `readAll`. */
export function readAllLimit(options: ReadAllOptions): number {
  const limit = options.limit ?? DEFAULT_READ_ALL_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidReadError(`limit ${limit} < 1`);
  return limit;
}

/**
 * The prefix of a stream recorded at or before `asOf`. A prefix (not a filter) so a temporal read
 * is always a state the stream really had, even if instance clocks disagreed between appends.
 */
export function recordedBy(events: StoredEvent[], asOf: Date | undefined): StoredEvent[] {
  if (asOf === undefined) return events;
  checkAsOf(asOf);
  const limit = asOf.getTime();
  const end = events.findIndex((e) => Date.parse(e.recordedAt) > limit);
  return end === -1 ? events : events.slice(0, end);
}
