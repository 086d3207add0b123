/**
 * Prints the Redis ACL file rendered from src/system/redis-acl.ts (`npx tsx scripts/redis-acl.ts`),
 * or with `--write` puts it in ops/redis/users.acl (every user `off`: passwords are added where the
 * file is deployed, by `node dist/system/redis-acl-file.js`). A test keeps the two equal.
 */
import { writeFileSync } from "node:fs";
import { aclUsers, renderAclFile } from "../src/system/redis-acl.js";

const text = renderAclFile(await aclUsers(), () => undefined);
if (process.argv.includes("--write")) {
  writeFileSync(new URL("../ops/redis/users.acl", import.meta.url), text);
} else {
  process.stdout.write(text);
}
