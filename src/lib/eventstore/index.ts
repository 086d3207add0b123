/**
 * Event store: append-only streams with optimistic concurrency, temporal reads, a global log, and
 * an outbox written atomically with the events; plus projections of the log into keyed read models.
 *
 * Adapters: memory (embedded mode, tests) and Redis (one Lua script per append). Projections are
 * kept either by a `ProjectionRunner` polling the global log, or inline: written by the append
 * itself (inline-projection.ts), the runner then only rebuilding them. Every key of a
 * store shares the hash tag `{tag}`; outbox messages must be owned by that tag (their streams
 * `{tag}:ev:<event>` must share the slot to be written in the same script on a cluster).
 */
export {
  AppendDeadlineError,
  ConcurrencyError,
  EventStoreError,
  InvalidAppendError,
  InvalidReadError,
  OutboxOwnerError,
} from "./errors.js";
export type {
  AppendOptions,
  AppendResult,
  EventMark,
  EventStore,
  ExpectedVersion,
  JsonValue,
  NewEvent,
  ReadAllOptions,
  ReadOptions,
  StoredEvent,
} from "./event-store.js";
export { formatPosition, isMarked, parsePosition } from "./event-store.js";
export {
  foldInto,
  INLINE_COMMANDS,
  type InlineArg,
  type InlineCommand,
  type InlineProjection,
  type InlineProjectionUpdate,
  type InlineRedisWrite,
  type InlineTarget,
  type InlineUpdate,
  type InlineView,
  inlineUpdate,
  viewRecordArg,
} from "./inline-projection.js";
export { MemoryEventStore, type MemoryEventStoreOptions } from "./memory-event-store.js";
export { type Projection, ProjectionRunner, type ProjectionRunnerOptions } from "./projection.js";
export {
  MemoryRebuildMarker,
  MemoryReadModelStore,
  type ReadModelCommit,
  type ReadModelStore,
  type ViewRecord,
} from "./read-model-store.js";
export { RedisEventStore, type RedisEventStoreOptions } from "./redis-event-store.js";
export {
  RedisReadModelStore,
  type RedisReadModelStoreOptions,
  unmarkRebuildOnRedis,
} from "./redis-read-model-store.js";
