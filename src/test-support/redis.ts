/**
 * Real Redis for tests. Each test file gets its own `redis-server` on a free port, or the server at
 * REDIS_URL when set. Without Redis the suites skip loudly; with REQUIRE_REDIS=1 (CI) a missing
 * Redis fails the run instead.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { type RedisServer, redisAvailable, startRedisServer } from "./redis-server.js";

export {
  externalRedis,
  freePort,
  type RedisServer,
  redisAvailable,
  startRedisServer,
  UNREACHABLE_PORT,
} from "./redis-server.js";

const required = process.env.REQUIRE_REDIS === "1";

/**
 * `describe` for suites that need Redis: starts a server before the suite and stops it after.
 * `getRedis()` returns the running server inside tests and hooks.
 */
export function describeWithRedis(name: string, body: (getRedis: () => RedisServer) => void): void {
  if (!redisAvailable) {
    if (required) {
      describe(name, () => {
        it("needs Redis (REQUIRE_REDIS=1)", () => {
          throw new Error(
            "Redis is required (REQUIRE_REDIS=1) but neither REDIS_URL nor redis-server is available",
          );
        });
      });
      return;
    }
    console.warn(`\n*** SKIPPING "${name}": no Redis (set REDIS_URL or install redis-server) ***\n`);
    describe.skip(name, () => body(() => undefined as never));
    return;
  }
  describe(name, () => {
    let server: RedisServer | undefined;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(() => {
      if (!server) throw new Error("Redis server not started");
      return server;
    });
  });
}
