import type { ChainableCommander } from "ioredis";

/** A MULTI whose EXEC returned nothing: a WATCHed key changed, so nothing ran. Safe to try again. */
export class RedisExecAbortedError extends Error {
  readonly code = "REDIS_TRANSACTION_ABORTED";
  readonly retryable = true;

  constructor() {
    super("Redis transaction was aborted");
    this.name = "RedisExecAbortedError";
  }
}

/**
 * Runs a pipeline or MULTI and returns each command's reply, throwing the first command error:
 * `exec()` itself resolves even when commands in it failed, reporting them per command.
 */
export async function execOrThrow(commands: ChainableCommander): Promise<unknown[]> {
  const results = await commands.exec();
  if (!results) throw new RedisExecAbortedError();
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
