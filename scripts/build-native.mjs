#!/usr/bin/env node
// Builds the optional native addon (native/hmac_sha256.c -> build/Release/hmac_sha256.node: the bus's
// HMAC-SHA256, and the sealed fields' HKDF-SHA256 and AES-256-GCM)
// with the node-gyp that npm ships; run by `npm ci`/`npm install` (package.json "install").
// Without a C toolchain (python3, make, a C compiler) the build fails and this prints why and exits 0:
// signing then uses Node's crypto.hash, the same MAC at about twice the CPU, and sealing Node's
// createHmac/createCipheriv (src/lib/security/native-hmac.ts).
// With BUS_NATIVE_HMAC=1 (or true) a failed build fails the install instead (CI sets it); with 0 (or
// false) nothing is built; any other value fails the install, as every process would refuse it.
//
// A built addon is loaded once in a child process (it must give RFC 4231's test-case-2 MAC, and
// Node's bytes for HKDF-SHA256 and AES-256-GCM); only then
// is its SHA-256 written beside it (hmac_sha256.node.sha256). Processes load only a file that matches
// that digest: a damaged file (cut short, zeroed blocks) would kill them inside dlopen, where no
// fallback can catch it (break40 F5, break41 L1).
import { spawnSync } from "node:child_process";
import console from "node:console";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

const ADDON = join("build", "Release", "hmac_sha256.node");
const DIGEST = `${ADDON}.sha256`;
const RFC4231_CASE_2 = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";

/**
 * The addon's HKDF-SHA256 and AES-256-GCM against Node's own for one input (what the loader's
 * aeadSelfTest checks at every start): a build that gets them wrong fails here, at install, instead
 * of being recorded and then refused by every process (break45 L4). Exits 3 on a mismatch.
 */
const AEAD_PROBE = `const c = require("node:crypto"); const b = (n, f) => Buffer.from(Array.from({ length: n }, (_, i) => (f + i * 7) & 255));
const o = Buffer.alloc(32); a.hkdf32(b(32, 1), b(36, 2), b(59, 3), o);
const ci = c.createCipheriv("aes-256-gcm", b(32, 4), b(12, 5)); ci.setAAD(b(36, 7));
const want = Buffer.concat([ci.update(b(24, 6)), ci.final(), ci.getAuthTag()]); const got = Buffer.alloc(40); a.gcmSeal(b(32, 4), b(12, 5), b(24, 6), b(36, 7), got);
const back = Buffer.alloc(24); const opened = a.gcmOpen(b(32, 4), b(12, 5), got.subarray(0, 24), got.subarray(24), b(36, 7), back);
if (!o.equals(Buffer.from(c.hkdfSync("sha256", b(32, 1), b(36, 2), b(59, 3), 32))) || !got.equals(want) || !opened || !back.equals(b(24, 6))) process.exit(3);`;

const raw = process.env.BUS_NATIVE_HMAC ?? "";
const setting = raw.toLowerCase();
if (!["", "0", "1", "false", "true"].includes(setting)) {
  console.error(
    `ordersaga: BUS_NATIVE_HMAC must be 0 or false, 1 or true, or empty (got ${JSON.stringify(raw)})`,
  );
  process.exit(1);
}
if (setting === "0" || setting === "false") process.exit(0);
const required = setting === "1" || setting === "true";

// The running Node's own headers when it ships them (<prefix>/include/node: Debian's nodejs, the
// official tarballs and node:20 images): node-gyp otherwise downloads them from nodejs.org, which an
// offline or registry-only build cannot reach (break40 F4). A non-empty npm nodedir setting still
// wins; an empty one (any case) is dropped, since node-gyp would apply it over --nodedir (break41 L4).
const env = { ...process.env };
let nodedir;
for (const name of Object.keys(env))
  if (name.toLowerCase() === "npm_config_nodedir") {
    if (env[name]) nodedir = env[name];
    else delete env[name];
  }
const prefix = dirname(dirname(process.execPath));
const local = !nodedir && existsSync(join(prefix, "include", "node", "node_api.h"));
const rebuild = ["rebuild", ...(local ? [`--nodedir=${prefix}`] : [])];
// npm puts its node-gyp on PATH for lifecycle scripts; `npm_config_node_gyp` names it otherwise.
const gyp = env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, ...rebuild]] : ["node-gyp", rebuild];
rmSync(DIGEST, { force: true });
const result = spawnSync(command, args, { env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });

let why;
if (result.status === 0) {
  // Loaded in a child: a broken build kills the child, not this install.
  const probe = spawnSync(
    process.execPath,
    [
      "-e",
      `const a = require(${JSON.stringify(join(process.cwd(), ADDON))}); const k = Buffer.alloc(64); k.write("Jefe"); const d = Buffer.from("what do ya want for nothing?"); process.stdout.write(a.tag(a.prepare(k), d, 0, d.length)); ${AEAD_PROBE}`,
    ],
    { encoding: "utf8" },
  );
  if (probe.status === 0 && probe.stdout === RFC4231_CASE_2) {
    writeFileSync(DIGEST, `${createHash("sha256").update(readFileSync(ADDON)).digest("hex")}\n`);
    process.exit(0);
  }
  why =
    probe.status === 3
      ? "the built addon's HKDF-SHA256 or AES-256-GCM did not give Node's bytes in its test load"
      : `the built addon failed its test load (exit ${probe.status ?? probe.signal}): ${probe.stderr.trim().split("\n")[0] ?? ""}`;
} else {
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
  why = result.error ? result.error.message : output;
}
console.warn(
  required
    ? `ordersaga: the native HMAC was not built, and BUS_NATIVE_HMAC=${raw} requires it: the install fails.\n${why}`
    : "ordersaga: the native HMAC was not built; bus signing uses Node's crypto.hash and sealing its createCipheriv (the same bytes, more CPU).\n" +
        "It needs python3, make, a C compiler and the Node.js headers (those of the running Node when it ships them,\n" +
        `else downloaded from nodejs.org, or npm_config_nodedir); once they are there, \`npm rebuild\` builds it.\n${why}`,
);
process.exit(required ? 1 : 0);
