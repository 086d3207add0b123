/**
 * The development-secrets files (dev-secrets.ts decides which one a start uses): one per Redis,
 * `<project>/.dev-secrets/<host>_<port>_db<n>.env` or under DEV_SECRETS_DIR, mode 0600, written
 * whole; and the non-secret fingerprint of the secrets one holds, which the Redis records.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
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
  USER_EMAIL_INDEX_KEY_ENV,
} from "../lib/security/user-data.js";
import { SIGNING_KEY_OWNERS } from "./signing-key-distribution.js";

const DEV_SECRETS_DIR_ENV = "DEV_SECRETS_DIR";

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

export function secretsDir(env: NodeJS.ProcessEnv): string {
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

export function readSettings(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) out[match[1]!] = match[2]!;
  }
  return out;
}

/**
 * Every secret the file should hold, the kept ones reused, missing ones made up now. `signing`: the
 * signing-key variable the environment configures (`BUS_SIGNING_KEYS` or `BUS_SIGNING_KEYS_FILE`,
 * the path made absolute), recorded instead of a keyring of the file's: the file must hold the keys
 * the system really signs with, since `--add-instances` is told to load it (newuser10 F0: it held a
 * made-up keyring no process used, and instances added with it signed with unknown key ids).
 */
export function completed(
  kept: Record<string, string>,
  signing?: Record<string, string>,
): Record<string, string> {
  const out = { ...kept };
  if (signing) {
    delete out[SIGNING_KEYS_ENV];
    delete out[SIGNING_KEYS_FILE_ENV];
    Object.assign(out, signing);
  }
  // The environment's keys, or a key file an earlier start recorded, are kept as given (their
  // owner adds a key for a new service); a keyring of the file's own, or none, is completed.
  if (!signing && !out[SIGNING_KEYS_FILE_ENV]) {
    // A keyring kept from before a service was added (README guide) gets a key for the new one.
    const ring = out[SIGNING_KEYS_ENV]
      ? Keyring.parse(out[SIGNING_KEYS_ENV])
      : Keyring.generate(SIGNING_KEY_OWNERS);
    for (const name of SIGNING_KEY_OWNERS) ring.ensure(name);
    out[SIGNING_KEYS_ENV] = ring.serialize();
  }
  if (!out[TOKEN_KEYS_ENV] || !out[TOKEN_PUBLIC_KEY_ENV]) Object.assign(out, generateTokenKeys());
  const userKeys = generateUserDataKeys();
  out[USER_DATA_KEYS_ENV] ||= userKeys[USER_DATA_KEYS_ENV];
  out[USER_EMAIL_INDEX_KEY_ENV] ||= userKeys[USER_EMAIL_INDEX_KEY_ENV];
  out.GATEWAY_SHARED_SECRET ||= randomBytes(32).toString("hex");
  return out;
}

/** The file in the directory whose secrets match `fingerprint`: the URL's own first, then any other. */
export function fileMatching(
  fingerprint: string,
  urlFile: string,
  env: NodeJS.ProcessEnv,
): string | undefined {
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

/** The file's secrets `kept`, completed (`all`): the file rewritten when something was missing. */
export function keep(
  file: string,
  kept: Record<string, string> = readSettings(file),
  all: Record<string, string> = completed(kept),
): { file: string; all: Record<string, string>; created: boolean } {
  const changed =
    Object.entries(all).some(([name, value]) => kept[name] !== value) ||
    Object.keys(kept).some((name) => !(name in all));
  if (changed) writeSecrets(file, all);
  return { file, all, created: Object.keys(kept).length === 0 };
}
