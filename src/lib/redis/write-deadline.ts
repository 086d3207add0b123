/**
 * A write's deadline checked in the write itself (break35 F1, fixdl): the gateway's credential
 * carries a deadline after which the client was told a check of the resource is conclusive
 * (`details.applicableUntil`); a service refuses a request past it on arrival, but an instance
 * stalled (SIGSTOP, GC, a slow Redis) between that check and its write could still apply it later.
 * A write given `applyBy` (epoch ms, `gatewayDeadlineOf`) compares it with the store's clock in its
 * atomic step, before any write: the Redis adapters with Redis `TIME` in their Lua script
 * (`DEADLINE_LUA`), the in-memory ones with their clock. Past it nothing is written and the store
 * throws `WriteDeadlineError`; the route answers 503 GATEWAY_DEADLINE_PASSED as for the order's
 * append (`AppendDeadlineError`).
 */

/**
 * `past_deadline(by)`: nil when `by` is '' (no deadline) or Redis `TIME` is not past it, else that
 * time in epoch ms. Call it before the script's first write (`TIME` before writes is allowed: scripts
 * replicate their effects).
 */
export const DEADLINE_LUA = `
local function past_deadline(by)
  if by == nil or by == '' then return nil end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now > tonumber(by) then return now end
  return nil
end
`;

/** The script's ARGV for `applyBy`: '' for none, else whole epoch ms. */
export const deadlineArg = (applyBy: number | undefined): string | number =>
  applyBy === undefined ? "" : Math.floor(applyBy);

/** What a script answers when `past_deadline` refused its write: `late:<store ms>`. */
export const LATE_REPLY = "late:";

/**
 * The write's `applyBy` had passed on the store's clock when its atomic step ran: nothing was
 * written. Not retryable: the deadline stays passed.
 */
export class WriteDeadlineError extends Error {
  readonly code = "WRITE_DEADLINE_PASSED";
  readonly retryable = false;
  readonly details: { write: string; applyBy: number; storeNow: number };

  constructor(write: string, applyBy: number, storeNow: number) {
    super(
      `${write} refused: its deadline ${new Date(applyBy).toISOString()} passed (store time ${new Date(storeNow).toISOString()}); nothing written`,
    );
    this.name = "WriteDeadlineError";
    this.details = { write, applyBy, storeNow };
  }
}

/** Throws `WriteDeadlineError` when `storeNow` is past `applyBy` (the in-memory adapters' check). */
export function checkWriteDeadline(write: string, applyBy: number | undefined, storeNow: number): void {
  if (applyBy !== undefined && storeNow > applyBy) throw new WriteDeadlineError(write, applyBy, storeNow);
}

/** A script's `late:<ms>` reply as the error (`applyBy` the deadline the write was given). */
export function lateReplyError(
  write: string,
  applyBy: number | undefined,
  reply: string,
): WriteDeadlineError {
  return new WriteDeadlineError(write, applyBy ?? 0, Number(reply.slice(LATE_REPLY.length)));
}
