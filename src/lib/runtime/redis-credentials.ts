/**
 * A Redis that refuses this process's credentials after it was up (its ACL user's password was
 * changed or the user removed or disabled, newuser8 H1) never lets it back in: ioredis would retry
 * the login forever while the process looked alive. The process exits instead, so the launcher
 * (or the orchestrator) restarts it, and its start-up failure names the reason.
 */
import { type Logger, logsWritten } from "../observability/logger.js";

/**
 * Whether a connection error means Redis refused who we are (`WRONGPASS`, `NOAUTH`), or refused a
 * command of the connection's own handshake (`NOPERM` on SELECT, CLIENT SETNAME: a command's NOPERM
 * rejects that command and is never a connection error). Retrying cannot fix either.
 */
export function isCredentialsRejection(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(message);
}

/**
 * The `onError` of a running process's Redis connection: logs transient errors (when `connected`),
 * and on a credentials rejection logs one fatal line and exits with code 1.
 */
export function redisErrorHandler(
  logger: Logger,
  isConnected: () => boolean,
  exit: (code: number) => void = (code) => process.exit(code),
): (error: Error) => void {
  let exiting = false;
  return (error) => {
    if (!isConnected() || exiting) return;
    if (!isCredentialsRejection(error)) {
      logger.warn({ err: error }, "redis connection error");
      return;
    }
    exiting = true;
    logger.fatal(
      { err: error },
      `Redis refused this process's credentials (${error.message}): exiting (REDIS_USERNAME / REDIS_PASSWORD no longer valid; another launch with --redis-acl may have reset them)`,
    );
    // The fatal line must leave the process before it ends.
    void logsWritten(logger).then(() => exit(1));
  };
}
