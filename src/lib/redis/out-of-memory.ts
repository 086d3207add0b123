/**
 * Redis at `maxmemory` under `noeviction` refuses every command that may grow memory with
 * "OOM command not allowed when used memory > 'maxmemory'" (and keeps serving reads and deletes).
 * That is a condition of the shared store, the same for every instance, not a fault of one request
 * or one process: an HTTP request answers 503 `STORE_OUT_OF_MEMORY` with Retry-After (src/lib/http
 * server.ts), which the gateway neither counts against the instance nor resends (break38 F2).
 */

/** Redis's reply code of a refusal for memory. */
const OOM_PREFIX = "OOM ";

/**
 * True when Redis refused the command for memory: the error itself, what it wraps (`cause`, a few
 * levels), or a MULTI whose queued command was refused (ioredis rejects EXEC with `EXECABORT` and
 * the refusals in `previousErrors`).
 */
export function isOutOfMemory(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    if (!(current instanceof Error)) return false;
    if (current.message.startsWith(OOM_PREFIX)) return true;
    const previous = (current as { previousErrors?: unknown }).previousErrors;
    if (
      Array.isArray(previous) &&
      previous.some((e) => e instanceof Error && e.message.startsWith(OOM_PREFIX))
    )
      return true;
    current = current.cause;
  }
  return false;
}
