/**
 * Writes the ACL file a production Redis loads (`--aclfile`): the users of src/system/redis-acl.ts,
 * each `on` with the SHA-256 of its password from REDIS_PASSWORD_<USER> (the clear password is never
 * written), or `off` when that variable is unset; `default` is always off; no comment lines (Redis
 * refuses a file with any). Refuses (exit 1, nothing
 * written) a `.env.example` placeholder password, or one shorter than MIN_SECRET_LENGTH (32)
 * characters: Redis answers an `AUTH` in microseconds, so a short one falls to guessing (break44 F7). Compose runs it once
 * before Redis starts (service `redis-acl`).
 *
 *   REDIS_PASSWORD_ORDER=... node dist/system/redis-acl-file.js /acl/users.acl
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import {
  MIN_SECRET_LENGTH,
  placeholderMessage,
  placeholderVariables,
  shortSecretVariables,
} from "../lib/security/placeholders.js";
import { aclUsers, passwordVariable, renderAclFile } from "./redis-acl.js";

const out = process.argv[2];
if (!out) {
  console.error("usage: redis-acl-file <output file>");
  process.exit(2);
}
const users = await aclUsers();
const variables = users.map((u) => passwordVariable(u.name));
// The .env.example placeholders are public: a user with one would be open to anyone (break-12 F4).
const placeholders = placeholderVariables(process.env, variables);
if (placeholders.length > 0) {
  console.error(placeholderMessage(placeholders));
  process.exit(1);
}
const short = shortSecretVariables(process.env, variables);
if (short.length > 0) {
  console.error(
    `${short.join(", ")}: a Redis password must be at least ${MIN_SECRET_LENGTH} characters ` +
      "(make one with `openssl rand -hex 32`); nothing written",
  );
  process.exit(1);
}
// No comment lines: Redis refuses to load a file with any (newuser13 F4).
const text = renderAclFile(
  users,
  (user) => {
    const password = process.env[passwordVariable(user)];
    return password ? createHash("sha256").update(password).digest("hex") : undefined;
  },
  { comments: false },
);
writeFileSync(out, text, { mode: 0o644 });
const enabled = users.filter((u) => process.env[passwordVariable(u.name)]).map((u) => u.name);
console.log(`wrote ${out}: users on: ${enabled.join(", ") || "none"}`);
