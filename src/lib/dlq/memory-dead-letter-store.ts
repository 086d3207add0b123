import {
  type DeadLetterAuditEntry,
  type DeadLetterFilter,
  type DeadLetterPurge,
  type DeadLetterRecord,
  type DeadLetterSkip,
  type DeadLetterStore,
  type MarkRetried,
  type MarkRetriedResult,
  matchesFilter,
} from "./dead-letter-store.js";
import { collectPage, type DeadLetterPage, type DeadLetterPageOptions, type IndexEntry } from "./paging.js";
import { RETRY_OF_PURGED_CLAIM_TTL_MS } from "./keys.js";
import { DEFAULT_AUDIT_RETENTION_MS } from "./redis-dead-letter-store.js";

export interface MemoryDeadLetterStoreOptions {
  /**
   * Audit entries appended longer ago than this (ms, on `now`) are dropped (default 30 days; 0 keeps
   * all). The window is measured on the store's clock, never on the entries' `at` (a writer's clock),
   * like the Redis store's (which uses Redis `TIME`).
   */
  auditRetentionMs?: number;
  /** The store's clock, ms (default `Date.now`). */
  now?: () => number;
}

/** Dead-letter store for the embedded mode and tests. */
export class MemoryDeadLetterStore implements DeadLetterStore {
  private readonly records = new Map<string, DeadLetterRecord>();
  /** Claims of accepted replays (see markRetried): replay id -> expiry, ms on `now`. */
  private readonly retryOfPurgedClaims = new Map<string, number>();
  /** Each entry with the time (store's clock) it was appended at. */
  private auditTrail: { entry: DeadLetterAuditEntry; appendedAt: number }[] = [];
  private readonly auditRetentionMs: number;
  private readonly now: () => number;

  constructor(options: MemoryDeadLetterStoreOptions = {}) {
    this.auditRetentionMs = options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
    this.now = options.now ?? Date.now;
  }

  async add(record: DeadLetterRecord): Promise<boolean> {
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, structuredClone(record));
    return true;
  }

  async get(id: string): Promise<DeadLetterRecord | undefined> {
    const record = this.records.get(id);
    return record && structuredClone(record);
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
    const matching = [...this.records.values()]
      .filter((r) => matchesFilter(r, filter))
      .sort((a, b) => Date.parse(b.deadLetteredAt) - Date.parse(a.deadLetteredAt));
    return structuredClone(filter.limit === undefined ? matching : matching.slice(0, filter.limit));
  }

  async page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage> {
    const entries = [...this.records.values()]
      .map((r) => ({ id: r.id, ms: Date.parse(r.deadLetteredAt) }))
      .sort((a, b) => b.ms - a.ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    async function* one() {
      yield entries;
    }
    const page = await collectPage(
      one(),
      async (ids) => ids.map((id) => this.records.get(id)),
      filter,
      options,
    );
    return structuredClone(page);
  }

  async update(
    id: string,
    change: { status: DeadLetterRecord["status"]; retries?: number },
    audit?: DeadLetterAuditEntry,
  ): Promise<boolean> {
    const record = this.records.get(id);
    if (!record) return false;
    record.status = change.status;
    if (change.retries !== undefined) record.retries = change.retries;
    if (audit) this.appendAuditNow(audit);
    return true;
  }

  async oldest(
    after: IndexEntry | undefined,
    count: number,
    beforeMs = Number.POSITIVE_INFINITY,
  ): Promise<{ entry: IndexEntry; record: DeadLetterRecord | undefined }[]> {
    return [...this.records.values()]
      .map((r) => ({ entry: { id: r.id, ms: Date.parse(r.deadLetteredAt) }, record: structuredClone(r) }))
      .filter(({ entry }) => entry.ms < beforeMs && (after === undefined || isLater(entry, after)))
      .sort((a, b) => a.entry.ms - b.entry.ms || (a.entry.id < b.entry.id ? -1 : 1))
      .slice(0, count);
  }

  async newest(): Promise<IndexEntry | undefined> {
    let newest: IndexEntry | undefined;
    for (const r of this.records.values()) {
      const entry = { id: r.id, ms: Date.parse(r.deadLetteredAt) };
      if (newest === undefined || isLater(entry, newest)) newest = entry;
    }
    return newest;
  }

  async markRetried(changes: readonly MarkRetried[]): Promise<MarkRetriedResult[]> {
    // No await inside: each compare-and-set (with its audit entry) runs whole, as the Redis script does.
    const now = this.now();
    for (const [replayId, expiresAt] of this.retryOfPurgedClaims)
      if (expiresAt <= now) this.retryOfPurgedClaims.delete(replayId);
    return changes.map(({ id, fromRetries, audit, auditIfPurged }) => {
      const record = this.records.get(id);
      // Every accepted mark claims its replay (break29 F2), so a retry of the same replay that
      // finds the record purged afterwards conflicts instead of being accepted a second time.
      const replayId = `${id}#${fromRetries + 1}`;
      if (!record) {
        // Purged: the first mark of this replay takes its claim and is accepted; the others conflict.
        if (this.retryOfPurgedClaims.has(replayId)) return "conflict";
        this.retryOfPurgedClaims.set(replayId, now + RETRY_OF_PURGED_CLAIM_TTL_MS);
        if (auditIfPurged) this.appendAuditNow(auditIfPurged);
        return "missing";
      }
      if (record.retries !== fromRetries) return "conflict";
      record.retries = fromRetries + 1;
      this.retryOfPurgedClaims.set(replayId, now + RETRY_OF_PURGED_CLAIM_TTL_MS);
      if (audit) this.appendAuditNow(audit);
      if (record.status === "archived") return "archived";
      record.status = "retried";
      return "retried";
    });
  }

  async appendAudits(entries: readonly DeadLetterAuditEntry[]): Promise<void> {
    for (const entry of entries) await this.appendAudit(entry);
  }

  async remove(ids: readonly string[]): Promise<number> {
    let removed = 0;
    for (const id of ids) if (this.records.delete(id)) removed++;
    return removed;
  }

  async purge(purges: readonly DeadLetterPurge[]): Promise<boolean[]> {
    const done: boolean[] = [];
    for (const { audit, expect } of purges) {
      // Checked and deleted with no await between, as the Redis script does in one step.
      const record = this.records.get(audit.recordId);
      const holds =
        record !== undefined &&
        (expect === undefined ||
          (record.deadLetteredAt === expect.deadLetteredAt &&
            (expect.status === undefined || record.status === expect.status)));
      if (holds) {
        this.appendAuditNow(audit);
        this.records.delete(audit.recordId);
      }
      done.push(holds);
    }
    return done;
  }

  /** Memory holds only records it was given: nothing is ever skipped. */
  onSkip(_listener: (skip: DeadLetterSkip) => void): () => void {
    return () => {};
  }

  async appendAudit(entry: DeadLetterAuditEntry): Promise<void> {
    this.appendAuditNow(entry);
  }

  private appendAuditNow(entry: DeadLetterAuditEntry): void {
    const now = this.now();
    this.auditTrail.push({ entry: { ...entry }, appendedAt: now });
    this.auditTrail = this.auditTrail.filter((e) => this.withinWindow(e.appendedAt, now));
  }

  private withinWindow(appendedAt: number, now: number): boolean {
    return this.auditRetentionMs <= 0 || appendedAt >= now - this.auditRetentionMs;
  }

  async audit(recordId?: string): Promise<DeadLetterAuditEntry[]> {
    const now = this.now();
    return this.auditTrail
      .filter((e) => this.withinWindow(e.appendedAt, now))
      .filter((e) => recordId === undefined || e.entry.recordId === recordId)
      .map((e) => ({ ...e.entry }));
  }
}

/** Oldest-first order of the time index: later time, or the same time and a larger id. */
const isLater = (entry: IndexEntry, than: IndexEntry): boolean =>
  entry.ms > than.ms || (entry.ms === than.ms && entry.id > than.id);
