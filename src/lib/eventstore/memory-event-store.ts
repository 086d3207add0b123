import type { OutgoingMessage } from "../bus/transport.js";
import { AppendDeadlineError, ConcurrencyError, EventStoreError } from "./errors.js";
import {
  type AppendOptions,
  type AppendResult,
  type EventStore,
  formatPosition,
  type NewEvent,
  parsePosition,
  type ReadAllOptions,
  type ReadOptions,
  readAllLimit,
  readRange,
  recordedBy,
  type StoredEvent,
  validateAppend,
  versionMatches,
  isMarked,
  newAppendId,
} from "./event-store.js";
import { checkTag } from "./keys.js";

export interface MemoryEventStoreOptions {
  /** Owner whose outbox messages this store may write (same rule as the Redis adapter). */
  tag: string;
  /** Where outbox messages go after a successful append (e.g. the in-memory transport's publish). */
  publish?: (messages: readonly OutgoingMessage[]) => Promise<void>;
  now?: () => number;
}

/**
 * Event store for the embedded mode and tests. The version check and the write happen in one
 * synchronous step (no await between them), which is what makes them atomic in one process; the
 * outbox is then handed to `publish`. If `publish` fails the events stay appended and the error
 * propagates: in-process there is no crash window to protect, only a caller to tell.
 */
export class MemoryEventStore implements EventStore {
  readonly tag: string;
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly log: StoredEvent[] = [];
  private readonly publish: MemoryEventStoreOptions["publish"];
  private readonly now: () => number;

  constructor(options: MemoryEventStoreOptions) {
    this.tag = checkTag(options.tag);
    this.publish = options.publish;
    this.now = options.now ?? Date.now;
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult> {
    const encoded = validateAppend(this.tag, streamId, events, options);
    const outbox = options.outbox ?? [];
    if (outbox.length > 0 && !this.publish) {
      throw new EventStoreError(
        "NO_PUBLISHER",
        "outbox messages given but the store has no publish callback",
      );
    }
    const stream = this.streams.get(streamId) ?? [];
    if (!versionMatches(options.expectedVersion, stream.length)) {
      const expected = options.expectedVersion;
      // With `expectedLast`, the events after the expected version are a catch-up only if the event
      // at it is the writer's (break31 F1: after lost writes they follow another history).
      const sameHistory =
        !options.expectedLast ||
        typeof expected !== "number" ||
        expected === 0 ||
        isMarked(stream[expected - 1]!, options.expectedLast);
      const missed =
        typeof expected === "number" && expected < stream.length && sameHistory
          ? stream.slice(expected)
          : undefined;
      throw new ConcurrencyError(streamId, expected, stream.length, missed);
    }
    const last = stream.at(-1);
    if (options.expectedLast && typeof options.expectedVersion === "number" && last) {
      if (!isMarked(last, options.expectedLast)) {
        throw new ConcurrencyError(streamId, options.expectedVersion, stream.length);
      }
    }
    const storeNow = this.now();
    if (options.applyBy !== undefined && storeNow > options.applyBy) {
      throw new AppendDeadlineError(streamId, options.applyBy, storeNow);
    }
    const recordedAt = new Date(options.recordedAt ?? storeNow).toISOString();
    const appendId = newAppendId();
    // Stored events are immutable: frozen once here, shared by every read instead of copied per read.
    const stored = events.map((event, i) =>
      deepFreeze({
        streamId,
        version: stream.length + i + 1,
        globalPosition: formatPosition(this.log.length + i + 1),
        type: event.type,
        data: JSON.parse(encoded[i] ?? "null") as StoredEvent["data"],
        metadata: { ...event.metadata },
        recordedAt,
        appendId,
      }),
    );
    // Folded before anything is stored, written right after it, with no await in between: the
    // views and the events appear together or (a fold that throws) not at all.
    const views = (options.inline ?? []).map((update) => update.prepareInMemory(stored));
    stream.push(...stored);
    this.streams.set(streamId, stream);
    this.log.push(...stored);
    for (const write of views) write();
    if (outbox.length > 0) await this.publish?.(outbox.map((m) => ({ ...m })));
    return { nextVersion: stream.length, positions: stored.map((e) => e.globalPosition), appendId };
  }

  async read(streamId: string, options: ReadOptions = {}): Promise<StoredEvent[]> {
    const { from, to } = readRange(options);
    const stream = this.streams.get(streamId) ?? [];
    return recordedBy(stream.slice(from - 1, to), options.asOf);
  }

  async version(streamId: string): Promise<number> {
    return this.streams.get(streamId)?.length ?? 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    const start = parsePosition(options.after);
    return this.log.slice(start, start + readAllLimit(options));
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
