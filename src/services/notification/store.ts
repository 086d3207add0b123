/**
 * The notification service's state port and its in-memory adapter: the contact projection and the
 * notification records. A record is created "sending" under its dedupe key (first claim wins), then
 * finished ("sent" / "failed") together with its event, once: the outbox pattern with the mark
 * checked first.
 */
import { assertOwnMessages } from "../../lib/bus/outbox.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { PublishMessages } from "../../lib/runtime/platform-store.js";
import {
  applyContactChange,
  channelEnabled,
  type ContactChange,
  type ContactRecord,
  type NotificationRecord,
  newestFirst,
} from "./domain.js";
import { NOTIFICATION_TAG } from "./keys.js";

export interface NotificationQuery {
  userId?: string;
  orderId?: string;
  limit: number;
  /** Only records after this one in newest-first order (the last record of the previous page). */
  after?: NotificationPosition;
}

/** A record's place in newest-first order. */
export interface NotificationPosition {
  createdAt: string;
  notificationId: string;
}

/** True when `record` comes after `position` in newest-first order. */
export const comesAfter = (record: NotificationPosition, position: NotificationPosition): boolean =>
  newestFirst(record as NotificationRecord, position as NotificationRecord) > 0;

export interface NotificationStore {
  /** Applies a user event to the projection; false when it changed nothing (older, or after deletion). */
  applyContact(change: ContactChange): Promise<boolean>;
  /**
   * Stores each record under its key unless a record is there (first claim wins), for several
   * notifications (a fact's channels) at once, in one atomic step (one Redis call): the records in
   * effect, in the order given.
   */
  beginAll(entries: readonly BeginEntry[]): Promise<NotificationRecord[]>;
  /**
   * Replaces each "sending" record of the same notification id with its outcome record and emits
   * its messages with it, for several notifications at once, in one atomic step (one Redis call):
   * for each, in the order given, whether it was finished (its messages emitted) or was no longer
   * sending (finished elsewhere: nothing emitted).
   */
  finishAll(entries: readonly FinishEntry[]): Promise<boolean[]>;
  /**
   * Reads the user's contact and, when it is there and not deleted, claims (`beginAll`) the
   * candidates of the channels it enables (`channelEnabled`), in one atomic step (one Redis call):
   * the contact record (undefined: unknown user) and the claimed records in effect, in the
   * candidates' order.
   */
  beginForContact(userId: string, candidates: readonly BeginEntry[]): Promise<ContactClaim>;
  /**
   * Undoes claims (`ownClaims` of a `beginAll`/`beginForContact`): removes each record that is still
   * exactly the one given ("sending" with its notification id), with its index entries; leaves any
   * other alone, and one another delivery found and resumed meanwhile (it may be calling the
   * provider with that id). For a fact that cannot be sent at all (its contact does not open), so
   * that none of its channels stays "sending" with nothing left to finish it.
   */
  release(entries: readonly BeginEntry[]): Promise<void>;
  /** Records of a user and/or an order, newest first (none when neither is given). */
  list(query: NotificationQuery): Promise<NotificationRecord[]>;
}

export interface ContactClaim {
  contact: ContactRecord | undefined;
  records: NotificationRecord[];
}

export interface BeginEntry {
  key: string;
  record: NotificationRecord;
}

export interface FinishEntry {
  key: string;
  record: NotificationRecord;
  messages: readonly OutgoingMessage[];
}

/**
 * The candidates whose claim created the record in effect (it has their fresh notification id), as
 * opposed to those that found one claimed earlier (another delivery's, to be resumed with its id).
 */
export const ownClaims = (
  candidates: readonly BeginEntry[],
  records: readonly NotificationRecord[],
): BeginEntry[] => {
  const ids = new Set(records.map((r) => r.notificationId));
  return candidates.filter((c) => ids.has(c.record.notificationId));
};

/** Only the service's own events may be written with its state (they share its Redis slot). */
export const assertOwnEvents = (messages: readonly OutgoingMessage[]): void =>
  assertOwnMessages(NOTIFICATION_TAG, messages);

/**
 * A record as the memory adapter stores it: like the Redis one, a claim still "sending" that a later
 * delivery resumed carries `taken` in the record itself (never released: see RELEASE,
 * redis-store.ts), and the record that finishes it replaces it, flag and all. Never handed out.
 */
type StoredRecord = NotificationRecord & { taken?: 1 };

/** A stored record as callers see it: a copy, without the adapter's `taken` flag. */
const visible = ({ taken: _taken, ...record }: StoredRecord): NotificationRecord => structuredClone(record);

export class MemoryNotificationStore implements NotificationStore {
  private readonly contacts = new Map<string, ContactRecord>();
  private readonly records = new Map<string, StoredRecord>();

  constructor(private readonly publish: PublishMessages) {}

  async applyContact(change: ContactChange): Promise<boolean> {
    const userId = change.kind === "deleted" ? change.userId : change.contact.userId;
    const next = applyContactChange(this.contacts.get(userId), change);
    if (next) this.contacts.set(userId, structuredClone(next));
    return next !== undefined;
  }

  private claim(key: string, record: NotificationRecord): NotificationRecord {
    const current = this.records.get(key);
    if (current) {
      if (current.status === "sending") current.taken = 1;
      return visible(current);
    }
    this.records.set(key, structuredClone(record));
    return structuredClone(record);
  }

  private async finishOne({ key, record, messages }: FinishEntry): Promise<boolean> {
    const current = this.records.get(key);
    if (current?.status !== "sending" || current.notificationId !== record.notificationId) return false;
    this.records.set(key, structuredClone(record));
    await this.publish(messages);
    return true;
  }

  async beginAll(entries: readonly BeginEntry[]): Promise<NotificationRecord[]> {
    return entries.map(({ key, record }) => this.claim(key, record));
  }

  async beginForContact(userId: string, candidates: readonly BeginEntry[]): Promise<ContactClaim> {
    const stored = this.contacts.get(userId);
    const contact = stored && structuredClone(stored);
    if (!contact?.contact || contact.deleted) return { contact, records: [] };
    const enabled = contact.contact;
    const chosen = candidates.filter((c) => channelEnabled(enabled, c.record.channel));
    return { contact, records: await this.beginAll(chosen) };
  }

  async release(entries: readonly BeginEntry[]): Promise<void> {
    for (const { key, record } of entries) {
      const current = this.records.get(key);
      if (
        current?.status === "sending" &&
        current.notificationId === record.notificationId &&
        current.taken === undefined
      )
        this.records.delete(key);
    }
  }

  async finishAll(entries: readonly FinishEntry[]): Promise<boolean[]> {
    for (const entry of entries) assertOwnEvents(entry.messages);
    const done: boolean[] = [];
    for (const entry of entries) done.push(await this.finishOne(entry));
    return done;
  }

  async list(query: NotificationQuery): Promise<NotificationRecord[]> {
    if (query.userId === undefined && query.orderId === undefined) return [];
    const matches = [...this.records.values()].filter(
      (r) =>
        (query.userId === undefined || r.userId === query.userId) &&
        (query.orderId === undefined || r.orderId === query.orderId) &&
        (query.after === undefined || comesAfter(r, query.after)),
    );
    return matches.sort(newestFirst).slice(0, query.limit).map(visible);
  }
}
