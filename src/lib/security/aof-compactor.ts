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
 * `claimed:<holder>`) before asking for a rewrite; once Redis accepted the request, the holder
 * sets the value to `requested:<Redis TIME read before the request, µs>:<holder>`, and once the
 * rewrite completed to `done:<that time>:<holder>`. Only a done value covers: a bare claim does
 * not (break9 F3: a holder that met "already in progress" and was stopped while retrying had left
 * a bare claim that others took for a rewrite, and no rewrite followed), nor does a rewrite Redis
 * accepted that then failed (aof9: the fork failed, or could not write the new file, disk full:
 * `aof_last_bgrewrite_status:err`). So the holder watches its rewrite (`INFO persistence` every
 * `retryMs`) until it ended; when it failed, the holder tells `onError`, sets the value back to
 * its claim, and asks again once the interval since its request has passed. When another instance
 * holds a requested or done value, the run compares two durations, never two clocks: how long ago
 * the request was (Redis `TIME` minus the stored time, both Redis's clock; the stored time
 * precedes the request) and how long ago this instance's oldest uncovered shred was (this
 * process's clock, read *before* `TIME` was sent, so it can only be shorter than the truth). Shred
 * older than the request: the rewrite starts after the delete, and covers the shred once done
 * (until then the run looks again every `retryMs`). Otherwise the run waits for the key to expire
 * and claims again; a claim not yet requested is asked about again every `retryMs` (its holder may
 * be retrying, or gone: then it expires). The holder refreshes the key's TTL (a compare-and-set
 * script on its own value) at every retry and every watch, so a wait longer than the interval does
 * not let it lapse and another instance request a second rewrite (aof9). A holder whose request
 * Redis refuses for another reason than "already in progress" (a read-only dir, no space, a fork
 * ENOMEM) sets its value to `failed:<Redis µs>:<holder>` for the interval (break16 F4: deleting it
 * let every instance ask again at every poll): it covers nobody, and the next request anywhere comes
 * once it expires. A holder that stops while retrying or watching deletes its value, so the next run
 * anywhere asks again.
 *
 * Stamps in Redis's future (break16 F1): a `requested:`, `done:` or `failed:` stamp later than
 * Redis `TIME` (beyond a 1 s margin: a holder may stamp between a run's `TIME` and its `SET`) was
 * written under a clock that was ahead, stepped back since or a former primary's. Its "age" is
 * negative, so every later shred looked older than the request and was judged covered until the
 * clock caught up (the size of the step), while the key's expiry, wall time in Redis, moved later by
 * the step too. Such a value covers nothing: a run takes it over (compare-and-set on the value it
 * read) and requests a rewrite, as a pending mark later than `TIME` is dropped (break15 F2, below).
 *
 * Clocks: the throttle's own interval runs on `now` (default monotonic; the order service passes its
 * shared clock), never the host's wall clock (break16 F3: a step back of it by S delayed the next
 * rewrite by S). Durations across instances are Redis `TIME` differences, as above.
 *
 * Hand-over (break14 F3): a shred that waits for the interval (or for a retry, or for a watched
 * rewrite) lives in this process until a rewrite covers it, and a stopping instance (SIGTERM, a
 * deploy) used to drop it: nobody asked for a rewrite until another order was shredded. So with
 * `throttleKey`, each shred also records on `<throttleKey>:pending` the Redis `TIME` (µs) of the
 * newest shred (read in a script after the delete, so any rewrite requested at or after it covers
 * the delete). The holder whose rewrite completed deletes it when it is not newer than that
 * rewrite's request time (a script, so a newer shred's mark stays), or when it is later than Redis
 * `TIME` at the delete (break15 F2: a mark dated in Redis's future, written while the clock was
 * ahead or by a former primary, is no later shred; kept, it asked for a rewrite every interval
 * until the clock reached it; for the same reason a shred's mark replaces a later one). Every started
 * compactor (`start()`) looks at it at once and every `pollMs`: when it holds a mark and this
 * instance has no work of its own scheduled, it runs as for a shred of its own made now (the shared
 * throttle keeps one rewrite per interval across instances). So a shred left by a stopped instance
 * is covered by the next rewrite the interval allows, at most `pollMs` after it stopped.
 * Backups (RDB or AOF copies) taken before the rewrite still hold the entries: docs/security.md.
 * So does the temp file of a rewrite whose Redis was killed during it (break16 F2:
 * `temp-rewriteaof-bg-<pid>.aof` in Redis's `dir`, never deleted by Redis): out of reach from
 * here, but a restart seen (`aof_rewrites` lower than at the last reading) is told to
 * `onRestartSeen`, which the order service logs as a warning naming the file.
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
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { monotonicMs } from "../redis/clock.js";
import { LuaScript } from "../redis/lua-script.js";
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
  /**
   * Told when a request fails for another reason (ACL, connection, a refusal: asked again after the
   * interval, or at the next shred without a throttle key), and
   * when a rewrite Redis accepted then failed (asked for again once the interval has passed).
   */
  onError?: (error: unknown) => void;
  /**
   * How often a started compactor looks for shreds that a stopped instance left pending (`start()`),
   * ms (default a quarter of the interval, at least `retryMs`).
   */
  pollMs?: number;
  /**
   * Told when Redis is seen to have restarted (its `aof_rewrites` count went down; or its stats were
   * reset): a Redis killed during a rewrite leaves `temp-rewriteaof-bg-<pid>.aof` in its `dir`, a full
   * snapshot holding every token key live at the fork, which Redis never deletes (break16 F2;
   * docs/security.md). Told once per restart seen, with the warning's text.
   */
  onRestartSeen?: (message: string) => void;
  /**
   * The throttle's clock, epoch ms (default monotonic: `performance.timeOrigin + performance.now()`,
   * break16 F3: with `Date.now`, a host clock step back by S delayed the next rewrite by S). The
   * order service passes its shared clock.
   */
  now?: () => number;
}

/** The warning told to `onRestartSeen` (break16 F2). */
export const RESTART_LEFTOVER_WARNING =
  "Redis restarted (its AOF rewrite count went down): if it was killed during an AOF rewrite, its dir " +
  "may hold a temp-rewriteaof-bg-<pid>.aof file, a full snapshot with token keys that Redis never " +
  "deletes; delete stale temp-rewriteaof-* files there (docs/security.md, crypto-shredding)";

/** The key on which shreds waiting for a rewrite are recorded for every instance (break14 F3). */
export const pendingKeyOf = (throttleKey: string): string => `${throttleKey}:pending`;

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
/** The shared key's value once that rewrite completed without error: covers the shreds before it. */
const DONE_PREFIX = "done:";
/**
 * The shared key's value after Redis refused a request (not "already in progress": a read-only dir,
 * no space, a fork ENOMEM; break16 F4): this prefix, then Redis µs at the refusal. Covers nobody,
 * but throttles: the next request anywhere comes once it expires, an interval later.
 */
const FAILED_PREFIX = "failed:";
/**
 * How far (ms) a stamp on the shared key may be later than the `TIME` a run read before its `SET`:
 * a holder may stamp in between (a round trip). Beyond it the stamp was written under a clock that
 * was ahead (break16 F1: stepped back since, or a former primary's) and covers nothing.
 */
const FUTURE_STAMP_MARGIN_MS = 1_000;

/**
 * The request time (Redis µs) a `requested:` value records, or undefined for any other value.
 * Reads `requested:<µs>` (the previous release) and `requested:<µs>:<holder>`.
 */
export function requestedAtUs(value: string): number | undefined {
  return stampOf(value, REQUESTED_PREFIX);
}

/** The request time (Redis µs) a `done:<µs>:<holder>` value records, or undefined. */
export function doneAtUs(value: string): number | undefined {
  return stampOf(value, DONE_PREFIX);
}

/** Redis µs a `failed:<µs>:<holder>` value records (a refused request), or undefined. */
export function failedAtUs(value: string): number | undefined {
  return stampOf(value, FAILED_PREFIX);
}

function stampOf(value: string, prefix: string): number | undefined {
  if (!value.startsWith(prefix)) return undefined;
  const us = Number(value.slice(prefix.length).split(":")[0]);
  return Number.isFinite(us) && us > 0 ? us : undefined;
}

/** What an `INFO persistence` reply says of the AOF rewrites. */
export interface RewriteState {
  /** A rewrite runs (`aof_rewrite_in_progress:1`) or waits for a save (`aof_rewrite_scheduled:1`). */
  busy: boolean;
  /**
   * `aof_last_bgrewrite_status:err`: the last rewrite that ended failed (its fork, its file, or it
   * was killed). A reply without the field counts as ok (every Redis since 2.6 gives it).
   */
  lastFailed: boolean;
  /** `aof_rewrites`: rewrites forked since start or `CONFIG RESETSTAT` (Redis 7); undefined if absent. */
  started: number | undefined;
}

/** Reads the rewrite fields of an `INFO persistence` reply. */
export function rewriteStateFrom(info: string): RewriteState {
  const field = (name: string) => new RegExp(`^${name}:([^\\r\\n]*)`, "m").exec(info)?.[1];
  const started = field("aof_rewrites");
  return {
    busy: field("aof_rewrite_in_progress") === "1" || field("aof_rewrite_scheduled") === "1",
    lastFailed: field("aof_last_bgrewrite_status") === "err",
    started: started === undefined || !/^\d+$/.test(started) ? undefined : Number(started),
  };
}

/**
 * Compare-and-set on the shared key (aof9): only while it still holds this instance's value
 * (ARGV[1]) is it set to ARGV[2] with a TTL of ARGV[3] ms (ARGV[2] equal to ARGV[1]: a refresh;
 * empty: a delete). 1 when done, 0 when the key holds something else (lapsed, or taken since).
 */
const SWAP_CLAIM = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`);

/**
 * Records a shred on the pending key: its value becomes Redis `TIME` in µs (a decimal integer),
 * read inside the script, after the delete this shred follows. Always this script's own TIME, even
 * over a later value (break15 F2): a value later than TIME was written before this script, so under
 * a clock that was ahead or stepped back since (or by a former primary with a faster clock), and a
 * rewrite requested after this TIME covers that shred too; kept, it would outlive every rewrite.
 */
const MARK_PENDING = new LuaScript(`
local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] .. string.format('%06d', tonumber(t[2])))
return 1
`);

/**
 * Clears the pending key when its shreds are covered: when it is not later than ARGV[1] (Redis µs
 * of a completed rewrite's request; empty: Redis TIME now, with AOF off). Also when it is later
 * than Redis TIME now (break15 F2): no shred since the request can be dated after TIME, so such a
 * mark was written under a clock that was ahead (stepped back since, or a former primary's) before
 * this clear, and kept it would ask for a full rewrite every interval until the clock reached it.
 * 1 when deleted.
 */
const CLEAR_PENDING = new LuaScript(`
local current = tonumber(redis.call('GET', KEYS[1]))
if not current then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1]) or now
if current > limit and current <= now then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/** Another instance's claim: covers this instance's shreds, or is looked at again in `waitMs`. */
type Claim = { kind: "claimed" } | { kind: "covered" } | { kind: "wait"; waitMs: number };

/** The rewrite this instance requested and watches until it ends. */
interface Watched {
  /** Redis µs read before the request (0 without a throttle key). */
  requestUs: number;
  /** The oldest shred it covers (`performance.now()`): uncovered again when the rewrite fails. */
  since: number;
  /** `aof_rewrites` read before the request, if the server gives it. */
  startedBefore: number | undefined;
}

export class AofCompactor {
  private readonly intervalMs: number;
  private readonly retryMs: number;
  /** TTL of a held claim, ms: the interval, and at least three refreshes (`retryMs`) long. */
  private readonly claimTtlMs: number;
  private readonly now: () => number;
  /** This instance's name in the values it writes: it refreshes and ends only its own claim. */
  private readonly holderId = randomUUID().slice(0, 8);
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  /** When the oldest shred no completed rewrite covers yet happened (`performance.now()`), if any. */
  private uncoveredSince: number | undefined;
  /**
   * The shared key's value while this instance holds it (its claim, then its requested rewrite);
   * `CLAIMED` without a throttle key while it retries. Undefined: it holds nothing.
   */
  private held: string | undefined;
  /** The rewrite this instance requested, until it is seen to end (polled every `retryMs`). */
  private watched: Watched | undefined;
  /** The next run (for a shred, a retry, another instance's claim). */
  private timer: NodeJS.Timeout | undefined;
  /**
   * The next look at the watched rewrite. Its own timer: a run's retry must never replace it (a
   * lost watch left `watched` set for ever, so every later run only waited and no rewrite followed).
   */
  private watchTimer: NodeJS.Timeout | undefined;
  /** The look at the pending key (`start()`), every `pollMs`. */
  private poller: NodeJS.Timeout | undefined;
  private readonly pollMs: number;
  /** A run is in flight: runs are single-flight (two raced for Redis's one rewrite slot). */
  private running = false;
  /** A watch poll is in flight. */
  private watching = false;
  /** `aof_rewrites` at the last reading: a lower one means Redis restarted (break16 F2). */
  private rewritesSeen: number | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: AofCompactorOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_AOF_REWRITE_INTERVAL_MS;
    this.retryMs = options.retryMs ?? 1_000;
    this.claimTtlMs = Math.max(this.intervalMs, 3 * this.retryMs);
    this.pollMs = options.pollMs ?? Math.max(this.retryMs, Math.floor(this.intervalMs / 4));
    this.now = options.now ?? monotonicMs;
  }

  /** Some key material was deleted: a rewrite will run once the interval allows (one per interval). */
  shredded(): void {
    this.uncoveredSince ??= performance.now();
    if (this.stopped) return;
    // Recorded for the others (break14 F3): covered even if this instance stops before its run.
    // A failed mark goes to onError; this instance still runs for it.
    const key = this.options.throttleKey;
    if (key !== undefined)
      MARK_PENDING.run(this.redis, [pendingKeyOf(key)], []).catch((error: unknown) => {
        if (!this.stopped) this.options.onError?.(error);
      });
    // A run in flight, or a watched rewrite, schedules the next run when it ends.
    if (this.timer || this.running || this.watching || this.watched) return;
    this.scheduleNextRun();
  }

  /** Schedules a run once the interval since the last request has passed. */
  private scheduleNextRun(): void {
    this.schedule(Math.max(0, this.lastRequestAt + this.intervalMs - this.now()));
  }

  /**
   * Whether work is left: a run scheduled or in flight (a shred waits for the interval, a retry,
   * another instance's rewrite), or this instance's own rewrite not yet seen to end.
   */
  get scheduled(): boolean {
    return (
      this.timer !== undefined ||
      this.watchTimer !== undefined ||
      this.running ||
      this.watching ||
      this.watched !== undefined
    );
  }

  /**
   * Starts looking for shreds that stopped instances left pending (at once, then every `pollMs`):
   * the order service calls it at its start. Without a throttle key there is nothing to look at.
   */
  start(): void {
    if (this.stopped || this.poller || this.options.throttleKey === undefined) return;
    const look = () => void this.takeOverPending();
    setImmediate(look);
    this.poller = setInterval(look, this.pollMs);
    this.poller.unref();
  }

  /**
   * One look at the pending key: a mark while this instance has no work of its own scheduled is
   * run for as a shred made now (its run asks for a rewrite once the interval allows; the holder of
   * the completed rewrite clears the mark). Resolves with the run's outcome, or undefined when it
   * did not run. Errors go to `onError` (looked at again `pollMs` later).
   */
  async takeOverPending(): Promise<AofRunOutcome | undefined> {
    const key = this.options.throttleKey;
    if (this.stopped || key === undefined || this.scheduled) return undefined;
    try {
      if ((await this.redis.get(pendingKeyOf(key))) === null) return undefined;
    } catch (error) {
      if (!this.stopped) this.options.onError?.(error);
      return undefined;
    }
    if (this.stopped || this.scheduled) return undefined;
    return this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    // Shreds not yet covered stay on the pending key, for the other instances (break14 F3).
    // A claim held while retrying, or a rewrite not yet seen to complete, covers nobody: give it
    // up for the others (best effort; it expires anyway, and only a `done:` value covers).
    void this.release();
  }

  /** Schedules the next run in `ms` (replacing a run scheduled before). */
  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
    this.timer.unref();
  }

  /** Schedules the next look at the watched rewrite, `retryMs` from now. */
  private scheduleWatch(): void {
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = setTimeout(() => {
      this.watchTimer = undefined;
      void this.watch();
    }, this.retryMs);
    this.watchTimer.unref();
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

  /**
   * One run now (what a scheduled run does): the SLOWLOG scrub, then the rewrite request when the
   * AOF is on and no other instance's completed rewrite covers this one's shreds. Resolves with
   * what it did; errors go to `onError` (the next shred asks again). While this instance's own
   * rewrite is not yet seen to end, or while another run is in flight, a run only keeps its shreds
   * ("waiting"): the watch of that rewrite, or the run in flight, schedules the next run when it ends.
   */
  async run(): Promise<AofRunOutcome> {
    if (this.stopped) return "stopped";
    // A run without a recorded shred (called directly) covers "now".
    const since = this.uncoveredSince ?? performance.now();
    if (this.watched || this.watching || this.running) {
      this.uncoveredSince = since;
      return "waiting";
    }
    this.uncoveredSince = undefined;
    this.running = true;
    let outcome: AofRunOutcome;
    try {
      outcome = await this.attempt(since);
    } finally {
      this.running = false;
    }
    // The run cleared the shreds it took: one recorded now came while it was in flight (shredded()
    // leaves it to this run's end). Scheduled unless something already is (a watch schedules its own).
    const shreddedDuringRun = this.uncoveredSince !== undefined;
    // Not covered yet: keep the oldest shred for the next run.
    if (outcome === "waiting" || outcome === "retrying" || outcome === "failed")
      this.uncoveredSince = Math.min(since, this.uncoveredSince ?? since);
    if (shreddedDuringRun && !this.stopped && !this.timer && !this.watched) this.scheduleNextRun();
    return outcome;
  }

  private async attempt(since: number): Promise<AofRunOutcome> {
    await this.clearSlowlog();
    if (this.stopped) return "stopped";
    try {
      const info = await this.redis.info("persistence");
      if (this.stopped) return "stopped";
      this.noteRewriteCount(rewriteStateFrom(info).started);
      if (!aofEnabledFrom(info)) {
        // No AOF to clean; a rewrite would write the whole dataset to disk. Throttled as a rewrite.
        this.lastRequestAt = this.now();
        await this.clearPending("");
        return "aof-off";
      }
      // A claim held while retrying is kept alive (aof9 b); lost (lapsed, taken), it is claimed anew.
      if (this.held !== undefined && !(await this.swap(this.held, this.held))) this.held = undefined;
      if (this.held === undefined) {
        const claim = await this.claim(since);
        if (this.stopped) {
          await this.release();
          return "stopped";
        }
        if (claim.kind === "covered") return "covered";
        if (claim.kind === "wait") {
          this.schedule(claim.waitMs);
          return "waiting";
        }
      }
      // Read before the request: the recorded time can only be earlier than the rewrite's start.
      const requestUs = this.options.throttleKey === undefined ? 0 : await this.redisTimeUs();
      // "Background append only file rewriting started", or "... scheduled" (after a BGSAVE).
      await this.redis.bgrewriteaof();
      this.lastRequestAt = this.now();
      this.watched = { requestUs, since, startedBefore: rewriteStateFrom(info).started };
      await this.markRequested(requestUs);
      // Accepted is not done (aof9 a): the fork may fail, or fail to write the new file. Its end is
      // watched; only a rewrite that completed covers the shreds before it.
      this.scheduleWatch();
      return "rewrite-requested";
    } catch (error) {
      if (this.stopped) return "stopped";
      if (/already in progress/i.test((error as Error).message)) {
        // The claim is kept (refreshed at the next attempt): the others wait for this request.
        this.schedule(this.retryMs);
        return "retrying";
      }
      // Refused (break16 F4): the claim becomes a `failed:` mark for the interval, so the next
      // request anywhere comes an interval later, not at every instance's next poll.
      if (!(await this.markFailed())) await this.release();
      this.options.onError?.(error);
      return "failed";
    }
  }

  /**
   * Replaces this instance's claim by `failed:<Redis µs>:<holder>` for the interval (a refused
   * request). True when set; false without a throttle key, a claim, or when Redis cannot be asked.
   */
  private async markFailed(): Promise<boolean> {
    const held = this.held;
    if (held === undefined || this.options.throttleKey === undefined) return false;
    let nowUs: number;
    try {
      nowUs = await this.redisTimeUs();
    } catch {
      return false;
    }
    this.held = undefined;
    this.watched = undefined;
    this.lastRequestAt = this.now();
    return this.swap(held, `${FAILED_PREFIX}${nowUs}:${this.holderId}`, this.intervalMs);
  }

  /** Tells `onRestartSeen` once when Redis's rewrite count went down since the last reading. */
  private noteRewriteCount(started: number | undefined): void {
    if (started === undefined) return;
    const before = this.rewritesSeen;
    this.rewritesSeen = started;
    if (before !== undefined && started < before && !this.stopped)
      this.options.onRestartSeen?.(RESTART_LEFTOVER_WARNING);
  }

  /**
   * Polls this instance's requested rewrite until it ended (every `retryMs`, refreshing the claim
   * so that the others keep waiting for it, aof9 b). Completed: the shared key says `done:`, which
   * covers the shreds before the request everywhere. Failed (`aof_last_bgrewrite_status:err`), or
   * its end not seen (fewer rewrites counted than before the request: the server restarted): told
   * to `onError`, the shreds it was to cover are uncovered again, and this instance keeps the claim
   * and asks again once the interval since its request has passed.
   */
  private async watch(): Promise<void> {
    const watched = this.watched;
    if (this.stopped || watched === undefined || this.watching) return;
    this.watching = true;
    try {
      let state: RewriteState;
      try {
        state = rewriteStateFrom(await this.redis.info("persistence"));
      } catch (error) {
        // Connection trouble: look again (a restarted server shows in `aof_rewrites`).
        if (!this.stopped) {
          this.options.onError?.(error);
          this.scheduleWatch();
        }
        return;
      }
      if (this.stopped) return;
      this.noteRewriteCount(state.started);
      if (state.busy) {
        if (this.held !== undefined && !(await this.swap(this.held, this.held))) this.held = undefined;
        this.scheduleWatch();
        return;
      }
      this.watched = undefined;
      const unseen =
        watched.startedBefore !== undefined &&
        state.started !== undefined &&
        state.started <= watched.startedBefore;
      if (state.lastFailed || unseen) {
        this.uncoveredSince = Math.min(watched.since, this.uncoveredSince ?? watched.since);
        if (this.held !== undefined) {
          const claim = this.options.throttleKey === undefined ? CLAIMED : `${CLAIMED}:${this.holderId}`;
          this.held = (await this.swap(this.held, claim)) ? claim : undefined;
        }
        this.options.onError?.(
          new Error(
            state.lastFailed
              ? "AOF rewrite failed after Redis accepted it (aof_last_bgrewrite_status:err); asking again after the interval"
              : "AOF rewrite's end not seen (Redis restarted or its stats were reset); asking again after the interval",
          ),
        );
      } else if (this.held !== undefined) {
        // The others see a completed rewrite; the throttle interval runs from here.
        if (
          await this.swap(this.held, `${DONE_PREFIX}${watched.requestUs}:${this.holderId}`, this.intervalMs)
        )
          await this.clearPending(String(watched.requestUs));
        this.held = undefined;
      }
      if (this.uncoveredSince !== undefined && !this.stopped) this.scheduleNextRun();
    } finally {
      this.watching = false;
    }
  }

  /**
   * Claims the shared throttle, or says whether the holder's value covers this instance's shreds:
   * only a completed rewrite (`done:`) requested after them does. A `requested:` one after them is
   * waited for (looked at every `retryMs`): its holder marks it done, or claimed again when it
   * failed. Always "claimed" without a throttle key.
   */
  private async claim(since: number): Promise<Claim> {
    const key = this.options.throttleKey;
    if (key === undefined) {
      this.held = CLAIMED;
      return { kind: "claimed" };
    }
    // Read before TIME is sent: the shred's age measured here is at most its age at TIME.
    const shredAgeMs = performance.now() - since;
    const redisNowUs = await this.redisTimeUs();
    const mine = `${CLAIMED}:${this.holderId}`;
    // NX with GET: the holder's value when the key exists (nothing set), else null (claimed).
    const held = (await this.redis.call("SET", key, mine, "PX", String(this.claimTtlMs), "NX", "GET")) as
      string | null;
    if (held === null) {
      this.held = mine;
      return { kind: "claimed" };
    }
    const doneUs = doneAtUs(held);
    const requestedUs = doneUs ?? requestedAtUs(held);
    const failedUs = failedAtUs(held);
    const stampUs = requestedUs ?? failedUs;
    // Not requested yet (its holder retries, or is gone and the claim expires): look again soon.
    if (stampUs === undefined) return { kind: "wait", waitMs: this.retryMs };
    const stampAgeMs = (redisNowUs - stampUs) / 1_000;
    // Stamped in Redis's future (break16 F1): under a clock that was ahead, stepped back since. Its
    // age is no age: it covers nothing, and its expiry (wall time in Redis) came later by the step.
    // Taken over (only while it still holds what was seen): a rewrite is requested now.
    if (stampAgeMs < -FUTURE_STAMP_MARGIN_MS) {
      if (!(await this.swap(held, mine))) return { kind: "wait", waitMs: this.retryMs };
      this.held = mine;
      return { kind: "claimed" };
    }
    // A refused request: nobody asks again before the interval since the refusal (break16 F4).
    if (requestedUs === undefined)
      return { kind: "wait", waitMs: Math.max(this.retryMs, this.intervalMs - stampAgeMs) };
    const requestAgeMs = stampAgeMs;
    if (shredAgeMs > requestAgeMs + AGE_ROUNDING_MS)
      return doneUs === undefined ? { kind: "wait", waitMs: this.retryMs } : { kind: "covered" };
    // The holder's interval may differ from this one's: ask again at least `retryMs` later.
    return { kind: "wait", waitMs: Math.max(this.retryMs, this.intervalMs - requestAgeMs) };
  }

  /** Redis `TIME` in µs since the epoch (an integer below 2^53, exact as a number). */
  private async redisTimeUs(): Promise<number> {
    const [seconds, micros] = (await this.redis.time()) as [number | string, number | string];
    return Number(seconds) * 1_000_000 + Number(micros);
  }

  /**
   * Sets the shared key to `next` (TTL `ttlMs`, ms; default the claim's) if it still holds
   * `current`, this instance's value. True when set, and always without a throttle key. An error
   * goes to `onError` and counts as lost: the claim expires and another instance asks again (an
   * extra rewrite, never a missed one).
   */
  private async swap(current: string, next: string, ttlMs = this.claimTtlMs): Promise<boolean> {
    const key = this.options.throttleKey;
    if (key === undefined) return true;
    try {
      return (await SWAP_CLAIM.run(this.redis, [key], [current, next, ttlMs])) === 1;
    } catch (error) {
      if (!this.stopped) this.options.onError?.(error);
      return false;
    }
  }

  /**
   * Records on the shared key that a rewrite was requested at `requestUs` (Redis µs, read before
   * the request). A claim lost meanwhile is left to its new holder, who asks again (an extra
   * rewrite, never a missed one); this instance still watches its own rewrite.
   */
  private async markRequested(requestUs: number): Promise<void> {
    if (this.held === undefined || this.options.throttleKey === undefined) return;
    const value = `${REQUESTED_PREFIX}${requestUs}:${this.holderId}`;
    this.held = (await this.swap(this.held, value)) ? value : undefined;
  }

  /**
   * Deletes the pending key when no shred on it is later than `limitUs` (Redis µs as a decimal
   * string; empty: Redis TIME now). Errors go to `onError`: the mark stays, an extra rewrite follows.
   */
  private async clearPending(limitUs: string): Promise<void> {
    const key = this.options.throttleKey;
    if (key === undefined) return;
    try {
      await CLEAR_PENDING.run(this.redis, [pendingKeyOf(key)], [limitUs]);
    } catch (error) {
      if (!this.stopped) this.options.onError?.(error);
    }
  }

  /** Gives up this instance's claim and watch (the key only while it still holds it; best effort). */
  private async release(): Promise<void> {
    const current = this.held;
    this.held = undefined;
    this.watched = undefined;
    const key = this.options.throttleKey;
    if (current === undefined || key === undefined) return;
    await SWAP_CLAIM.run(this.redis, [key], [current, "", 0]).catch(() => {});
  }
}
