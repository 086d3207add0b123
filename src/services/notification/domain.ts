import { createHash } from "node:crypto";
/**
 * Pure notification rules: the contact projection (which user event wins), what each business fact
 * notifies, on which channels, with which text, and the dedupe key that makes it happen once.
 */
import type { NotificationChannel, NotificationPreferences } from "../../contracts/common.js";

/**
 * What the service knows of a user, from the user events. Stored and projected with `email` and
 * `phone` sealed, as the events carry them (src/lib/security/user-data.ts); the notifier opens them
 * only to send, so `addressFor` and `render` see them in clear.
 */
export interface Contact {
  userId: string;
  name: string;
  email: string;
  phone?: string;
  preferences: NotificationPreferences;
}

/** The projection entry of a user: its contact, or a tombstone once deleted. */
export interface ContactRecord {
  /** Occurred-at (ms, the publisher's clock) of the last user event applied. */
  at: number;
  /**
   * The user record's version that event carried (`user.created`/`user.updated` `version`); absent
   * when it carried none (published before versions) and on a tombstone.
   */
  version?: number;
  contact?: Contact;
  deleted: boolean;
}

export type ContactChange =
  | { kind: "created" | "updated"; at: number; version?: number; contact: Contact }
  | { kind: "deleted"; at: number; userId: string };

/**
 * The user events travel on separate streams, so they can arrive out of order. A tombstone is
 * final; `created` never overwrites (anything already there is as new or newer); `updated` carries
 * the full profile and wins when `isNewer`. Returns undefined when nothing changes. The Redis
 * store's APPLY_CONTACT mirrors it; the store contract keeps them in step.
 */
export function applyContactChange(
  existing: ContactRecord | undefined,
  change: ContactChange,
): ContactRecord | undefined {
  if (existing?.deleted) return undefined;
  if (change.kind === "deleted") return { at: change.at, deleted: true };
  if (existing && (change.kind === "created" || !isNewer(change, existing))) return undefined;
  const version = change.version === undefined ? {} : { version: change.version };
  return { at: change.at, ...version, contact: change.contact, deleted: false };
}

/**
 * Whether a change is newer than the contact applied: by the user record's version when both have
 * one (strictly greater: an equal version is the same write again), else by date (`at` not older).
 * Never by date alone when versions exist: `at` is the publishing instance's clock, which follows
 * backward steps and differs between instances (break35 F7; DESIGN §6 "Do not compare clocks across
 * machines"), and two writes may share a millisecond.
 */
export function isNewer(change: { at: number; version?: number }, applied: ContactRecord): boolean {
  if (change.version !== undefined && applied.version !== undefined) return change.version > applied.version;
  return change.at >= applied.at;
}

export const TEMPLATES = {
  welcome: { channels: ["email"] },
  "order.confirmed": { channels: ["email", "push", "sms"] },
  "order.failed": { channels: ["email", "push", "sms"] },
  "order.cancelled": { channels: ["email", "push", "sms"] },
  "order.delivered": { channels: ["email", "push", "sms"] },
} as const satisfies Record<string, { channels: readonly NotificationChannel[] }>;

export type Template = keyof typeof TEMPLATES;

/** One business fact to notify a user of. */
export interface Intent {
  template: Template;
  userId: string;
  orderId?: string;
  /** Values the text is rendered from. */
  data: Record<string, string | number>;
}

/**
 * Whether the contact takes notifications on `channel` (sealed or opened: only the phone's presence
 * counts). The Redis store's BEGIN_FOR_CONTACT script mirrors it; the store contract keeps them in step.
 */
export const channelEnabled = (
  contact: Pick<Contact, "preferences" | "phone">,
  channel: NotificationChannel,
): boolean => contact.preferences[channel] && (channel !== "sms" || contact.phone !== undefined);

/** Exactly one notification per business fact and channel. */
export const dedupeKey = (intent: Intent, channel: NotificationChannel): string =>
  `${intent.template}:${intent.orderId ?? intent.userId}:${channel}`;

/**
 * The notification id of a dedupe key: a name-based UUIDv8 of its SHA-256 (RFC 9562 §5.8, B.2), the
 * same on every delivery. It is the provider's idempotency key, so a redelivery that lost its claim
 * (Redis lost its last writes after the send) sends under the same id and the provider dedupes it;
 * a random id per claim sent it twice (break28 lead).
 */
export function notificationIdOf(key: string): string {
  const hash = createHash("sha256").update(`ordersaga notification v1\n${key}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x80; // version 8
  hash[8] = (hash[8]! & 0x3f) | 0x80; // variant 10
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Where a channel reaches the contact (push goes to the user's devices, addressed by user id). */
export function addressFor(channel: NotificationChannel, contact: Contact): string {
  if (channel === "email") return contact.email;
  if (channel === "sms") return contact.phone ?? "";
  return contact.userId;
}

export interface Message {
  subject: string;
  text: string;
}

const money = (amount: unknown, currency: unknown) =>
  `${(Number(amount) / 100).toFixed(2)} ${String(currency ?? "USD")}`;

export function render(intent: Intent, contact: Contact): Message {
  const d = intent.data;
  const order = `order ${intent.orderId ?? ""}`;
  switch (intent.template) {
    case "welcome":
      return { subject: "Welcome!", text: `Hello ${contact.name}, your account is ready.` };
    case "order.confirmed":
      return {
        subject: "Order confirmed",
        text: `Your ${order} is confirmed: ${money(d.total, d.currency)}.`,
      };
    case "order.failed":
      return { subject: "Order failed", text: `Your ${order} could not be completed: ${String(d.reason)}.` };
    case "order.cancelled":
      return { subject: "Order cancelled", text: `Your ${order} was cancelled: ${String(d.reason)}.` };
    case "order.delivered":
      return { subject: "Order delivered", text: `Your ${order} was delivered at ${String(d.deliveredAt)}.` };
  }
}

export type NotificationStatus = "sending" | "sent" | "failed";

/** What is recorded (and queryable) for one notification. */
export interface NotificationRecord {
  notificationId: string;
  userId: string;
  channel: NotificationChannel;
  template: Template;
  orderId?: string;
  createdAt: string;
  /** When the provider accepted (sent) or refused (failed) it. */
  sentAt?: string;
  status: NotificationStatus;
  reason?: string;
}

export function newRecord(
  intent: Intent,
  channel: NotificationChannel,
  notificationId: string,
  createdAt: string,
): NotificationRecord {
  return {
    notificationId,
    userId: intent.userId,
    channel,
    template: intent.template,
    ...(intent.orderId === undefined ? {} : { orderId: intent.orderId }),
    createdAt,
    status: "sending",
  };
}

/** Newest first; ids are UUIDv7, so they break ties in creation order. */
export function newestFirst(a: NotificationRecord, b: NotificationRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.notificationId < b.notificationId ? 1 : a.notificationId > b.notificationId ? -1 : 0;
}
