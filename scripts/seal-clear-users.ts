/**
 * Seals the users an older version stored in clear (src/services/user/seal-clear-users.ts): run
 * once after upgrading from a version before issue 12, with the user service's keys, as the `ops`
 * Redis user (it SCANs, which no service's user may). Idempotent and resumable: run it again after
 * an interruption, or when it reports records skipped as CHANGED (written while it ran).
 *
 *   REDIS_URL=redis://ops:<password>@host:6379 USER_DATA_KEYS=… USER_EMAIL_INDEX_KEY=… \
 *     npx tsx scripts/seal-clear-users.ts [--batch 100]
 *
 * It refuses to run without both keys set: development's random per-process keys would seal the
 * records with keys nobody has.
 */
import { sealClearUsers } from "../src/services/user/seal-clear-users.js";
import { userDataTool } from "./user-data-tool.js";

const { cipher, batch, redis } = userDataTool();
try {
  const result = await sealClearUsers(redis, cipher, {
    batch,
    onBatch: (cursor, so) => console.error(`cursor ${cursor}: ${so.sealed} sealed, ${so.users} users seen`),
  });
  console.log(JSON.stringify(result));
  if (result.skipped.length > 0) process.exitCode = 1;
} finally {
  redis.disconnect();
}
