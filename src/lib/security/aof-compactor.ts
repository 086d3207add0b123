/**
 * Crypto-shredding on a Redis with an append-only file (break-12 F2): deleting an order's token key
 * removes it from the dataset, but the AOF keeps the `HSET` that wrote it until the file is
 * rewritten, and with that entry and the payment service's private key the sealed token opens
 * again. So after shredding, the order service asks Redis to rewrite the AOF (`BGREWRITEAOF`): the
 * rewritten file holds only the live dataset, and Redis deletes the old files.
 *
 * Throttled: at most one rewrite per `intervalMs` (a rewrite forks and copies the dataset), so a
 * shredded key stays in the AOF for at most about `intervalMs` plus the rewrite's own time. A
 * rewrite must *start* after the delete (one forked before it would copy the key): when Redis
 * answers that a rewrite is already running, the request is repeated `retryMs` later.
 * Backups (RDB or AOF copies) taken before the rewrite still hold the entries: docs/security.md.
 *
 * SLOWLOG too (break-gateway finding 2): Redis logs a slow command with its arguments (up to 32,
 * each cut at 128 characters), and the write of a token key (the `EVALSHA` and the `HSET` inside
 * it) holds the whole entry. So on the same schedule the compactor reads `SLOWLOG GET -1` and runs
 * `SLOWLOG RESET` when an entry names a token key in a command that may carry its value (not a
 * `DEL` or an `HGET`): operators keep their slow log otherwise. `MONITOR` streams and backups are
 * not reachable from here (docs/security.md).
 *
 * Only with AOF on (new-user bench finding 4): on a Redis with `appendonly no` there is no AOF to
 * clean, and `BGREWRITEAOF` there writes a full snapshot of the dataset into `appendonlydir/` in
 * redis-server's working directory (the opposite of shredding). So each run reads `INFO persistence`
 * first and skips the rewrite when `aof_enabled` is 0 (checked every run: an operator may switch AOF
 * on or off at run time). The SLOWLOG scrub runs either way.
 */
import type { Redis } from "ioredis";
import { tokenKeyKey } from "./payment-token.js";

/** The key prefix of the payment token keys (`tokenKeyKey`). */
const TOKEN_KEY_PREFIX = tokenKeyKey("");
/** Commands that name a token key but carry no entry value: they leave the slow log alone. */
const CARRY_NO_VALUE = new Set([
  "del",
  "unlink",
  "hget",
  "hmget",
  "hexists",
  "exists",
  "type",
  "ttl",
  "pttl",
]);

/** Whether a `SLOWLOG GET` reply holds an entry that may carry a token key's value. */
export function slowlogHoldsTokenKey(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  return entries.some((entry) => {
    const args = Array.isArray(entry) ? (entry as unknown[])[3] : undefined;
    if (!Array.isArray(args) || args.length === 0) return false;
    if (CARRY_NO_VALUE.has(String(args[0]).toLowerCase())) return false;
    return args.some((arg) => String(arg).includes(TOKEN_KEY_PREFIX));
  });
}

/**
 * Whether an `INFO persistence` reply says the AOF is on (`aof_enabled:1`). A reply without the
 * field counts as on: the rewrite is the safe side for shredding.
 */
export function aofEnabledFrom(info: string): boolean {
  const match = /^aof_enabled:(\d+)/m.exec(info);
  return match ? match[1] !== "0" : true;
}

export interface AofCompactorOptions {
  /** Least time between two rewrites, ms (default 60 s). */
  intervalMs?: number;
  /** Wait before asking again when a rewrite is already running, ms (default 1 s). */
  retryMs?: number;
  /** Told when a request fails for another reason (ACL, connection); the next shred asks again. */
  onError?: (error: unknown) => void;
  now?: () => number;
}

export const DEFAULT_AOF_REWRITE_INTERVAL_MS = 60_000;

/**
 * What one compactor run did: asked Redis for a rewrite; skipped it (AOF off); found one already
 * running (asks again `retryMs` later); failed (told to `onError`); or was stopped.
 */
export type AofRunOutcome = "rewrite-requested" | "aof-off" | "retrying" | "failed" | "stopped";

export class AofCompactor {
  private readonly intervalMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: AofCompactorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_AOF_REWRITE_INTERVAL_MS;
    this.retryMs = options.retryMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  /** Some key material was deleted: a rewrite will run once the interval allows (one per interval). */
  shredded(): void {
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastRequestAt + this.intervalMs - this.now());
    this.schedule(wait);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.request(), ms);
    this.timer.unref();
  }

  /**
   * Clears SLOWLOG when it holds a token key's write (see above). Resolves true when it reset it.
   * Errors go to `onError` (the next shred asks again).
   */
  async clearSlowlog(): Promise<boolean> {
    try {
      if (!slowlogHoldsTokenKey(await this.redis.call("SLOWLOG", "GET", "-1"))) return false;
      await this.redis.call("SLOWLOG", "RESET");
      return true;
    } catch (error) {
      if (!this.stopped) this.options.onError?.(error);
      return false;
    }
  }

  private async request(): Promise<void> {
    this.timer = undefined;
    await this.run();
  }

  /**
   * One run now (what a scheduled run does): the SLOWLOG scrub, then the rewrite request when the
   * AOF is on. Resolves with what it did; errors go to `onError` (the next shred asks again).
   */
  async run(): Promise<AofRunOutcome> {
    if (this.stopped) return "stopped";
    await this.clearSlowlog();
    if (this.stopped) return "stopped";
    try {
      const aofEnabled = aofEnabledFrom(await this.redis.info("persistence"));
      if (this.stopped) return "stopped";
      if (!aofEnabled) {
        // No AOF to clean; a rewrite would write the whole dataset to disk. Throttled as a rewrite.
        this.lastRequestAt = this.now();
        return "aof-off";
      }
      // "Background append only file rewriting started", or "... scheduled" (after a BGSAVE).
      await this.redis.bgrewriteaof();
      this.lastRequestAt = this.now();
      return "rewrite-requested";
    } catch (error) {
      if (this.stopped) return "stopped";
      if (/already in progress/i.test((error as Error).message)) {
        this.schedule(this.retryMs);
        return "retrying";
      }
      this.options.onError?.(error);
      return "failed";
    }
  }
}
