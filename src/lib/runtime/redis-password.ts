/**
 * A password configured for a Redis that has none (newuser9 F5). ioredis sends it, Redis answers
 * "AUTH called without any password configured", and ioredis prints a raw `[WARN]` line to the
 * console (once per connection) and goes on: the process started, over a Redis that is probably not
 * the one meant (whoever set the password expected a protected one). Checked once at start, before
 * the process's connections are made: refused in production, one warning line in development, and
 * then the password is not sent (so ioredis has nothing to print).
 */
import { Redis } from "ioredis";

/** How a process logs in to Redis: REDIS_URL, and REDIS_USERNAME / REDIS_PASSWORD when set. */
export interface RedisLogin {
  url: string;
  username?: string;
  password?: string;
}

/** Bound (ms) of the check's connect: an unreachable Redis is reported by the start's own wait. */
export const REDIS_PASSWORD_CHECK_MS = 2_000;

/** The login of a process's environment (REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD). */
export function redisLogin(env: {
  REDIS_URL: string;
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
}): RedisLogin {
  return {
    url: env.REDIS_URL,
    ...(env.REDIS_USERNAME === undefined ? {} : { username: env.REDIS_USERNAME }),
    ...(env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD }),
  };
}

/** Redis's answers to an AUTH when it has no password (Redis 6+, then Redis 5 and older). */
const NO_PASSWORD_SET = /without any password configured|no password is set/i;

/**
 * Whether the Redis of `login` refuses its password only because it has none. One short-lived
 * connection without credentials sends the AUTH itself; any other outcome (accepted, WRONGPASS,
 * unreachable) is `false`: the process's own connection reports those as before.
 *
 * @param timeoutMs how long (ms) the probe's connect may take; it never retries.
 */
export async function redisHasNoPassword(login: RedisLogin, timeoutMs: number): Promise<boolean> {
  // A malformed REDIS_URL is the start's own validation's to report, in its words.
  if (!URL.canParse(login.url)) return false;
  const password = passwordOf(login);
  if (password === undefined) return false;
  const target = new URL(login.url);
  target.username = "";
  target.password = "";
  target.pathname = "";
  const probe = new Redis(target.toString(), {
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    disableClientInfo: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  probe.on("error", () => undefined);
  try {
    await probe.connect();
    const username = login.username ?? (decodeURIComponent(new URL(login.url).username) || undefined);
    await probe.call("AUTH", ...(username === undefined ? [password] : [username, password]));
    return false;
  } catch (error) {
    return error instanceof Error && NO_PASSWORD_SET.test(error.message);
  } finally {
    probe.disconnect();
  }
}

/**
 * The login a process should use. A password for a Redis that has none: in production an Error
 * (the process refuses to start with its message); otherwise `warn` is called with one line and the
 * login comes back without the password (URL and REDIS_PASSWORD), so it is not sent. Any other
 * login comes back unchanged.
 *
 * @param timeoutMs bound (ms) of the check's connect (REDIS_CONNECT_TIMEOUT_MS).
 * @throws Error in production when the Redis has no password.
 */
export async function checkRedisPassword(
  login: RedisLogin,
  options: { production: boolean; warn: (message: string) => void; timeoutMs: number },
): Promise<RedisLogin> {
  if (!(await redisHasNoPassword(login, options.timeoutMs))) return login;
  const where = redisAddress(login.url);
  const source = login.password !== undefined ? "REDIS_PASSWORD" : "REDIS_URL";
  if (options.production) {
    throw new Error(
      `a password is set (${source}) but the Redis at ${where} has none: probably not the Redis meant; point REDIS_URL at the right one, or remove the password`,
    );
  }
  options.warn(
    `a password is set (${source}) but the Redis at ${where} has none (probably not the Redis meant): going on without it; NODE_ENV=production refuses to start`,
  );
  const url = new URL(login.url);
  url.password = "";
  const { password: _dropped, ...rest } = login;
  return { ...rest, url: url.toString() };
}

function passwordOf(login: RedisLogin): string | undefined {
  if (login.password !== undefined) return login.password;
  return decodeURIComponent(new URL(login.url).password) || undefined;
}

/** `host:port/db` of a Redis URL, without its credentials (a log line must not carry them). */
function redisAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
}
