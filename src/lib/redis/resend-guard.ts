/**
 * A Redis client that does not run a write twice when a connection drops. ioredis, by default
 * (`autoResendUnfulfilledCommands`), sends again after a reconnect every command written before the
 * drop whose reply had not come: if Redis had run it and only the reply was lost, a script that
 * appends an event, charges or reserves ran twice. Turning that option off is no cure: ioredis then
 * drops those commands without settling them, and their callers wait forever.
 *
 * Here a command that had been written is sent again only when running it twice is the same as
 * once (a read, PING, a SUBSCRIBE, a stream read whose lost entries the reader takes up from its
 * pending list, a write that sets or removes fixed data such as DEL, XACK or a plain SET: see
 * IDEMPOTENT_WRITES); any other (a script, INCR, XADD, SET NX or GET) fails with `ReplyLostError`, and its caller handles it like any other
 * failure: the bus runs the handler again (at least once, idempotent by design), an HTTP request
 * answers 5xx. A pipeline or MULTI goes again whole, or fails whole when any of its commands is a
 * write. Commands queued while offline were never written: they are sent on reconnect, as before.
 */
import { hasFlag } from "@ioredis/commands";
import { type Command, Redis, type RedisOptions } from "ioredis";

type Target = Parameters<Redis["sendCommand"]>[1];

/** The command may have run: its reply was lost with the connection. */
export class ReplyLostError extends Error {
  /**
   * Its HTTP answer: 503 + Retry-After, a request-scoped code the gateway neither counts against the
   * instance nor resends elsewhere (the shared store's outcome, seen by every instance alike).
   */
  readonly code = "REDIS_REPLY_LOST";
  /** An outage, not a bad message: the bus retries it without spending the poison budget (isOutage). */
  readonly outage = true;
  constructor(readonly command: string) {
    super(
      `the connection to Redis closed before ${command.toUpperCase()} was answered; it may have run, so it is not sent again`,
    );
    this.name = "ReplyLostError";
  }
}

/** Not flagged read-only, yet running them twice changes nothing a caller relies on. */
const REPEATABLE = new Set([
  "ping",
  "echo",
  "time",
  "info",
  "select",
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
  // A lost XREADGROUP `>` reply leaves its entries pending in the consumer's name, never handed to
  // a handler; the subscription takes them up on reconnect (resumeOwnPending). Reading again
  // delivers other entries, never those twice.
  "xreadgroup",
]);

/**
 * Writes whose second run leaves the data as the first run left it: only their reply (a count of
 * what changed) may differ, and no caller here reads those counts as a claim (a resent DEL answers
 * 0: "nothing left to delete" is still true). Each listed with why:
 * - DEL, UNLINK, HDEL, SREM, ZREM: removing what is gone already removes nothing;
 * - XACK: an entry acked once is off the pending list; acking again changes nothing;
 * - HSET, HMSET: the fields get the same fixed values again;
 * - PEXPIREAT, EXPIREAT: the same absolute deadline;
 * - PEXPIRE, EXPIRE: relative, so a resend moves the deadline later by the reconnect's duration
 *   (milliseconds to seconds) — not strictly idempotent, harmless for a TTL that bounds a key's life.
 * A write another client makes between the two runs can be undone by the second (a DEL after its
 * SET): the same race as any retry by the caller, and what ioredis did for every command before.
 * Not here, on purpose: INCR/INCRBY, XADD, LPUSH/RPUSH, SADD/ZADD (their reply is used as a claim
 * elsewhere), HSETNX, SETNX, GETDEL, scripts (EVAL/EVALSHA/FCALL): each runs again with a new effect
 * or a reply the caller acts on. SET is in `plainSet` below.
 */
const IDEMPOTENT_WRITES = new Set([
  "del",
  "unlink",
  "hdel",
  "srem",
  "zrem",
  "xack",
  "hset",
  "hmset",
  "pexpireat",
  "expireat",
  "pexpire",
  "expire",
]);

/** SET's options that make its effect or reply depend on the key's state before it runs. */
const STATEFUL_SET_OPTIONS = new Set(["nx", "xx", "get", "keepttl"]);

/** `SET key value [EX|PX|EXAT|PXAT n]`: writes a fixed value (and a TTL) whatever was there. */
function plainSet(args: readonly unknown[]): boolean {
  return args.slice(2).every((arg) => !STATEFUL_SET_OPTIONS.has(String(arg).toLowerCase()));
}

/** A transaction's frame: the batch is as safe to repeat as the commands it wraps. */
const FRAME = new Set(["multi", "exec", "discard"]);

/** True when running the command twice is the same as once (its arguments matter for SET). */
export function repeatable(name: string, args: readonly unknown[] = []): boolean {
  const lower = name.toLowerCase();
  if (REPEATABLE.has(lower) || IDEMPOTENT_WRITES.has(lower)) return true;
  if (lower === "set") return plainSet(args);
  return hasFlag(lower, "readonly", { nameCaseInsensitive: true });
}

export class ResendGuardRedis extends Redis {
  /** Commands written to a connection (a later sendCommand of one is ioredis's resend). */
  private readonly written = new WeakSet<Command>();
  /** Pipelines (their shared write target) holding a command that must not run twice. */
  private readonly unsafeBatches = new WeakSet<object>();

  override sendCommand(command: Command, target?: Target): unknown {
    if (this.written.has(command)) {
      const unsafe = target ? this.unsafeBatches.has(target) : !repeatable(command.name, command.args);
      if (unsafe) {
        command.reject(new ReplyLostError(command.name));
        return command.promise;
      }
    } else if (this.status === "ready" && this.stream?.writable) {
      // What ioredis writes at once (the rest waits in its offline queue, never written).
      this.written.add(command);
      if (target && !FRAME.has(command.name) && !repeatable(command.name, command.args))
        this.unsafeBatches.add(target);
    }
    return super.sendCommand(command, target);
  }

  /**
   * A duplicate (a stream reader's, a background connection) keeps the guard, and its connection
   * errors go to this client's 'error' listeners (the service's logger) unless its owner listens
   * itself: a copy nobody listened to made ioredis print "[ioredis] Unhandled error event" on
   * stderr at every drop (break-resend F3).
   */
  override duplicate(override?: Partial<RedisOptions>): ResendGuardRedis {
    const copy = new ResendGuardRedis({ ...this.options, ...override });
    copy.on("error", (error: unknown) => {
      if (copy.listenerCount("error") === 1) this.silentEmit("error", error);
    });
    return copy;
  }
}
