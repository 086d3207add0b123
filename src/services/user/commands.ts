/**
 * The user service's HTTP-driven writes: load, decide (domain), then save the state and its event
 * in one store call. Updates and deletes are optimistic: a write that raced another is retried on
 * fresh state a few times before giving up with CONCURRENCY_CONFLICT.
 */
import type { AllEvents } from "../../contracts/catalog.js";
import type { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import type { Publisher } from "../../lib/bus/publisher.js";
import { stableStringify } from "../../lib/bus/idempotency-key.js";
import { AppError, notFound } from "../../lib/http/errors.js";
import { DEFAULT_IDEMPOTENCY_KEY_TTL_MS, idempotencyKeyReused } from "../../lib/http/idempotency-key.js";
import { DecryptionError } from "../../lib/security/encryption.js";
import {
  applyUpdate,
  createdPayload,
  newUser,
  type SealContact,
  type User,
  updatedPayload,
} from "./domain.js";
import { createIdempotencyKey } from "./keys.js";
import type { StoredUser, UserStore, WriteResult } from "./store.js";

export interface UserCommandsOptions {
  store: UserStore;
  publisher: Publisher<typeof AllEvents>;
  now: () => number;
  newId: () => string;
  /** Seals the email and phone the events carry (UserDataCipher.seal, src/lib/security/user-data.ts). */
  seal: SealContact;
  /** Attempts of an update or delete that keeps losing races (default 5). */
  maxAttempts?: number;
  /**
   * Keyed digest of a create request (`requestDigest`, src/lib/security/user-data.ts): what an
   * Idempotency-Key's record keeps. The body holds the email, so never a bare hash of it.
   */
  digest: (request: string) => string;
  /** How long a `POST /users` Idempotency-Key is remembered (ms, default 24 h). */
  idempotencyTtlMs?: number;
}

/** A `POST /users` Idempotency-Key and the client it belongs to (the gateway's caller). */
export interface CreateKey {
  client: string;
  key: string;
}

/**
 * `created`: this request created `user`. `replayed`: an earlier request with the same key and body
 * did; `user` is that user as it is now, absent when it has since been deleted.
 */
export type CreateOutcome =
  | { kind: "created"; user: User }
  | { kind: "replayed"; userId: string; user?: User }
  /** The key's earlier request was refused with EMAIL_TAKEN: answered so again, as a replay. */
  | { kind: "replayed_refusal" };

export interface UserCommands {
  get(id: string): Promise<User>;
  /**
   * Throws EMAIL_TAKEN (409), and with a key IDEMPOTENCY_KEY_REUSED (422) when this client used it
   * with another body within its TTL (break35 F2).
   */
  create(body: CreateUserBody, key?: CreateKey, applyBy?: number): Promise<CreateOutcome>;
  update(id: string, body: UpdateUserBody, applyBy?: number): Promise<User>;
  remove(id: string, applyBy?: number): Promise<void>;
}

// The message does not repeat the email: error messages reach logs, and emails are kept out of text.
export const emailTaken = () => new AppError("EMAIL_TAKEN", "This email is already registered");

/**
 * The stored user, or a named error when it was sealed under a data key this process lacks: the
 * usual cause is a restart with other USER_DATA_KEYS (newuser F10), which a bare 500 INTERNAL with
 * a stack did not say.
 */
async function readable(store: UserStore, id: string): Promise<StoredUser | undefined> {
  try {
    return await store.get(id);
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new AppError(
      "USER_DATA_UNREADABLE",
      `User ${id} was stored under a data key this service does not hold (${error.message}): ` +
        "start it with the USER_DATA_KEYS it was written with (README, Development secrets)",
    );
  }
}

export function createUserCommands(options: UserCommandsOptions): UserCommands {
  const { store, publisher, seal } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const nowIso = () => new Date(options.now()).toISOString();

  /** Runs `attempt` on fresh state until it does not lose a race with another write. */
  async function optimistic<T>(id: string, attempt: (current: StoredUser) => Promise<[WriteResult, T]>) {
    for (let i = 0; i < maxAttempts; i++) {
      const current = await readable(store, id);
      if (!current) throw notFound("User", id);
      const [result, value] = await attempt(current);
      if (result.ok) return value;
      if (result.code === "NOT_FOUND") throw notFound("User", id);
      // EMAIL_TAKEN is thrown by the attempt itself; CONFLICT retries.
    }
    throw new AppError("CONCURRENCY_CONFLICT", `User ${id} kept changing; try again`, undefined, true);
  }

  return {
    async get(id) {
      const stored = await readable(store, id);
      if (!stored) throw notFound("User", id);
      return stored.user;
    },
    // `applyBy` (the gateway's deadline, fixdl): checked by the store in each write's atomic step,
    // which past it writes nothing and throws WriteDeadlineError (the routes answer 503).
    async create(body, key, applyBy) {
      const user = newUser(body, options.newId(), nowIso());
      const event = publisher.prepare("user.created", createdPayload(user, seal));
      const once = key && {
        key: createIdempotencyKey(key.client, key.key),
        requestHash: options.digest(stableStringify(body)),
        ttlMs: options.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_KEY_TTL_MS,
      };
      const result = await store.create(user, [event.message], once, applyBy);
      if (result.ok) return { kind: "created", user };
      if (result.code === "KEY_REUSED") throw idempotencyKeyReused();
      if (result.code === "EMAIL_TAKEN" && result.replayed) return { kind: "replayed_refusal" };
      if (result.code === "EMAIL_TAKEN") throw emailTaken();
      const stored = await readable(store, result.userId);
      return { kind: "replayed", userId: result.userId, ...(stored ? { user: stored.user } : {}) };
    },
    update: (id, body, applyBy) =>
      optimistic(id, async (current) => {
        const { user, changed } = applyUpdate(current.user, body, nowIso());
        if (changed.length === 0) return [{ ok: true }, user];
        // The version the store writes (it checks `current.version`): the event carries it.
        const event = publisher.prepare(
          "user.updated",
          updatedPayload(user, changed, seal, current.version + 1),
        );
        const result = await store.update(current, user, [event.message], applyBy);
        if (!result.ok && result.code === "EMAIL_TAKEN") throw emailTaken();
        return [result, user];
      }),
    // Not through `optimistic`: deleting needs no read of the user, whose email may not open (break35 F4).
    async remove(id, applyBy) {
      for (let i = 0; i < maxAttempts; i++) {
        const event = publisher.prepare("user.deleted", { userId: id });
        const result = await store.remove(id, [event.message], applyBy);
        if (result.ok) return;
        if (result.code === "NOT_FOUND") throw notFound("User", id);
      }
      throw new AppError("CONCURRENCY_CONFLICT", `User ${id} kept changing; try again`, undefined, true);
    },
  };
}
