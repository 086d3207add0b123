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
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The file holding the development secrets of `redisUrl` (credentials never part of the name). */
export function devSecretsPath(redisUrl: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[DEV_SECRETS_DIR_ENV]?.trim() || join(PROJECT_ROOT, ".dev-secrets");
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

/**
 * The settings to add to the launcher's environment: for every secret the environment does not
 * configure, the value kept for this Redis (made up and saved on first use). Empty in production.
 */
export function devSecretsFor(
  redisUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): { file: string; settings: Record<string, string>; created: boolean } {
  const file = devSecretsPath(redisUrl, env);
  if (env.NODE_ENV === "production") return { file, settings: {}, created: false };
  const kept = readSettings(file);
  const all = completed(kept);
  const created = Object.keys(kept).length === 0;
  if (Object.entries(all).some(([name, value]) => kept[name] !== value)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const text = Object.entries(all)
      .map(([name, value]) => `${name}=${value}`)
      .join("\n");
    writeFileSync(
      file,
      `# Ordersaga development secrets for one Redis (start:services, npm start). Do not commit.\n${text}\n`,
      {
        mode: 0o600,
      },
    );
    chmodSync(file, 0o600);
  }
  const set = (name: string) => Boolean(env[name]?.trim());
  const settings: Record<string, string> = {};
  if (!set(SIGNING_KEYS_ENV) && !set(SIGNING_KEYS_FILE_ENV))
    settings[SIGNING_KEYS_ENV] = all[SIGNING_KEYS_ENV]!;
  // The pair goes together: half of one pair and half of another could not open a token.
  if (!set(TOKEN_KEYS_ENV) && !set(TOKEN_PUBLIC_KEY_ENV)) {
    settings[TOKEN_KEYS_ENV] = all[TOKEN_KEYS_ENV]!;
    settings[TOKEN_PUBLIC_KEY_ENV] = all[TOKEN_PUBLIC_KEY_ENV]!;
  }
  if (!set(USER_DATA_KEYS_ENV) && !set(USER_DATA_KEYS_FILE_ENV))
    settings[USER_DATA_KEYS_ENV] = all[USER_DATA_KEYS_ENV]!;
  if (!set(USER_EMAIL_INDEX_KEY_ENV)) settings[USER_EMAIL_INDEX_KEY_ENV] = all[USER_EMAIL_INDEX_KEY_ENV]!;
  if (!set("GATEWAY_SHARED_SECRET")) settings.GATEWAY_SHARED_SECRET = all.GATEWAY_SHARED_SECRET!;
  return { file, settings, created };
}
