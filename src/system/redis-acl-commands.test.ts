/**
 * A command a service's code runs but its ACL user may not run fails only at run time (NOPERM, in
 * the middle of a saga). This reads each service's own sources for the Redis commands they name (Lua
 * `redis.call('X'` and ioredis `redis.x(`) and checks every one is on the service's list
 * (`serviceCommands`, redis-acl.ts). The multi-process test's empty `ACL LOG` is the run-time check.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SERVICE_COMMANDS, serviceCommands } from "./redis-acl.js";

const servicesDir = fileURLToPath(new URL("../services/", import.meta.url));
/** ioredis client methods that are not Redis commands. */
const NOT_COMMANDS = new Set(["call", "pipeline", "multi", "duplicate", "on", "off", "quit", "disconnect"]);

/**
 * Named in a service's code but run only by an operator with the `ops` user: order's list projection
 * `clear()` walks keys with SCAN for `Projection.rebuild()`, which no running service calls
 * (docs/security.md, Known limits).
 */
const OPERATOR_ONLY: Readonly<Record<string, readonly string[]>> = { order: ["scan"] };

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && !path.includes(".test.") && !path.includes("fixture") ? [path] : [];
  });

function commandsNamed(source: string): Set<string> {
  const named = new Set<string>();
  for (const m of source.matchAll(/redis\.call\(\s*['"](\w+)['"]/g)) named.add(m[1]!.toLowerCase());
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
