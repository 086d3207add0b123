/**
 * The development secrets `npm run start:services` (and `npm start` over Redis) make up when none
 * are configured (signing keys, the payment token key pair, the users' data keys and email index
 * key, the gateway's shared secret), kept in a file per Redis (host, port, db) so a restart over
 * the same Redis reuses them: made up anew, every user sealed by the previous run answered 500 (unknown key id), the blind
 * email index no longer matched (a duplicate email got 201) and pending bus messages failed their
 * signature (newuser F10). Never used with NODE_ENV=production (those need configured keys).
 *
 * The file is `<project>/.dev-secrets/<host>_<port>_db<n>.env` (git-ignored, mode 0600), or under
 * DEV_SECRETS_DIR. A variable set in the environment always wins over the file.
 *
 * The file's name comes from the URL's text, so the same Redis reached as `127.0.0.1` instead of
 * `localhost` (or from another checkout, after `git clean -xfd`, with another DEV_SECRETS_DIR) would
 * find no file and make up new secrets over data sealed with the old ones (newuser7 F5). So the
 * Redis itself records which secrets its data was written with: a fingerprint (a digest of HMACs of
 * a fixed label under the data-sealing secrets; nothing secret) at DEV_SECRETS_FINGERPRINT_KEY, set
 * at first start. A later start uses the file in the directory matching it, whatever the URL's
 * spelling, and refuses to start (DevSecretsMismatchError, one line saying what to do) if none does.
 */
import { createHash, createHmac } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Keyring } from "../lib/security/keyring.js";
import { SIGNING_KEYS_ENV, SIGNING_KEYS_FILE_ENV } from "../lib/security/process-keys.js";
import { generateTokenKeys, TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV } from "../lib/security/payment-token.js";
import {
  generateUserDataKeys,
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
} from "../lib/security/user-data.js";
import { randomBytes } from "node:crypto";
import { SIGNING_KEY_OWNERS } from "./signing-key-distribution.js";

export const DEV_SECRETS_DIR_ENV = "DEV_SECRETS_DIR";

/** The Redis key holding the fingerprint of the development secrets its data was written with. */
export const DEV_SECRETS_FINGERPRINT_KEY = "ordersaga:dev-secrets:fingerprint";

/**
 * What devSecretsFor needs of Redis (an ioredis client): read the fingerprint, set it once (SET
 * NX), replace a stale one (EVAL, a compare-and-set) and see whether the db holds data (SCAN).
 */
export interface FingerprintStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, nx: "NX"): Promise<"OK" | null>;
  scan(cursor: string, countToken: "COUNT", count: number): Promise<[cursor: string, keys: string[]]>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/**
 * The Redis holds data written with other development secrets than any file in the directory
 * holds: starting would answer 500 for its users, accept their emails again and dead-letter its
 * pending messages, so the start is refused. The message is one line naming the ways out.
 */
export class DevSecretsMismatchError extends Error {
  /**
   * `fingerprint` null: the db holds data but no fingerprint (written before it was recorded, or
   * the key deleted) and `urlFile`, the URL's own file, does not exist (break-late7 F3).
   */
  constructor(redisUrl: string, dir: string, fingerprint: string | null, urlFile?: string) {
    super(
      (fingerprint
        ? `${redisUrl} holds data written with development secrets (fingerprint ${fingerprint}) that no file ` +
          `in ${dir} holds: put that .env file back there`
        : `${redisUrl} holds data but no development-secrets fingerprint (written before one was recorded, ` +
          `or the key was deleted) and ${urlFile} does not exist: put the .env file its data was written ` +
          `with back there (under this URL's file name)`) +
        ` (or set DEV_SECRETS_DIR to its directory, or set its secrets in the environment), or start over ` +
        `an empty Redis or db (FLUSHDB drops this data)`,
    );
    this.name = "DevSecretsMismatchError";
  }
}

/** The secrets that seal data kept in Redis (users, the email index, tokens, relayed calls). */
const FINGERPRINTED = [
  USER_DATA_KEYS_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
  TOKEN_KEYS_ENV,
  "GATEWAY_SHARED_SECRET",
] as const;
const FINGERPRINT_LABEL = "ordersaga dev-secrets fingerprint v1";

/**
 * The non-secret fingerprint of a set of development secrets: `v1:` and 32 hex digits of a SHA-256
 * over the HMAC-SHA256 of a fixed label under each data-sealing secret. The signing keyring is not
 * part of it: a service added later (README guide) adds a key to the file without changing it; its
 * keys are made up with the others, so the others identify the file.
 */
export function devSecretsFingerprint(secrets: Record<string, string>): string {
  const digest = createHash("sha256");
  for (const name of FINGERPRINTED)
    digest.update(
      createHmac("sha256", secrets[name] ?? "")
        .update(FINGERPRINT_LABEL)
        .digest(),
    );
  return `v1:${digest.digest("hex").slice(0, 32)}`;
}

function secretsDir(env: NodeJS.ProcessEnv): string {
  return env[DEV_SECRETS_DIR_ENV]?.trim() || join(PROJECT_ROOT, ".dev-secrets");
}

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The file holding the development secrets of `redisUrl` (credentials never part of the name). */
export function devSecretsPath(redisUrl: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = secretsDir(env);
  let host = "localhost";
  let port = "6379";
  let db = "0";
  try {
    const url = new URL(redisUrl);
    host = url.hostname || host;
    port = url.port || port;
    db = url.pathname.replace(/^\//, "") || db;
  } catch {
    // An unparsable URL fails at connect time with its own message; keep one file for it.
  }
  const safe = (part: string) => part.replace(/[^A-Za-z0-9.-]/g, "-");
  return join(dir, `${safe(host)}_${safe(port)}_db${safe(db)}.env`);
}

function readSettings(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) out[match[1]!] = match[2]!;
  }
  return out;
}

/** Every secret the file should hold, the kept ones reused, missing ones made up now. */
function completed(kept: Record<string, string>): Record<string, string> {
  const out = { ...kept };
  // A keyring kept from before a service was added (README guide) gets a key for the new one.
  const ring = out[SIGNING_KEYS_ENV]
    ? Keyring.parse(out[SIGNING_KEYS_ENV])
    : Keyring.generate(SIGNING_KEY_OWNERS);
  for (const name of SIGNING_KEY_OWNERS) ring.ensure(name);
  out[SIGNING_KEYS_ENV] = ring.serialize();
  if (!out[TOKEN_KEYS_ENV] || !out[TOKEN_PUBLIC_KEY_ENV]) Object.assign(out, generateTokenKeys());
  const userKeys = generateUserDataKeys();
  out[USER_DATA_KEYS_ENV] ||= userKeys[USER_DATA_KEYS_ENV];
  out[USER_EMAIL_INDEX_KEY_ENV] ||= userKeys[USER_EMAIL_INDEX_KEY_ENV];
  out.GATEWAY_SHARED_SECRET ||= randomBytes(32).toString("hex");
  return out;
}

/** The file in the directory whose secrets match `fingerprint`: the URL's own first, then any other. */
function fileMatching(fingerprint: string, urlFile: string, env: NodeJS.ProcessEnv): string | undefined {
  const dir = secretsDir(env);
  const others = existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.endsWith(".env"))
        .sort()
        .map((name) => join(dir, name))
    : [];
  return [urlFile, ...others.filter((file) => file !== urlFile)].find((file) => {
    const kept = readSettings(file);
    return FINGERPRINTED.every((name) => kept[name]) && devSecretsFingerprint(kept) === fingerprint;
  });
}

/**
 * The development-secrets file of the Redis behind `redis`: the one matching the fingerprint that
 * Redis holds (whatever the URL's spelling), else the URL's own file (`devSecretsPath`), which may
 * not exist yet. For messages naming the file to load (`--add-instances`).
 */
export async function devSecretsFileOf(
  redis: FingerprintStore,
  redisUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const urlFile = devSecretsPath(redisUrl, env);
  const stored = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
  return (stored && fileMatching(stored, urlFile, env)) || urlFile;
}

/**
 * The settings to add to the launcher's environment: for every secret the environment does not
 * configure, the value kept for this Redis (made up and saved on first use). Empty in production.
 *
 * The file is the one whose secrets this Redis's data was written with (its fingerprint at
 * DEV_SECRETS_FINGERPRINT_KEY, set here on first use with SET NX), whatever the URL's spelling;
 * `otherUrl` is true when that is not the URL's own file. Throws DevSecretsMismatchError when the
 * Redis holds a fingerprint no file in the directory matches, and Redis's errors (unreachable,
 * NOPERM). Not checked when the environment configures every secret (the file is then unused).
 */
export async function devSecretsFor(
  redis: FingerprintStore,
  redisUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ file: string; settings: Record<string, string>; created: boolean; otherUrl: boolean }> {
  const urlFile = devSecretsPath(redisUrl, env);
  if (env.NODE_ENV === "production") return { file: urlFile, settings: {}, created: false, otherUrl: false };
  const set = (name: string) => Boolean(env[name]?.trim());
  const configured = {
    signing: set(SIGNING_KEYS_ENV) || set(SIGNING_KEYS_FILE_ENV),
    // The pair goes together: half of one pair and half of another could not open a token.
    token: set(TOKEN_KEYS_ENV) || set(TOKEN_PUBLIC_KEY_ENV),
    userData: set(USER_DATA_KEYS_ENV) || set(USER_DATA_KEYS_FILE_ENV),
    emailIndex: set(USER_EMAIL_INDEX_KEY_ENV),
    gateway: set("GATEWAY_SHARED_SECRET"),
  };
  if (Object.values(configured).every(Boolean))
    return { file: urlFile, settings: {}, created: false, otherUrl: false };

  const kept = await keptFor(redis, redisUrl, urlFile, env);
  const settings: Record<string, string> = {};
  const all = kept.all;
  if (!configured.signing) settings[SIGNING_KEYS_ENV] = all[SIGNING_KEYS_ENV]!;
  if (!configured.token) {
    settings[TOKEN_KEYS_ENV] = all[TOKEN_KEYS_ENV]!;
    settings[TOKEN_PUBLIC_KEY_ENV] = all[TOKEN_PUBLIC_KEY_ENV]!;
  }
  if (!configured.userData) settings[USER_DATA_KEYS_ENV] = all[USER_DATA_KEYS_ENV]!;
  if (!configured.emailIndex) settings[USER_EMAIL_INDEX_KEY_ENV] = all[USER_EMAIL_INDEX_KEY_ENV]!;
  if (!configured.gateway) settings.GATEWAY_SHARED_SECRET = all.GATEWAY_SHARED_SECRET!;
  return { file: kept.file, settings, created: kept.created, otherUrl: kept.file !== urlFile };
}

/**
 * How long a start that lost the first-start race waits for the winner's file (ms): the winner
 * writes it right after its SET NX, so this only bounds a winner that died in between.
 */
export const DEV_SECRETS_WINNER_WAIT_MS = 5_000;

/** Replaces the fingerprint only if it still holds ARGV[1] (a stale one: F7); 1 when replaced. */
const REPLACE_FINGERPRINT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

/** The launcher's own keys (held while a launcher runs, gone 15 s after): not the system's data. */
const LAUNCHER_KEY = /^ordersaga:launcher:slot:/;

/**
 * Whether the db holds any key besides the fingerprint and launcher slots (SCAN, stopping at the
 * first such key: one round trip over any db that holds data).
 */
async function holdsData(redis: FingerprintStore): Promise<boolean> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 100);
    if (keys.some((key) => key !== DEV_SECRETS_FINGERPRINT_KEY && !LAUNCHER_KEY.test(key))) return true;
    cursor = next;
  } while (cursor !== "0");
  return false;
}

/** Writes the file whole (a temp file renamed over it): a reader never sees half of it. */
function writeSecrets(file: string, all: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const text = Object.entries(all)
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(
    temp,
    `# Ordersaga development secrets for one Redis (start:services, npm start). Do not commit.\n${text}\n`,
    { mode: 0o600 },
  );
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

/** The file's secrets, completed (and the file rewritten when something was missing). */
function useFile(file: string): { file: string; all: Record<string, string>; created: boolean } {
  const kept = readSettings(file);
  const all = completed(kept);
  if (Object.entries(all).some(([name, value]) => kept[name] !== value)) writeSecrets(file, all);
  return { file, all, created: Object.keys(kept).length === 0 };
}

/**
 * The file whose secrets this Redis's data is (to be) written with, decided in Redis before any
 * file is written (break-late7 F1: a start that lost the SET NX had overwritten the file already):
 * - a fingerprint some file matches: that file;
 * - a fingerprint no file matches: refused if the db holds data besides it (launcher slots aside);
 *   else its file waited for (a start in progress), and without one (a first start that died at
 *   once, F7) replaced as on an empty Redis;
 * - no fingerprint: the URL's own file if it exists (data written before the fingerprint was
 *   recorded, F3), its fingerprint recorded; no file and data present: refused; else new secrets.
 * The fingerprint is claimed (SET NX, or a compare-and-set of the stale one) before the file is
 * written; a start that loses takes the winner's file, waiting up to DEV_SECRETS_WINNER_WAIT_MS.
 */
async function keptFor(
  redis: FingerprintStore,
  redisUrl: string,
  urlFile: string,
  env: NodeJS.ProcessEnv,
): Promise<{ file: string; all: Record<string, string>; created: boolean }> {
  const dir = secretsDir(env);
  for (let attempt = 0; ; attempt++) {
    const stored = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
    if (stored) {
      const match = fileMatching(stored, urlFile, env);
      if (match) return useFile(match);
      if (await holdsData(redis)) throw new DevSecretsMismatchError(redisUrl, dir, stored);
      // A fingerprint alone: a first start that died at once (F7), or one in progress between its
      // SET NX and its file (replacing it then left two starts with different secrets): wait for
      // that file as a loser does, and replace the fingerprint only if none comes and no data.
      const written = await fileOnceWritten(stored, urlFile, env);
      if (written) return useFile(written);
      if (await holdsData(redis)) throw new DevSecretsMismatchError(redisUrl, dir, stored);
    }
    const own = readSettings(urlFile);
    if (Object.keys(own).length === 0 && (await holdsData(redis)))
      throw new DevSecretsMismatchError(redisUrl, dir, null, urlFile);
    const all = completed(own);
    const fingerprint = devSecretsFingerprint(all);
    const won = stored
      ? (await redis.eval(REPLACE_FINGERPRINT, 1, DEV_SECRETS_FINGERPRINT_KEY, stored, fingerprint)) === 1
      : (await redis.set(DEV_SECRETS_FINGERPRINT_KEY, fingerprint, "NX")) === "OK";
    if (won) {
      if (Object.entries(all).some(([name, value]) => own[name] !== value)) writeSecrets(urlFile, all);
      return { file: urlFile, all, created: Object.keys(own).length === 0 };
    }
    // Another start decided first: take its file once written (it writes right after winning).
    const decided = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
    if (!decided) {
      if (attempt < 3) continue; // deleted meanwhile (FLUSHDB): decide again
      throw new DevSecretsMismatchError(redisUrl, dir, fingerprint);
    }
    const match = await fileOnceWritten(decided, urlFile, env);
    if (match) return useFile(match);
    throw new DevSecretsMismatchError(redisUrl, dir, decided);
  }
}

/** The file matching `fingerprint`, polled every 50 ms for up to DEV_SECRETS_WINNER_WAIT_MS. */
async function fileOnceWritten(
  fingerprint: string,
  urlFile: string,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const deadline = Date.now() + DEV_SECRETS_WINNER_WAIT_MS;
  for (;;) {
    const match = fileMatching(fingerprint, urlFile, env);
    if (match || Date.now() > deadline) return match;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The launch's line saying which file the development secrets came from (start:services, npm start). */
export function devSecretsNotice(kept: { file: string; created: boolean; otherUrl: boolean }): string {
  return (
    `development secrets ${kept.created ? "made up and kept" : "reused"}: ${kept.file} ` +
    (kept.otherUrl
      ? "(the ones this Redis's data was written with, kept when reached by another URL) "
      : "") +
    "(delete it together with the Redis data; NODE_ENV=production needs configured keys)"
  );
}
