/**
 * Sends one business fact's notification on each of the user's channels, exactly once per fact and
 * channel, surviving redelivery, crashes and a second instance:
 *
 * 1. claim: store a "sending" record under `<template>:<orderId or userId>:<channel>` (first claim
 *    wins; a redelivery gets the same record and notification id), every channel the user's contact
 *    enables in one store call that also reads the contact;
 * 2. call the provider with the notification id as its idempotency key (a repeat is not re-sent);
 * 3. finish: record "sent" / "failed" and emit `notification.sent` / `notification.failed` in one
 *    atomic step that only succeeds on a record still "sending", every channel the provider
 *    answered in one store call.
 *
 * A crash between 1 and 3 leaves "sending": the redelivered fact calls the provider again with the
 * same id, so nothing is lost (as with claim-then-send) and nothing is sent twice (as with
 * send-then-record).
 */
import type { AllEvents } from "../../contracts/catalog.js";
import type { CausalPublisher } from "../../lib/bus/context.js";
import { BusError, isRetryable } from "../../lib/bus/errors.js";
import { providerSpan } from "../../lib/observability/spans.js";
import {
  addressFor,
  type Contact,
  dedupeKey,
  type Intent,
  type NotificationRecord,
  newRecord,
  notificationIdOf,
  render,
  TEMPLATES,
} from "./domain.js";
import type { UserDataCipher } from "../../lib/security/user-data.js";
import type { ChannelProvider } from "./providers.js";
import { type NotificationStore, ownClaims } from "./store.js";

export interface NotifierOptions {
  store: NotificationStore;
  provider: ChannelProvider;
  now: () => number;
  /**
   * The id of a notification given its dedupe key (default notificationIdOf: derived from the key,
   * so every delivery of one fact and channel sends under one provider idempotency key).
   */
  newId?: (key: string) => string;
  /**
   * Opens the contact's sealed email and phone (as `user.created`/`user.updated` carry them, and
   * the store keeps them) just before sending: they are in clear only in this process's memory.
   */
  cipher: Pick<UserDataCipher, "open">;
}

/** Builds an outgoing message without sending it (a handler's `ctx.prepare`). */
export type Prepare = CausalPublisher<typeof AllEvents>["prepare"];

export class UserUnknownError extends BusError {
  constructor(userId: string) {
    // Retryable: the user's events may simply not have been projected yet.
    super("USER_UNKNOWN", `no contact for user ${userId} yet`, { retryable: true });
    this.name = "UserUnknownError";
  }
}

export interface Notifier {
  /**
   * Notifies `intent` on every enabled channel; throws a retryable error when one should be
   * retried, and DecryptionError (DECRYPTION_FAILED, not retryable) when the contact's sealed
   * email or phone does not open (sealed under a key this process no longer lists).
   */
  notify(intent: Intent, prepare: Prepare): Promise<void>;
}

export function createNotifier(options: NotifierOptions): Notifier {
  const { store, provider } = options;
  const newId = options.newId ?? notificationIdOf;
  const iso = () => new Date(options.now()).toISOString();

  /** The provider's answer for one claimed notification, as the record and event that finish it. */
  async function send(record: NotificationRecord, contact: Contact, intent: Intent, prepare: Prepare) {
    const { channel } = record;
    const message = render(intent, contact);
    const result = await providerSpan(`${channel}-provider`, "send", { "ordersaga.channel": channel }, () =>
      provider.send({
        notificationId: record.notificationId,
        channel,
        to: addressFor(channel, contact),
        ...message,
      }),
    );
    const sentAt = iso();
    const { notificationId, userId, template, orderId } = record;
    const key = dedupeKey(intent, channel);
    if (result.status === "accepted") {
      const done: NotificationRecord = { ...record, status: "sent", sentAt };
      const ref = orderId === undefined ? {} : { orderId };
      const event = prepare("notification.sent", {
        notificationId,
        userId,
        channel,
        template,
        ...ref,
        sentAt,
      });
      return { key, record: done, messages: [event.message] };
    }
    const failed: NotificationRecord = { ...record, status: "failed", sentAt, reason: result.reason };
    const event = prepare("notification.failed", { notificationId, userId, channel, reason: result.reason });
    return { key, record: failed, messages: [event.message] };
  }

  /**
   * Sends the claimed notifications still "sending", and finishes every one the provider answered
   * in one store call. Every channel gets its attempt even when another fails transiently; the
   * retry then skips the channels already finished. The errors of the channels not finished.
   */
  async function deliver(intent: Intent, records: NotificationRecord[], contact: Contact, prepare: Prepare) {
    const outcomes = await Promise.allSettled(
      records.filter((r) => r.status === "sending").map((r) => send(r, contact, intent, prepare)),
    );
    const finished = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    if (finished.length > 0) await store.finishAll(finished);
    return outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
  }

  return {
    async notify(intent, prepare) {
      // The contact read and the claims of the channels it enables: one store call.
      const candidates = TEMPLATES[intent.template].channels.map((channel) => {
        const key = dedupeKey(intent, channel);
        return { key, record: newRecord(intent, channel, newId(key), iso()) };
      });
      const { contact: projected, records } = await store.beginForContact(intent.userId, candidates);
      if (!projected) throw new UserUnknownError(intent.userId);
      if (projected.deleted || !projected.contact) return;
      const sealed = projected.contact;
      let contact: Contact;
      try {
        contact = {
          ...sealed,
          email: options.cipher.open(sealed.userId, "email", sealed.email),
          ...(sealed.phone === undefined
            ? {}
            : { phone: options.cipher.open(sealed.userId, "phone", sealed.phone) }),
        };
      } catch (error) {
        // Nothing can be sent (DECRYPTION_FAILED: dead-lettered): the claims this call made are
        // undone, so none stays "sending" with nothing to finish it. Claims found from an earlier
        // delivery are kept (that delivery may have reached the provider with their id).
        await store.release(ownClaims(candidates, records)).catch(() => undefined);
        throw error;
      }
      const errors = await deliver(intent, records, contact, prepare);
      const fatal = errors.find((e) => !isRetryable(e));
      if (fatal !== undefined) throw fatal;
      if (errors.length > 0) throw errors[0];
    },
  };
}
