/**
 * A command a service's code runs but its ACL user may not run fails only at run time (NOPERM, in
 * the middle of a saga). This reads each service's own sources for the Redis commands they name (Lua
 * `redis.call('X'` or `redis.pcall('X'`, and ioredis `redis.x(`) and checks every one is on the service's list
 * (`serviceCommands`, redis-acl.ts). The multi-process test's empty `ACL LOG` is the run-time check.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CONNECTION, GATEWAY_COMMANDS, SERVICE_COMMANDS, serviceCommands } from "./redis-acl.js";

const servicesDir = fileURLToPath(new URL("../services/", import.meta.url));
const srcDir = fileURLToPath(new URL("../", import.meta.url));
/** ioredis client methods that are not Redis commands. */
const NOT_COMMANDS = new Set([
  "call",
  "pcall",
  "pipeline",
  "multi",
  "duplicate",
  "on",
  "off",
  "quit",
  "disconnect",
  // Lua's helper in scripts (`redis.sha1hex(...)`), not a command.
  "sha1hex",
]);

/**
 * Named in a service's code but run only by an operator with the `ops` user: order's list projection
 * `clear()` walks keys with SCAN for `Projection.rebuild()`, which no running service calls
 * (docs/security.md, Known limits); user's `sealClearUsers` (the migration of users stored in clear,
 * `scripts/seal-clear-users.ts`) and `resealUsers` (a data key rotation, `scripts/reseal-users.ts`)
 * walk the user records with SCAN, run by an operator.
 */
const OPERATOR_ONLY: Readonly<Record<string, readonly string[]>> = { order: ["scan"], user: ["scan"] };

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && !path.includes(".test.") && !path.includes("fixture") ? [path] : [];
  });

function commandsNamed(source: string): Set<string> {
  const named = new Set<string>();
  for (const m of source.matchAll(/redis\.p?call\(\s*['"](\w+)['"]/g)) named.add(m[1]!.toLowerCase());
  for (const m of source.matchAll(/\bredis\.(\w+)\(/g)) named.add(m[1]!.toLowerCase());
  return named;
}

describe("each service's Redis ACL command list", () => {
  it.each(Object.keys(SERVICE_COMMANDS))("allows every command %s's own code names", (service) => {
    const allowed = new Set(serviceCommands(service).map((c) => c.toLowerCase()));
    const missing = new Set<string>();
    for (const file of sources(join(servicesDir, service)))
      for (const command of commandsNamed(readFileSync(file, "utf8")))
        if (!allowed.has(command) && !NOT_COMMANDS.has(command) && !OPERATOR_ONLY[service]?.includes(command))
          missing.add(command);
    expect([...missing]).toEqual([]);
  });
});

/**
 * The gateway process's Redis code: its own sources and the library modules it runs on a Redis
 * platform (discovery, the DLQ store, the hint publisher, the shared clock, scripts, the platform).
 */
const GATEWAY_SOURCES = [
  ...sources(join(srcDir, "gateway")),
  ...[
    "lib/discovery/redis-registry.ts",
    "lib/discovery/scripts.ts",
    "lib/dlq/redis-dead-letter-store.ts",
    "lib/bus/transports/redis-pubsub.ts",
    "lib/redis/clock.ts",
    "lib/redis/lua-script.ts",
    "lib/runtime/platform.ts",
    "lib/runtime/process.ts",
    "lib/runtime/redis-ready.ts",
  ].map((file) => join(srcDir, file)),
];
/** Of the Streams transport, the gateway runs only redelivery: the script and the two methods. */
const REDELIVERY =
  /const REDELIVER_ONCE = new LuaScript\(`[\s\S]*?`\);|async redeliver(?:Once)?\([\s\S]*?\n {2}\}/g;
/** The hint transport's subscriber side: the gateway publishes hints and subscribes to none. */
const GATEWAY_NEVER_RUNS = new Set(["subscribe", "psubscribe", "unsubscribe", "punsubscribe"]);
/** Every data command a library could run (the universe of the ACL lists), as method names. */
const REDIS_METHODS = new Set(
  [...new Set([...Object.values(SERVICE_COMMANDS).flat(), ...serviceCommands("order"), ...GATEWAY_COMMANDS])]
    .map((c) => c.split("|")[0]!)
    .concat(["hkeys", "hvals", "hlen", "lpush", "rpop", "ltrim", "xlen", "xdel", "zcard", "zcount"]),
);
/** Names that are also Map/Set/logger methods count only when called on a Redis client or pipeline. */
const AMBIGUOUS = new Set(["get", "set", "del", "exists", "info", "time", "publish", "exec"]);

function gatewayCommandsNamed(source: string): Set<string> {
  const named = commandsNamed(source);
  for (const m of source.matchAll(/\.(\w+)\(/g)) {
    const name = m[1]!.toLowerCase();
    if (REDIS_METHODS.has(name) && !AMBIGUOUS.has(name)) named.add(name);
  }
  // ioredis's `xBuffer` variant (the reply as bytes) is the command `x`.
  for (const m of source.matchAll(/\b(?:redis|pipeline)\s*\.(\w+?)(?:Buffer)?\(/g))
    named.add(m[1]!.toLowerCase());
  // `.multi()` chains are MULTI … EXEC; `script("LOAD", …)` is SCRIPT LOAD.
  if (named.has("multi")) named.add("exec");
  if (named.delete("script") && /\.script\(\s*["']LOAD["']/.test(source)) named.add("script|load");
  return named;
}

describe("the gateway's Redis ACL command list", () => {
  const named = new Set<string>();
  for (const file of GATEWAY_SOURCES) {
    const text = readFileSync(file, "utf8");
    for (const command of gatewayCommandsNamed(text)) named.add(command);
  }
  const transport = readFileSync(join(srcDir, "lib/bus/transports/redis-streams.ts"), "utf8");
  for (const part of transport.match(REDELIVERY) ?? [])
    for (const command of gatewayCommandsNamed(part)) named.add(command);
  for (const command of [...named])
    if ((NOT_COMMANDS.has(command) && command !== "multi") || GATEWAY_NEVER_RUNS.has(command))
      named.delete(command);
  const allowed = new Set(GATEWAY_COMMANDS);

  it("finds the redelivery code it reads (the script and both methods)", () => {
    expect(transport.match(REDELIVERY)).toHaveLength(3);
  });

  it("allows every command the gateway's code names", () => {
    expect([...named].filter((c) => !allowed.has(c)).sort()).toEqual([]);
  });

  it("allows nothing the gateway's code does not name (connection housekeeping aside)", () => {
    const housekeeping = new Set(CONNECTION);
    expect(GATEWAY_COMMANDS.filter((c) => !named.has(c) && !housekeeping.has(c)).sort()).toEqual([]);
  });
});
