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
 *
 * Across instances (bus8): with `throttleKey`, the instances share the throttle, so N order
 * instances fork Redis once per interval, not N times. A run claims the key (`SET NX PX`, value
 * `claimed`) before asking for a rewrite; once Redis accepted the request, the holder rewrites the
 * value to `requested:<Redis TIME read before the request, µs>`. Only a requested claim covers
 * (break9 F3: a holder that met "already in progress" and was stopped while retrying had left a
 * bare claim that others took for a rewrite, and no rewrite followed). When another instance holds
 * a requested claim, the run compares two durations, never two clocks: how long ago the request
 * was (Redis `TIME` minus the stored time, both Redis's clock; the stored time precedes the
 * request) and how long ago this instance's oldest uncovered shred was (this process's clock, read
 * *before* `TIME` was sent, so it can only be shorter than the truth). Shred older than the
 * request: the rewrite starts after the delete, and the shred is covered. Otherwise the run waits
 * for the claim to expire and claims again; a claim not yet requested is asked about again every
 * `retryMs` (its holder may be retrying, or gone: then it expires). A holder whose request fails
 * for another reason than "already in progress", or that stops while retrying, deletes its claim,
 * so the next run anywhere asks again.
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
  /**
   * The key the instances of one Redis share the throttle on (a string with a TTL; `SET`, `GET`,
   * `DEL` and `TIME` run). Without it each compactor throttles alone (one Redis client, tests).
   */
  throttleKey?: string;
  /** Told when a request fails for another reason (ACL, connection); the next shred asks again. */
  onError?: (error: unknown) => void;
  now?: () => number;
}

export const DEFAULT_AOF_REWRITE_INTERVAL_MS = 60_000;

/**
 * What one compactor run did: asked Redis for a rewrite; skipped it (AOF off); found one already
 * running (asks again `retryMs` later); left it to another instance's claim that started after
 * this instance's shreds (`covered`) or waits for that claim to expire (`waiting`); failed (told
 * to `onError`); or was stopped.
 */
export type AofRunOutcome =
  "rewrite-requested" | "aof-off" | "retrying" | "covered" | "waiting" | "failed" | "stopped";

/**
 * Rounding room when comparing a shred's age with a claim's age, ms. Both are read to the
 * microsecond (`TIME`, `performance.now()`): shreds and a claim a few ms apart are told apart.
 */
const AGE_ROUNDING_MS = 0.05;

/** The shared key's value while its holder has not had a request accepted yet: covers nobody. */
const CLAIMED = "claimed";
/** The shared key's value once a rewrite was requested: this prefix, then Redis µs before it. */
const REQUESTED_PREFIX = "requested:";

/** The request time (Redis µs) a shared key's value records, or undefined for a bare claim. */
export function requestedAtUs(value: string): number | undefined {
  if (!value.startsWith(REQUESTED_PREFIX)) return undefined;
  const us = Number(value.slice(REQUESTED_PREFIX.length));
  return Number.isFinite(us) && us > 0 ? us : undefined;
}

/** Another instance's claim: covers this instance's shreds, or expires in `waitMs`. */
type Claim = { kind: "claimed" } | { kind: "covered" } | { kind: "wait"; waitMs: number };

export class AofCompactor {
  private readonly intervalMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  /** When the oldest shred no requested rewrite covers yet happened (`performance.now()`), if any. */
  private uncoveredSince: number | undefined;
  /** This instance holds the shared claim and retries its request (a rewrite was running). */
  private holding = false;
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
    this.uncoveredSince ??= performance.now();
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastRequestAt + this.intervalMs - this.now());
    this.schedule(wait);
  }

  /** Whether a run is scheduled (a shred waits for the interval, a retry, or another's claim). */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A claim held while retrying has no request behind it: give it up for the others (best effort;
    // it expires anyway, and a bare claim never covers).
    void this.release();
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
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
   * AOF is on and no other instance's claim covers this one's shreds. Resolves with what it did;
   * errors go to `onError` (the next shred asks again).
   */
  async run(): Promise<AofRunOutcome> {
    if (this.stopped) return "stopped";
    // A run without a recorded shred (called directly) covers "now".
    const since = this.uncoveredSince ?? performance.now();
    this.uncoveredSince = undefined;
    const outcome = await this.attempt(since);
    // Not covered yet: keep the oldest shred for the next run.
    if (outcome === "waiting" || outcome === "retrying" || outcome === "failed")
      this.uncoveredSince = Math.min(since, this.uncoveredSince ?? since);
    return outcome;
  }

  private async attempt(since: number): Promise<AofRunOutcome> {
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
      if (!this.holding) {
        const claim = await this.claim(since);
        if (this.stopped) return "stopped";
        if (claim.kind === "covered") return "covered";
        if (claim.kind === "wait") {
          this.schedule(claim.waitMs);
          return "waiting";
        }
        this.holding = true;
      }
      // Read before the request: the recorded time can only be earlier than the rewrite's start.
      const requestUs = this.options.throttleKey === undefined ? 0 : await this.redisTimeUs();
      // "Background append only file rewriting started", or "... scheduled" (after a BGSAVE).
      await this.redis.bgrewriteaof();
      this.holding = false;
      this.lastRequestAt = this.now();
      await this.markRequested(requestUs);
      return "rewrite-requested";
    } catch (error) {
      if (this.stopped) return "stopped";
      if (/already in progress/i.test((error as Error).message)) {
        this.schedule(this.retryMs);
        return "retrying";
      }
      await this.release();
      this.options.onError?.(error);
      return "failed";
    }
  }

  /**
   * Claims the shared throttle, or says whether the holder's claim (made after `since`) covers this
   * instance's shreds. Always "claimed" without a throttle key.
   */
  private async claim(since: number): Promise<Claim> {
    const key = this.options.throttleKey;
    if (key === undefined) return { kind: "claimed" };
    // Read before TIME is sent: the shred's age measured here is at most its age at TIME.
    const shredAgeMs = performance.now() - since;
    const redisNowUs = await this.redisTimeUs();
    // NX with GET: the holder's value when the key exists (nothing set), else null (claimed).
    const held = (await this.redis.call("SET", key, CLAIMED, "PX", String(this.intervalMs), "NX", "GET")) as
      string | null;
    if (held === null) return { kind: "claimed" };
    const requestedUs = requestedAtUs(held);
    // Not requested yet (its holder retries, or is gone and the claim expires): look again soon.
    if (requestedUs === undefined) return { kind: "wait", waitMs: this.retryMs };
    const requestAgeMs = (redisNowUs - requestedUs) / 1_000;
    if (shredAgeMs > requestAgeMs + AGE_ROUNDING_MS) return { kind: "covered" };
    // The holder's interval may differ from this one's: ask again at least `retryMs` later.
    return { kind: "wait", waitMs: Math.max(this.retryMs, this.intervalMs - requestAgeMs) };
  }

  /** Redis `TIME` in µs since the epoch (an integer below 2^53, exact as a number). */
  private async redisTimeUs(): Promise<number> {
    const [seconds, micros] = (await this.redis.time()) as [number | string, number | string];
    return Number(seconds) * 1_000_000 + Number(micros);
  }

  /**
   * Records on the shared key that a rewrite was requested at `requestUs` (Redis µs, read before
   * the request); the throttle interval starts again from here. Best effort: left a bare claim,
   * the others ask again once it expires (an extra rewrite, never a missed one).
   */
  private async markRequested(requestUs: number): Promise<void> {
    const key = this.options.throttleKey;
    if (key === undefined) return;
    const value = `${REQUESTED_PREFIX}${requestUs}`;
    await this.redis.set(key, value, "PX", this.intervalMs).catch((error: unknown) => {
      if (!this.stopped) this.options.onError?.(error);
    });
  }

  /** Drops this instance's claim after a failed request (best effort: it expires anyway). */
  private async release(): Promise<void> {
    const key = this.options.throttleKey;
    if (!this.holding || key === undefined) return;
    this.holding = false;
    await this.redis.del(key).catch(() => {});
  }
}
