/**
 * Prints the Redis ACL file rendered from src/system/redis-acl.ts (`npx tsx scripts/redis-acl.ts`),
 * or with `--write` puts it in ops/redis/users.acl (every user `off`: passwords are added where the
 * file is deployed, by `node dist/system/redis-acl-file.js`) and rewrites
 * src/system/signing-key-needs.ts (which producers' signing keys each service holds). Tests keep
 * both equal to what the code derives.
 */
import { writeFileSync } from "node:fs";
import { aclUsers, renderAclFile } from "../src/system/redis-acl.js";
import { renderKeyNeeds, verificationNeeds } from "../src/system/signing-key-distribution.js";

try {
  const text = renderAclFile(await aclUsers(), () => undefined);
  if (process.argv.includes("--write")) {
    writeFileSync(new URL("../ops/redis/users.acl", import.meta.url), text);
    writeFileSync(
      new URL("../src/system/signing-key-needs.ts", import.meta.url),
      renderKeyNeeds(await verificationNeeds()),
    );
    console.log("wrote ops/redis/users.acl and src/system/signing-key-needs.ts");
  } else {
    process.stdout.write(text);
  }
} catch (error) {
  // A new service not yet in SERVICE_COMMANDS: the message says what to add; no stack trace.
  console.error(`scripts/redis-acl.ts: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
