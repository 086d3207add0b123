/**
 * The development-secrets step of a start over Redis, shared by `npm start` (start-embedded.ts) and
 * `npm run start:services` (start-services.ts): wait for Redis, refuse when a system already runs
 * over it, claim the launcher slot, then the secrets kept for this Redis (dev-secrets.ts) copied
 * into the environment with one line saying where they came from.
 */
import type { Redis } from "ioredis";
import { parseEnv, serviceEnvSchema } from "../lib/runtime/config.js";
import { waitForRedis } from "../lib/runtime/redis-ready.js";
import { checkKeptKeysFile, devSecretsFor, devSecretsNotice } from "./dev-secrets.js";
import {
  claimLauncherSlot,
  findRunningProcesses,
  otherServicesNote,
  runningSystemMessage,
  type SlotClaim,
} from "./launch-guard.js";

/** A system already answers over this Redis (break10 F1, break-svc7 F4): the message says what runs. */
export class SystemRunningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SystemRunningError";
  }
}

/**
 * REDIS_CONNECT_TIMEOUT_MS (ms) as every process reads it (the shared `timerMs` rule): a bad value
 * throws the same ConfigError (one line naming the variable) before Redis is asked anything; so do a
 * bad REDIS_URL (scheme, database), NODE_ENV and BUS_NATIVE_HMAC (or a required native HMAC missing).
 */
export function redisConnectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  // REDIS_URL and NODE_ENV too: a wrong scheme or database, or a NODE_ENV typo, is one line naming
  // the variable before the launcher connects, as it is for the processes (newuser8 L4, L5).
  return parseEnv(
    serviceEnvSchema.pick({
      REDIS_CONNECT_TIMEOUT_MS: true,
      REDIS_URL: true,
      NODE_ENV: true,
      // A required native HMAC that is not built: one line here, not one per child that exits.
      BUS_NATIVE_HMAC: true,
    }),
    env,
  ).REDIS_CONNECT_TIMEOUT_MS;
}

/**
 * Runs the step over `redis` (a connection of the launcher's own): waits up to `timeoutMs` (ms),
 * throws SystemRunningError when instances of the system answer (services of one's own are named
 * with `print`, not refused), claims the launcher slot when `slot` is given
 * (`wanted`: its name, default DEFAULT_SLOT; before the secrets, so a second start on this host is
 * refused before it touches the fingerprint; given back if the step then fails), and adds the kept
 * secrets to `env`.
 * Returns the slot and `confirm`, to call once the system is up (DevSecrets.confirm), or `abandon`,
 * to call instead when the start fails after this step (DevSecrets.abandon). Throws what
 * devSecretsFor and claimLauncherSlot throw (DevSecretsMismatchError, SlotTakenError...), and
 * DevSecretsKeysFileError when the kept signing-keys file cannot be used (checkKeptKeysFile).
 */
export async function applyDevSecrets(
  redis: Redis,
  redisUrl: string,
  options: {
    timeoutMs: number;
    slot?: { wanted: string | undefined };
    env?: NodeJS.ProcessEnv;
    print?: (line: string) => void;
  },
): Promise<{ slot: SlotClaim | undefined; confirm: () => Promise<void>; abandon: () => Promise<void> }> {
  const env = options.env ?? process.env;
  await waitForRedis(redis, options.timeoutMs);
  // Only the system's processes refuse; services of one's own are named (newuser17 F2).
  const { system: running, others } = await findRunningProcesses(redis);
  if (running.length > 0) throw new SystemRunningError(runningSystemMessage(redisUrl, running));
  if (others.length > 0) (options.print ?? console.log)(otherServicesNote(redisUrl, others));
  const slot = options.slot
    ? await claimLauncherSlot(redis, { add: false, wanted: options.slot.wanted })
    : undefined;
  try {
    const kept = await devSecretsFor(redis, redisUrl, env);
    // A keys file kept from an earlier launch, unusable now: refused here, naming the file it came
    // from (newuser15 F4), not by the processes. The fingerprint as for any start failing after
    // this step (DevSecrets.abandon).
    try {
      checkKeptKeysFile(kept);
    } catch (error) {
      await kept.abandon();
      throw error;
    }
    Object.assign(env, kept.settings);
    if (Object.keys(kept.settings).length > 0) (options.print ?? console.log)(devSecretsNotice(kept));
    // A Redis blip as the system comes up is retried (for up to 30 s), each try said on one line.
    const confirm = () =>
      kept
        .confirm((error, delayMs) =>
          (options.print ?? console.log)(
            `development secrets: could not confirm the fingerprint (${error instanceof Error ? error.message : String(error)}); retrying in ${delayMs} ms`,
          ),
        )
        .catch((error: unknown) => {
          throw withAclHint(error);
        });
    return { slot, confirm, abandon: () => kept.abandon() };
  } catch (error) {
    // A refusal leaves nothing held.
    await slot?.release();
    throw withAclHint(error);
  }
}

/**
 * What a development start over Redis runs (README, "Redis ACL"): a user of its own (REDIS_USERNAME)
 * needs them, on top of what the system's own processes run.
 */
export const DEV_START_NEEDS =
  "GET, SET, PEXPIRE, PERSIST and PTTL on ordersaga:dev-secrets:fingerprint, EXISTS on the event " +
  "streams ({<owner>}:ev:<event>), and EVAL on that key only to replace a fingerprint a stopped start left alone";

/** Redis's NOPERM (which names the command or says "key") with what the step needs, else `error`. */
function withAclHint(error: unknown): unknown {
  const message = error instanceof Error ? error.message : "";
  if (!/^NOPERM/.test(message)) return error;
  return new Error(
    `development secrets: Redis refused: ${message} (a development start needs ${DEV_START_NEEDS})`,
  );
}
