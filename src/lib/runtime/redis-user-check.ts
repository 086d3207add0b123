/**
 * break44 F3: REDIS_USERNAME is optional, so a process in production may run as Redis `default`
 * (`+@all ~*`: every key, every command) without a word. At start, in production, it asks Redis
 * `ACL WHOAMI`: a service's or the gateway's generated user may not run it (NOPERM), so an answer
 * means a user with more than the process's own keys and commands. One warning line names it; the
 * process still starts (deployments without ACL users keep working).
 */
import type { Redis } from "ioredis";

/** The warning for a connection that runs as `user`, a user that may run ACL WHOAMI. */
export const broadRedisUserWarning = (user: string): string =>
  `Redis user "${user}" holds more than this process's own keys and commands (it may run ACL WHOAMI${
    user === "default" ? "; default has every right: REDIS_USERNAME is not set" : ""
  }): any bug or injected command here reaches every service's data; give this process its own ACL user, REDIS_USERNAME / REDIS_PASSWORD (README "In production without Docker", docs/security.md "Redis ACL")`;

/**
 * In production, logs one warning when the connection's user may run `ACL WHOAMI` (not one of the
 * generated service or gateway users). Silent outside production, on NOPERM (a generated user), and
 * on any other error (a Redis without ACL, a dropped connection: the start goes on).
 */
export async function warnIfBroadRedisUser(
  redis: Redis | undefined,
  logger: { warn: (message: string) => void },
  nodeEnv: string | undefined,
): Promise<string | undefined> {
  if (!redis || nodeEnv !== "production") return undefined;
  const user = await redis.call("ACL", "WHOAMI").then(
    (answer) => String(answer),
    () => undefined,
  );
  if (user === undefined) return undefined;
  logger.warn(broadRedisUserWarning(user));
  return user;
}
