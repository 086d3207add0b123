/**
 * Where a process's signing keys come from:
 * - `BUS_SIGNING_KEYS` (the key list itself) or `BUS_SIGNING_KEYS_FILE` (a file holding it);
 * - neither, outside production: ephemeral random keys made in this process (the embedded system,
 *   `npm test`, and the launcher, which hands them to its children through `BUS_SIGNING_KEYS`);
 * - neither, with NODE_ENV=production: an error, and the service refuses to start.
 */
import { readFileSync } from "node:fs";
import { KeyConfigError, Keyring } from "./keyring.js";

export const SIGNING_KEYS_ENV = "BUS_SIGNING_KEYS";
export const SIGNING_KEYS_FILE_ENV = "BUS_SIGNING_KEYS_FILE";
/** The per-service variables docker-compose.yml hands each container (`BUS_SIGNING_KEY_<NAME>`). */
const COMPOSE_KEY_PREFIX = "BUS_SIGNING_KEY_";

/** Reads the keyring of an environment. Throws KeyConfigError (never echoing a secret). */
export function keyringFromEnv(env: NodeJS.ProcessEnv = process.env): Keyring {
  const inline = env[SIGNING_KEYS_ENV]?.trim();
  const file = env[SIGNING_KEYS_FILE_ENV]?.trim();
  if (inline) return parseNamed(inline, SIGNING_KEYS_ENV);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new KeyConfigError(`${SIGNING_KEYS_FILE_ENV}: cannot read ${file} (${(error as Error).message})`);
    }
    return parseNamed(text, `${SIGNING_KEYS_FILE_ENV} (${file})`);
  }
  if (env.NODE_ENV === "production") {
    // newuser12 F2: generate-keys.ts prints one variable per service for compose; sourced as they
    // are, they left this message saying only "set BUS_SIGNING_KEYS".
    const perService = Object.keys(env).filter((name) => name.startsWith(COMPOSE_KEY_PREFIX));
    const hint =
      perService.length === 0
        ? ""
        : `; ${perService.join(", ")} are docker-compose's (one per service) and not read here: ` +
          `join their values into ${SIGNING_KEYS_ENV} (README, "Fixed keys of your own")`;
    throw new KeyConfigError(
      `NODE_ENV=production needs signing keys: set ${SIGNING_KEYS_ENV} or ${SIGNING_KEYS_FILE_ENV} (docs/security.md)${hint}`,
    );
  }
  return new Keyring([], true);
}

/** Keyring.parse, its KeyConfigError prefixed with where the list came from (newuser8 M4). */
function parseNamed(text: string, where: string): Keyring {
  try {
    return Keyring.parse(text);
  } catch (error) {
    if (error instanceof KeyConfigError) throw new KeyConfigError(`${where}: ${error.message}`);
    throw error;
  }
}

let processKeyring: Keyring | undefined;

/** This process's keyring, read once from process.env (see keyringFromEnv). */
export function getProcessKeyring(): Keyring {
  processKeyring ??= keyringFromEnv();
  return processKeyring;
}

/**
 * Said once per process when a publisher or a verifying subscriber over Redis uses keys made up in
 * this process (newuser13 F3: two processes written from the README's library bullets, without
 * BUS_SIGNING_KEYS, dead-lettered every message as SIGNATURE_INVALID without a word).
 */
export const EPHEMERAL_KEYS_WARNING =
  `signing keys made up in this process (${SIGNING_KEYS_ENV} unset): no other process can verify the ` +
  `messages it sends, and it dead-letters other processes' messages as SIGNATURE_INVALID; give every ` +
  `process the same ${SIGNING_KEYS_ENV} (<service>:<kid>:<base64 of 32 random bytes>, comma-separated)`;
const EPHEMERAL_KEYS_CODE = "BUS_EPHEMERAL_KEYS";
let ephemeralWarned = false;

/**
 * Warns (EPHEMERAL_KEYS_WARNING) at the first call in the process, never again: to `logger` when
 * given, else as a process warning on stderr (the bare library has no logger).
 */
export function warnEphemeralKeys(logger?: { warn(obj: object, msg?: string): void }): void {
  if (ephemeralWarned) return;
  ephemeralWarned = true;
  if (logger) logger.warn({ code: EPHEMERAL_KEYS_CODE }, EPHEMERAL_KEYS_WARNING);
  else process.emitWarning(EPHEMERAL_KEYS_WARNING, { code: EPHEMERAL_KEYS_CODE });
}
