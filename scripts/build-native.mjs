#!/usr/bin/env node
// Builds the optional native HMAC-SHA256 (native/hmac_sha256.c -> build/Release/hmac_sha256.node)
// with the node-gyp that npm ships; run by `npm ci`/`npm install` (package.json "install").
// Without a C toolchain (python3, make, a C compiler) the build fails and this prints why and exits 0:
// signing then uses Node's crypto.hash, the same MAC at about twice the CPU (src/lib/security/native-hmac.ts).
// With BUS_NATIVE_HMAC=1 (or true) a failed build fails the install instead (CI sets it); with 0 (or
// false) nothing is built.
import { spawnSync } from "node:child_process";
import console from "node:console";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

const setting = (process.env.BUS_NATIVE_HMAC ?? "").toLowerCase();
if (setting === "0" || setting === "false") process.exit(0);
const required = setting === "1" || setting === "true";

// The running Node's own headers when it ships them (<prefix>/include/node: Debian's nodejs, the
// official tarballs and node:20 images): node-gyp otherwise downloads them from nodejs.org, which an
// offline or registry-only build cannot reach (break40 F4). An npm nodedir setting still wins.
const prefix = dirname(dirname(process.execPath));
const local = !process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"));
const rebuild = ["rebuild", ...(local ? [`--nodedir=${prefix}`] : [])];
// npm puts its node-gyp on PATH for lifecycle scripts; `npm_config_node_gyp` names it otherwise.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, ...rebuild]] : ["node-gyp", rebuild];
const result = spawnSync(command, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
if (result.status === 0) process.exit(0);

const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
const why = result.error ? result.error.message : output;
console.warn(
  required
    ? `ordersaga: the native HMAC was not built, and BUS_NATIVE_HMAC=${process.env.BUS_NATIVE_HMAC} requires it: the install fails.\n${why}`
    : "ordersaga: the native HMAC was not built; bus signing uses Node's crypto.hash (the same MACs, more CPU).\n" +
        "It needs python3, make, a C compiler and the Node.js headers (those of the running Node when it ships them,\n" +
        `else downloaded from nodejs.org, or npm_config_nodedir); once they are there, \`npm rebuild\` builds it.\n${why}`,
);
process.exit(required ? 1 : 0);
