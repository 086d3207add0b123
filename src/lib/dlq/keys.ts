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
}

export function deadLetterKeys(tag: string = DEFAULT_DLQ_TAG): DeadLetterKeys {
  const prefix = `{${tag}}`;
  return {
    record: (id) => `${prefix}:rec:${id}`,
    index: `${prefix}:idx`,
    audit: `${prefix}:audit`,
    auditOf: (id) => `${prefix}:audit:${id}`,
  };
}
