/**
 * Writes the ACL file a production Redis loads (`--aclfile`): the users of src/system/redis-acl.ts,
 * each `on` with the SHA-256 of its password from REDIS_PASSWORD_<USER> (the clear password is never
 * written), or `off` when that variable is unset; `default` is always off. Compose runs it once
 * before Redis starts (service `redis-acl`).
 *
 *   REDIS_PASSWORD_ORDER=... node dist/system/redis-acl-file.js /acl/users.acl
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { aclUsers, passwordVariable, renderAclFile } from "./redis-acl.js";

const out = process.argv[2];
if (!out) {
  console.error("usage: redis-acl-file <output file>");
  process.exit(2);
}
const users = await aclUsers();
const text = renderAclFile(users, (user) => {
  const password = process.env[passwordVariable(user)];
  return password ? createHash("sha256").update(password).digest("hex") : undefined;
});
writeFileSync(out, text, { mode: 0o644 });
const enabled = users.filter((u) => process.env[passwordVariable(u.name)]).map((u) => u.name);
console.log(`wrote ${out}: users on: ${enabled.join(", ") || "none"}`);
