import type { OutgoingMessage } from "../bus/transport.js";
import type { DeadLetterPage, DeadLetterPageOptions } from "./paging.js";
import type {
  DeadLetterAuditEntry,
  DeadLetterFilter,
  DeadLetterRecord,
  DeadLetterStatus,
  DeadLetterStore,
} from "./dead-letter-store.js";
import {
  DeadLetterArchivedError,
  DeadLetterInvalidError,
  DeadLetterNotFoundError,
  DeadLetterRedeliveryError,
} from "./errors.js";

/** Sends a message again to one consumer group only: the transport's `redeliver`. */
export type Redeliver = (group: string, message: OutgoingMessage) => Promise<void>;

export interface DeadLetterQueueOptions {
  store: DeadLetterStore;
  redeliver: Redeliver;
  /** Clock for audit times (ms since epoch). */
  now?: () => number;
}

/** Who asked for an operation; every operation is audited with it. */
export interface ActorOptions {
  actor: string;
  /** Free text kept with the audit entry (a ticket number, the reason). */
  detail?: string;
}

export interface DeadLetterInspection {
  record: DeadLetterRecord;
  /** Oldest first. */
  audit: DeadLetterAuditEntry[];
}

export interface RetryManyResult {
  retried: string[];
  failed: { id: string; error: { code: string; message: string } }[];
}

/**
 * Records to purge: dead-lettered before `olderThan` (ISO time) or more than `maxAgeMs` ago,
 * optionally only those with `status`. A cut-off is required so no call empties the queue by accident.
 */
export type PurgeCriteria =
  { olderThan: string; status?: DeadLetterStatus } | { maxAgeMs: number; status?: DeadLetterStatus };

/** The message a record replays: the original bytes, under the original envelope id when known. */
export function replayMessage(record: DeadLetterRecord): OutgoingMessage {
  return { topic: record.topic, owner: record.owner, id: record.envelopeId ?? record.id, body: record.body };
}

function describeFailure(error: unknown): { code: string; message: string } {
  const code = error && typeof error === "object" && "code" in error ? error.code : undefined;
  return {
    code: typeof code === "string" ? code : "DLQ_RETRY_FAILED",
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Operator actions on the dead-letter queue: list, inspect, retry, archive, purge; each audited. */
export class DeadLetterQueue {
  private readonly store: DeadLetterStore;
  private readonly redeliver: Redeliver;
  private readonly now: () => number;

  constructor(options: DeadLetterQueueOptions) {
    this.store = options.store;
    this.redeliver = options.redeliver;
    this.now = options.now ?? Date.now;
  }

  /** Newest first. */
  list(filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
    return this.store.list(filter);
  }

  /** One bounded page, newest first (`nextCursor` continues). */
  page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage> {
    return this.store.page(filter, options);
  }

  async inspect(id: string): Promise<DeadLetterInspection> {
    const [record, audit] = await Promise.all([this.store.get(id), this.store.audit(id)]);
    if (!record) throw new DeadLetterNotFoundError(id);
    return { record, audit };
  }

  /**
   * Sends the original message back to its group, then marks the record "retried". When the
   * redelivery fails the record is left as it was, so the retry can simply be repeated.
   */
  async retry(id: string, options: ActorOptions): Promise<DeadLetterRecord> {
    const record = await this.require(id);
    if (record.status === "archived") throw new DeadLetterArchivedError(id);
    try {
      await this.redeliver(record.group, replayMessage(record));
    } catch (error) {
      throw new DeadLetterRedeliveryError(id, error);
    }
    const retried: DeadLetterRecord = { ...record, status: "retried", retries: record.retries + 1 };
    await this.store.update(id, { status: retried.status, retries: retried.retries });
    await this.audit(id, "retried", options);
    return retried;
  }

  /**
   * Retries each record of `target` (ids in the order given, or the records a filter matches,
   * oldest first so the group sees them in their original order) and reports each outcome. A
   * filter without a status means status "dead": records already retried or archived are left alone.
   */
  async retryMany(
    target: DeadLetterFilter | readonly string[],
    options: ActorOptions,
  ): Promise<RetryManyResult> {
    const ids = isIdList(target) ? [...target] : await this.idsOldestFirst({ status: "dead", ...target });
    const result: RetryManyResult = { retried: [], failed: [] };
    // One at a time: replays keep their order and a failing transport is not flooded.
    for (const id of ids) {
      try {
        await this.retry(id, options);
        result.retried.push(id);
      } catch (error) {
        result.failed.push({ id, error: describeFailure(error) });
      }
    }
    return result;
  }

  /** Marks a record as never to be replayed. Archiving an archived record changes nothing. */
  async archive(id: string, options: ActorOptions): Promise<DeadLetterRecord> {
    const record = await this.require(id);
    if (record.status === "archived") return record;
    await this.store.update(id, { status: "archived" });
    await this.audit(id, "archived", options);
    return { ...record, status: "archived" };
  }

  /** Deletes records (by id, or by age and status); the audit trail keeps a "purged" entry for each. */
  async purge(
    target: readonly string[] | PurgeCriteria,
    options: ActorOptions,
  ): Promise<{ purged: string[] }> {
    const ids = isIdList(target) ? await this.existing(target) : await this.matchingPurge(target);
    if (ids.length === 0) return { purged: [] };
    await this.store.remove(ids);
    await Promise.all(ids.map((id) => this.audit(id, "purged", options)));
    return { purged: ids };
  }

  private async require(id: string): Promise<DeadLetterRecord> {
    const record = await this.store.get(id);
    if (!record) throw new DeadLetterNotFoundError(id);
    return record;
  }

  private async idsOldestFirst(filter: DeadLetterFilter): Promise<string[]> {
    return (await this.store.list(filter)).map((r) => r.id).reverse();
  }

  private async existing(ids: readonly string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    const records = await Promise.all(unique.map((id) => this.store.get(id)));
    return unique.filter((_, i) => records[i] !== undefined);
  }

  private async matchingPurge(criteria: PurgeCriteria): Promise<string[]> {
    const cutoff = "olderThan" in criteria ? Date.parse(criteria.olderThan) : this.now() - criteria.maxAgeMs;
    if (Number.isNaN(cutoff)) throw new DeadLetterInvalidError("purge needs a valid olderThan or maxAgeMs");
    const before = new Date(cutoff).toISOString();
    const filter: DeadLetterFilter = { to: before, ...(criteria.status ? { status: criteria.status } : {}) };
    // The store's bound is inclusive; purge keeps records dead-lettered exactly at the cut-off.
    const records = await this.store.list(filter);
    return records.filter((r) => r.deadLetteredAt < before).map((r) => r.id);
  }

  private audit(recordId: string, action: DeadLetterAuditEntry["action"], options: ActorOptions) {
    const entry: DeadLetterAuditEntry = {
      at: new Date(this.now()).toISOString(),
      recordId,
      action,
      actor: options.actor,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
    };
    return this.store.appendAudit(entry);
  }
}

function isIdList<T extends object>(target: T | readonly string[]): target is readonly string[] {
  return Array.isArray(target);
}
