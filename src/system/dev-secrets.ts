/**
 * The development secrets `npm run start:services` (and `npm start` over Redis) make up when none
 * are configured (signing keys, the payment token key pair, the users' data keys and email index
 * key, the gateway's shared secret), kept in a file per Redis (host, port, db) so a restart over
 * the same Redis reuses them: made up anew, every user sealed by the previous run answered 500 (unknown key id), the blind
 * email index no longer matched (a duplicate email got 201) and pending bus messages failed their
 * signature (newuser F10). Never used with NODE_ENV=production (those need configured keys).
 *
 * The file is `<project>/.dev-secrets/<host>_<port>_db<n>.env` (git-ignored, mode 0600), or under
 * DEV_SECRETS_DIR (dev-secrets-files.ts). A variable set in the environment always wins over it.
 *
 * The file's name comes from the URL's text, so the same Redis reached as `127.0.0.1` instead of
 * `localhost` (or from another checkout, after `git clean -xfd`, with another DEV_SECRETS_DIR) would
 * find no file and make up new secrets over data sealed with the old ones (newuser7 F5). So the
 * Redis itself records which secrets its data was written with: a fingerprint (a digest of HMACs of
 * a fixed label under the data-sealing secrets; nothing secret) at DEV_SECRETS_FINGERPRINT_KEY,
 * claimed at first start (a lease until that start's system is up: `keptFor`). A later start uses the file in the directory matching it, whatever the URL's
 * spelling, and refuses to start (DevSecretsMismatchError, one line saying what to do) if none does.
 */
import { AllEvents } from "../contracts/index.js";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { resolve } from "node:path";
import { KeyConfigError } from "../lib/security/keyring.js";
import { keyringFromEnv, SIGNING_KEYS_ENV, SIGNING_KEYS_FILE_ENV } from "../lib/security/process-keys.js";
import { TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV } from "../lib/security/payment-token.js";
import { redactRedisUrl } from "../lib/runtime/redis-url.js";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
} from "../lib/security/user-data.js";
import {
  completed,
  devSecretsFingerprint,
  devSecretsPath,
  fileMatching,
  keep,
  readSettings,
  secretsDir,
} from "./dev-secrets-files.js";

export { devSecretsFingerprint, devSecretsPath } from "./dev-secrets-files.js";

/** The Redis key holding the fingerprint of the development secrets its data was written with. */
export const DEV_SECRETS_FINGERPRINT_KEY = "ordersaga:dev-secrets:fingerprint";

/**
 * What devSecretsFor needs of Redis (an ioredis client), all on DEV_SECRETS_FINGERPRINT_KEY but
 * EXISTS: claim the fingerprint (SET NX PX), renew and confirm the claim (GET, PEXPIRE, PERSIST),
 * see a claim in progress (PTTL) and whether the db holds data (EXISTS on the event streams), and
 * replace a lone fingerprint a stopped start left (EVAL, a compare-and-set; that case only).
 */
export interface FingerprintStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: "PX", ms: number, nx: "NX"): Promise<"OK" | null>;
  pexpire(key: string, ms: number): Promise<number>;
  persist(key: string): Promise<number>;
  pttl(key: string): Promise<number>;
  exists(...keys: string[]): Promise<number>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
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
        ? `${redactRedisUrl(redisUrl)} holds data written with development secrets (fingerprint ${fingerprint}) that no file ` +
          `in ${dir} holds: put that .env file back there`
        : `${redactRedisUrl(redisUrl)} holds data but no development-secrets fingerprint (written before one was recorded, ` +
          `or the key was deleted) and ${urlFile} does not exist: put the .env file its data was written ` +
          `with back there (under this URL's file name)`) +
        ` (or set DEV_SECRETS_DIR to its directory, or set its secrets in the environment), or start over ` +
        `an empty Redis or db (FLUSHDB drops this data)`,
    );
    this.name = "DevSecretsMismatchError";
  }
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

/** What a start's development secrets are: the settings to add to its environment, and where from. */
export interface DevSecrets {
  /** The file they are kept in (`devSecretsPath`, or another URL's file holding this Redis's). */
  file: string;
  /** The variables the environment does not configure, with their kept values (empty in production). */
  settings: Record<string, string>;
  /** Made up by this start (the file did not exist). */
  created: boolean;
  /** The file is not the URL's own: this Redis was first reached by another spelling. */
  otherUrl: boolean;
  /**
   * Call once this start's system is up (its data written): the fingerprint, until then a lease
   * this start renews, is made permanent (set if it lapsed meanwhile). Throws
   * DevSecretsClaimLostError when another start's fingerprint replaced it (this start stalled
   * longer than the lease): its data would be unreadable to the next start. A Redis error is
   * retried (capped backoff, `onRetry` told of each, `delayMs` before the next try) for up to
   * DEV_SECRETS_CONFIRM_BUDGET_MS, then thrown; NOPERM is thrown at once.
   */
  confirm(onRetry?: (error: unknown, delayMs: number) => void): Promise<void>;
  /**
   * Call when this start fails after this step (its processes stopped), instead of `confirm`. What
   * they wrote was written with these secrets, so a fingerprint this start claimed is made
   * permanent all the same (aof9 2: left a lease, it lapsed, and the Redis kept the failed start's
   * event streams with no fingerprint: a later start by another spelling of the URL, e.g.
   * `localhost` for `127.0.0.1`, was refused although the file was there). Harmless without data:
   * a later start from another directory replaces a fingerprint no file matches over an empty db
   * (F7). The file is kept either way: it holds the secrets that data was written with. One try,
   * never throws (an error leaves the lease to lapse, as before); nothing after `confirm` resolved.
   */
  abandon(): Promise<void>;
}

/**
 * The settings to add to the launcher's environment: for every secret the environment does not
 * configure, the value kept for this Redis (made up and saved on first use). Empty in production.
 *
 * The file is the one whose secrets this Redis's data was written with (its fingerprint at
 * DEV_SECRETS_FINGERPRINT_KEY), whatever the URL's spelling; see `keptFor` for the claim. Throws
 * DevSecretsMismatchError when the Redis holds a fingerprint no file in the directory matches,
 * DevSecretsBusyError when another start's claim stays unconfirmed past `waitMs`, and Redis's
 * errors (unreachable; NOPERM naming the command: README, "Redis ACL"). Not checked when the
 * environment configures every secret (the file is then unused). `leaseMs`, `waitMs`,
 * `confirmBudgetMs`: tests.
 */
export async function devSecretsFor(
  redis: FingerprintStore,
  redisUrl: string,
  env: NodeJS.ProcessEnv = process.env,
  options: { leaseMs?: number; waitMs?: number; confirmBudgetMs?: number } = {},
): Promise<DevSecrets> {
  const urlFile = devSecretsPath(redisUrl, env);
  const unused = {
    file: urlFile,
    settings: {},
    created: false,
    otherUrl: false,
    confirm: async () => {},
    abandon: async () => {},
  };
  if (env.NODE_ENV === "production") return unused;
  const set = (name: string) => Boolean(env[name]?.trim());
  const configured = {
    signing: set(SIGNING_KEYS_ENV) || set(SIGNING_KEYS_FILE_ENV),
    // The pair goes together: half of one pair and half of another could not open a token.
    token: set(TOKEN_KEYS_ENV) || set(TOKEN_PUBLIC_KEY_ENV),
    userData: set(USER_DATA_KEYS_ENV) || set(USER_DATA_KEYS_FILE_ENV),
    emailIndex: set(USER_EMAIL_INDEX_KEY_ENV),
    gateway: set("GATEWAY_SHARED_SECRET"),
  };
  if (Object.values(configured).every(Boolean)) return unused;

  const leaseMs = options.leaseMs ?? DEV_SECRETS_LEASE_MS;
  const kept = await keptFor(
    redis,
    redisUrl,
    urlFile,
    env,
    leaseMs,
    options.waitMs ?? DEV_SECRETS_CLAIM_WAIT_MS,
    configuredSigning(env),
  );
  const settings: Record<string, string> = {};
  const all = kept.all;
  // The file's keyring, or the key file an earlier start was given (kept in the file: F0).
  if (!configured.signing)
    if (all[SIGNING_KEYS_ENV]) settings[SIGNING_KEYS_ENV] = all[SIGNING_KEYS_ENV];
    else settings[SIGNING_KEYS_FILE_ENV] = all[SIGNING_KEYS_FILE_ENV]!;
  if (!configured.token) {
    settings[TOKEN_KEYS_ENV] = all[TOKEN_KEYS_ENV]!;
    settings[TOKEN_PUBLIC_KEY_ENV] = all[TOKEN_PUBLIC_KEY_ENV]!;
  }
  if (!configured.userData) settings[USER_DATA_KEYS_ENV] = all[USER_DATA_KEYS_ENV]!;
  if (!configured.emailIndex) settings[USER_EMAIL_INDEX_KEY_ENV] = all[USER_EMAIL_INDEX_KEY_ENV]!;
  if (!configured.gateway) settings.GATEWAY_SHARED_SECRET = all.GATEWAY_SHARED_SECRET!;
  return {
    file: kept.file,
    settings,
    created: kept.created,
    otherUrl: kept.file !== urlFile,
    ...confirmer(
      redis,
      devSecretsFingerprint(all),
      kept.claimed ? leaseMs : undefined,
      redisUrl,
      options.confirmBudgetMs ?? DEV_SECRETS_CONFIRM_BUDGET_MS,
    ),
  };
}

/**
 * The signing keys the environment configures, as the file records them (newuser10 F0): the list
 * itself (BUS_SIGNING_KEYS wins, as in keyringFromEnv), or the key file's absolute path; undefined
 * when neither is set (the file's own keyring is used).
 */
function configuredSigning(env: NodeJS.ProcessEnv): Record<string, string> | undefined {
  const inline = env[SIGNING_KEYS_ENV]?.trim();
  if (inline) return { [SIGNING_KEYS_ENV]: inline };
  const file = env[SIGNING_KEYS_FILE_ENV]?.trim();
  return file ? { [SIGNING_KEYS_FILE_ENV]: resolve(file) } : undefined;
}

/**
 * How long a claimed fingerprint lives without renewal (ms): the claiming start renews it every
 * third of that until its system is up (`confirm`), so only a start that died lets it lapse.
 */
const DEV_SECRETS_LEASE_MS = 30_000;
/** How long a start waits for another start's claim to be confirmed or to lapse (ms). */
const DEV_SECRETS_CLAIM_WAIT_MS = 180_000;
const POLL_MS = 50;

/** Replaces the fingerprint only if it still holds ARGV[1] (a stale one: F7), as a lease of ARGV[3] ms. */
const REPLACE_FINGERPRINT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;

/**
 * The keys whose presence means the db holds the system's data: every event stream (each service
 * creates those it consumes at start, and every user, order or payment appends to one). Exact
 * names, so the check needs EXISTS only (no SCAN, which restricted users lack).
 */
const DATA_KEYS = [
  ...new Set(Object.values(AllEvents).map((event) => eventStreamKey(event.owner, event.name))),
];

/** Whether the db holds the system's data (one EXISTS over DATA_KEYS). */
async function holdsData(redis: FingerprintStore): Promise<boolean> {
  return (await redis.exists(...DATA_KEYS)) > 0;
}

/** Another start claimed the fingerprint and has not confirmed it (its system still starting). */
export class DevSecretsBusyError extends Error {
  constructor(redisUrl: string, fingerprint: string, waitedMs: number) {
    super(
      `another start is making up development secrets for ${redactRedisUrl(redisUrl)} (fingerprint ${fingerprint} claimed, ` +
        `its system not up after ${Math.round(waitedMs / 1000)} s): wait until it is up or stopped, then start again`,
    );
    this.name = "DevSecretsBusyError";
  }
}

/** This start's claim lapsed (it stalled longer than the lease) and another start's replaced it. */
export class DevSecretsClaimLostError extends Error {
  constructor(redisUrl: string, fingerprint: string, found: string | null) {
    super(
      `the development-secrets fingerprint of ${redactRedisUrl(redisUrl)} is ${found ?? "gone"}, not this start's ` +
        `${fingerprint} (this start stalled longer than its claim and another start took over): stop and start again`,
    );
    this.name = "DevSecretsClaimLostError";
  }
}

/**
 * How long `confirm` keeps retrying a Redis error (ms): a blip (a dropped connection, a failover)
 * at the moment the system came up must not stop it (break9 F6). The lease is renewed meanwhile.
 */
export const DEV_SECRETS_CONFIRM_BUDGET_MS = 30_000;
const CONFIRM_FIRST_DELAY_MS = 250;
const CONFIRM_MAX_DELAY_MS = 5_000;

/** An error retrying cannot fix: the claim is another start's, or an ACL refuses the command. */
const isFinal = (error: unknown): boolean =>
  error instanceof DevSecretsClaimLostError || (error instanceof Error && /^NOPERM/.test(error.message));

/**
 * The `confirm` and `abandon` of a start using the secrets of `fingerprint`; with `leaseMs` (the
 * start claimed it) the lease is renewed until then. PERSIST then GET: a PERSIST of another start's lease (ours
 * lapsed) is seen by the GET, and that start's secrets become the permanent ones, never ours.
 * A Redis error is retried with capped backoff for `budgetMs`, the renewal running between tries
 * (never during one: a PEXPIRE landing after the PERSIST would make the fingerprint a lease again).
 */
function confirmer(
  redis: FingerprintStore,
  fingerprint: string,
  leaseMs: number | undefined,
  redisUrl: string,
  budgetMs: number,
): Pick<DevSecrets, "confirm" | "abandon"> {
  let confirmed = false;
  let renewing: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const renew = () => {
    renewing = redis
      .get(DEV_SECRETS_FINGERPRINT_KEY)
      .then((now) => (now === fingerprint ? redis.pexpire(DEV_SECRETS_FINGERPRINT_KEY, leaseMs!) : 0))
      .catch(() => 0); // retried at the next tick; a lapsed lease is caught by confirm
  };
  const startRenewing = () => {
    if (leaseMs === undefined) return;
    timer = setInterval(renew, Math.max(1, Math.floor(leaseMs / 3)));
    timer.unref();
  };
  const stopRenewing = async () => {
    clearInterval(timer);
    await renewing;
  };
  const confirmOnce = async () => {
    // Set if it lapsed (or never was: a file matched the URL's own fingerprint-less data, F3).
    await redis.set(DEV_SECRETS_FINGERPRINT_KEY, fingerprint, "PX", DEV_SECRETS_LEASE_MS, "NX");
    await redis.persist(DEV_SECRETS_FINGERPRINT_KEY);
    const found = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
    if (found !== fingerprint) throw new DevSecretsClaimLostError(redisUrl, fingerprint, found);
  };
  startRenewing();
  const confirm: DevSecrets["confirm"] = async (onRetry) => {
    const deadline = Date.now() + budgetMs;
    for (let delay = CONFIRM_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, CONFIRM_MAX_DELAY_MS)) {
      await stopRenewing();
      try {
        await confirmOnce();
        confirmed = true;
        return;
      } catch (error) {
        if (isFinal(error) || Date.now() + delay > deadline) throw error;
        onRetry?.(error, delay);
        if (leaseMs !== undefined) renew(); // the failed try may have left it short
        startRenewing();
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };
  const abandon: DevSecrets["abandon"] = async () => {
    await stopRenewing();
    // Not claimed by this start (a file matched a fingerprint already there): not this start's to set.
    if (confirmed || leaseMs === undefined) return;
    confirmed = true;
    await confirmOnce().catch(() => {});
  };
  return { confirm, abandon };
}

/**
 * The file whose secrets this Redis's data is (to be) written with, decided in Redis before any
 * file is written (break-late7 F1: a start that lost the SET NX had overwritten the file already):
 * - a fingerprint some file matches: that file;
 * - a fingerprint with a TTL (claimed by a start whose system is not up yet, start8): waited for
 *   until a file matches it, it is confirmed, or it lapses (that start died: decided again);
 * - a permanent fingerprint no file matches: refused if the db holds data; else (a start that
 *   stopped before its data, F7) replaced, with a compare-and-set;
 * - no fingerprint: the URL's own file if it exists (data written before the fingerprint was
 *   recorded, F3); no file and data present: refused; else new secrets.
 * A claim is SET NX PX (a lease), renewed by its start until `confirm` makes it permanent: a slow
 * start is never taken for a dead one, and a dead one never locks the Redis.
 */
async function keptFor(
  redis: FingerprintStore,
  redisUrl: string,
  urlFile: string,
  env: NodeJS.ProcessEnv,
  leaseMs: number,
  waitMs: number,
  signing: Record<string, string> | undefined,
): Promise<{ file: string; all: Record<string, string>; created: boolean; claimed: boolean }> {
  const dir = secretsDir(env);
  const since = Date.now();
  for (;;) {
    const stored = await redis.get(DEV_SECRETS_FINGERPRINT_KEY);
    if (stored) {
      const match = fileMatching(stored, urlFile, env);
      if (match) {
        const matched = readSettings(match);
        return { ...keep(match, matched, completed(matched, signing)), claimed: false };
      }
      // -2: gone since the GET (lapsed or confirmed and flushed): decided again at once.
      const ttl = await redis.pttl(DEV_SECRETS_FINGERPRINT_KEY);
      if (ttl !== -1) {
        if (Date.now() - since > waitMs) throw new DevSecretsBusyError(redisUrl, stored, waitMs);
        if (ttl >= 0) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        continue;
      }
      if (await holdsData(redis)) throw new DevSecretsMismatchError(redisUrl, dir, stored);
    }
    const own = readSettings(urlFile);
    if (Object.keys(own).length === 0 && (await holdsData(redis)))
      throw new DevSecretsMismatchError(redisUrl, dir, null, urlFile);
    const all = completed(own, signing);
    const fingerprint = devSecretsFingerprint(all);
    const won = stored
      ? (await redis.eval(
          REPLACE_FINGERPRINT,
          1,
          DEV_SECRETS_FINGERPRINT_KEY,
          stored,
          fingerprint,
          leaseMs,
        )) === 1
      : (await redis.set(DEV_SECRETS_FINGERPRINT_KEY, fingerprint, "PX", leaseMs, "NX")) === "OK";
    // Lost: another start claimed first; its claim is waited for above.
    if (won) return { ...keep(urlFile, own, all), claimed: true };
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

/**
 * The signing-keys file an earlier launch was given, kept by path in the development-secrets file
 * (newuser10 F0), cannot be used by this launch, which named no keys of its own: unreadable (moved,
 * deleted) or not a key list. The message says where the path came from and the ways out (newuser15
 * F4: "BUS_SIGNING_KEYS_FILE: cannot read <path>" alone, to a user who never set it in this launch).
 */
export class DevSecretsKeysFileError extends Error {
  /** `devFile`: the development-secrets file; `reason`: the KeyConfigError's message (names the path). */
  constructor(devFile: string, reason: string) {
    super(
      `${reason}: this launch sets neither ${SIGNING_KEYS_ENV} nor ${SIGNING_KEYS_FILE_ENV}, and that path ` +
        `was kept in ${devFile} by an earlier launch given it; put the keys file back at that path, or set ` +
        `${SIGNING_KEYS_ENV} or ${SIGNING_KEYS_FILE_ENV} for this launch (kept in its place), or delete the ` +
        `${SIGNING_KEYS_FILE_ENV} line from ${devFile} (new signing keys are then made up: messages still ` +
        `pending, signed with the old ones, are dead-lettered)`,
    );
    this.name = "DevSecretsKeysFileError";
  }
}

/**
 * Throws DevSecretsKeysFileError when `kept` hands this launch a BUS_SIGNING_KEYS_FILE from its
 * file (the environment named no signing keys) that cannot be read as a key list; the processes
 * would otherwise refuse it without saying where the path came from. Nothing when the launch set
 * its own keys (they are not in `settings`) or the file keeps a key list.
 */
export function checkKeptKeysFile(kept: Pick<DevSecrets, "file" | "settings">): void {
  const keysFile = kept.settings[SIGNING_KEYS_FILE_ENV];
  if (keysFile === undefined) return;
  try {
    keyringFromEnv({ [SIGNING_KEYS_FILE_ENV]: keysFile });
  } catch (error) {
    if (error instanceof KeyConfigError) throw new DevSecretsKeysFileError(kept.file, error.message);
    throw error;
  }
}
