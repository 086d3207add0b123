/**
 * Redis key names of the dead-letter queue, in one place. Every key carries the same hash tag
 * (`{dlq}` by default) so the record and its index are written in one Lua script, also on Redis
 * Cluster. A different tag keeps two queues (or two test suites) apart on one server.
 */

export const DEFAULT_DLQ_TAG = "dlq";

export interface DeadLetterKeys {
  /** Hash of one record: `{dlq}:rec:<id>`. */
  record(id: string): string;
  /** Sorted set of record ids scored by deadLetteredAt (ms): `{dlq}:idx`. */
  readonly index: string;
  /** Stream of audit entries, oldest first: `{dlq}:audit`. */
  readonly audit: string;
  /** List of one record's audit entries, oldest first: `{dlq}:audit:<id>` (inspect reads only this). */
  auditOf(id: string): string;
  /**
   * Claim of one accepted replay of a record: `{dlq}:retry-of-purged:<id>#<n>` (the replay id),
   * written by the mark that accepts it (the record marked, or found purged), with a TTL of
   * RETRY_OF_PURGED_CLAIM_TTL_MS, so of the retries that sent that replay only one is accepted,
   * also when the record is purged between their marks (break29 F2).
   */
  retryOfPurged(replayId: string): string;
}

/**
 * How long the claim of an accepted replay is kept, ms (24 h): far longer than a retry spends
 * between reading the record and marking it (one send), and short enough that the claims of a busy
 * day of purges do not pile up.
 */
export const RETRY_OF_PURGED_CLAIM_TTL_MS = 24 * 3_600_000;

export function deadLetterKeys(tag: string = DEFAULT_DLQ_TAG): DeadLetterKeys {
  const prefix = `{${tag}}`;
  return {
    record: (id) => `${prefix}:rec:${id}`,
    index: `${prefix}:idx`,
    audit: `${prefix}:audit`,
    auditOf: (id) => `${prefix}:audit:${id}`,
    retryOfPurged: (replayId) => `${prefix}:retry-of-purged:${replayId}`,
  };
}
