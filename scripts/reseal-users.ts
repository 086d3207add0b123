/**
 * Re-seals every user record and notification contact still under an old `USER_DATA_KEYS` key id
 * (src/services/user/reseal-users.ts; break35 F4): the step of a data key rotation that lets the old
 * key be dropped. Run it with the user service's keys, the new key first and the old one still
 * listed, as the `ops` Redis user (it SCANs). Safe beside running services (one compare-and-set per
 * record), idempotent and resumable: run it again after an interruption or a CHANGED skip.
 *
 *   REDIS_URL=redis://ops:<password>@host:6379 USER_DATA_KEYS=<new>,<old> USER_EMAIL_INDEX_KEY=… \
 *     npx tsx scripts/reseal-users.ts [--batch 100] [--dry-run]
 *
 * Prints the result as JSON: per key id, how many records (users, contacts) it still seals. Exits 0
 * only when every record is under the current key and none was skipped (then the old key may go),
 * 1 otherwise, 2 on bad arguments or missing keys.
 */
import { resealUsers } from "../src/services/user/reseal-users.js";
import { userDataTool } from "./user-data-tool.js";

const { cipher, batch, redis } = userDataTool();
const dryRun = process.argv.includes("--dry-run");
try {
  const result = await resealUsers(redis, cipher, {
    batch,
    dryRun,
    onBatch: (cursor, so) =>
      console.error(`cursor ${cursor}: ${so.users.resealed + so.contacts.resealed} re-sealed so far`),
  });
  console.log(JSON.stringify({ currentKid: cipher.currentKid, ...result }));
  const others = [result.users, result.contacts].flatMap((c) =>
    Object.keys(c.byKid).filter((kid) => kid !== cipher.currentKid),
  );
  const skipped = result.users.skipped.length + result.contacts.skipped.length;
  if (others.length > 0 || skipped > 0) {
    console.error(
      `not done: still sealed under ${others.join(", ") || "-"}; ${skipped} skipped (see "skipped")`,
    );
    process.exitCode = 1;
  }
} finally {
  redis.disconnect();
}
