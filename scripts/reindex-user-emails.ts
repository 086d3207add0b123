/**
 * Rotates `USER_EMAIL_INDEX_KEY` (src/services/user/reindex-emails.ts): with the user service
 * stopped, moves every email claim from the old index to the new one; then start the user service
 * with `USER_EMAIL_INDEX_KEY` set to the new key. Idempotent and resumable: run it again after an
 * interruption. As the `ops` Redis user (it SCANs).
 *
 *   REDIS_URL=redis://ops:<password>@host:6379 USER_DATA_KEYS=… USER_EMAIL_INDEX_KEY=<old> \
 *     USER_EMAIL_INDEX_KEY_NEW=<new> npx tsx scripts/reindex-user-emails.ts [--batch 100]
 */
import { Redis } from "ioredis";
import { reindexUserEmails } from "../src/services/user/reindex-emails.js";
import {
  USER_DATA_KEYS_ENV,
  USER_DATA_KEYS_FILE_ENV,
  USER_EMAIL_INDEX_KEY_ENV,
  userDataCipherFromEnv,
} from "../src/lib/security/user-data.js";

const NEW_KEY_ENV = `${USER_EMAIL_INDEX_KEY_ENV}_NEW`;
const env = process.env;
if (
  !(env[USER_DATA_KEYS_ENV] || env[USER_DATA_KEYS_FILE_ENV]) ||
  !env[USER_EMAIL_INDEX_KEY_ENV] ||
  !env[NEW_KEY_ENV]
) {
  console.error(
    `set ${USER_DATA_KEYS_ENV} (or ${USER_DATA_KEYS_FILE_ENV}), ${USER_EMAIL_INDEX_KEY_ENV} (the old key) and ${NEW_KEY_ENV}`,
  );
  process.exit(2);
}
const batchAt = process.argv.indexOf("--batch");
const batch = batchAt > 0 ? Number(process.argv[batchAt + 1]) : 100;
const from = userDataCipherFromEnv(env, { withIndex: true });
const to = userDataCipherFromEnv(
  { ...env, [USER_EMAIL_INDEX_KEY_ENV]: env[NEW_KEY_ENV] },
  { withIndex: true },
);
const redis = new Redis(env.REDIS_URL ?? "redis://localhost:6379", { maxRetriesPerRequest: 3 });
try {
  const result = await reindexUserEmails(redis, { from, to }, { batch });
  console.log(JSON.stringify(result));
  if (result.skipped.length > 0) process.exitCode = 1;
} finally {
  redis.disconnect();
}
