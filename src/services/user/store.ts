/**
 * The user service's state port and its in-memory adapter. Every write takes the outgoing messages
 * prepared for it and emits them atomically with the change (the outbox): the Redis adapter in one
 * Lua script, the memory adapter by mutating its maps and publishing with no await in between.
 */
import { assertOwnMessages } from "../../lib/bus/outbox.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { PublishMessages } from "../../lib/runtime/platform-store.js";
import { checkWriteDeadline } from "../../lib/redis/write-deadline.js";
import { FIRST_VERSION, type User, type UserStatus } from "./domain.js";
import { USER_TAG } from "./keys.js";

/** A user with the version its writes are checked against (optimistic concurrency). */
export interface StoredUser {
  user: User;
  version: number;
}

export type WriteFailure = "EMAIL_TAKEN" | "NOT_FOUND" | "CONFLICT";
export type WriteResult = { ok: true } | { ok: false; code: WriteFailure };

/**
 * A create's Idempotency-Key (break35 F2): the scoped record key (`createIdempotencyKey`), a keyed
 * digest of the request (`requestDigest`), and how long the record is kept (ms).
 */
export interface CreateOnce {
  key: string;
  requestHash: string;
  ttlMs: number;
}

/**
 * REPLAYED: the key already created `userId` with this request (nothing written); KEY_REUSED: the
 * key was used with another request (nothing written); EMAIL_TAKEN with `replayed`: the key's
 * earlier request was refused so, and its refusal is answered again (kept like a restock's).
 */
export type CreateResult =
  | { ok: true }
  | { ok: false; code: "EMAIL_TAKEN"; replayed?: true }
  | { ok: false; code: "KEY_REUSED" }
  | { ok: false; code: "REPLAYED"; userId: string };

/**
 * `applyBy` of a write (fixdl): the gateway's deadline (epoch ms, `gatewayDeadlineOf`). When the
 * store's clock (Redis `TIME`; the memory store's `now`) is past it in the write's atomic step, the
 * write throws `WriteDeadlineError` and writes nothing: an instance stalled after the credential's
 * check on arrival cannot apply the request after the time the client was told a check is conclusive.
 */
export interface UserStore {
  get(id: string): Promise<StoredUser | undefined>;
  /**
   * Claims the email and stores the user; EMAIL_TAKEN when another user holds the email. With
   * `once`, the key's record is written in the same atomic step as the user, and checked first: a
   * key seen within its TTL answers REPLAYED (same request hash) or KEY_REUSED, writing nothing
   * (even past `applyBy`, checked after it).
   */
  create(
    user: User,
    messages: readonly OutgoingMessage[],
    once?: CreateOnce,
    applyBy?: number,
  ): Promise<CreateResult>;
  /**
   * Replaces `previous` by `next` (moving the email claim when it changed). CONFLICT when the user
   * was written since `previous` was read, NOT_FOUND when it is gone.
   */
  update(
    previous: StoredUser,
    next: User,
    messages: readonly OutgoingMessage[],
    applyBy?: number,
  ): Promise<WriteResult>;
  /**
   * Deletes the user, frees its email and remembers the id as deleted, without opening its contact
   * fields (break35 F4: a user sealed under a dropped data key must still be erasable). NOT_FOUND
   * when there is no such user; CONFLICT when it was written meanwhile (try again).
   */
  remove(id: string, messages: readonly OutgoingMessage[], applyBy?: number): Promise<WriteResult>;
  /**
   * Answers an order's validation from the user's status at the moment of the write, in one atomic
   * step: `answer(status)` builds the messages for that status, and they are written with the
   * order's mark. False (nothing emitted) when the order was already answered. The Redis adapter
   * does this in one round trip when the user is active (it guesses "active", and only a wrong
   * guess costs a second call).
   */
  answerValidation(
    orderId: string,
    userId: string,
    answer: (status: UserStatus) => readonly OutgoingMessage[],
  ): Promise<boolean>;
}

/**
 * Only the service's own events may be written with its state: on Redis their streams share the
 * service's slot, which is what makes the single-script write legal on a cluster.
 */
export const assertOwnEvents = (messages: readonly OutgoingMessage[]): void =>
  assertOwnMessages(USER_TAG, messages);

const ok: WriteResult = { ok: true };
const fail = (code: WriteFailure): WriteResult => ({ ok: false, code });

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, StoredUser>();
  private readonly emails = new Map<string, string>();
  private readonly deleted = new Set<string>();
  private readonly validations = new Set<string>();
  /** Idempotency-Key records; `userId` undefined: the key's create was refused (EMAIL_TAKEN). */
  private readonly keys = new Map<string, { requestHash: string; userId?: string; expiresAt: number }>();

  constructor(
    private readonly publish: PublishMessages,
    private readonly now: () => number = Date.now,
  ) {}

  async get(id: string): Promise<StoredUser | undefined> {
    const stored = this.users.get(id);
    return stored && structuredClone(stored);
  }

  private statusOf(id: string): UserStatus {
    if (this.users.has(id)) return "active";
    return this.deleted.has(id) ? "deleted" : "missing";
  }

  async create(
    user: User,
    messages: readonly OutgoingMessage[],
    once?: CreateOnce,
    applyBy?: number,
  ): Promise<CreateResult> {
    assertOwnEvents(messages);
    const prior = once && this.keys.get(once.key);
    if (once && prior && prior.expiresAt > this.now()) {
      if (prior.requestHash !== once.requestHash) return { ok: false, code: "KEY_REUSED" };
      if (prior.userId === undefined) return { ok: false, code: "EMAIL_TAKEN", replayed: true };
      return { ok: false, code: "REPLAYED", userId: prior.userId };
    }
    checkWriteDeadline(`creating user ${user.id}`, applyBy, this.now());
    const taken = this.emails.has(user.email);
    if (once) {
      const record = { requestHash: once.requestHash, expiresAt: this.now() + once.ttlMs };
      this.keys.set(once.key, taken ? record : { ...record, userId: user.id });
    }
    if (taken) return { ok: false, code: "EMAIL_TAKEN" };
    this.emails.set(user.email, user.id);
    this.users.set(user.id, { user: structuredClone(user), version: FIRST_VERSION });
    await this.publish(messages);
    return { ok: true };
  }

  async update(
    previous: StoredUser,
    next: User,
    messages: readonly OutgoingMessage[],
    applyBy?: number,
  ): Promise<WriteResult> {
    assertOwnEvents(messages);
    const current = this.users.get(next.id);
    if (!current) return fail("NOT_FOUND");
    if (current.version !== previous.version) return fail("CONFLICT");
    const holder = this.emails.get(next.email);
    if (holder !== undefined && holder !== next.id) return fail("EMAIL_TAKEN");
    checkWriteDeadline(`updating user ${next.id}`, applyBy, this.now());
    if (next.email !== current.user.email) this.emails.delete(current.user.email);
    this.emails.set(next.email, next.id);
    this.users.set(next.id, { user: structuredClone(next), version: current.version + 1 });
    await this.publish(messages);
    return ok;
  }

  async remove(id: string, messages: readonly OutgoingMessage[], applyBy?: number): Promise<WriteResult> {
    assertOwnEvents(messages);
    const current = this.users.get(id);
    if (!current) return fail("NOT_FOUND");
    checkWriteDeadline(`deleting user ${id}`, applyBy, this.now());
    this.users.delete(id);
    if (this.emails.get(current.user.email) === id) this.emails.delete(current.user.email);
    this.deleted.add(id);
    await this.publish(messages);
    return ok;
  }

  async answerValidation(
    orderId: string,
    userId: string,
    answer: (status: UserStatus) => readonly OutgoingMessage[],
  ): Promise<boolean> {
    if (this.validations.has(orderId)) return false;
    const messages = answer(this.statusOf(userId));
    assertOwnEvents(messages);
    this.validations.add(orderId);
    await this.publish(messages);
    return true;
  }
}
