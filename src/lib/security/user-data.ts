/**
 * Users' contact data (email and phone): encrypted at rest and in events (issue 12, item 1).
 *
 * - **Sealing:** AES-256-GCM through `FieldCipher` (encryption.ts): `enc1.<kid>.<base64url(nonce ‖
 *   ciphertext ‖ tag)>`, a fresh random 96-bit nonce per value. The associated data is
 *   `user:<field>:<userId>`, so a sealed email copied to another user, or into the phone field,
 *   does not open.
 * - **Who holds the keys:** the user service (seals what it stores and publishes, opens for
 *   `GET /users/:id`) and the notification service (opens to send). No other process is given them:
 *   the launcher hands them to those two only, and nobody else can read the fields in streams,
 *   the DLQ or the AOF.
 * - **Unique emails without the email:** the claim key is `{user}:email:<blind index>`, the index
 *   being hex HMAC-SHA256(`USER_EMAIL_INDEX_KEY`, lower-cased email). Only the user service holds
 *   that key. It does not rotate with the data keys: a new index key means re-indexing the claims
 *   (`scripts/reindex-user-emails.ts`, with the user service stopped; docs/security.md).
 *
 * Configuration (docs/security.md, "Key management"):
 * - `USER_DATA_KEYS` (or `USER_DATA_KEYS_FILE`, a file holding it): `<kid>:<base64 32-byte key>`
 *   entries separated by commas, spaces or newlines (`#` comment lines in a file). The first is
 *   current (seals new values); every listed key opens. User and notification services.
 * - `USER_EMAIL_INDEX_KEY`: base64, at least 32 bytes. User service only.
 * - Outside production with none set: random keys made once per process (the embedded system and
 *   the tests share them in-process; the launcher hands them to its children). With
 *   `NODE_ENV=production` a missing key is a KeyConfigError and the service refuses to start.
 */
import { createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { FieldCipher } from "./encryption.js";
import { KeyConfigError, keyEntry, MIN_SECRET_BYTES } from "./keyring.js";

export const USER_DATA_KEYS_ENV = "USER_DATA_KEYS";
export const USER_DATA_KEYS_FILE_ENV = "USER_DATA_KEYS_FILE";
export const USER_EMAIL_INDEX_KEY_ENV = "USER_EMAIL_INDEX_KEY";

/** The user fields sealed at rest and in events. */
export type ContactField = "email" | "phone";

/** A sealed field's text: what a `user.created`/`user.updated` carries instead of the value. */
export const SEALED_FIELD_PATTERN = /^enc1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+$/;

const aad = (field: ContactField, userId: string): string => `user:${field}:${userId}`;

/** Seals and opens users' contact fields; computes the email's blind index (user service only). */
export class UserDataCipher {
  constructor(
    private readonly cipher: FieldCipher,
    private readonly indexKey?: KeyObject,
  ) {}

  /** The key id new values are sealed with. */
  get currentKid(): string {
    return this.cipher.currentKid;
  }

  /** `enc1.<kid>.<…>` bound to the user and the field. */
  seal(userId: string, field: ContactField, value: string): string {
    return this.cipher.seal(value, aad(field, userId));
  }

  /** Throws DecryptionError (code DECRYPTION_FAILED, never echoing the value): unknown key id, altered, or another user's/field's value. */
  open(userId: string, field: ContactField, sealed: string): string {
    return this.cipher.open(sealed, aad(field, userId));
  }

  /**
   * Hex HMAC-SHA256 of the (already normalised) email under the index key: the same email always
   * gives the same index, which is what the unique-email claim needs. Throws KeyConfigError when
   * this cipher has no index key (every service but user).
   */
  emailIndex(email: string): string {
    if (!this.indexKey)
      throw new KeyConfigError(`no ${USER_EMAIL_INDEX_KEY_ENV}: only the user service indexes emails`);
    return createHmac("sha256", this.indexKey).update(email).digest("hex");
  }
}

/** Parses `<kid>:<base64 32-byte key>` entries. Throws KeyConfigError naming the entry, never its key. */
export function parseUserDataKeys(text: string): FieldCipher {
  const entries = text
    .split("\n")
    .filter((line) => !line.trim().startsWith("#"))
    .join(" ")
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((item, index) => {
      const fields = item.split(":");
      const [kid = "", b64 = ""] = fields;
      const secret = Buffer.from(b64, "base64");
      if (fields.length > 2 || secret.length !== 32)
        throw new KeyConfigError(
          `${USER_DATA_KEYS_ENV}: expected <kid>:<base64 32-byte key> (${keyEntry(index, fields.length)})`,
        );
      return { kid, secret };
    });
  if (entries.length === 0) throw new KeyConfigError(`${USER_DATA_KEYS_ENV}: no keys`);
  return new FieldCipher(entries);
}

/**
 * Hex HMAC-SHA256 of a request under the email index key, domain-separated from the email index:
 * what a `POST /users` Idempotency-Key record keeps to tell a resend from another request (its body
 * holds the email, so a bare SHA-256 would let someone holding Redis test guessed emails, break35
 * F2). Throws KeyConfigError without the index key, as emailIndex.
 */
export function requestDigest(cipher: UserDataCipher, request: string): string {
  return cipher.emailIndex(`request\n${request}`);
}

/** A fresh set in the environment format (development, the launcher, scripts/generate-keys.ts). */
export function generateUserDataKeys(kid = `udk-${randomBytes(3).toString("hex")}`): {
  [USER_DATA_KEYS_ENV]: string;
  [USER_EMAIL_INDEX_KEY_ENV]: string;
} {
  return {
    [USER_DATA_KEYS_ENV]: `${kid}:${randomBytes(32).toString("base64")}`,
    [USER_EMAIL_INDEX_KEY_ENV]: randomBytes(32).toString("base64"),
  };
}

let devKeys: ReturnType<typeof generateUserDataKeys> | undefined;

/**
 * The value of `name` for this process: the environment's (for the data keys, inline or from
 * `USER_DATA_KEYS_FILE`), or outside production, with none set, this process's random keys.
 * Throws KeyConfigError in production when it is missing or the file cannot be read.
 */
export function userDataSetting(
  env: NodeJS.ProcessEnv,
  name: typeof USER_DATA_KEYS_ENV | typeof USER_EMAIL_INDEX_KEY_ENV,
): string {
  const configured = env[name]?.trim();
  if (configured) return configured;
  const file = name === USER_DATA_KEYS_ENV ? env[USER_DATA_KEYS_FILE_ENV]?.trim() : undefined;
  if (file) {
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      throw new KeyConfigError(
        `${USER_DATA_KEYS_FILE_ENV}: cannot read ${file} (${(error as Error).message})`,
      );
    }
  }
  if (env.NODE_ENV === "production")
    throw new KeyConfigError(
      `NODE_ENV=production needs ${name}${name === USER_DATA_KEYS_ENV ? ` or ${USER_DATA_KEYS_FILE_ENV}` : ""} (docs/security.md)`,
    );
  devKeys ??= generateUserDataKeys();
  return devKeys[name];
}

/**
 * The cipher of a process from its environment. `withIndex`: also the email index key (the user
 * service; the notification service only opens). Throws KeyConfigError (see userDataSetting).
 */
export function userDataCipherFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: { withIndex: boolean } = { withIndex: false },
): UserDataCipher {
  const cipher = parseUserDataKeys(userDataSetting(env, USER_DATA_KEYS_ENV));
  if (!options.withIndex) return new UserDataCipher(cipher);
  const index = Buffer.from(userDataSetting(env, USER_EMAIL_INDEX_KEY_ENV), "base64");
  if (index.length < MIN_SECRET_BYTES)
    throw new KeyConfigError(
      `${USER_EMAIL_INDEX_KEY_ENV}: must be at least ${MIN_SECRET_BYTES} bytes (base64)`,
    );
  return new UserDataCipher(cipher, createSecretKey(index));
}
