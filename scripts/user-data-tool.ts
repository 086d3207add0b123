/**
 * What the user data tools (seal-clear-users.ts, reseal-users.ts) share: they refuse to run without
 * the user service's keys (development's random per-process keys would seal records with keys
 * nobody has), read `--batch N` (default 100), and connect to REDIS_URL. Exits 2 with one line on a
 * missing key or a bad `--batch`.
 */
import { Redis } from "ioredis";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
  type UserDataCipher,
  userDataCipherFromEnv,
} from "../src/lib/security/user-data.js";

export function userDataTool(
  argv: readonly string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
): { cipher: UserDataCipher; batch: number; redis: Redis } {
  if (!(env[USER_DATA_KEYS_ENV] || env[USER_DATA_KEYS_FILE_ENV]) || !env[USER_EMAIL_INDEX_KEY_ENV]) {
    console.error(
      `set ${USER_DATA_KEYS_ENV} (or ${USER_DATA_KEYS_FILE_ENV}) and ${USER_EMAIL_INDEX_KEY_ENV}: the user service's keys`,
    );
    process.exit(2);
  }
  const batchAt = argv.indexOf("--batch");
  const batch = batchAt > 0 ? Number(argv[batchAt + 1]) : 100;
  if (!Number.isInteger(batch) || batch < 1) {
    console.error("--batch: a positive integer");
    process.exit(2);
  }
  const cipher = userDataCipherFromEnv(env, { withIndex: true });
  const redis = new Redis(env.REDIS_URL ?? "redis://localhost:6379", { maxRetriesPerRequest: 3 });
  return { cipher, batch, redis };
}
