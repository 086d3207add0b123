/**
 * Dead-letter queue: the storage port with its in-memory and Redis adapters, and the operator
 * actions (list, inspect, retry one or many, archive, purge), each audited with its actor.
 */

export {
  type BulkPosition,
  decodeBulkCursor,
  DLQ_BULK_DEFAULT_LIMIT,
  DLQ_BULK_MAX_LIMIT,
  DLQ_BULK_SCAN_LIMIT,
} from "./bulk.js";
export {
  type ActorOptions,
  type BulkShare,
  type DeadLetterInspection,
  DeadLetterQueue,
  type DeadLetterQueueOptions,
  type PurgeCriteria,
  type PurgeResult,
  type Redeliver,
  type RetryFilter,
  type RetryManyResult,
  replayMessage,
} from "./dead-letter-queue.js";
export type {
  DeadLetterAuditEntry,
  DeadLetterFilter,
  DeadLetterRecord,
  DeadLetterStatus,
  DeadLetterStore,
  MarkRetriedResult,
} from "./dead-letter-store.js";
export { deadLetterId } from "./dead-letter-store.js";
export {
  DeadLetterArchivedError,
  DeadLetterInvalidError,
  DeadLetterNotFoundError,
  DeadLetterRedeliveryError,
  DeadLetterRetryConflictError,
} from "./errors.js";
export { DEFAULT_DLQ_TAG, type DeadLetterKeys, deadLetterKeys } from "./keys.js";
export { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
export { RedisDeadLetterStore, type RedisDeadLetterStoreOptions } from "./redis-dead-letter-store.js";
export { type DeadLetterPage, type DeadLetterPageOptions, decodeDlqCursor } from "./paging.js";
