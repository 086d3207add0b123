/**
 * How a process started by the launcher (or the demo) tells its parent that it is up, or why it
 * could not start: a message on the IPC channel Node opens when the parent asks for one. Without a
 * parent channel (started by hand, by Docker) these do nothing.
 */
import { type Logger, logsWritten } from "../observability/logger.js";

export type LaunchSignal =
  | { type: "ordersaga:ready"; service: string; url: string }
  | { type: "ordersaga:failed"; service: string; reason: string };

export function isLaunchSignal(message: unknown): message is LaunchSignal {
  const m = message as { type?: unknown } | null;
  return (
    typeof m === "object" && m !== null && (m.type === "ordersaga:ready" || m.type === "ordersaga:failed")
  );
}

function send(signal: LaunchSignal): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(signal, undefined, {}, () => resolve());
  });
}

/**
 * Tells the parent the process is up, after `logger`'s lines so far are written: the launcher
 * prints its banner on the last "ready", and it must come after every start-up line.
 */
export async function signalReady(service: string, url: string, logger?: Logger): Promise<void> {
  if (logger) await logsWritten(logger);
  await send({ type: "ordersaga:ready", service, url });
}

/**
 * An error's message with its causes: fetch says only "fetch failed", and the reason (e.g.
 * "connect ECONNREFUSED 127.0.0.1:8080", "other side closed") is in `cause`, up to 3 levels deep.
 */
export function errorWithCauses(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    const code = (current as { code?: unknown }).code;
    const part = typeof code === "string" && !message.includes(code) ? `${message} [${code}]` : message;
    if (part && !parts.includes(part)) parts.push(part);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}

/** Where a failed start was to listen: the variable naming the host, and its value. */
export interface ListenTarget {
  variable: string;
  host: string;
}

/**
 * Whether `error` is the failure to listen on `listen.host`: its name did not resolve (Node's
 * getaddrinfo error carries the `hostname` it looked up) or is not an address of this machine.
 */
function isListenFailure(error: unknown, listen: ListenTarget | undefined): listen is ListenTarget {
  if (listen === undefined) return false;
  const e = error as { code?: unknown; hostname?: unknown; syscall?: unknown; address?: unknown } | null;
  if (e?.syscall === "listen" && e.code !== "EADDRINUSE") return true;
  return e?.hostname === listen.host || (e?.code === "EADDRNOTAVAIL" && e.address === listen.host);
}

/**
 * One line a person can act on for a failure to start: the common cases (port in use, a host it
 * cannot listen on, Redis unreachable) get their cause and what to do, anything else its message.
 * `listen`: the host the process was to listen on, so a bad GATEWAY_HOST / SERVICE_HOST is named
 * as such rather than taken for Redis (newuser8 M2).
 */
export function startFailureReason(error: unknown, port?: number, listen?: ListenTarget): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  // Read before the check below, which narrows `listen` away when it is false.
  const portVariable = listen?.variable.replace(/_HOST$/, "_PORT");
  if (isListenFailure(error, listen)) {
    return (
      `cannot listen on ${listen.variable}=${listen.host} (${message}): set ${listen.variable} to a ` +
      "name or address of this machine (127.0.0.1, the default; 0.0.0.0 for every interface)"
    );
  }
  if (code === "EADDRINUSE") {
    // The variable of the port that failed first (newuser13 F7: `npm start`'s fix, GATEWAY_PORT=0,
    // came last, after the launcher's options and a sentence about Redis that memory mode has not).
    const first = portVariable
      ? `start on another port: ${portVariable}=0 (any free port) or another number (npm run start:services: ` +
        "also -- --port-base 4000 or --any-port)"
      : "start on other ports (npm run start:services -- --port-base 4000, or --any-port; one process: " +
        "SERVICE_PORT / GATEWAY_PORT, 0 = any free port)";
    return (
      `port ${port ?? "?"} is already in use (another program, or another Ordersaga, listens there): ` +
      `${first}, or stop it. Over Redis, an Ordersaga over the same Redis is already your system: use it`
    );
  }
  if (/NOAUTH|WRONGPASS|invalid password|invalid DB index|ERR DB index/i.test(message)) {
    return `Redis refused the connection (${message}): check the password and database in REDIS_URL, and REDIS_USERNAME / REDIS_PASSWORD when set`;
  }
  if (
    code === "ECONNREFUSED" ||
    (error as { name?: unknown } | null)?.name === "RedisUnreachableError" ||
    /ECONNREFUSED|connect ETIMEDOUT|ENOTFOUND|EAI_AGAIN/.test(message)
  ) {
    return `Redis is unreachable (${message}): start redis-server, or set REDIS_URL to where it runs`;
  }
  return message;
}

/**
 * Reports the failure to the parent (if any) and on stderr as one line, then exits with 1.
 * `listen`: see startFailureReason.
 */
export async function failStart(
  service: string,
  error: unknown,
  port?: number,
  listen?: ListenTarget,
): Promise<never> {
  const reason = startFailureReason(error, port, listen);
  process.stderr.write(`${service} could not start: ${reason}\n`);
  await send({ type: "ordersaga:failed", service, reason });
  process.exit(1);
}

/**
 * Reads the start-up configuration (`parseEnv`, the tracing set-up, ...) of an entry point: a bad
 * value (a `ConfigError`, `Invalid configuration: VAR: why`) ends the process like every other start
 * failure, one line on stderr, the same line as the launcher's reason, exit 1; never a stack trace.
 */
export async function configOrFail<T>(service: string, read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    return failStart(service, error);
  }
}
